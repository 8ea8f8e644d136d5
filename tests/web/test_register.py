"""`/register`: the form, its answers, the mail queue behind it."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from tests.conftest import helsinki
from tests.web.conftest import Gateway, encoder

DONE = "Check your email"


def _form(browser: TestClient) -> dict[str, str]:
    page = browser.get("/register")
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    assert "csrf" in hidden and "__Host-gw_csrf" in browser.cookies  # https public_url
    return hidden


def _post(browser: TestClient, **fields: str) -> tuple[int, str]:
    data = {
        **_form(browser),
        "name": "Maija Meikäläinen",
        "email": "maija@example.org",
        "organisation": "",
        "consent": "yes",
        **fields,
    }
    answer = browser.post("/register", data=data)
    return answer.status_code, answer.text


def _outbox(gateway: Gateway) -> list[Message]:
    folder = gateway.settings.mail.outbox
    return (
        [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
        if folder.exists()
        else []
    )


def _send_all(gateway: Gateway) -> int:
    sent = 0
    while (outcome := gateway.call(gateway.services.mailer.send_next)) is not None:
        sent += outcome.sent
    return sent


def _link_in(message: Message) -> str:
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    text = body.get_payload(decode=True).decode()  # type: ignore[union-attr]
    return re.search(r"https://stream\.example\.org/w/\S+", text).group(0)  # type: ignore[union-attr]


def test_register_then_mail_then_watch(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    encoder(gateway.tmp, "2021-11-18T10:29:40", 3)
    first = _post(gateway.browser())
    again = _post(gateway.browser(), email="MAIJA@Example.org")
    assert first[0] == again[0] == 200 and DONE in first[1]
    assert first[1] == again[1].replace("MAIJA@Example.org", "maija@example.org")
    assert len(gateway.call(gateway.services.store.registrants)) == 1
    assert _send_all(gateway) == 1
    [message] = _outbox(gateway)
    assert message["To"].endswith("<maija@example.org>") and "Bcc" not in message
    link = _link_in(message)
    gateway.clock.now = helsinki("2021-11-18T10:30")
    viewer = gateway.browser()
    assert viewer.get(urlsplit(link).path, follow_redirects=False).status_code == 303
    assert viewer.get("/live/index.m3u8").status_code == 200
    types = [e.type for e in gateway.call(gateway.services.store.audit_events)]
    for expected in ("registration.created", "link.issued", "link.sent", "link.opened"):
        assert expected in types
    dump = str([e.to_json() for e in gateway.call(gateway.services.store.audit_events)])
    assert "maija" not in dump.lower() and "Meikäläinen" not in dump


def test_a_repeat_resends_the_current_link_never_a_new_one(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    _post(gateway.browser())
    _send_all(gateway)
    _post(gateway.browser(), email="Maija@EXAMPLE.org")
    assert _send_all(gateway) == 1
    first, second = _outbox(gateway)
    assert _link_in(first) == _link_in(second)


def test_a_revoked_registrant_stays_revoked_and_gets_nothing(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    _post(gateway.browser())
    _send_all(gateway)
    gateway.call(gateway.registry.revoke, "maija@example.org", actor="test")
    status, text = _post(gateway.browser())
    assert (status, DONE in text) == (200, True)
    assert _send_all(gateway) == 0 and len(_outbox(gateway)) == 1


def test_after_the_deadline_the_form_says_closed_and_post_is_403(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-16T23:59:59")
    browser = gateway.browser()
    page = browser.get("/register")
    assert page.status_code == 200 and "Registration has closed" in page.text
    answer = browser.post(
        "/register", data={"name": "Late", "email": "late@example.org", "consent": "yes"}
    )
    assert answer.status_code == 403
    assert _send_all(gateway) == 0 and not gateway.call(gateway.services.store.registrants)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@example.org\r\nBcc: x@evil.example"}, "email"),
        ({"email": "a@example.org\nCc: x@evil.example"}, "email"),
        ({"consent": ""}, "consent"),
        ({"consent": "no"}, "consent"),
        ({"consent": "false"}, "consent"),
        ({"consent": "off"}, "consent"),
        ({"name": ""}, "name"),
        ({"name": "N" * 20_000}, "name"),
        ({"name": "Eve\r\nBcc: attacker@evil.example"}, "name"),
        ({"name": "=?UTF-8?Q?=0A?=Bcc: x@evil.example"}, "name"),
        ({"name": "=?UTF-8?Q?=0D=0A=0D=0A?=Text of the attacker's"}, "name"),
        ({"name": "Eve =?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGU=?="}, "name"),
        ({"name": "Eve\x00Null"}, "name"),
        ({"name": "Eve\u202eevE"}, "name"),
        ({"name": "Eve \ufffd"}, "name"),  # a form posted in another encoding than UTF-8
        ({"email": "\ufffd@example.org"}, "email"),
        ({"organisation": "Org\x1b[31m"}, "organisation"),
        ({"organisation": "O" * 300}, "organisation"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message_and_stores_nothing(
    gateway: Gateway, fields: dict[str, str], field: str
) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    status, text = _post(gateway.browser(), **fields)
    assert status == 400
    assert f'href="#{field}"' in text and 'aria-invalid="true"' in text
    assert not gateway.call(gateway.services.store.registrants)
    assert _send_all(gateway) == 0


@pytest.mark.parametrize("value", ["yes", "on", "true", "1", "Yes", "ON"])
def test_a_ticked_consent_box_is_consent_whatever_value_the_client_sends(
    gateway: Gateway, value: str
) -> None:
    """Our checkbox sends "yes"; a browser sends "on" for a box without a value, and
    scripts send "true" or "1": each is the box ticked."""
    gateway.clock.now = helsinki("2021-11-10T12:00")
    status, _ = _post(gateway.browser(), consent=value)
    assert status == 200
    assert len(gateway.call(gateway.services.store.registrants)) == 1


def test_a_post_without_our_form_is_refused(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    fields = {"name": "X", "email": "x@example.org", "consent": "yes"}
    assert gateway.browser().post("/register", data=fields).status_code == 403
    browser = gateway.browser()
    token = _form(browser)["csrf"]
    cross = browser.post(
        "/register", data={**fields, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    other = gateway.browser()  # another browser's token does not fit this one's cookie
    other.get("/register")
    assert other.post("/register", data={**fields, "csrf": token}).status_code == 403
    assert not gateway.call(gateway.services.store.registrants)


def test_rate_limits_answer_429_with_retry_after(gateway: Gateway) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    statuses = [_post(gateway.browser(), email=f"p{i}@example.org")[0] for i in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[-1] == 429
    answer = gateway.browser().post("/register", data={"name": "x"})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0


def test_the_landing_page_links_to_registration_until_it_closes(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = make_gateway()
    gateway.clock.now = helsinki("2021-11-10T12:00")
    assert 'href="/register"' in gateway.client.get("/").text
    gateway.clock.now = helsinki("2021-11-17T12:00")
    assert 'href="/register"' not in gateway.client.get("/").text


def test_a_client_hanging_up_mid_body_is_one_quiet_line(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.clock.now = helsinki("2021-11-10T12:00")
    messages: list[dict[str, object]] = [
        {"type": "http.request", "body": b"name=Maija&email=ma", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(b"host", b"stream.example.org"), (b"content-length", b"200")]
    headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "https", "path": "/register", "raw_path": b"/register", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("203.0.113.5", 4000),
        "server": ("stream.example.org", 443), "state": {},
    }  # fmt: skip
    with caplog.at_level("INFO"):
        gateway.call(gateway.client.app, scope, receive, send)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    assert all(m.get("status") != 500 for m in sent)
    assert not gateway.call(gateway.services.store.registrants)
