"""Staff sign-in (`gateway.web.admin.auth`) against a real OpenID provider over HTTP.

The provider is `oidc-provider-mock`, run as a subprocess (its Flask app imports
the deprecated `authlib.jose`, whose warning would fail this warnings-as-errors
run in-process). It authorises whichever subject is POSTed to its
authorization URL (`sub=...`), with the claims PUT to `/users/<sub>` before:
claims it does not know it copies into the ID token, even `aud`, `iss`, `exp`
and `nonce`, so it also issues the genuinely signed bad tokens tested here.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.requests import Request
from starlette.testclient import TestClient

from gateway.core.clock import FrozenClock, system_clock
from gateway.web.admin import auth, oidc
from tests.support.ports import free_port
from tests.web.conftest import Gateway
from tests.web.test_admin_pages import token

PUBLIC = "https://stream.example.org"
OPS = "ops@example.org"
DPO = "dpo@example.org"
PENDING = "__Host-gw_oidc"
SESSION = "__Host-gw_admin"
SECRET_ENV = {"GATEWAY_OIDC_CLIENT_SECRET": "client-secret-for-tests"}


def admin_toml(
    idp: str, client_id: str = "stream-gateway", ops: tuple[str, ...] = (OPS, "Stream-Ops")
) -> str:
    return f"""
