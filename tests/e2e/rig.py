"""Six small `gateway serve` processes for the browser tests, one per state of the day, each
on its own config with windows placed around the real clock, so that every state of the
player page is there at once without waiting: Part I live (a real local test stream; its
server also has the console, signed in at a real OIDC provider, and the kill switch for
the stopped state), Part II blocked, before the day, between parts, the recording (with
English captions), and the recording closed (on a Redis of its own)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page

from gateway import teststream
from gateway.web.admin import oidc
from tests.conftest import OwnRedis
from tests.e2e.conftest import (
    Server,
    encoding,
    launch,
    local,
    need_chromium,
    run_cli,
    stop,
    until,
)
from tests.support.config import event_toml, part
from tests.support.ports import free_port
from tests.web.test_admin_auth import SECRET_ENV, user

OPS = "ops@example.org"
MINUTE = 60
STATES = ("live", "blocked", "before", "between", "recording", "closed")


def _config(
    folder: Path,
    now: dt.datetime,
    parts: list[tuple[str, int, int, bool]],
    *,
    until: int = 86400,
    closes: int | None = None,
    port: int | None = None,
    store: str = "sqlite:///gateway.db",
    extra: str = "",
) -> Path:
    """A config under `folder`: parts as (name, start, end, streamed) in seconds from `now`."""

    def at(seconds: int) -> str:
        return local(now + dt.timedelta(seconds=seconds))

    text = event_toml(
        title="Accessibility rehearsal",
        public_url=f"http://127.0.0.1{f':{port}' if port else ''}",
        closes=at(closes) if closes is not None else None,
        parts=[part(name, at(start), at(end), streamed=on) for name, start, end, on in parts],
        recording_until=at(until),
        live="live",
        recording="recording",
        end_grace_seconds=4,
        store_url=store,
        tables={
            "sessions": {"max_devices": 50},
            "accessibility": {
                "organisation": "Ministry of Examples",
                "contact": "saavutettavuus@example.org",
                "last_checked": "2021-11-01",
                "known_gaps": ["The slides shown in Part I are not available as text."],
            },
        },
        extra=extra,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recording").mkdir(exist_ok=True)
    config = folder / "event.toml"
    config.write_text(text)
    return config


@dataclass
class Rig:
    servers: dict[str, Server]
    links: dict[str, str] = field(default_factory=dict)  # server name -> personal link path
    redis: OwnRedis | None = None

    def url(self, server: str, path: str = "") -> str:
        return self.servers[server].url + path


def _the_day(folder: Path, now: dt.datetime, idp: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Each state's config (and launch options)."""
    day = [("Part I", 0, 15, True), ("Part II", 15, 30, False), ("Part III", 30, 45, True)]

    def shifted(minutes: int) -> list[tuple[str, int, int, bool]]:
        return [(n, (a + minutes) * MINUTE, (b + minutes) * MINUTE, s) for n, a, b, s in day]

    port = free_port()
    admin = (
        f'\n[admin]\noidc_discovery_url = "{idp}{oidc.WELL_KNOWN}"\n'
        f'client_id = "stream-gateway"\nops = ["{OPS}"]\n'
    )
    recording = folder / "recording" / "recording"
    teststream.write_recording(recording, seconds=10, title="Recording")
    teststream.write_captions(recording, 10.0)
    # Chapters, as the archive writes them (gateway.stream.vod): one per streamed part.
    (recording / "chapters.vtt").write_text(
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:05.000\nPart I\n\n"
        "2\n00:00:05.000 --> 00:00:10.000\nPart III: Questions and answers\n"
    )
    redis = folder / "closed-redis"
    return {
        # Part I runs (registration open): the console, the kill switch, the register form
        "live": (
            _config(
                folder / "live",
                now,
                shifted(-5),
                closes=3600,
                port=port,
                extra=admin,
            ),
            {"port": port, "env_extra": SECRET_ENV},
        ),
        "blocked": (_config(folder / "blocked", now, shifted(-20)), {}),
        "before": (_config(folder / "before", now, shifted(60), closes=-60), {}),
        "between": (
            _config(
                folder / "between",
                now,
                [("Part I", -30 * MINUTE, -10 * MINUTE, True), *shifted(10)[1:]],
            ),
            {},
        ),
        "recording": (_config(folder / "recording", now, shifted(-120)), {}),
        "closed": (
            _config(
                folder / "closed",
                now,
                shifted(-180),
                until=-60,
                store=f"redis://127.0.0.1:{{port}}/0?prefix=a11y:{redis.name}:",
            ),
            {},
        ),
    }


@contextlib.contextmanager
def start_rig(folder: Path, idp: str, states: Collection[str] = STATES) -> Iterator[Rig]:
    """`gateway serve` in each of `states` (all of them by default), each with a registrant,
    the live one fed by a local test stream."""
    need_chromium()
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - a real browser runs on the real clock
    now = now.replace(second=0, microsecond=0)  # whole minutes, as the console edits them
    configs = {k: v for k, v in _the_day(folder, now, idp).items() if k in states}
    redis = OwnRedis(folder / "closed-redis") if "closed" in configs else None
    if redis is not None:
        redis.start()
        closed = configs["closed"][0]
        closed.write_text(closed.read_text().replace("{port}", str(redis.port)))
    servers: dict[str, Server] = {}
    try:
        with encoding(folder / "live" / "live", width=320, height=180, fps=10):
            with ThreadPoolExecutor(len(configs)) as pool:
                started = {
                    name: pool.submit(launch, config, config.parent / "serve.log", **options)
                    for name, (config, options) in configs.items()
                }
                for name, future in started.items():
                    servers[name] = future.result()
            rig = Rig(servers, redis=redis)
            for name, server in servers.items():
                out = run_cli(
                    server.config,
                    "registrants",
                    "add",
                    "--email",
                    "a11y@example.org",
                    "--name",
                    "A",
                )
                rig.links[name] = urlsplit(out.stdout.strip().splitlines()[-1]).path
            user(idp, OPS)
            yield rig
    finally:
        for server in servers.values():
            stop(server)
        if redis is not None:
            redis.stop()


def playing(page: Page, seconds: float = 20) -> None:
    until(page, "document.getElementById('video').currentTime > 0.5", seconds)


def tab_to(page: Page, selector: str, *, limit: int = 40, back: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `selector` has the focus; its focus must be visible."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement?.matches({selector!r}) ?? false"):
            style = page.evaluate(
                "(() => { const s = getComputedStyle(document.activeElement); "
                "return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
            )
            assert style[0] != "none" and style[1] >= 2, (selector, style)
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached {selector}")
