"""Pages for people: languages, the player page's data, error pages, security headers."""

from __future__ import annotations

import json
import re

import pytest

from gateway.i18n.translator import LANGUAGES, catalog, from_accept_language
from tests.conftest import helsinki
from tests.web.conftest import Gateway

ENGLISH = [v for k, v in catalog("en").items() if k != "language_name" and len(v) > 12]


def test_every_language_has_every_message_and_the_same_placeholders() -> None:
    english = catalog("en")
    for lang in LANGUAGES:
        messages = catalog(lang)
        assert messages.keys() == english.keys(), lang
        for key, text in messages.items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", english[key])
            ), (lang, key)
            # A Swedish date is written as an English one: "18 november 2021".
            if lang != "en" and key not in ("language_name", "date_format"):
                assert text != english[key], (lang, key)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("fi-FI,fi;q=0.9,en;q=0.8", "fi"),
        ("sv-SE", "sv"),
        ("de,sv;q=0.5,fi;q=0.7", "fi"),
        ("en-GB", "en"),
        ("de", None),
        ("", None),
        ("fi;q=0", None),
        ("fi;q=x, sv", "sv"),
    ],
)
def test_accept_language(header: str, lang: str | None) -> None:
    assert from_accept_language(header) == lang


def _visible_text(html: str) -> str:
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def _pages(gateway: Gateway, lang: str) -> dict[str, str]:
    headers = {"Accept-Language": lang}
    viewer = gateway.login()
    pages = {
        "landing": gateway.client.get("/", headers=headers).text,
        "watch": viewer.get("/watch", headers=headers).text,
        "401": gateway.client.get("/watch", headers=headers).text,
        "403 link": gateway.client.get("/w/garbage", headers=headers).text,
        "404": gateway.client.get("/nowhere", headers=headers).text,
    }
    gateway.clock.now = helsinki("2021-12-19T10:00")
    pages["410"] = viewer.get(
        "/recording/index.m3u8", headers={**headers, "Accept": "text/html"}
    ).text
    return pages


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_finnish_and_swedish_pages_have_no_english_leftovers(gateway: Gateway, lang: str) -> None:
    for name, html in _pages(gateway, lang).items():
        assert f'<html lang="{lang}">' in html or name == "410", name
        text = _visible_text(html)
        leftovers = [
            e for e in ENGLISH if e.split("{")[0].strip() and e.split("{")[0].strip() in text
        ]
        assert not leftovers, (name, leftovers)


def test_the_switcher_never_links_off_the_site(gateway: Gateway) -> None:
    """A path starting with two slashes (a 404 page) made protocol-relative switcher links:
    `//evil.example/?lang=fi` leaves the site."""
    answer = gateway.client.get("http://testserver//evil.example/")
    assert answer.status_code == 404
    assert 'href="//' not in answer.text and 'href="/evil.example/?lang=fi"' in answer.text


def test_the_switcher_sets_the_language_and_remembers_it(gateway: Gateway) -> None:
    answer = gateway.client.get("/?lang=sv")
    assert '<html lang="sv">' in answer.text and answer.headers["content-language"] == "sv"
    assert "lang=sv" in answer.headers["set-cookie"]
    assert '<html lang="sv">' in gateway.client.get("/").text
    assert '<html lang="en">' in gateway.client.get("/?lang=en").text


def test_the_landing_page_shows_the_day_in_the_event_zone(gateway: Gateway) -> None:
    html = gateway.client.get("/").text
    assert "Live now: Part I." in html
    # One way of naming the zone: the programme's time column is headed by it.
    assert "Programme, 18 November 2021" in html
    assert "Helsinki time (EET, UTC+2)</th>" in html
    assert ">17:10</time> – <time" in html and "EET (+02:00)" not in html
    assert "Not streamed (on site only)" in html
    assert 'datetime="2021-11-18T17:10:00+02:00"' in html


def test_the_programme_keeps_its_headings_on_a_phone_and_your_time_waits_for_the_script(
    gateway: Gateway,
) -> None:
    html = gateway.client.get("/?lang=sv").text
    # each cell names its column (shown above it when the table becomes cards on a phone)
    assert '<td data-label="Helsingforstid (EET, UTC+2)"><time' in html
    assert '<td data-label="På webben">' in html
    # "your time" only once times.js finds the viewer's zone differs from the event's
    assert '<th scope="col" class="your-time" hidden>' in html
    assert html.count('class="your-time" data-label="Din tid"') == 3
    assert html.count('data-label="Din tid" data-local-start=') == 3
    assert "Program, 18 november 2021" in html


def test_the_player_page_carries_its_data_and_no_third_party_anything(gateway: Gateway) -> None:
    html = gateway.login().get("/watch", headers={"Accept-Language": "fi"}).text
    data = json.loads(re.search(r'id="schedule-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert [p["name"] for p in data["parts"]] == ["Part I", "Part II", "Part III"]
    assert data["timezone"] == "Europe/Helsinki"
    # each moment in the page's words, as the server says it, with and without its date
    assert data["parts"][2]["when_today"] == "klo 17:10 Helsingin aikaa (EET, UTC+2)"
    assert data["parts"][2]["when"] == "18. marraskuuta 2021 klo 17:10 Helsingin aikaa (EET, UTC+2)"
    messages = json.loads(re.search(r'id="messages">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert messages["now_blocked"] == catalog("fi")["now_blocked"]
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_part_two_page_says_when_part_three_starts(gateway: Gateway) -> None:
    viewer = gateway.login()
    gateway.clock.now = helsinki("2021-11-18T13:00")
    html = viewer.get("/watch").text
    # One sentence, in the aria-live status a screen reader announces.
    state = re.search(r'<p id="state"[^>]*aria-live="polite"[^>]*>(.*?)</p>', html, re.S)
    assert state, html
    assert state.group(1).startswith(
        "Part II is not streamed; Part III starts at 17:10 Helsinki time (EET, UTC+2)."
    )  # the date is today's: left out


def test_security_headers(gateway: Gateway) -> None:
    answer = gateway.client.get("/")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    # hls.js's worker (blob:) and its empty caption track (data:), as media and worker only
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["media-src"] == "'self' blob: data:"
    assert directives["script-src"] == "'self'" and directives["worker-src"] == "'self' blob:"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_no_location_is_ever_built_from_the_host_header(gateway: Gateway) -> None:
    """`GET /w/<token>/` with `Host: evil.example` answered `Location: http://evil.example/…`
    (Starlette's trailing-slash redirect). Absolute URLs come from event.public_url only."""
    token = gateway.link_path(gateway.register()).rsplit("/", 1)[1]
    browser = gateway.browser()
    for path in (
        f"/w/{token}/", f"/w/{token}", "/watch/", "/register/", "/admin", "/admin/login/",
        "/api/status/", "/live/", "/recording/", "/", "//evil.example/", "/accessibility/",
    ):  # fmt: skip
        answer = browser.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        location = answer.headers.get("location", "")
        assert "evil.example" not in location, (path, answer.status_code, location)
        assert answer.status_code < 500, path
    typed = browser.get("/admin", headers={"Host": "evil.example"}, follow_redirects=False)
    assert typed.status_code == 308 and typed.headers["location"] == "/admin/"