[admin]
oidc_discovery_url = "{idp}{oidc.WELL_KNOWN}"
client_id = "{client_id}"
ops = {json.dumps(list(ops))}
auditors = ["{DPO}"]
"""


@pytest.fixture
def make_admin(make_gateway: Callable[..., Gateway], idp: str) -> Callable[..., Gateway]:
    """A gateway with `[admin]` on the provider, its clock at real time (ID tokens carry it)."""

    def make(ops: tuple[str, ...] = (OPS, "Stream-Ops"), **kwargs: Any) -> Gateway:
        clock = FrozenClock(system_clock())
        extra = admin_toml(idp, ops=ops)
        return make_gateway(extra=extra, env=SECRET_ENV, clock=clock, **kwargs)

    return make


@pytest.fixture
def gw(make_admin: Callable[..., Gateway]) -> Gateway:
    return make_admin()


def user(idp: str, sub: str, **claims: Any) -> None:
    """Tell the provider who `sub` is (by default their email, verified)."""
    claims = claims or {"email": sub, "email_verified": True}
    answer = httpx2.put(f"{idp}/users/{quote(sub, safe='')}", json=claims)
    assert answer.status_code == 204, answer.text


def authorize(browser: TestClient, idp: str, sub: str, next_path: str = "/admin/whoami") -> str:
    """Start at /admin/login, approve `sub` at the provider: the callback URL it sends back."""
    start = browser.get("/admin/login", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 303, start.text
    assert start.headers["location"].startswith(idp + "/oauth2/authorize?")
    granted = httpx2.post(start.headers["location"], data={"sub": sub}, follow_redirects=False)
    assert granted.status_code == 302, granted.text
    callback: str = granted.headers["location"]
    assert callback.startswith(PUBLIC + "/admin/callback?")
    return callback


def sign_in(gw: Gateway, idp: str, sub: str, next_path: str = "/admin/whoami") -> TestClient:
    browser = gw.browser()
    answer = browser.get(authorize(browser, idp, sub, next_path), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser


def sign_in_refused(gw: Gateway, idp: str, sub: str) -> bool:
    browser = gw.browser()
    return browser.get(authorize(browser, idp, sub), follow_redirects=False).status_code == 403


def events(gw: Gateway, type: str) -> list[tuple[str, dict[str, Any]]]:
    found = gw.call(gw.services.store.audit_events)
    return [(e.actor, e.detail) for e in found if e.type == type]


def whoami(browser: TestClient) -> Any:
    answer = browser.get("/admin/whoami", follow_redirects=False)
    return answer.json() if answer.status_code == 200 else answer.status_code


# The whole sign-in


def test_ops_sign_in_lands_on_the_next_path_with_a_session(gw: Gateway, idp: str) -> None:
    user(idp, OPS, email=OPS, email_verified=True, name="Olli Ops")
    browser = gw.browser()
    callback = authorize(browser, idp, OPS, "/admin/whoami?x=1")
    answer = browser.get(callback, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/whoami?x=1"
    assert answer.headers["cache-control"] == "no-store"
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION + "="))
    assert all(a in session for a in ("HttpOnly", "Secure", "Path=/", "Max-Age=28800"))
    assert "samesite=lax" in session.lower()
    assert any(c.startswith(PENDING + '=""') for c in cookies)  # the pending sign-in is used up
    assert whoami(browser) == {"identity": OPS, "roles": ["ops"]}
    assert events(gw, "admin.login") == [(OPS, {"roles": ["ops"]})]


def test_the_authorization_request_uses_pkce_and_the_public_url(gw: Gateway, idp: str) -> None:
    browser = gw.browser()
    start = browser.get("/admin/login", headers={"host": "evil.example"}, follow_redirects=False)
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["redirect_uri"] == [PUBLIC + "/admin/callback"]  # never the Host header
    assert query["client_id"] == ["stream-gateway"]
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert set(query["scope"][0].split()) >= {"openid", "email", "profile"}
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    pending = next(c for c in start.headers.get_list("set-cookie") if c.startswith(PENDING))
    assert all(a in pending for a in ("HttpOnly", "Secure", "Path=/", "Max-Age=600"))
    assert "samesite=lax" in pending.lower()


def test_an_auditor_refused_ops_work_is_audited_per_action_once_an_hour(
    gw: Gateway, idp: str
) -> None:
    """The contract: `admin.refused` names the refused action in `detail.action`. It was
    audited once per person and role ever, without the action: an auditor's attempts to
    stop the stream, move a part and revoke someone left one event naming none."""
    user(idp, DPO)
    browser = sign_in(gw, idp, DPO)
    assert whoami(browser) == {"identity": DPO, "roles": ["auditor"]}
    cookie = browser.cookies.get(SESSION)
    for path in ("/admin/live/stop", "/admin/live/stop", "/admin/registrants/x/revoke"):
        with pytest.raises(auth.NotAllowed) as refused:
            gw.call(auth.staff, request_with(gw, cookie, path, method="POST"), auth.OPS)
        assert (refused.value.identity, refused.value.role) == (DPO, "ops")
    member = gw.call(auth.staff, request_with(gw, cookie), auth.AUDITOR)
    assert member == auth.Staff(DPO, frozenset({"auditor"}))
    refused_as = {"reason": "missing_role", "role": "ops"}
    assert events(gw, "admin.refused") == [  # the same action again within the hour: once
        (DPO, refused_as | {"action": "POST /admin/live/stop"}),
        (DPO, refused_as | {"action": "POST /admin/registrants/x/revoke"}),
    ]
    gw.clock.advance(hours=1)
    with pytest.raises(auth.NotAllowed):
        gw.call(auth.staff, request_with(gw, cookie, "/admin/live/stop", method="POST"), auth.OPS)
    assert len(events(gw, "admin.refused")) == 3  # and again in the next hour


def request_with(
    gw: Gateway, cookie: str | None, path: str = "/admin/x", method: str = "GET"
) -> Request:
    """A request to the running app carrying the admin cookie (for calling `staff` directly)."""
    headers = [(b"cookie", f"{SESSION}={cookie}".encode())] if cookie else []
    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "query_string": b"q=1"}
    scope |= {"headers": headers, "app": gw.client.app, "client": ("203.0.113.9", 1)}
    return Request(scope)


def test_staff_without_a_session_asks_to_sign_in(gw: Gateway) -> None:
    with pytest.raises(auth.SignInRequired) as needed:
        gw.call(auth.staff, request_with(gw, None, "/admin/audit"), auth.AUDITOR)
    assert needed.value.login_url == "/admin/login?next=%2Fadmin%2Faudit%3Fq%3D1"
    answer = gw.browser().get("/admin/whoami?a=b", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fadmin%2Fwhoami%3Fa%3Db"
    posted = request_with(gw, None, "/admin/schedule")
    posted.scope["method"] = "POST"
    with pytest.raises(auth.SignInRequired) as needed:
        gw.call(auth.staff, posted, auth.OPS)
    assert needed.value.next_path == "/admin/"


def test_a_groups_claim_grants_its_role(gw: Gateway, idp: str) -> None:
    user(idp, "grace", email="grace@example.org", groups=["stream-ops", "staff"])
    assert whoami(sign_in(gw, idp, "grace")) == {"identity": "grace", "roles": ["ops"]}


def test_a_group_named_like_a_subject_grants_nothing(
    make_admin: Callable[..., Gateway], idp: str
) -> None:
    """Groups and subjects were looked up in one set: a group called `sub:alice` (where
    people may name groups) stood in for alice's subject."""
    gw = make_admin(ops=("sub:alice",))
    user(idp, "mallory", groups=["sub:alice"])
    assert sign_in_refused(gw, idp, "mallory")
    user(idp, "alice")
    assert whoami(sign_in(gw, idp, "alice")) == {"identity": "alice", "roles": ["ops"]}


