"""`gateway serve` as a real subprocess, with windows placed around the real clock."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from gateway import teststream
from tests.conftest import SECRET
from tests.support import config
from tests.support.ports import free_port


def local(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_toml(tmp: Path, now: dt.datetime, store_url: str, *, part_two_now: bool = False) -> str:
    """Part I runs now (or Part II does), with real times around `now`."""
    shift = dt.timedelta(minutes=15) if part_two_now else dt.timedelta(0)
    p1 = now - dt.timedelta(minutes=5) - shift
    quarter = dt.timedelta(minutes=15)
    return config.event_toml(
        title="End-to-end rehearsal",
        public_url="http://127.0.0.1",
        parts=[
            config.part("Part I", local(p1), local(p1 + quarter)),
            config.part("Part II", local(p1 + quarter), local(p1 + 2 * quarter), streamed=False),
            config.part("Part III", local(p1 + 2 * quarter), local(p1 + 3 * quarter)),
        ],
        recording_until=local(now + dt.timedelta(days=1)),
        live="live",
        recording="recording",
        store_url=store_url,
    )


@dataclass
class Server:
    url: str
    config: Path
    process: subprocess.Popen[bytes]
    clients: list[httpx2.Client] = field(default_factory=list)

    def client(self) -> httpx2.Client:
        """A browser of its own (cookie jar), closed when the test ends."""
        client = httpx2.Client(base_url=self.url, timeout=10)
        self.clients.append(client)
        return client


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_SECRET_KEYS": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )


def launch(
    config: Path,
    log_path: Path,
    *,
    port: int | None = None,
    env_extra: dict[str, str] | None = None,
) -> Server:
    """Start `gateway serve` on `config` and wait until it answers (output into `log_path`)."""
    port = port or free_port()
    env = {**os.environ, "GATEWAY_SECRET_KEYS": SECRET, **(env_extra or {})}
    env.pop("GATEWAY_STORE_URL", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", config, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx2.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx2.HTTPError:
            time.sleep(0.1)
        if process.poll() is not None:
            raise AssertionError(log_path.read_text())
    stop(server)
    raise AssertionError("gateway serve did not answer in 20 s")


def stop(server: Server) -> None:
    """Close the server's clients and end its process."""
    for client in server.clients:
        client.close()
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(
        config: Path, *, port: int | None = None, env_extra: dict[str, str] | None = None
    ) -> Server:
        port = port or free_port()
        server = launch(config, tmp_path / f"serve-{port}.log", port=port, env_extra=env_extra)
        started.append(server)
        return server

    yield start
    for server in started:
        stop(server)


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent.parent / "test-artifacts" / "browser"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def need_chromium() -> None:
    """Skip (fail in CI) without Debian's chromium."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium, one for the whole module (its pages and contexts are the tests')."""
    need_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def until(page: Page, expression: str, seconds: float) -> None:
    """Wait until `expression` is true on `page`, else fail naming the page's state line.

    page.wait_for_function would evaluate a string, which the page's CSP forbids (as it
    should); evaluate() goes through the DevTools protocol instead."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            state = page.evaluate("document.getElementById('state')?.textContent")
            raise AssertionError(f"not within {seconds} s: {expression} (state: {state})")
        page.wait_for_timeout(200)


@contextlib.contextmanager
def encoding(folder: Path, **options: Any) -> Iterator[teststream.LiveEncoder]:
    """A local test stream written into `folder` on the real clock (1 s segments unless
    `options` say otherwise), from a thread, until the block ends."""
    encoder = teststream.LiveEncoder(folder, **{"segment_seconds": 1.0, **options})
    stop = threading.Event()
    thread = threading.Thread(target=encoder.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield encoder
    finally:
        stop.set()
        thread.join(timeout=10)
