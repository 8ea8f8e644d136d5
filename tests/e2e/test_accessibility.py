"""WCAG 2.1 AA in Debian's chromium: axe-core on every page in every state and language,
keyboard-only journeys, captions on the recording, and what a screen reader announces.

One browser and the six `gateway serve` processes of `rig.py` for the whole module, one
per state of the day; the closed one's Redis is stopped at the end for the 503 page.

axe-core comes from the npm registry (package.json, pinned; `make assets` runs
`npm ci`) and is read from node_modules. The pages' CSP allows no inline script,
and Playwright's `add_script_tag` injects axe as one, so the contexts of the axe
pass, and only those, are made with `bypass_csp=True`; the keyboard journeys run
under the real CSP.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from gateway import teststream
from tests.e2e.conftest import ARTIFACTS, run_cli, until
from tests.e2e.rig import OPS, Rig, playing, start_rig, tab_to

# A browser walks real windows on the real clock: a minute or more, twice that on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).parent.parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LOCALES = {"en": "en-GB", "fi": "fi-FI", "sv": "sv-SE"}
OUT = ARTIFACTS.parent / "accessibility"  # test_browser.py empties ARTIFACTS at its start


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, idp: str) -> Iterator[Rig]:
    with start_rig(tmp_path_factory.mktemp("a11y"), idp) as rig:
        yield rig


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's A and AA violations on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, {
            runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
          return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary) }));
        }""",
        AXE_TAGS,
    )
    return found


# axe-core on every page, in every state and language