def test_ops_also_have_auditor_access() -> None:
    ops = auth.Staff("a@example.org", frozenset({"ops"}))
    auditor = auth.Staff("b@example.org", frozenset({"auditor"}))
    assert ops.can("ops") and ops.can("auditor")
    assert auditor.can("auditor") and not auditor.can("ops")
    assert not ops.can("root")


# Refusals


def test_someone_not_on_the_lists_is_refused_and_audited(gw: Gateway, idp: str) -> None:
    user(idp, "eve@example.org")
    browser = gw.browser()
    answer = browser.get(authorize(browser, idp, "eve@example.org"), follow_redirects=False)
    assert answer.status_code == 403
    assert "eve@example.org is not on the console" in answer.text
    assert SESSION not in browser.cookies
    # Not staff, so not named (contract: actor is staff, "who act in office"): the log kept
    # an outsider's address for good; a keyed hash still tells one person's attempts apart.
    [(actor, detail)] = events(gw, "admin.refused")
    assert actor == "system" and detail.pop("identity") == gw.call(
        gw.services.audit.hash_ip, "eve@example.org"
    )
    assert detail == {"reason": "not_staff", "action": "sign-in"}
    assert "eve@" not in str(gw.call(gw.services.store.audit_events))
    assert events(gw, "admin.login") == []
    assert whoami(browser) == 303


def test_an_unverified_email_grants_nothing(gw: Gateway, idp: str) -> None:
    user(idp, "mallory", email=OPS.upper(), email_verified=False)
    browser = gw.browser()
    answer = browser.get(authorize(browser, idp, "mallory"), follow_redirects=False)
    assert answer.status_code == 403
    assert [(actor, d["reason"]) for actor, d in events(gw, "admin.refused")] == [
        ("system", "not_staff")
    ]


@pytest.mark.parametrize("verified", [None, "true", 1, "yes"])
def test_an_email_not_verified_by_a_json_true_grants_nothing(
    gw: Gateway, idp: str, verified: Any
) -> None:
    claims = {"email": OPS} if verified is None else {"email": OPS, "email_verified": verified}
    user(idp, "olli", **claims)  # no claim at all: not verified
    browser = gw.browser()
    answer = browser.get(authorize(browser, idp, "olli"), follow_redirects=False)
    assert answer.status_code == 403 and "olli is not on the console" in answer.text
    assert [(actor, d["reason"]) for actor, d in events(gw, "admin.refused")] == [
        ("system", "not_staff")
    ]
    assert SESSION not in browser.cookies


def test_a_provider_without_email_verified_maps_by_subject(
    make_admin: Callable[..., Gateway], idp: str
) -> None:
    gw = make_admin(ops=("sub:Olli-7",))  # subjects compare as given, case and all
    user(idp, "Olli-7", email=OPS)
    assert whoami(sign_in(gw, idp, "Olli-7")) == {"identity": "Olli-7", "roles": ["ops"]}
    user(idp, "olli-7", email=OPS)
    assert sign_in_refused(gw, idp, "olli-7")


