"""The player as a broadcast, in Debian's chromium on the real clock (issue 17): a slate
inside the video box when nothing plays, a LIVE badge and "Back to live", full screen and
volume from the keyboard, a language switch that neither restarts nor mutes the recording,
captions readable on a phone, the programme as cards there, and no CSP error.

Four `gateway serve` processes of `rig.py` (Part I live, Part II blocked, before the day,
the recording), under the pages' real CSP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.e2e.conftest import ARTIFACTS, until
from tests.e2e.rig import Rig, playing, start_rig, tab_to

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
OUT = ARTIFACTS.parent / "player"
PHONE = {"width": 390, "height": 844}
# Every CSP violation the page meets, and every error it logs, kept for the test to read.
WATCH_ERRORS = """
window.__problems = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__problems.push(`CSP ${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, idp: str) -> Iterator[Rig]:
    states = ("live", "blocked", "before", "recording")
    with start_rig(tmp_path_factory.mktemp("player"), idp, states) as rig:
        yield rig


def watch(
    rig: Rig, chromium: Browser, state: str, **options: Any
) -> tuple[BrowserContext, Page, list[str]]:
    """A new browser on `state`'s watch page, with what goes wrong on it collected."""
    context = chromium.new_context(
        **{"locale": "en-GB", "timezone_id": "Europe/Helsinki", **options}
    )
    context.add_init_script(WATCH_ERRORS)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(rig.url(state, rig.links[state]))
    until(page, "document.getElementById('state').textContent !== ''", 10)
    return context, page, problems


def box(page: Page, selector: str) -> tuple[float, float, float, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return found["x"], found["y"], found["width"], found["height"]


def visible(page: Page, selector: str) -> bool:
    """Seen on screen: shown and larger than the 1 px of a line kept for screen readers."""
    found = page.locator(selector)
    return bool(found.is_visible()) and box(page, selector)[2] > 1


@pytest.mark.parametrize(
    ("state", "words"),
    [("before", "The webcast has not started yet."), ("blocked", "Part II is not streamed")],
)
def test_outside_a_live_part_a_slate_stands_in_the_video_box(
    rig: Rig, chromium: Browser, state: str, words: str
) -> None:
    context, page, problems = watch(rig, chromium, state, viewport=PHONE)
    until(page, f"document.getElementById('slate-state').textContent.includes({words!r})", 10)
    until(page, "!document.getElementById('countdown').hidden", 5)
    slate, video = box(page, "#slate"), box(page, "#video")
    assert slate == video  # inside the player, not a black box with a message below it
    assert page.inner_text("#slate-title") == "Accessibility rehearsal"
    assert page.inner_text("#countdown").startswith("Starts in ")
    # The status line is announced, not shown twice; nothing offers sound with nothing on.
    assert not visible(page, "#state") and page.get_attribute("#slate-state", "aria-hidden")
    assert page.inner_text("#state") == page.inner_text("#slate-state")
    for control in ("#sound", "#play", "#volume", "#fullscreen", "#live-badge"):
        assert not visible(page, control), control
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"slate-{state}-phone.png"))
    assert page.evaluate("window.__problems") == [] and problems == []
    context.close()


def test_live_has_a_badge_and_back_to_live_and_full_screen_and_volume_by_keyboard(
    rig: Rig, chromium: Browser
) -> None:
    context, page, problems = watch(rig, chromium, "live")
    playing(page)
    assert not visible(page, "#slate") and visible(page, "#state")
    assert visible(page, "#live-badge") and page.inner_text("#live-badge") == "LIVE"
    assert visible(page, "#sound")  # something plays: sound can be turned on
    # At the live edge: no "Back to live" (on a loaded machine playback can stall a moment
    # after it starts and the offer show until the player catches up: waited for, 10 s)
    until(page, "document.getElementById('live-edge').hidden", 10)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "live.png"))

    tab_to(page, "#play")
    page.keyboard.press("Enter")  # pause: the viewer falls behind live
    until(page, "!document.getElementById('live-edge').hidden", 5)
    assert page.evaluate("document.getElementById('live-badge').classList.contains('behind')")
    page.wait_for_timeout(3000)  # the stream runs on without the viewer
    tab_to(page, "#live-edge")
    assert page.inner_text("#live-edge") == "Back to live"
    page.keyboard.press("Enter")
    until(page, "!document.getElementById('video').paused", 5)
    until(page, "document.getElementById('live-edge').hidden", 10)
    assert not page.evaluate("document.getElementById('live-badge').classList.contains('behind')")

    tab_to(page, "#sound")
    page.keyboard.press("Enter")
    until(page, "!document.getElementById('video').muted", 5)
    tab_to(page, "#volume")
    page.keyboard.press("ArrowLeft")
    until(page, "document.getElementById('video').volume < 1", 5)
    assert not page.evaluate("document.getElementById('video').muted")
    tab_to(page, "#fullscreen")
    page.keyboard.press("Enter")
    until(page, "document.fullscreenElement?.id === 'player'", 5)
    until(page, "document.getElementById('fullscreen').textContent === 'Exit full screen'", 5)
    page.screenshot(path=str(OUT / "live-full-screen.png"))
    page.keyboard.press("Enter")
    until(page, "document.fullscreenElement === null", 5)
    assert page.evaluate("window.__problems") == [] and problems == [], problems
    context.close()


def test_switching_language_keeps_the_recording_playing_where_it_was_with_its_sound(
    rig: Rig, chromium: Browser
) -> None:
    context, page, problems = watch(rig, chromium, "recording")
    playing(page)
    page.click("#sound")
    until(page, "!document.getElementById('video').muted", 5)
    until(page, "document.getElementById('video').currentTime > 2", 15)
    page.evaluate("window.__samePage = true")  # gone if the page were loaded again
    before = page.evaluate("document.getElementById('video').currentTime")
    page.click("a[hreflang=fi]")
    page.wait_for_url("**/watch?lang=fi")
    until(page, "document.documentElement.lang === 'fi'", 5)
    assert page.evaluate("window.__samePage === true")
    assert page.evaluate("document.getElementById('video').currentTime") >= before
    assert not page.evaluate("document.getElementById('video').muted")
    until(page, "!document.getElementById('video').paused", 5)
    assert page.inner_text("h1") == "Verkkolähetys"
    until(page, "document.getElementById('state').textContent.startsWith('Suora ohjelma')", 5)
    assert page.inner_text("#captions") == "Tekstitys (englanti)"
    assert page.inner_text("#sound") == "Ääni pois"
    assert "Ohjelma" in page.inner_text("table.schedule caption")
    assert page.evaluate("document.activeElement.getAttribute('hreflang')") == "fi"
    page.reload()  # the choice is kept, as by following the link
    until(page, "document.documentElement.lang === 'fi'", 5)
    assert page.evaluate("window.__problems") == [] and problems == [], problems
    context.close()


def cue_font_size(page: Page) -> float:
    """The smallest font size of a caption on screen, read through the DevTools protocol:
    the cue is a `<div pseudo="cue">` in the video's user-agent shadow tree, which the page
    itself cannot reach."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    cues: list[int] = []
    nodes = [cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]]
    while nodes:
        node = nodes.pop()
        attributes = node.get("attributes", [])
        if dict(zip(attributes[::2], attributes[1::2], strict=True)).get("pseudo") == "cue":
            cues.append(node["nodeId"])
        nodes += [*node.get("children", []), *node.get("shadowRoots", [])]
    sizes = []
    for cue in cues:
        style = cdp.send("CSS.getComputedStyleForNode", {"nodeId": cue})["computedStyle"]
        sizes.append(float(next(p["value"] for p in style if p["name"] == "font-size")[:-2]))
    cdp.detach()
    assert sizes, "no caption on screen"
    return min(sizes)


def test_captions_are_readable_on_a_phone_and_the_programme_keeps_its_headings(
    rig: Rig, chromium: Browser
) -> None:
    context, page, problems = watch(rig, chromium, "recording", viewport=PHONE)
    playing(page)
    shown = (
        "Array.from(document.getElementById('video').textTracks)"
        ".some((t) => t.mode === 'showing' && t.activeCues && t.activeCues.length > 0)"
    )
    until(page, shown, 15)
    assert cue_font_size(page) >= 16
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "recording-captions-phone.png"))
    # The programme as cards: each cell under its own heading.
    assert not visible(page, "table.schedule thead")
    labels = page.evaluate(
        "Array.from(document.querySelectorAll('table.schedule tbody tr:first-child td'))"
        ".filter((td) => !td.hidden)"
        ".map((td) => getComputedStyle(td, '::before').content)"
    )
    assert labels[1] == '"On the web"' and labels[0].startswith('"Helsinki time (EE'), labels
    assert page.evaluate("window.__problems") == [] and problems == [], problems
    context.close()


@pytest.mark.parametrize(("zone", "shown"), [("Europe/Helsinki", False), ("Europe/London", True)])
def test_your_time_only_when_the_viewer_zone_differs(
    rig: Rig, chromium: Browser, zone: str, shown: bool
) -> None:
    context, page, _ = watch(rig, chromium, "before", timezone_id=zone)
    page.wait_for_load_state()
    assert visible(page, "th.your-time") is shown
    state = page.inner_text("#state")
    assert ("your time" in state) is shown, state
    if shown:
        cell = page.inner_text("td.your-time >> nth=0")
        assert "GMT" in cell or "UTC" in cell, cell
    context.close()


def test_the_recording_has_a_button_per_part_and_says_where_in_the_part_the_viewer_is(
    rig: Rig, chromium: Browser
) -> None:
    context, page, problems = watch(rig, chromium, "recording")
    playing(page)
    until(page, "!document.getElementById('chapters').hidden", 10)
    buttons = page.locator("#chapter-buttons button")
    assert buttons.all_inner_texts() == ["Part I", "Part III"]
    assert page.inner_text("#chapter-time").startswith("Part I, 0:0")
    tab_to(page, "#chapter-buttons button:nth-child(2)")
    page.keyboard.press("Enter")
    until(page, "document.getElementById('video').currentTime >= 5", 5)
    until(
        page, "document.getElementById('chapter-time').textContent.startsWith('Part III, 0:0')", 5
    )
    assert buttons.nth(1).get_attribute("aria-current") == "true"
    page.click("a[hreflang=sv]")  # in place: the chapters stay, their words change
    until(page, "document.getElementById('chapter-time').textContent.includes('in i delen')", 5)
    assert page.inner_text("#chapters-label") == "Delar"
    assert page.evaluate("window.__problems") == [] and problems == [], problems
    context.close()
