"""Redis breaks under a running gateway: during a live part, and before it starts.

Viewers with a session keep playing (a session verified in the last 5 s) or
get 503 with Retry-After — never a 500 and never a wrong 401/403. Audit events
made during the outage wait in the spool and are stored after it, in order,
none lost. With AOF, acknowledged registrations survive the restart.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.conftest import OwnRedis
from tests.e2e.conftest import Server, event_toml, run_cli
from tests.faults.conftest import LONG, Figures
from tests.support.hls import listed, write_live
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e
OUTAGE_SECONDS = 30.0 if LONG else 4.0


def _config(tmp_path: Path, store_url: str) -> Path:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - real processes run on the real clock
    write_live(tmp_path / "live", now - dt.timedelta(seconds=40), 10)
    config = tmp_path / "event.toml"
    config.write_text(
        event_toml(tmp_path, now, store_url) + '\n[audit]\nspool_file = "spool.jsonl"\n'
    )
    return config


def _open(server: Server, link: str) -> httpx2.Client:
    browser = server.client()
    assert browser.get(urlsplit(link).path).status_code == 303
    return browser


@pytest.mark.parametrize("aof", [True, False], ids=["aof-everysec", "no-persistence"])
def test_redis_killed_during_a_live_part_then_restarted(
    tmp_path: Path,
    start_server: Callable[..., Server],
    record_figures: Callable[[str], Figures],
    aof: bool,
) -> None:
    figures = record_figures(f"redis killed mid-part ({'AOF' if aof else 'no persistence'})")
    redis = OwnRedis(tmp_path / "redis", appendonly=aof)
    redis.start()
    try:
        config = _config(tmp_path, redis.url)
        server = start_server(config)
        links = [
            run_cli(config, "registrants", "add", "--email", f"v{i}@example.org", "--name", f"V{i}")
            .stdout.strip()
            .splitlines()[-1]
            for i in range(3)
        ]
        viewers = [_open(server, link) for link in links]
        segment = listed(viewers[0].get("/live/index.m3u8").text)[-1]
        time.sleep(1.2)  # AOF everysec: what was acknowledged a second ago is on disk
        redis.stop()
        forged = 0
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            for viewer in viewers:
                for path in ("/live/index.m3u8", f"/live/{segment}"):
                    answer = viewer.get(path)
                    figures.requests += 1
                    if answer.status_code >= 500 and answer.status_code != 503:
                        figures.server_errors += 1
                    elif answer.status_code == 503:
                        assert answer.headers.get("retry-after"), path
                    elif answer.status_code != 200:
                        figures.wrong_decisions += 1  # a 401/403 caused by the outage
            # From an address of its own each time: refusals of links that name nobody are
            # recorded once per address and minute, and each of these must be (spooled).
            sender = {"X-Forwarded-For": f"198.51.100.{forged % 250 + 1}"}
            if server.client().get("/w/1.forged.1.x", headers=sender).status_code == 403:
                forged += 1
            time.sleep(0.2)
        assert figures.server_errors == 0 and figures.wrong_decisions == 0
        outage_over = time.monotonic()
        redis.start()
        expected = 200 if aof else 401  # without persistence every session is gone
        while viewers[0].get("/live/index.m3u8").status_code != expected:
            assert time.monotonic() - outage_over < 30, "no recovery in 30 s"
            time.sleep(0.2)
        figures.recovery_seconds = time.monotonic() - outage_over
        deadline = time.monotonic() + 15  # the spool is flushed every 5 s
        stored = 0
        while time.monotonic() < deadline:
            export = run_cli(config, "audit", "export", "--type", "link.refused").stdout
            stored = sum(
                1
                for line in export.splitlines()
                if json.loads(line)["detail"]["reason"] == "bad_signature"
            )
            if stored >= forged:
                break
            time.sleep(0.5)
        figures.events_lost = forged - stored
        assert forged > 0 and stored == forged
        verified = run_cli(config, "audit", "verify")
        assert verified.returncode == 0
        if aof:
            listing = run_cli(config, "registrants", "list", "--format", "csv").stdout
            assert all(f"v{i}@example.org" in listing for i in range(3))
    finally:
        redis.stop()


def test_redis_unreachable_at_start(
    tmp_path: Path, start_server: Callable[..., Server], record_figures: Callable[[str], Figures]
) -> None:
    figures = record_figures("redis unreachable at start")
    config = _config(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    server = start_server(config)
    client = server.client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "store" in ready.json()["reason"]
    assert client.get("/healthz").status_code == 200
    for path in ("/live/index.m3u8", "/api/status", "/watch", "/register"):
        for _ in range(10):
            answer = client.get(path)
            figures.requests += 1
            figures.server_errors += answer.status_code >= 500 and answer.status_code != 503
            figures.wrong_decisions += path.startswith("/live") and answer.status_code == 200
    assert figures.server_errors == 0
    assert figures.wrong_decisions == 0
    log = next(tmp_path.glob("serve-*.log")).read_text()
    assert 1 <= log.count("answering 5xx") <= 4, log[-2000:]  # once a minute per reason
