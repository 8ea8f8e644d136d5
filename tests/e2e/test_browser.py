"""The participant's day in Debian's chromium, driven by Playwright, on the real clock.

The windows are placed around the real clock and compressed: Part I is live
now, Part II (not streamed) follows in ~20 s, Part III ~15 s later, then the
recording. The test waits for each state as a viewer would (polling the page,
never a blind sleep) and saves a screenshot of each under
`test-artifacts/browser/`. Every request the page makes must go to the gateway.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from gateway import teststream
from tests.e2e.conftest import ARTIFACTS, Server, encoding, local, run_cli, until
from tests.support.config import event_toml, part

# A browser walks real windows on the real clock: a minute or more, twice that on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _config(tmp: Path, now: dt.datetime) -> Path:
    def at(seconds: int) -> str:
        return local(now + dt.timedelta(seconds=seconds))

    path = tmp / "event.toml"
    path.write_text(
        event_toml(
            title="Browser rehearsal",
            public_url="http://127.0.0.1",
            parts=[
                part("Part I", at(-60), at(25)),
                part("Part II", at(25), at(45), streamed=False),
                part("Part III", at(45), at(65)),
            ],
            recording_until=at(86400),
            live="live",
            recording="recording",
            end_grace_seconds=4,
            store_url="sqlite:///gateway.db",
        )
    )
    return path


@pytest.fixture
def encoder(tmp_path: Path) -> Iterator[None]:
    teststream.write_recording(tmp_path / "recording", seconds=12)
    with encoding(tmp_path / "live"):
        yield


def test_a_viewer_follows_the_day(
    tmp_path: Path, encoder: None, chromium: Browser, start_server: Callable[[Path], Server]
) -> None:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - a real browser runs on the real clock
    config = _config(tmp_path, now)
    server = start_server(config)
    link = (
        run_cli(config, "registrants", "add", "--email", "viewer@example.org", "--name", "Viewer")
        .stdout.strip()
        .splitlines()[-1]
    )
    origin = urlsplit(server.url).netloc
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    context = chromium.new_context(
        viewport={"width": 412, "height": 915},
        locale="en-GB",
        timezone_id="Europe/Stockholm",
    )
    page = context.new_page()
    hosts: set[str] = set()  # blob: URLs (hls.js's MediaSource) name their origin inside
    page.on("request", lambda r: hosts.add(urlsplit(r.url.removeprefix("blob:")).netloc))

    def playing(seconds: float) -> None:
        """The video's clock advances: it really plays."""
        until(page, "document.getElementById('video').currentTime > 0.5", seconds)
        start = page.evaluate("document.getElementById('video').currentTime")
        until(page, f"document.getElementById('video').currentTime > {start} + 1", 10)

    def says(text: str, seconds: float) -> None:
        until(page, f"document.getElementById('state').textContent.includes({text!r})", seconds)

    page.goto(server.url + urlsplit(link).path)
    assert urlsplit(page.url).path == "/watch"
    says("Live now: Part I", 10)
    playing(15)
    page.screenshot(path=str(ARTIFACTS / "1-part-one-live.png"))

    says("Part II is not streamed", 40)
    # Part I's last seconds may still play out; they are no longer live (the badge said
    # LIVE beside "Part II is not streamed" until the video ended).
    until(page, "document.getElementById('live-badge').hidden", 1)
    until(
        page,
        "(() => { const v = document.getElementById('video'); "
        "return v.paused || !v.currentSrc })()",
        40,
    )
    assert "Part III starts at" in page.inner_text("#state")
    page.screenshot(path=str(ARTIFACTS / "2-part-two-blocked.png"))

    says("Live now: Part III", 40)
    playing(20)
    page.screenshot(path=str(ARTIFACTS / "3-part-three-live.png"))

    says("The recording is available", 50)
    if page.evaluate("document.getElementById('video').paused"):
        page.click("#play")
    playing(20)
    assert page.evaluate("isFinite(document.getElementById('video').duration)")
    page.screenshot(path=str(ARTIFACTS / "4-recording.png"))
    context.close()
    assert hosts == {origin}, hosts
