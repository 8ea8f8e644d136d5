"""`gateway recording build` (issue 18): the recording written again from the archive,
with the pre-show cut, audited; mistakes in one line on stderr."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.core.playlists import MediaPlaylist, parse
from gateway.stream.vod import META, Entry
from tests.conftest import helsinki, seminar_toml
from tests.test_cli import KEYS, gateway

pytestmark = pytest.mark.subprocess


def archived(folder: Path, part: str, start: str, count: int) -> None:
    """`count` 6 s segments of `part` from Helsinki time `start`, as the archiver keeps them."""
    (folder / META).mkdir(parents=True, exist_ok=True)
    with (folder / META / "index.m3u8.jsonl").open("a") as manifest:
        for i in range(count):
            name = f"{part.replace(' ', '')}-{i}.ts"
            (folder / name).write_bytes(name.encode() * 100)
            when = helsinki(start) + dt.timedelta(seconds=6 * i)
            entry = Entry(name, "index.m3u8", part, when.isoformat(), 6.0, i)
            manifest.write(json.dumps(dataclasses.asdict(entry)) + "\n")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "event.toml"
    tables = {"recording": {"archive": True, "archive_dir": "archive"}}
    path.write_text(seminar_toml(tmp_path, tables=tables))
    return path


def test_build_with_a_trim_cuts_the_pre_show_and_is_audited(config: Path) -> None:
    folder = config.parent / "archive"
    archived(folder, "Part I", "2021-11-18T10:00", 40)  # 4 min
    archived(folder, "Part III", "2021-11-18T17:10", 10)
    out = gateway(
        "recording", "build", "--config", str(config), "--trim", "Part I=00:02:10-", env=KEYS
    )
    assert out.returncode == 0, out.stderr
    assert "Part I: 1 min 48.0 s" in out.stdout and "Part III: 1 min 00.0 s" in out.stdout
    playlist = parse((folder / "index.m3u8").read_text(), "index.m3u8")
    assert isinstance(playlist, MediaPlaylist) and playlist.ended
    assert playlist.segments[0].date == helsinki("2021-11-18T10:02:12")  # the first whole one
    assert len(playlist.segments) == 18 + 10
    audit = gateway(
        "audit", "export", "--config", str(config), "--type", "recording.built", env=KEYS
    )
    (event,) = [json.loads(line) for line in audit.stdout.splitlines()]
    assert event["actor"] == "cli" and event["detail"]["trim"] == {"Part I": [130.0, None]}
    assert event["detail"]["parts"] == {"Part I": 108.0, "Part III": 60.0}


def test_what_a_trim_cuts_is_not_served_and_a_build_without_it_brings_it_back(
    config: Path,
) -> None:
    folder = config.parent / "archive"
    archived(folder, "Part I", "2021-11-18T10:00", 5)
    trim = "Part I=00:00:12-"  # the first two segments (a sound check, say)
    out = gateway("recording", "build", "--config", str(config), "--trim", trim, env=KEYS)
    assert out.returncode == 0, out.stderr
    # a file the playlist no longer lists was still served by name from /recording/
    assert not (folder / "PartI-0.ts").exists() and not (folder / "PartI-1.ts").exists()
    assert (folder / "PartI-2.ts").exists()
    assert (folder / META / "cut" / "PartI-0.ts").read_bytes() == b"PartI-0.ts" * 100
    again = gateway("recording", "build", "--config", str(config), env=KEYS)
    assert again.returncode == 0, again.stderr
    playlist = parse((folder / "index.m3u8").read_text(), "index.m3u8")
    assert isinstance(playlist, MediaPlaylist)
    assert [s.uri for s in playlist.segments] == [f"PartI-{i}.ts" for i in range(5)]
    assert all((folder / s.uri).read_bytes() == s.uri.encode() * 100 for s in playlist.segments)


@pytest.mark.parametrize(
    ("trim", "said"),
    [
        ("Part II=00:01:00-", "no streamed part named 'Part II'"),
        ("Part I=00:05:00-00:01:00", "ends before it starts"),
        ("Part I 00:01:00", 'write "Part I=00:02:10-"'),
        ("Part I=1:2:3:4-", "is not a time like 00:02:10"),
        ("Part I=1h-", 'write "Part I=00:02:10-"'),
        ("Part I=99999999999999999999:00:00-", "longer than the part"),  # was a traceback
        ("Part I=00:99:00-", "is not a time like 00:02:10"),  # 99 minutes within an hour
        ("Part I=00:00:99-", "is not a time like 00:02:10"),
    ],
)
def test_a_bad_trim_is_one_line_and_nothing_is_written(config: Path, trim: str, said: str) -> None:
    archived(config.parent / "archive", "Part I", "2021-11-18T10:00", 3)
    out = gateway("recording", "build", "--config", str(config), "--trim", trim, env=KEYS)
    assert out.returncode == 2 and said in out.stderr and len(out.stderr.splitlines()) == 1
    assert not (config.parent / "archive" / "index.m3u8").exists()


def test_a_cut_to_past_the_part_s_end_keeps_it_to_its_end(config: Path) -> None:
    archived(config.parent / "archive", "Part I", "2021-11-18T10:00", 3)
    trim = "Part I=-99999999999999999999:00:00"  # was an OverflowError traceback
    out = gateway("recording", "build", "--config", str(config), "--trim", trim, env=KEYS)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert (config.parent / "archive" / "index.m3u8").exists()


def test_an_empty_archive_is_said(config: Path) -> None:
    out = gateway("recording", "build", "--config", str(config), env=KEYS)
    assert out.returncode == 1 and "holds no segment" in out.stderr
