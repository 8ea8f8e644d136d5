"""Issue 17's dead ends: `/link` mails a lost link again (the same answer for every
address), and every error page says whom to contact and offers the action that helps."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import helsinki
from tests.support.config import CONTACT
from tests.web.conftest import Gateway
from tests.web.test_register import _link_in, _outbox, _send_all

AFTER_CLOSING = "2021-11-18T09:00"  # registration closed on 16 Nov


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    gw = make_gateway()
    gw.clock.now = helsinki(AFTER_CLOSING)
    return gw


def _ask(browser: TestClient, address: str) -> tuple[int, str]:
    page = browser.get("/link")
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    answer = browser.post("/link", data={**hidden, "email": address})
    return answer.status_code, answer.text


def test_a_registered_address_gets_its_current_link_again_after_registration_closed(
    gateway: Gateway,
) -> None:
    aino = gateway.register("aino@example.org", "Aino")
    status, known = _ask(gateway.browser(), "AINO@example.org")
    assert status == 200 and "Check your email" in known
    assert _send_all(gateway) == 1
    [mail] = _outbox(gateway)
    assert mail["To"].endswith("<aino@example.org>") or "aino@example.org" in mail["To"]
    assert _link_in(mail) == gateway.registry.link(aino)  # the same link, not a new one
    status, unknown = _ask(gateway.browser(), "nobody@example.org")
    assert status == 200
    assert unknown.replace("nobody@example.org", "X") == known.replace("AINO@example.org", "X")
    assert _send_all(gateway) == 0  # nothing for an unknown address


def test_a_revoked_address_gets_the_same_answer_and_nothing(gateway: Gateway) -> None:
    gateway.register("ville@example.org", "Ville")
    gateway.call(gateway.registry.revoke, "ville@example.org", actor="test")
    status, text = _ask(gateway.browser(), "ville@example.org")
    assert status == 200 and "Check your email" in text
    assert _send_all(gateway) == 0


def test_a_bad_address_or_a_foreign_form_is_refused_in_words(gateway: Gateway) -> None:
    status, text = _ask(gateway.browser(), "not an address")
    assert status == 400 and 'role="alert"' in text and 'aria-invalid="true"' in text
    assert '<ul><li><a href="#email">' in text  # the mistake links to its field
    assert gateway.browser().post("/link", data={"email": "a@example.org"}).status_code == 403


def test_the_form_closes_with_the_recording(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-12-19T00:00")
    page = gateway.browser().get("/link")
    assert page.status_code == 200 and "have closed" in page.text and "<form" not in page.text
    assert gateway.browser().post("/link", data={"email": "a@example.org"}).status_code == 403
    assert 'href="/link"' not in gateway.browser().get("/").text


def test_the_landing_page_and_the_closed_registration_offer_it_and_name_the_contact(
    gateway: Gateway,
) -> None:
    landing = gateway.browser().get("/").text
    assert 'href="/link"' in landing and CONTACT["email"] in landing
    assert "Registration has closed." in landing and 'href="/register"' not in landing
    closed = gateway.browser().get("/register").text
    assert 'href="/link"' in closed and CONTACT["email"] in closed


@pytest.mark.parametrize(
    ("path", "status", "offers_link"),
    [
        ("/watch", 401, True),  # no session
        ("/w/not-a-token", 403, True),  # bad signature
        ("/recording/index.m3u8?x", 401, False),  # JSON for players: checked below
    ],
)
def test_every_error_page_names_the_contact_and_offers_what_helps(
    gateway: Gateway, path: str, status: int, offers_link: bool
) -> None:
    answer = gateway.browser().get(path)
    assert answer.status_code == status
    if answer.headers["content-type"].startswith("application/json"):
        return
    assert CONTACT["email"] in answer.text and CONTACT["phone"] in answer.text
    assert ('href="/link"' in answer.text) is offers_link


def test_revoked_and_expired_pages_name_the_contact(
    gateway: Gateway, make_settings: Callable[..., Settings]
) -> None:
    maija = gateway.register()
    viewer = gateway.login(maija)
    gateway.call(gateway.registry.revoke, "maija@example.org", actor="test")
    revoked = viewer.get("/watch")
    assert revoked.status_code == 403 and CONTACT["email"] in revoked.text
    assert 'href="/link"' not in revoked.text  # mailing the link would not help
    gateway.clock.now = helsinki("2021-12-19T00:00")
    expired = gateway.browser().get(gateway.link_path(maija))
    assert expired.status_code == 403 and CONTACT["email"] in expired.text


def test_a_superseded_link_says_what_happened_and_offers_the_current_one(
    gateway: Gateway,
) -> None:
    maija = gateway.register()
    gateway.call(gateway.registry.reissue, "maija@example.org", actor="test")
    old = gateway.browser().get(gateway.link_path(maija))
    assert old.status_code == 403 and "replaced by a newer one" in old.text
    assert "has been sent" not in old.text and 'href="/link"' in old.text


@pytest.mark.parametrize("tail", [".", ")", ">", "%3E", ",", "/"])
def test_a_link_pasted_with_the_sentence_around_it_still_opens(gateway: Gateway, tail: str) -> None:
    maija = gateway.register()
    gateway.clock.now = helsinki("2021-11-18T10:30")
    answer = gateway.browser().get(gateway.link_path(maija) + tail, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/watch"


def test_a_favicon_answers_where_browsers_look(gateway: Gateway) -> None:
    browser = gateway.browser()
    assert 'rel="icon" href="/static/favicon.svg"' in browser.get("/").text
    icon = browser.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_the_first_field_in_error_is_marked_and_focused(gateway: Gateway) -> None:
    browser = gateway.browser()
    gateway.clock.now = helsinki("2021-11-10T12:00")  # registration open
    page = browser.get("/register").text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    answer = browser.post("/register", data={**hidden, "name": "Aino", "email": "nope"})
    fields = re.findall(r"<input id=\"(\w+)\"[^>]*?(aria-invalid=\"true\"[^>]*)?>", answer.text)
    invalid = [name for name, marked in fields if marked]
    assert invalid == ["email", "consent"]
    assert re.search(r'id="email"[^>]*aria-invalid="true" autofocus', answer.text)
    assert "autofocus" not in answer.text.split('id="consent"')[1].split(">")[0]


def test_the_player_page_says_until_when_the_recording_is_there(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-25T12:00")  # the recording phase
    page = gateway.login(gateway.register()).get("/watch").text
    assert "until 18 December 2021, 23:59 Helsinki time (EET, UTC+2)." in page
    assert CONTACT["email"] in page


def test_a_page_pushed_off_by_one_device_too_many_still_says_why_after_a_reload(
    gateway: Gateway,
) -> None:
    maija = gateway.register()
    gateway.clock.now = helsinki("2021-11-18T10:30")
    first = gateway.login(maija)
    assert first.get("/watch").status_code == 200
    for _ in range(3):  # max_devices = 3: the fourth device pushes the first off
        gateway.login(maija)
    for _ in range(2):  # the page, and a reload of it
        page = first.get("/watch")
        assert page.status_code == 401 and "more devices than it allows" in page.text
    stranger = gateway.browser().get("/watch")  # no session at all: the usual words
    assert stranger.status_code == 401 and "more devices" not in stranger.text


def test_parts_carry_a_description_in_the_programme_and_the_mail(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    from gateway.settings import load_settings
    from tests.conftest import SECRET, seminar_toml

    text = seminar_toml(tmp_path).replace(
        '{ name = "Part II",',
        '{ description = { en = "Workshops, on site only.", '
        'fi = "Työpajat, vain paikan päällä." }, name = "Part II",',
    )
    config = tmp_path / "described.toml"
    config.write_text(text)
    settings = load_settings(config, {"GATEWAY_SECRET_KEYS": SECRET})
    assert settings.description("Part II", "sv") == "Workshops, on site only."  # en stands in
    gw = make_gateway(settings=settings)
    gw.clock.now = helsinki(AFTER_CLOSING)
    assert "Workshops, on site only." in gw.browser().get("/").text
    finnish = gw.browser().get("/", params={"lang": "fi"}).text
    assert "Työpajat, vain paikan päällä." in finnish
    gw.register("aino@example.org", "Aino")
    gw.call(
        gw.services.mailer.enqueue,
        gw.call(gw.services.store.registrant_by_email, "aino@example.org"),
        "en",
    )
    assert _send_all(gw) == 1
    [mail] = _outbox(gw)
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "Workshops, on site only." in body.get_payload(decode=True).decode()  # type: ignore[union-attr]
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("fi = ", "de = "))
    with pytest.raises(Exception, match=r"parts\[2\]\.description"):
        load_settings(bad, {"GATEWAY_SECRET_KEYS": SECRET})