def test_every_page_passes_axe_in_every_language(rig: Rig, chromium: Browser) -> None:
    if not AXE.exists():
        missing = f"{AXE} is missing: run `make assets` (npm ci, axe-core from package.json)"
        pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)
    counts: dict[str, int] = {}
    problems: dict[str, list[dict[str, Any]]] = {}
    with chromium.new_context(bypass_csp=True) as sanity:  # axe finds what it should
        page = sanity.new_page()
        page.goto(rig.url("live", "/"))
        page.evaluate("document.querySelector('main').append(document.createElement('img'))")
        assert "image-alt" in {v["id"] for v in axe(page)}

    def check(page: Page, name: str) -> None:
        violations = axe(page)
        counts[name] = len(violations)
        if violations:
            problems[name] = violations

    contexts: dict[str, BrowserContext] = {}
    pages: dict[str, Page] = {}
    for lang, locale in LOCALES.items():
        # bypass_csp only for the axe pass: add_script_tag injects axe as an inline script.
        contexts[lang] = chromium.new_context(
            locale=locale, timezone_id="Europe/Stockholm", bypass_csp=True
        )
        page = pages[lang] = contexts[lang].new_page()

        def visit(page: Page, server: str, path: str, name: str, status: int = 200) -> None:
            answer = page.goto(rig.url(server, path))
            lang = page.evaluate("document.documentElement.lang")
            assert answer is not None and answer.status == status, (name, lang)
            check(page, f"{name} [{lang}]")

        visit(page, "live", "/", "landing (Part I live)")
        assert page.evaluate("document.documentElement.lang") == lang
        visit(page, "live", "/register", "register")
        page.click("button[type=submit]")  # nothing filled in: the form names every field
        assert page.locator("#errors").is_visible()
        check(page, f"register, errors [{lang}]")
        page.fill("#name", "Axe Reader")
        page.fill("#email", f"axe-{lang}@example.org")
        page.check("#consent")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1
        check(page, f"registration done [{lang}]")
        visit(page, "before", "/register", "registration closed")
        visit(page, "live", "/accessibility", "accessibility statement")
        visit(page, "live", "/watch", "error 401 (no session)", 401)
        visit(page, "live", "/w/garbage", "error 403 (bad link)", 403)
        visit(page, "live", "/nowhere", "error 404", 404)
        for server, name in (
            ("live", "watch: Part I live"),
            ("blocked", "watch: Part II blocked"),
            ("before", "watch: before the day"),
            ("between", "watch: between parts"),
            ("recording", "watch: recording, captions"),
        ):
            page.goto(rig.url(server, rig.links[server]))
            assert urlsplit(page.url).path == "/watch"
            if server in ("live", "recording"):
                playing(page)
            else:
                page.wait_for_timeout(1000)  # the first status poll has been answered
            if server == "recording":
                until(page, "!document.getElementById('captions').hidden", 10)
            check(page, f"{name} [{lang}]")
            if server in ("blocked", "before", "between"):
                visit(page, server, "/", f"landing ({server})")
        # After the recording closed, links are refused, in words.
        visit(page, "closed", rig.links["closed"], "error 403 (link expired)", 403)
        visit(page, "closed", "/", "landing (closed)")

    # The console: signed in at the provider; English only (staff pages).
    admin = chromium.new_context(bypass_csp=True).new_page()
    admin.goto(rig.url("live", "/admin/login?next=/admin/"))
    admin.fill("input[name=sub]", OPS)
    admin.click("button[type=submit]:has-text('Authorize')")
    admin.wait_for_url("**/admin/")
    check(admin, "console: dashboard")
    for path, name in (
        ("/admin/schedule", "console: schedule"),
        ("/admin/registrants", "console: registrants"),
        ("/admin/registrants/new", "console: add or import registrants"),
        ("/admin/mail", "console: mail of the links"),
        ("/admin/audit", "console: audit log"),
        ("/admin/audit/verify", "console: audit verify"),
        ("/admin/attendance", "console: attendance"),
    ):
        admin.goto(rig.url("live", path))
        check(admin, name)
    admin.goto(rig.url("live", "/admin/registrants"))
    admin.click("text=Show link >> nth=0")
    admin.wait_for_load_state()
    check(admin, "console: a registrant's link shown")
    admin.set_viewport_size({"width": 390, "height": 844})  # a phone: the page never scrolls
    for path in ("/admin/registrants", "/admin/audit", "/admin/schedule"):  # sideways; tables do
        admin.goto(rig.url("live", path))
        wide = admin.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        offenders = admin.evaluate(
            """() => [...document.querySelectorAll('body *')]
              .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
              .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)"""
        )
        assert wide <= 0, (path, wide, offenders)
    admin.set_viewport_size({"width": 1280, "height": 720})
    admin.goto(rig.url("live", "/admin/schedule"))
    admin.fill("#end-3", "2001-01-01T00:00")  # before its start: refused, with the reason
    admin.click("text=Preview change to Part III")
    admin.wait_for_load_state()
    assert admin.locator("p.warning[role=alert]").is_visible()
    check(admin, "console: schedule, change refused")
    end = dt.datetime.fromisoformat(admin.input_value("#end-3")) + dt.timedelta(minutes=5)
    admin.fill("#end-3", end.strftime("%Y-%m-%dT%H:%M"))
    admin.click("text=Preview change to Part III")
    admin.wait_for_load_state()
    assert "Confirm" in admin.inner_text("h1"), admin.inner_text("main")
    check(admin, "console: confirm a change")
    admin.goto(rig.url("live", "/admin/"))
    admin.click("text=Stop live serving now")
    admin.wait_for_load_state()
    check(admin, "console: confirm stopping live")
    admin.fill("#reason", "rehearsal")
    admin.click("text=Yes, stop live serving")
    admin.wait_for_url("**/admin/?done=stopped")
    check(admin, "console: dashboard, stopped")
    try:
        for lang, page in pages.items():
            # The servers share 127.0.0.1, so their session cookies too: open the link again.
            page.goto(rig.url("live", rig.links["live"]))
            until(page, "document.getElementById('state').textContent !== ''", 5)
            page.wait_for_timeout(1500)
            assert page.locator("#state").inner_text() != ""
            check(page, f"watch: stopped by ops [{lang}]")
    finally:
        admin.goto(rig.url("live", "/admin/"))
        admin.click("text=Resume live serving")
        admin.wait_for_url("**/admin/?done=resumed")

    # The store goes away: a link opened now is answered 503, in words.
    assert rig.redis is not None
    rig.redis.stop()
    for lang, page in pages.items():
        answer = page.goto(rig.url("closed", rig.links["closed"]))
        assert answer is not None and answer.status == 503, lang
        check(page, f"error 503 (store down) [{lang}]")
    for context in contexts.values():
        context.close()
    admin.context.close()

    report = "\n".join(f"{count:3d}  {name}" for name, count in counts.items())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "axe-violations.txt").write_text(report + "\n")
    print(f"\naxe-core {AXE_TAGS}: violations per page\n{report}")
    details = "\n".join(
        f"{name}: {v['id']} ({v['impact']}) {v['help']}: {v['nodes']}"
        for name, found in problems.items()
        for v in found
    )
    assert not problems, details
    assert len(counts) >= 60


# Keyboard only


