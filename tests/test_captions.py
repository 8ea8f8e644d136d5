"""Captions on the recording: the deadline, finding and validating them, config, `schedule`."""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from gateway import teststream
from gateway.audit.log import AuditLog
from gateway.core.errors import ConfigError, OriginUnavailable
from gateway.settings import Settings, load_settings
from gateway.stream.captions import (
    CaptionsMonitor,
    CheckedOrigin,
    Found,
    MalformedCaptions,
    captions_status,
    check_vtt,
    find_captions,
)
from gateway.stream.origins import FileOrigin
from tests.conftest import SECRET, seminar_toml
from tests.support.hls import write_vod
from tests.test_cli import KEYS, gateway

TZ = ZoneInfo("Europe/Helsinki")
OPENS = dt.datetime(2021, 11, 18, 18, 20, tzinfo=TZ)
GOOD = (
    b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nWelcome.\n\n00:00:02.000 --> 00:00:04.500\nHello.\n"
)


# The deadline: a pure function of now, available_from, days and presence


def test_missing_captions_fifteen_days_after_opening_are_overdue() -> None:
    now = OPENS + dt.timedelta(days=15)
    status = captions_status(now, OPENS, 14, present=False)
    assert status.overdue and not status.present
    assert status.due == OPENS + dt.timedelta(days=14)
    line = status.line(TZ)
    assert line.startswith("Captions: OVERDUE") and "2021-12-02 18:20" in line


def test_missing_captions_ten_days_after_opening_show_the_due_date() -> None:
    now = OPENS + dt.timedelta(days=10)
    status = captions_status(now, OPENS, 14, present=False)
    assert not status.overdue
    assert status.due == dt.datetime(2021, 12, 2, 18, 20, tzinfo=TZ)
    line = status.line(TZ)
    assert line == (
        "Captions: missing on the recording; due by 2021-12-02 18:20 EET (+02:00) "
        "(14 days after it opens)."
    )


def test_the_deadline_is_half_open_and_presence_is_never_overdue() -> None:
    due = OPENS + dt.timedelta(days=14)
    assert not captions_status(due - dt.timedelta(seconds=1), OPENS, 14, False).overdue
    assert captions_status(due, OPENS, 14, False).overdue  # from that instant on
    assert not captions_status(due + dt.timedelta(days=30), OPENS, 14, True).overdue
    assert captions_status(OPENS + dt.timedelta(days=3), OPENS, 2, False).overdue
    assert not captions_status(OPENS - dt.timedelta(days=3), OPENS, 14, False).overdue
    found = Found(False, note="subs/en.m3u8: 1 of 2 WebVTT files missing")
    line = captions_status(OPENS, OPENS, 14, False).line(TZ, found)
    assert "(subs/en.m3u8: 1 of 2 WebVTT files missing)" in line
    present = Found(True, ())
    assert captions_status(OPENS, OPENS, 14, True).line(TZ, present).startswith("Captions: present")


# WebVTT validation


def test_a_valid_file_counts_its_cues() -> None:
    assert check_vtt(GOOD, "en.vtt") == 2
    assert check_vtt(b"\xef\xbb\xbf" + GOOD, "en.vtt") == 2  # a BOM is allowed
    header = b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000\n\n"
    assert check_vtt(header, "seg.vtt", need_cues=False) == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"1\n00:00:00.000 --> 00:00:02.000\nNo signature\n", "WEBVTT signature"),
        (b"WEBVTT\n\n00:00:0x --> zz\nBad timing\n", "malformed cue"),
        (b"WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nBackwards\n", "does not end after it starts"),
        (
            b"WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nB\n\n00:00:01.000 --> 00:00:02.000\nA\n",
            "starts before the cue above it",
        ),
        (b"WEBVTT\n", "no cues"),
        (b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n\xff\xfe\n", "not UTF-8"),
        (b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nA\x00\n", "NUL"),
    ],
)
def test_a_malformed_file_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedCaptions) as caught:
        check_vtt(data, "captions/en.vtt")
    assert reason in str(caught.value) and str(caught.value).startswith("captions/en.vtt")


# Finding captions at the recording origin


def _find(folder: Path, configured: str | None = None) -> Found:
    return asyncio.run(find_captions(FileOrigin(folder), configured))