def test_roles_come_from_the_current_config_on_every_request(
    make_admin: Callable[..., Gateway], idp: str
) -> None:
    user(idp, OPS)
    user(idp, "grace", email="grace@example.org", email_verified=True, groups=["stream-ops"])
    before = make_admin()
    olli, grace = sign_in(before, idp, OPS), sign_in(before, idp, "grace")
    assert whoami(olli)["roles"] == ["ops"] and whoami(grace)["roles"] == ["ops"]
    form = token(olli, "/admin/")  # the console left open in a tab
    after = make_admin(ops=("grace@example.org",))  # restarted without Olli or the group
    olli_after, grace_after = after.browser(), after.browser()
    olli_after.cookies, grace_after.cookies = olli.cookies, grace.cookies
    stop = olli_after.post("/admin/live/stop", data={"csrf": form}, follow_redirects=False)
    assert stop.status_code == 303 and stop.headers["location"].startswith("/admin/login")
    assert after.call(after.services.store.get_value, "control.stopped") is None
    refused = [
        (actor, {k: v for k, v in detail.items()})
        for actor, detail in events(after, "admin.refused")
    ]
    assert refused == [(OPS, {"reason": "not_staff", "action": "POST /admin/live/stop"})]
    assert whoami(olli_after) == 303 and whoami(olli) == 303  # signed out, on every replica
    assert whoami(grace_after) == {"identity": "grace@example.org", "roles": ["ops"]}


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"aud": ["someone-else", "stream-gateway"]},  # several audiences, azp not us
        {"iss": "https://evil.example"},
        {"nonce": "not-the-one-we-sent"},
        {"exp": 1_000_000_000},
        {"iat": 4_000_000_000},
    ],
    ids=["audience", "azp", "issuer", "nonce", "expired", "future"],
)
def test_an_id_token_not_for_this_sign_in_is_refused(
    gw: Gateway, idp: str, claims: dict[str, Any]
) -> None:
    sub = "ops-" + "-".join(claims) + "@example.org"
    user(idp, sub, email=OPS, **claims)  # the provider signs these claims as given
    browser = gw.browser()
    answer = browser.get(authorize(browser, idp, sub), follow_redirects=False)
    assert answer.status_code == 400
    assert SESSION not in browser.cookies
    assert events(gw, "admin.refused") == [
        ("system", {"reason": "invalid_id_token", "action": "sign-in"})
    ]
    assert events(gw, "admin.login") == []