def test_keyboard_only_register_open_the_link_play_and_switch_language(
    rig: Rig, chromium: Browser
) -> None:
    context = chromium.new_context(locale="en-GB", timezone_id="Europe/Helsinki")
    page = context.new_page()
    page.goto(rig.url("live", "/"))
    tab_to(page, "a.button[href='/register']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/register")
    tab_to(page, "#name")
    page.keyboard.type("Keyboard User")
    page.keyboard.press("Tab")
    page.keyboard.type("keyboard@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type("Ministry of Keys")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "consent"
    page.keyboard.press("Space")
    assert page.is_checked("#consent")
    tab_to(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Check your email" in page.inner_text("h1"), page.inner_text("main")
    assert page.get_by_role("status").inner_text().startswith("Thank you.")

    # The link from the mail (the CLI prints the same current link).
    out = run_cli(
        rig.servers["live"].config,
        "registrants",
        "add",
        "--email",
        "keyboard@example.org",
        "--name",
        "Keyboard User",
    )
    page.goto(rig.url("live", urlsplit(out.stdout.strip().splitlines()[-1]).path))
    assert urlsplit(page.url).path == "/watch"
    playing(page)
    tab_to(page, "#play")
    assert page.inner_text("#play") == "Pause"
    page.keyboard.press("Enter")
    until(page, "document.getElementById('video').paused", 5)
    until(page, "document.getElementById('play').textContent === 'Play'", 5)
    page.keyboard.press("Space")
    until(page, "!document.getElementById('video').paused", 5)
    tab_to(page, "#sound")
    page.keyboard.press("Enter")
    until(page, "!document.getElementById('video').muted", 5)
    # aria-pressed follows the video's volumechange event, a moment after `muted` flips
    until(page, "document.getElementById('sound').getAttribute('aria-pressed') === 'true'", 5)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "keyboard-player.png"))

    tab_to(page, "a[hreflang=fi]", back=True)
    page.keyboard.press("Enter")
    page.wait_for_url("**/watch?lang=fi")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.lang") == "fi"
    until(page, "document.getElementById('state').textContent.startsWith('Suorana nyt')", 10)
    playing(page)
    until(page, "document.getElementById('play').textContent === 'Tauko'", 5)
    context.close()


def test_the_captions_toggle_names_the_language_in_the_page_language(
    rig: Rig, chromium: Browser
) -> None:
    context = chromium.new_context(locale="fi-FI", timezone_id="Europe/Helsinki")
    page = context.new_page()
    page.goto(rig.url("recording", rig.links["recording"]))
    page.goto(rig.url("recording", "/watch?lang=fi"))
    until(page, "!document.getElementById('captions').hidden", 15)
    until(page, "document.getElementById('captions').textContent === 'Tekstitys (englanti)'", 10)
    context.close()


def test_captions_on_the_recording_on_by_default_and_switched_by_keyboard(
    rig: Rig, chromium: Browser
) -> None:
    context = chromium.new_context(locale="en-GB", timezone_id="Europe/Helsinki")
    page = context.new_page()
    page.goto(rig.url("recording", rig.links["recording"]))
    until(page, "!document.getElementById('captions').hidden", 15)
    playing(page)
    tracks = page.evaluate(
        "Array.from(document.getElementById('video').textTracks)"
        ".map((t) => [t.kind, t.language, t.label, t.mode])"
    )
    assert ["subtitles", "en", "English", "showing"] in [list(t) for t in tracks], tracks
    assert page.inner_text("#captions") == "Captions (English)"
    assert page.get_attribute("#captions", "aria-pressed") == "true"
    shown = (
        "Array.from(document.getElementById('video').textTracks)"
        ".some((t) => t.mode === 'showing' && t.activeCues && t.activeCues.length > 0)"
    )
    until(page, shown, 10)
    cue = page.evaluate(
        "Array.from(document.getElementById('video').textTracks)"
        ".find((t) => t.mode === 'showing').activeCues[0].text"
    )
    assert cue in teststream.CAPTION_LINES
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "recording-captions.png"))

    tab_to(page, "#captions")
    page.keyboard.press("Space")
    until(page, "document.getElementById('captions').getAttribute('aria-pressed') === 'false'", 5)
    assert not page.evaluate(
        "Array.from(document.getElementById('video').textTracks).some((t) => t.mode === 'showing')"
    )
    page.keyboard.press("Enter")
    until(page, "document.getElementById('captions').getAttribute('aria-pressed') === 'true'", 5)
    until(page, shown, 10)
    context.close()


def test_part_two_is_announced_in_one_sentence(rig: Rig, chromium: Browser) -> None:
    context = chromium.new_context(locale="en-GB", timezone_id="Europe/Helsinki")
    page = context.new_page()
    page.goto(rig.url("blocked", rig.links["blocked"]))
    status = page.get_by_role("status")
    assert status.get_attribute("aria-live") == "polite"
    assert status.get_attribute("id") == "state"
    until(
        page,
        "/^Part II is not streamed; Part III starts at \\d\\d:\\d\\d "
        "Helsinki time \\((EET, UTC\\+2|EEST, UTC\\+3)\\)\\.$/"
        ".test(document.getElementById('state').textContent)",
        10,
    )
    words = status.inner_text()
    assert words.startswith("Part II is not streamed; Part III starts at ")
    assert "your time" not in words  # the viewer is in the event's zone: one time
    context.close()
