"""The recording the gateway makes (issue 18): with no `origin.recording`, the streamed
parts are archived as they pass and `/recording/` serves the VOD written at the end of
the day, under every rule the recording has (registrants only, its window)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.core.clock import FrozenClock
from gateway.core.playlists import MediaPlaylist, parse
from gateway.settings import load_settings
from gateway.stream.archive import SETTLE
from tests.conftest import SECRET
from tests.support.config import event_toml, part
from tests.test_archive import T0, Encoder, day
from tests.web.conftest import Gateway


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize("elsewhere", [False, True], ids=["made-here", "archive-true-wins"])
def test_after_part_three_the_recording_is_the_streamed_parts_archived(
    tmp_path: Path, make_gateway: Callable[..., Gateway], elsewhere: bool
) -> None:
    """Without `origin.recording`, or with `recording.archive = true` beside one (the
    recording is then the one made here)."""
    (tmp_path / "live").mkdir()
    config = tmp_path / "event.toml"
    config.write_text(
        event_toml(
            parts=[
                part(p.name, p.start.isoformat(), p.end.isoformat(), streamed=p.streamed)
                for p in day().parts
            ],
            recording_until=at(86400),
            live=f"file://{tmp_path / 'live'}",
            recording=f"file://{tmp_path / 'elsewhere'}" if elsewhere else None,
            tables={"recording": {"archive": True}} if elsewhere else None,
            end_grace_seconds=0,
            store_url=f"sqlite:///{tmp_path / 'gateway.db'}".replace(
                "sqlite:///", "sqlite:////", 1
            ),
        )
    )
    settings = load_settings(config, {"GATEWAY_SECRET_KEYS": SECRET})
    assert settings.archive.enabled and settings.archive.folder == tmp_path / "var" / "archive"
    assert settings.origin.recording == f"file://{tmp_path / 'var' / 'archive'}"
    clock = FrozenClock(T0 - dt.timedelta(seconds=4))
    gateway = make_gateway(settings=settings, clock=clock)
    viewer = gateway.login()
    encoder = Encoder(tmp_path / "live", pdt=True)
    archiver = gateway.services.archiver
    assert archiver is not None
    while clock() <= T0 + dt.timedelta(seconds=60) + SETTLE:  # written 3 s after the end
        encoder.tick(clock())
        gateway.call(gateway.services.live.look)
        gateway.call(archiver.step)
        clock.advance(seconds=1)
    answer = viewer.get("/recording/index.m3u8")
    assert answer.status_code == 200, answer.text
    playlist = parse(answer.text, "index.m3u8")
    assert isinstance(playlist, MediaPlaylist) and playlist.ended
    one, two, three = day().parts
    wanted = {**encoder.of(one), **encoder.of(three)}
    assert {s.name for s in playlist.segments} == set(wanted)
    for segment in playlist.segments:
        assert viewer.get(f"/recording/{segment.uri}").content == wanted[segment.uri]
    assert answer.text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert not set(encoder.of(two)) & {p.name for p in settings.archive.folder.rglob("*")}
    # registrants only, as ever; and the event says who made it
    assert gateway.browser().get("/recording/index.m3u8").status_code == 401
    built = [
        e for e in gateway.call(gateway.services.store.audit_events) if e.type == "recording.built"
    ]
    assert len(built) == 1 and built[0].detail["parts"] == {"Part I": 20.0, "Part III": 20.0}