def test_a_subtitles_rendition_written_by_the_test_stream_is_present(tmp_path: Path) -> None:
    write_vod(tmp_path)
    teststream.write_captions(tmp_path, 12.0)
    index = (tmp_path / "index.m3u8").read_text()
    assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en"' in index
    assert 'URI="subs/en.m3u8"' in index and "video.m3u8" in index
    assert "#EXTINF" in (tmp_path / "video.m3u8").read_text()  # the media playlist moved
    assert check_vtt((tmp_path / "subs" / "en.vtt").read_bytes(), "en.vtt") == 6
    found = _find(tmp_path)
    assert found.present and found.describe() == "subs/en.m3u8 (English)"
    assert [(t.path, t.language, t.label) for t in found.tracks] == [
        ("subs/en.m3u8", "en", "English")
    ]
    teststream.write_captions(tmp_path, 12.0)  # again: still one media playlist, one rendition
    assert "#EXTINF" in (tmp_path / "video.m3u8").read_text()


def test_a_rendition_with_a_missing_file_is_not_present_and_a_bad_one_is_refused(
    tmp_path: Path,
) -> None:
    write_vod(tmp_path)
    teststream.write_captions(tmp_path, 4.0)
    vtt = tmp_path / "subs" / "en.vtt"
    vtt.unlink()
    found = _find(tmp_path)
    assert not found.present and found.note == "subs/en.m3u8: 1 of 1 WebVTT files missing"
    vtt.write_bytes(b"WEBVTT\n\n00:00:09.000 --> 00:00:02.000\nbroken\n")
    with pytest.raises(MalformedCaptions, match="subs/en.vtt"):
        _find(tmp_path)


def test_no_rendition_or_no_recording_yet_is_missing(tmp_path: Path) -> None:
    assert _find(tmp_path).note == "the recording origin has no index.m3u8 yet"
    write_vod(tmp_path)
    assert _find(tmp_path) == Found(False, note="index.m3u8 has no subtitles rendition")


def test_a_configured_file_is_present_missing_or_refused(tmp_path: Path) -> None:
    write_vod(tmp_path)
    missing = _find(tmp_path, "captions/en.vtt")
    assert not missing.present and "captions/en.vtt is not at the recording origin" in missing.note
    (tmp_path / "captions").mkdir()
    (tmp_path / "captions" / "en.vtt").write_bytes(GOOD)
    found = _find(tmp_path, "captions/en.vtt")
    assert found.present and found.configured == "captions/en.vtt"
    (tmp_path / "captions" / "en.vtt").write_bytes(b"not a caption file")
    with pytest.raises(MalformedCaptions, match="WEBVTT signature"):
        _find(tmp_path, "captions/en.vtt")


def test_the_served_origin_refuses_a_malformed_vtt_but_passes_everything_else(
    tmp_path: Path,
) -> None:
    (tmp_path / "good.vtt").write_bytes(GOOD)
    (tmp_path / "bad.vtt").write_bytes(b"WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nx\n")
    (tmp_path / "seg.ts").write_bytes(b"not checked")
    origin = CheckedOrigin(FileOrigin(tmp_path))
    assert asyncio.run(origin.fetch("good.vtt")) == GOOD
    assert asyncio.run(origin.fetch("seg.ts")) == b"not checked"
    with pytest.raises(OriginUnavailable, match="bad.vtt is not valid WebVTT"):
        asyncio.run(origin.fetch("bad.vtt"))


# Configuration


def _load(tmp_path: Path, recording: str = "", accessibility: str = "") -> Settings:
    text = seminar_toml(tmp_path).replace(
        'available_until = "2021-12-18T23:59:59"',
        f'available_until = "2021-12-18T23:59:59"\n{recording}',
    )
    path = tmp_path / "event.toml"
    path.write_text(text + accessibility)
    return load_settings(path, {"GATEWAY_SECRET_KEYS": SECRET})


def test_captions_and_accessibility_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.captions.path is None and settings.captions.due_days == 14
    statement = settings.accessibility
    assert statement.organisation == "" and statement.contact == "webcast@localhost"
    assert statement.last_checked is None and statement.known_gaps == ()


def test_captions_and_accessibility_keys_are_read(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        'captions = "subs/en.vtt"\ncaptions_due_days = 7',
        '\n[accessibility]\norganisation = "Ministry"\ncontact = "a11y@example.org"\n'
        'last_checked = 2021-11-01\nknown_gaps = ["PDF handouts are not tagged."]\n',
    )
    assert settings.captions.path == "subs/en.vtt" and settings.captions.due_days == 7
    statement = settings.accessibility
    assert (statement.organisation, statement.contact) == ("Ministry", "a11y@example.org")
    assert statement.last_checked == dt.date(2021, 11, 1)
    assert statement.known_gaps == ("PDF handouts are not tagged.",)


