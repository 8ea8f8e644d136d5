"""Shared fixtures: an event config around chosen times, a frozen clock, the app on a real store."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gateway.core.clock import FrozenClock
from gateway.settings import Settings, load_settings
from tests.support.config import event_toml, part
from tests.support.ports import free_port

HELSINKI_OFFSET = "+02:00"
SECRET = "test-secret-key-one"
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def seminar_toml(
    tmp: Path,
    *,
    extra: str = "",
    store_url: str | None = None,
    sessions: str = "max_devices = 3",
    tables: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The seminar's day (18 Nov 2021, Helsinki) with origins and store under `tmp`;
    `sessions` is the `[sessions]` table's TOML, `tables` adds or extends tables, `extra`
    is raw TOML after the rest."""
    store = store_url or f"sqlite:///{tmp / 'gateway.db'}".replace("sqlite:///", "sqlite:////", 1)
    return event_toml(
        parts=[
            part("Part I", "2021-11-18T10:00", "2021-11-18T12:45"),
            part("Part II", "2021-11-18T12:45", "2021-11-18T17:10", streamed=False),
            part("Part III", "2021-11-18T17:10", "2021-11-18T18:20"),
        ],
        closes="2021-11-16T23:59:59",
        recording_until="2021-12-18T23:59:59",
        live=f"file://{tmp / 'live'}",
        recording=f"file://{tmp / 'recording'}",
        end_grace_seconds=60,
        store_url=store,
        tables={"sessions": tomllib.loads(sessions), **(tables or {})},
        extra="\n" + extra,
    )


def helsinki(text: str) -> dt.datetime:
    """`2021-11-18T10:00` in Helsinki (EET, +02:00 in November) as aware UTC."""
    return dt.datetime.fromisoformat(text + HELSINKI_OFFSET).astimezone(dt.UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(helsinki("2021-11-18T10:30"))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(keys: str = SECRET, env: dict[str, str] | None = None, **kwargs: Any) -> Settings:
        path = tmp_path / "event.toml"
        path.write_text(seminar_toml(tmp_path, **kwargs))
        return load_settings(path, {"GATEWAY_SECRET_KEYS": keys, **(env or {})})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


def fresh_prefix() -> str:
    """A key prefix of a test's own on the shared Redis (see `delete_prefix`)."""
    return f"test:{secrets.token_hex(6)}:"


def delete_prefix(prefix: str) -> None:
    """Delete a test's keys from the shared Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis, deleted afterwards.

    Only tests on Redis ask for it: a test on SQLite must pass with no Redis running.
    """
    prefix = fresh_prefix()
    yield prefix
    delete_prefix(prefix)


@pytest.fixture
def smtp() -> Iterator[Any]:
    """A running SMTP server (tests.support.smtp.SmtpServer); stopped after the test."""
    from tests.support.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop and start at will."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        self.port = free_port()
        self.folder = folder
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.folder),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def idp() -> Iterator[str]:
    """A real OIDC provider (oidc-provider-mock) over HTTP: its base URL, which is its issuer."""
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                if httpx2.get(base + "/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert process.poll() is None, "the provider stopped"
            assert time.monotonic() < deadline, "the provider did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


_OTHER_PROCESSES = {"idp", "own_redis", "start_server", "start_nginx"}  # fixtures that start one
_FOLDER_MARKS = {"e2e": "subprocess", "deploy": "subprocess", "faults": "subprocess"} | {
    "fuzz": "fuzz"
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks from what a test uses, so a selection never depends on remembering them:
    `redis` for a key prefix on the shared Redis (`-m "not redis"` runs everything else
    on a machine without one); `subprocess` for a test that starts another process;
    `fuzz` for the property-based suites. `make test-fast` leaves out the last two."""
    root = Path(__file__).parent
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "redis_prefix" in fixtures:
            item.add_marker(pytest.mark.redis)
        if fixtures & _OTHER_PROCESSES:
            item.add_marker(pytest.mark.subprocess)
        folder = item.path.relative_to(root).parts[0] if item.path.is_relative_to(root) else ""
        if folder in _FOLDER_MARKS:
            item.add_marker(_FOLDER_MARKS[folder])


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, as the gateway does."""
    return "asyncio"
