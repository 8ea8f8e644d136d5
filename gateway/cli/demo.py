"""`gateway demo`: a rehearsal of the seminar on embedded defaults, on today's clock.

Everything lives under one data folder (default `./demo-data`): the SQLite
store, a generated secret key, the generated test stream and the config it
writes (usable with the other commands, e.g. `gateway schedule --config
demo-data/demo.toml`). The seminar's three parts are shifted to now and
compressed, so a newcomer sees a countdown ("starts in 0:58"), Part I live about a
minute after the link is printed, Part II blocked, Part III live, then the
recording, all within about eight minutes. A second run reuses the folder:
the same registrant, the same link, a fresh schedule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import sys
import threading
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.cli.common import cannot_listen
from gateway.core.clock import system_clock
from gateway.core.times import in_zone
from gateway.mail.registrants import Registry
from gateway.settings import Settings, load_settings
from gateway.store import open_store

DEMO_EMAIL = "demo@example.org"
# (name, minutes from now at start, at end, streamed): a minute's countdown, then the day in
# miniature.
DAY = (("Part I", 1, 4, True), ("Part II", 4, 6, False), ("Part III", 6, 8, True))


def _toml_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(folder: Path, port: int, now: dt.datetime) -> Path:
    """The seminar, shifted to `now` and compressed, with everything under `folder`."""
    # Whole minutes, Part I 45 to 105 s away: a short countdown, times that read cleanly.
    start = (now + dt.timedelta(seconds=45 + 59)).replace(second=0, microsecond=0)
    start -= dt.timedelta(minutes=1)  # DAY counts Part I from here at +1
    parts = "".join(
        f'\n[[parts]]\nname = "{name}"\nstart = "{_toml_utc(start + dt.timedelta(minutes=a))}"\n'
        f'end = "{_toml_utc(start + dt.timedelta(minutes=b))}"\nstreamed = {str(live).lower()}\n'
        for name, a, b, live in DAY
    )
    config = folder / "demo.toml"
    config.write_text(
        "# Written by `gateway demo` at each start; times in UTC, shown in Helsinki time.\n"
        '[event]\ntitle = "Seminar on best practice in anti-trafficking work in the Nordic '
        'countries (rehearsal)"\ntimezone = "Europe/Helsinki"\n'
        f'public_url = "http://127.0.0.1:{port}"\n'
        f'\n[registration]\ncloses = "{_toml_utc(start + dt.timedelta(minutes=8))}"\n{parts}'
        f'\n[recording]\navailable_until = "{_toml_utc(start + dt.timedelta(days=1))}"\n'
        '\n[origin]\nlive = "hls/live"\nrecording = "hls/recording"\nend_grace_seconds = 20\n'
        '\n[store]\nurl = "sqlite:///gateway.db"\n'
        '\n[mail]\noutbox = "outbox"\n',
        encoding="utf-8",
    )
    return config


def secret_key(folder: Path) -> str:
    """The demo's signing key, made once and kept (0600) in the data folder."""
    path = folder / "secret.key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


async def demo_link(settings: Settings) -> str:
    store = open_store(settings.store_url)
    try:
        registry = Registry(settings, store, AuditLog(store, system_clock))
        registrant, _ = await registry.add(
            email=DEMO_EMAIL, name="Demo Viewer", organisation="", now=system_clock(), actor="cli"
        )
        return registry.link(registrant)
    finally:
        await store.close()


def run(folder: Path, port: int) -> int:
    """Prepare the folder, print the link and the timeline, serve until Ctrl-C."""
    if cannot_listen("127.0.0.1", port):  # before anything is printed or made: no dead link
        print(
            f"gateway: port {port} is in use: run `make run PORT={port + 1}` or "
            f"`gateway demo --port {port + 1}`",
            file=sys.stderr,
        )
        return 2
    from gateway import teststream  # needs the 'demo' extra (PyAV)
    from gateway.web.server import serve

    folder.mkdir(parents=True, exist_ok=True)
    now = system_clock()
    env = {**os.environ, "GATEWAY_SECRET_KEYS": secret_key(folder)}
    env.pop("GATEWAY_STORE_URL", None)
    settings = load_settings(write_config(folder, port, now), env)
    recording = folder / "hls" / "recording"
    if not (recording / "index.m3u8").exists():
        print("Making the test recording…", flush=True)
        teststream.write_recording(recording, title="Seminar (recording)")
    if not (recording / "subs" / "en.m3u8").exists():  # English captions, on by default
        teststream.write_captions(recording, 24.0)
    link = asyncio.run(demo_link(settings))
    tz = settings.schedule.timezone
    print(f"\nDemo data in {folder.resolve()}  (config: {folder / 'demo.toml'})\n")
    for part in settings.schedule.parts:
        served = "streamed live" if part.streamed else "NOT streamed: the player says so"
        print(
            f"  {part.name:<9} {in_zone(part.start, tz)} – {part.end.astimezone(tz):%H:%M}"
            f"  {served}"
        )
    print(f"  Recording from {in_zone(settings.schedule.recording_from, tz)}\n")
    print("Open the demo registrant's personal link (Ctrl-C stops everything):")
    print(link, flush=True)
    stop = threading.Event()
    encoder = teststream.LiveEncoder(folder / "hls" / "live")
    thread = threading.Thread(target=encoder.run, args=(stop,), name="test-stream", daemon=True)
    thread.start()
    try:
        return serve(settings, host="127.0.0.1", port=port)
    finally:
        stop.set()
        thread.join(timeout=10)