def test_every_bad_captions_or_accessibility_value_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path,
            'captions = "../outside.vtt"\ncaptions_due_days = 0\ncaptions_lang = "en"',
            '\n[accessibility]\ncontact = " "\nlast_checked = "November"\n'
            'known_gaps = ["fine", 3]\nstatement = "x"\n',
        )
    problems = "\n".join(caught.value.problems)
    for expected in (
        "recording.captions: '../outside.vtt': a path relative to the recording origin",
        "recording.captions_due_days: must be from 1 to 3650, got 0",
        "recording.captions_lang: unknown key",
        "accessibility.contact: must not be empty",
        "accessibility.last_checked: must be a date like 2021-11-01, got 'November'",
        "accessibility.known_gaps: must be a list of non-empty strings",
        "accessibility.statement: unknown key",
    ):
        assert expected in problems, problems
    with pytest.raises(ConfigError, match=r"recording.captions: 'subs/en.srt': must name a WebVTT"):
        _load(tmp_path, 'captions = "subs/en.srt"')


# `gateway schedule` and `gateway serve`


def _config(tmp_path: Path, recording: str = "") -> Path:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path, tables={"recording": tomllib.loads(recording)}))
    return path


def test_schedule_says_captions_are_overdue_fifteen_days_after_opening(tmp_path: Path) -> None:
    result = gateway("schedule", "--config", str(_config(tmp_path)), "--at", "2021-12-03T18:20")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("At 2021-12-03 18:20 EET")  # the last line is still the answer
    [notice] = [line for line in lines if "Captions" in line]
    assert lines.index(notice) < len(lines) - 1
    assert "Captions: OVERDUE" in notice and "due by 2021-12-02 18:20 EET (+02:00)" in notice


def test_schedule_shows_the_due_date_ten_days_after_opening(tmp_path: Path) -> None:
    result = gateway("schedule", "--config", str(_config(tmp_path)), "--at", "2021-11-28T18:20")
    [notice] = [line for line in result.stdout.splitlines() if "Captions" in line]
    assert "Captions: missing on the recording" in notice
    assert "due by 2021-12-02 18:20 EET (+02:00)" in notice and "OVERDUE" not in notice


def test_the_due_date_follows_the_recording_as_ops_move_the_last_part(tmp_path: Path) -> None:
    """Part III run late to 18:50 opens the recording at 18:50; the deadline stayed counted
    from the config's 18:20, in `schedule` and on the dashboard."""
    config = str(_config(tmp_path))
    moved = gateway("schedule", "set", "--config", config, "--part", "Part III", "--end", "18:50",
                    "--yes", env=KEYS)  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    result = gateway("schedule", "--config", config, "--at", "2021-11-28T18:20", env=KEYS)
    [notice] = [line for line in result.stdout.splitlines() if "Captions" in line]
    assert "due by 2021-12-02 18:50 EET (+02:00)" in notice, notice


def test_the_monitor_counts_from_the_recording_in_force(tmp_path: Path) -> None:
    opens = dt.datetime(2021, 11, 18, 18, 50, tzinfo=TZ)
    audit = cast(AuditLog, None)  # (not asked: nothing is overdue here)
    monitor = CaptionsMonitor(
        FileOrigin(tmp_path), None, OPENS, 14, TZ, audit, lambda: OPENS, opens=lambda _: opens
    )
    assert monitor.status(OPENS).due == opens + dt.timedelta(days=14)
    monitor.opens = lambda _: None  # the schedule in force not known yet: the config's
    assert monitor.status(OPENS).due == OPENS + dt.timedelta(days=14)


def test_schedule_says_captions_are_present(tmp_path: Path) -> None:
    write_vod(tmp_path / "recording")
    teststream.write_captions(tmp_path / "recording", 12.0)
    result = gateway("schedule", "--config", str(_config(tmp_path)), "--at", "2021-12-10T10:00")
    assert "  Captions: present on the recording: subs/en.m3u8 (English)." in result.stdout


def test_serve_refuses_a_malformed_caption_file_at_start(tmp_path: Path) -> None:
    (tmp_path / "recording").mkdir()
    (tmp_path / "recording" / "en.vtt").write_text("WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nx\n")
    config = _config(tmp_path, 'captions = "en.vtt"')
    result = gateway("serve", "--config", str(config), "--port", "1", env=KEYS)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"gateway: config error: {config}: recording.captions: en.vtt is not valid WebVTT: "
        "cue 1 (00:00:05.000 --> 00:00:01.000) does not end after it starts"
    )
    schedule = gateway("schedule", "--config", str(config), "--at", "2021-11-20T10:00")
    assert schedule.returncode == 0 and "refuses to start" in schedule.stdout
