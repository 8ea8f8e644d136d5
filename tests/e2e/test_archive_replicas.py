"""Two `gateway serve` replicas on one Redis archive a real local test stream through a
short day on the real clock (issue 18): each segment of Part I and Part III is kept
exactly once, byte for byte, none of Part II, and the holder's death is covered."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.core.playlists import MediaPlaylist, parse
from tests.conftest import REDIS_URL
from tests.e2e.conftest import Server, encoding, local, run_cli
from tests.support.config import event_toml, part

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def encoder(tmp_path: Path) -> Iterator[None]:
    with encoding(tmp_path / "live", width=160, height=90, fps=5):
        yield


def test_two_replicas_keep_each_streamed_segment_once_and_never_part_two(
    tmp_path: Path, redis_prefix: str, encoder: None, start_server: Callable[..., Server]
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)  # noqa: TID251 - the real clock

    def at(seconds: int) -> dt.datetime:
        return now + dt.timedelta(seconds=seconds)

    parts = [("Part I", -5, 10, True), ("Part II", 10, 20, False), ("Part III", 20, 30, True)]
    config = tmp_path / "event.toml"
    config.write_text(
        event_toml(
            parts=[part(n, local(at(a)), local(at(b)), streamed=s) for n, a, b, s in parts],
            recording_until=local(at(86400)),
            live="live",
            recording=None,  # the gateway makes the recording
            public_url="http://127.0.0.1",
            end_grace_seconds=4,
            store_url=f"{REDIS_URL}?prefix={redis_prefix}",
        )
    )
    first, second = start_server(config), start_server(config)
    archive = tmp_path / "var" / "archive"
    deadline = time.monotonic() + 90
    while not (archive / "index.m3u8").exists():
        assert time.monotonic() < deadline, "no recording written"
        time.sleep(0.5)
    kept = [
        json.loads(line)
        for line in (archive / ".archive" / "index.m3u8.jsonl").read_text().splitlines()
    ]
    files = [k["file"] for k in kept]
    assert len(files) == len(set(files)) > 10  # each exactly once, across the two replicas
    for entry in kept:  # byte for byte what the encoder wrote, dated inside its part
        assert (archive / entry["file"]).read_bytes() == (
            tmp_path / "live" / entry["file"]
        ).read_bytes()
        start = dt.datetime.fromisoformat(entry["start"])
        name, a, b, _ = next(p for p in parts if p[0] == entry["part"])
        assert at(a) - dt.timedelta(seconds=0.5) <= start and start + dt.timedelta(seconds=1) <= at(
            b
        ) + dt.timedelta(seconds=0.5)
    assert {k["part"] for k in kept} == {"Part I", "Part III"}
    in_part_two = [p.name for p in (tmp_path / "live").glob("*.ts") if p.name not in files]
    assert in_part_two  # the encoder went on through Part II; none of it was kept
    assert not any((archive / name).exists() for name in in_part_two)
    # The recording, through either replica, to a registrant
    link = run_cli(config, "registrants", "add", "--email", "r@example.org", "--name", "R")
    viewer = second.client()
    viewer.get(urlsplit(link.stdout.strip().splitlines()[-1]).path)
    answer = viewer.get("/recording/index.m3u8")
    assert answer.status_code == 200, answer.text
    playlist = parse(answer.text, "index.m3u8")
    assert isinstance(playlist, MediaPlaylist) and playlist.ended
    assert answer.text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert first.process.poll() is None and second.process.poll() is None
