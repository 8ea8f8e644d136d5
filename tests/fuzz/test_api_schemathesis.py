"""schemathesis over `/openapi.json`: every public operation, fuzzed in process, never a 5xx.

The app runs in process (SQLite store in a temp folder, a frozen clock,
registration still open, a live origin and a recording). A registered
registrant's token is the description's example for `/w/{token}`; a third of
the generated requests carry a valid session cookie (a third none, a third
garbage), so the fuzzing reaches the decisions behind the session check, not
only the refusals in front of it; registration posts with the valid session
also carry a valid CSRF pair, so the form's validation is fuzzed too. Requests
come from many client addresses (so the registration rate limit does not
answer them all) and at several moments of the day. Besides "no 5xx", each
answer must match the description: a documented status, content type,
headers and JSON schema.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.core.clock import FrozenClock
from gateway.core.records import Registrant
from gateway.mail.registrants import Registry
from gateway.sessions.links import make_token
from gateway.sessions.signing import Purpose, signer
from gateway.settings import load_settings
from gateway.web import openapi
from gateway.web.app import create_app
from tests.conftest import SECRET, helsinki, seminar_toml
from tests.support.hls import write_live, write_vod

BASE = "https://stream.example.org"
COOKIE = "__Host-gw_session"
REGISTRANT = "fuzz-registrant-1"
EXAMPLE_TOKEN = make_token(signer([SECRET], Purpose.LINK), REGISTRANT, 1)
# In Part I, in Part II (not streamed), in the end grace after Part III, with the recording
# open: all within the valid session's lifetime (opened at 10:30).
MOMENTS = [helsinki(f"2021-11-18T{at}") for at in ("10:30", "13:00", "18:20:30", "19:00")]


@dataclass
class Api:
    app: Any
    client: TestClient
    clock: FrozenClock
    cookie: str  # a valid session
    token: str  # a valid personal link's token
    csrf: tuple[str, str]  # (form field, __Host-gw_csrf cookie)
    browsers: dict[str, TestClient] = field(default_factory=dict)

    def browser(self, ip: str) -> TestClient:
        """A client from `ip` (the ASGI scope's client address; no traffic leaves the process)."""
        if ip not in self.browsers:
            other = TestClient(self.app, base_url=BASE, client=(ip, 50000))
            other.portal = self.client.portal  # the running app: its lifespan and loop
            self.browsers[ip] = other
        return self.browsers[ip]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("api")
    config = seminar_toml(tmp).replace("2021-11-16T23:59:59", "2021-11-18T23:59:59")
    (tmp / "event.toml").write_text(config)
    settings_ = load_settings(tmp / "event.toml", {"GATEWAY_SECRET_KEYS": SECRET})
    write_live(tmp / "live", helsinki("2021-11-18T10:00"), 60, duration=60.0)
    write_vod(tmp / "recording")
    clock = FrozenClock(helsinki("2021-11-18T10:30"))
    app = create_app(settings_, clock=clock, watch_interval=None, background=False)
    with TestClient(app, base_url=BASE) as client:
        services = app.state.services
        assert client.portal is not None
        registry = Registry(settings_, services.store, services.audit)
        tokens = []
        # One whose link is the example (opened again and again, its sessions evict each
        # other), one whose session is the valid cookie.
        for registrant_id in (REGISTRANT, "fuzz-viewer-1"):
            registrant = Registrant(registrant_id, f"{registrant_id}@example.org", "F", "", clock())
            client.portal.call(services.store.add_registrant, registrant)
            tokens.append(registry.link(registrant).rsplit("/", 1)[1])
        token, viewer = tokens
        assert token == EXAMPLE_TOKEN
        opened = client.get(f"/w/{viewer}", follow_redirects=False)
        assert opened.status_code == 303
        cookie = opened.cookies[COOKIE]
        assert client.get("/live/index.m3u8").status_code == 200
        form = client.get("/register")
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert found is not None, "the form carries its CSRF token"
        csrf = (found.group(1), form.cookies["__Host-gw_csrf"])
        client.cookies.clear()
        yield Api(app, client, clock, cookie, token, csrf)


def _document() -> dict[str, Any]:
    """The description, with a working personal link as the example token."""
    document = openapi.document(BASE)
    token = document["paths"]["/w/{token}"]["get"]["parameters"][0]
    token["example"] = EXAMPLE_TOKEN
    return document


schema = schemathesis.openapi.from_dict(_document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _send(api: Api, case: Case[Any], session: str, ip: int) -> Any:
    kwargs = case.as_transport_kwargs(base_url=BASE)
    headers = {k: v for k, v in kwargs["headers"].items() if k.lower() != "cookie"}
    cookies: dict[str, str] = dict(kwargs.get("cookies") or {})
    if session == "valid":
        cookies[COOKIE] = api.cookie
    elif session == "garbage":
        cookies.setdefault(COOKIE, "garbage")
    data = kwargs.get("data")
    if case.operation.path == "/register" and isinstance(data, dict) and session == "valid":
        data = {**data, "csrf": api.csrf[0]}
        cookies["__Host-gw_csrf"] = api.csrf[1]
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body: dict[str, Any] = {}
    if isinstance(data, dict):
        body["data"] = data
    elif data is not None:
        body["content"] = data
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    browser = api.browser(f"127.0.{ip // 256}.{ip % 256}")
    response = browser.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        follow_redirects=False,
        **body,
    )
    browser.cookies.clear()
    return response


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_answers_a_server_error(case: Case[Any], api: Api) -> None:
    # Which session, moment and client address a case gets follows from the case itself, so
    # that it stays the same while Hypothesis shrinks a failure.
    spread = zlib.crc32(repr(case.as_transport_kwargs(base_url=BASE)).encode())
    session = ("valid", "none", "garbage")[spread % 3]
    api.clock.now = MOMENTS[(spread // 3) % len(MOMENTS)]
    response = _send(api, case, session, 1 + (spread // 12) % 4000)
    case.validate_response(response, checks=CHECKS)


def test_every_public_route_is_described(api: Api) -> None:
    served = api.client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi.document(BASE)
    described = set(served.json()["paths"])
    routed = {
        route.path
        for route in api.app.routes
        if isinstance(route, Route) and not route.path.startswith("/admin")
    }
    routed = {re.sub(r"\{(\w+):path\}", r"{\1}", path) for path in routed}
    assert described == routed


def test_the_status_answer_matches_its_schema_all_day(api: Api) -> None:
    """`/api/status` at each phase of the day (the parts touch: no "between"), and stopped."""
    operation = schema["/api/status"]["GET"]
    controls = api.app.state.services.gatekeeper.controls
    assert api.client.portal is not None
    kept = api.clock.now
    phases = []
    try:
        for at in ("09:00", "10:00", "12:45", "17:10", "18:20:30", "2021-12-19T00:00", "stop"):
            if at == "stop":
                api.client.portal.call(functools.partial(controls.set_stopped, True, actor="t"))
                api.clock.now = helsinki("2021-11-18T10:30")
            else:
                api.clock.now = helsinki(at if "T" in at else f"2021-11-18T{at}")
            api.clock.advance(seconds=2)  # past the schedule's 1 s cache
            answer = api.client.get("/api/status")
            operation.Case().validate_response(answer, checks=CHECKS)
            phases.append(answer.json()["phase"])
            next_change = answer.json()["next_change"]
            assert next_change is None or dt.datetime.fromisoformat(next_change).tzinfo
    finally:
        api.client.portal.call(functools.partial(controls.set_stopped, False, actor="t"))
        api.clock.now = kept
    assert phases == ["before", "live", "blocked", "live", "recording", "closed", "stopped"]