def test_a_replayed_callback_is_refused(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = gw.browser()
    callback = authorize(browser, idp, OPS)
    pending = browser.cookies.get(PENDING)
    assert browser.get(callback, follow_redirects=False).status_code == 303
    again = browser.get(callback, follow_redirects=False)  # the pending sign-in is gone
    assert again.status_code == 400
    thief = gw.browser()  # kept the pending cookie too: still refused
    thief.cookies.set(PENDING, pending or "", domain="stream.example.org")
    stolen = thief.get(callback, follow_redirects=False)
    assert stolen.status_code == 400
    assert SESSION not in thief.cookies
    assert len(events(gw, "admin.login")) == 1


def test_a_mismatched_state_is_refused_and_the_attempt_used_up(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = gw.browser()
    callback = authorize(browser, idp, OPS)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    answer = browser.get(forged, follow_redirects=False)
    assert answer.status_code == 400
    assert "Sign in again" in answer.text
    assert PENDING not in browser.cookies
    assert browser.get(callback, follow_redirects=False).status_code == 400
    assert whoami(browser) == 303


def test_a_callback_without_its_browser_cookie_is_refused(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    callback = authorize(gw.browser(), idp, OPS)
    assert gw.browser().get(callback, follow_redirects=False).status_code == 400


def test_a_refusal_by_the_provider_is_refused(gw: Gateway, idp: str) -> None:
    browser = gw.browser()
    start = browser.get("/admin/login", follow_redirects=False)
    denied = httpx2.post(start.headers["location"], data={"action": "deny"})
    assert "error=access_denied" in denied.headers["location"]
    assert browser.get(denied.headers["location"], follow_redirects=False).status_code == 400


def test_a_sign_in_left_over_ten_minutes_is_refused(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = gw.browser()
    callback = authorize(browser, idp, OPS)
    gw.clock.advance(minutes=11)
    assert browser.get(callback, follow_redirects=False).status_code == 400


# Sessions


def test_sign_out_ends_the_session_for_good(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = sign_in(gw, idp, OPS)
    cookie = browser.cookies.get(SESSION)
    page = browser.get("/admin/logout")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    assert browser.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
    assert whoami(browser) == {"identity": OPS, "roles": ["ops"]}
    out = browser.post("/admin/logout", data={"csrf": found.group(1)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert SESSION not in browser.cookies
    assert whoami(browser) == 303
    replay = gw.browser()
    replay.cookies.set(SESSION, cookie or "", domain="stream.example.org")
    assert whoami(replay) == 303


def test_a_session_ends_after_eight_hours(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = sign_in(gw, idp, OPS)
    gw.clock.advance(hours=7, minutes=59)
    assert whoami(browser) == {"identity": OPS, "roles": ["ops"]}
    gw.clock.advance(minutes=1)
    assert whoami(browser) == 303


def test_a_tampered_session_cookie_is_no_session(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = sign_in(gw, idp, OPS)
    cookie = browser.cookies.get(SESSION) or ""
    other = gw.browser()
    other.cookies.set(SESSION, "x" + cookie, domain="stream.example.org")
    assert whoami(other) == 303


def test_signing_in_again_starts_a_new_session(gw: Gateway, idp: str) -> None:
    user(idp, OPS)
    browser = sign_in(gw, idp, OPS)
    first = browser.cookies.get(SESSION) or ""
    assert browser.get("/admin/login", follow_redirects=False).headers["location"] == "/admin/"
    again = gw.browser()
    callback = authorize(again, idp, OPS)
    again.cookies.set(SESSION, first, domain="stream.example.org")
    assert again.get(callback, follow_redirects=False).status_code == 303
    assert again.cookies.get(SESSION) not in (None, first)
    assert whoami(again) == {"identity": OPS, "roles": ["ops"]}
    assert whoami(browser) == 303  # the session it carried in has ended


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_sign_in_started_on_one_replica_completes_on_another(
    make_admin: Callable[..., Gateway], idp: str, kind: str
) -> None:
    user(idp, OPS)
    one, two = make_admin(kind=kind), make_admin(kind=kind)
    first = one.browser()
    callback = authorize(first, idp, OPS)
    second = two.browser()
    second.cookies.set(PENDING, first.cookies.get(PENDING) or "", domain="stream.example.org")
    assert second.get(callback, follow_redirects=False).status_code == 303
    first.cookies.set(SESSION, second.cookies.get(SESSION) or "", domain="stream.example.org")
    assert whoami(first) == {"identity": OPS, "roles": ["ops"]}


# Next paths


@pytest.mark.parametrize(
    "bad",
    ["//evil.example", "/\\evil.example", "%2F%2Fevil.example", "https://evil.example", "/%5Cevil"],
)
def test_sign_in_never_redirects_off_site(gw: Gateway, idp: str, bad: str) -> None:
    user(idp, OPS)
    browser = gw.browser()
    answer = browser.get(authorize(browser, idp, OPS, bad), follow_redirects=False)
    assert answer.headers["location"] == "/admin/"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "admin/",
        "//evil.example/",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "%2F%2Fevil.example",
        "/%2Fevil.example",
        "/%252F/evil.example",
        "/%5Cevil",
        "/%5cevil",
        "https://evil.example/admin/",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "/%09/evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "/admin/\x00",
        "/%2525252F/evil",
        "/" + "a" * 2001,
    ],
)
def test_safe_next_refuses(bad: str) -> None:
    assert auth.safe_next(bad) == "/admin/"


@pytest.mark.parametrize(
    "good", ["/admin/", "/admin/audit?type=admin.login&page=2", "/admin/registrants#top", "/"]
)
def test_safe_next_keeps_local_paths(good: str) -> None:
    assert auth.safe_next(good) == good


@given(st.text(max_size=40) | st.from_regex(r"\A[/\\%2FfC5c:a-z.]{0,12}\Z"))
def test_safe_next_is_always_a_local_path(value: str) -> None:
    result = auth.safe_next(value)
    for form in (result, unquoted(result)):
        assert form.startswith("/")
        assert not form.startswith(("//", "/\\"))
        assert not urlsplit(form).scheme and not urlsplit(form).netloc


def unquoted(value: str) -> str:
    for _ in range(5):
        value = unquote(value)
    return value


# Configuration and the provider


def test_without_admin_config_the_console_says_so(make_gateway: Callable[..., Gateway]) -> None:
    browser = make_gateway().browser()
    for path in ("/admin/login", "/admin/callback?code=x&state=y", "/admin/whoami"):
        answer = browser.get(path, follow_redirects=False)
        assert answer.status_code == 404
        assert "The console is not configured" in answer.text


def test_a_provider_that_does_not_answer_is_502(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(extra=admin_toml(f"http://127.0.0.1:{free_port()}"))
    answer = gw.browser().get("/admin/login", follow_redirects=False)
    assert answer.status_code == 502
    assert "did not answer" in answer.text


# ID token checks without the provider: keys it never had


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


def id_token(key: Any, header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(system_clock().timestamp())
    payload: dict[str, Any] = {"iss": "https://id.example.org", "aud": "gw", "sub": "s1"}
    payload["nonce"] = "n1"
    payload |= {"iat": now, "exp": now + 300, **claims}
    token: str = jwt.encode(header or {"alg": "RS256", "kid": "idp-1"}, payload, key)
    return token


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def check(token: str, public: KeySet) -> dict[str, Any]:
    return oidc.verify_id_token(
        token,
        public,
        issuer="https://id.example.org",
        client_id="gw",
        nonce="n1",
        now=system_clock(),
    )


def test_a_good_id_token_passes(signing_key: RSAKey) -> None:
    public = KeySet.import_key_set({"keys": [signing_key.as_dict(private=False)]})
    assert check(id_token(signing_key), public)["sub"] == "s1"
    several = id_token(signing_key, aud=["gw", "other"], azp="gw")
    assert check(several, public)["azp"] == "gw"


def test_a_token_signed_by_another_key_is_refused(signing_key: RSAKey) -> None:
    public = KeySet.import_key_set({"keys": [signing_key.as_dict(private=False)]})
    forger = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})
    with pytest.raises(oidc.SignInFailed, match="bad_signature"):
        check(id_token(forger), public)
    good = id_token(signing_key)
    header, payload, _ = good.split(".")
    with pytest.raises(oidc.SignInFailed):
        check(f"{b64({'alg': 'none', 'kid': 'idp-1'})}.{payload}.", public)
    confused = f"{b64({'alg': 'HS256', 'kid': 'idp-1'})}.{payload}"  # the public key as secret
    mac = hmac.new(signing_key.as_pem(private=False), confused.encode(), hashlib.sha256)
    with pytest.raises(oidc.SignInFailed):
        check(confused + "." + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("="), public)
    with pytest.raises(oidc.SignInFailed, match="bad_claims"):
        check(id_token(signing_key, aud="other"), public)
    with pytest.raises(oidc.SignInFailed, match="bad_claims"):
        check(id_token(signing_key, exp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)), public)


# The protocol steps against a scripted provider: what goes on the wire


def scripted(answers: dict[str, list[Any]], seen: list[httpx2.Request]) -> httpx2.AsyncClient:
    """A client whose requests get the next scripted JSON answer for their path."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=answers[request.url.path].pop(0))

    return httpx2.AsyncClient(transport=httpx2.MockTransport(answer))


PROVIDER = oidc.Provider(
    "https://id.example.org",
    "https://id.example.org/authorize",
    "https://id.example.org/token",
    "https://id.example.org/jwks-rotation-test",
    "openid email profile",
    ("RS256",),
    False,
)


@pytest.mark.parametrize("in_body", [False, True])
def test_the_code_exchange_sends_the_verifier_and_the_secret(in_body: bool) -> None:
    seen: list[httpx2.Request] = []
    provider = dataclasses.replace(PROVIDER, secret_in_body=in_body)

    async def run() -> str:
        async with scripted({"/token": [{"id_token": "a.b.c"}]}, seen) as http:
            return await oidc.exchange(
                http,
                provider,
                code="the-code",
                verifier="the-verifier",
                redirect_uri=PUBLIC + "/admin/callback",
                client_id="gw",
                secret="s3cret",
            )

    assert asyncio.run(run()) == "a.b.c"
    form = parse_qs(seen[0].content.decode())
    assert form["code"] == ["the-code"] and form["code_verifier"] == ["the-verifier"]
    assert form["redirect_uri"] == [PUBLIC + "/admin/callback"]
    basic = "Basic " + base64.b64encode(b"gw:s3cret").decode()
    if in_body:
        assert form["client_secret"] == ["s3cret"] and "authorization" not in seen[0].headers
    else:
        assert seen[0].headers["authorization"] == basic and "client_secret" not in form


def test_a_rotated_key_is_fetched_once_more(signing_key: RSAKey) -> None:
    old = RSAKey.generate_key(2048, parameters={"kid": "idp-0"})
    jwks = [{"keys": [old.as_dict(private=False)]}, {"keys": [signing_key.as_dict(private=False)]}]
    seen: list[httpx2.Request] = []

    async def run() -> dict[str, Any]:
        async with scripted({"/jwks-rotation-test": jwks}, seen) as http:
            await oidc.keys(http, PROVIDER, fresh=True)  # the old key is the one cached
            return await oidc.verified_claims(
                http,
                PROVIDER,
                id_token(signing_key),
                client_id="gw",
                nonce="n1",
                now=system_clock(),
            )

    assert asyncio.run(run())["sub"] == "s1"
    assert len(seen) == 2
