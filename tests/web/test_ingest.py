"""`POST /ingest/publish|done`, nginx-rtmp's callbacks (issue 18): the stream key and the
encoder's network decide; accepted, the stream is renamed so the key names no file;
every answer is audited with the address hashed and the key by its last characters."""

from __future__ import annotations

import json
from collections.abc import Callable

from gateway.web.ingest import CONNECTED
from tests.web.conftest import Gateway

KEY = "live-7c1d9e2fa1f2"
ENV = {"GATEWAY_INGEST_KEYS": f"spare-key-0000, {KEY}"}


def form(name: str, addr: str = "192.0.2.10", call: str = "publish") -> dict[str, str]:
    """What nginx-rtmp posts (a subset of its fields)."""
    return {"call": call, "app": "live", "name": name, "type": "live", "addr": addr}


def events(gateway: Gateway, kind: str) -> list[dict[str, object]]:
    found = gateway.call(gateway.services.store.audit_events)
    return [{"ip": e.ip, **e.detail} for e in found if e.type == kind]


def test_the_right_key_is_accepted_and_audited_without_the_key(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(env=ENV)
    answer = gateway.client.post("/ingest/publish", data=form(KEY))
    assert answer.status_code == 200 and answer.json() == {"accepted": True, "key": "…a1f2"}
    (started,) = events(gateway, "ingest.started")
    assert started["key"] == "…a1f2" and started["ip"] not in (None, "192.0.2.10")
    connected = json.loads(gateway.call(gateway.services.store.get_value, CONNECTED))
    assert connected["key"] == "…a1f2" and connected["since"].startswith("2021-11-18T08:30")
    assert KEY not in json.dumps(events(gateway, "ingest.started"))
    done = gateway.client.post("/ingest/done", data=form(KEY, call="publish_done"))
    assert done.status_code == 200
    assert events(gateway, "ingest.stopped")[0]["key"] == "…a1f2"
    assert gateway.call(gateway.services.store.get_value, CONNECTED) is None


def test_a_wrong_key_no_key_or_a_foreign_network_is_refused_in_words(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(env=ENV, tables={"ingest": {"allowed_from": ["192.0.2.0/24"]}})
    wrong = gateway.client.post("/ingest/publish", data=form("guess"))
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_key"
    foreign = gateway.client.post("/ingest/publish", data=form(KEY, addr="198.51.100.7"))
    assert foreign.status_code == 403 and foreign.json()["error"] == "not_allowed"
    assert [e["reason"] for e in events(gateway, "ingest.refused")] == ["wrong_key", "not_allowed"]
    # nobody can clear the dashboard's line, or write the event, without a key
    assert gateway.client.post("/ingest/done", data=form("guess")).status_code == 403
    assert not events(gateway, "ingest.stopped")
    closed = make_gateway(env={})
    answer = closed.client.post("/ingest/publish", data=form(KEY))
    assert answer.status_code == 403 and answer.json()["error"] == "no_keys"


def test_guessing_keys_is_stopped_after_thirty_a_minute(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(env=ENV)
    codes = [
        gateway.client.post("/ingest/publish", data=form(f"g{n}")).status_code for n in range(31)
    ]
    assert codes[:30] == [403] * 30 and codes[30] == 429
    # the right key from there waits too; from elsewhere it is accepted
    again = gateway.client.post("/ingest/publish", data=form(KEY))
    assert again.status_code == 429 and again.json()["error"] == "rate_limited"
    other = form(KEY, addr="192.0.2.99")
    assert gateway.client.post("/ingest/publish", data=other).status_code == 200


def test_a_form_past_8_kib_is_refused_unread(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(env=ENV)
    padded = {**form(KEY), "pad": "x" * 9000}
    answer = gateway.client.post("/ingest/publish", data=padded)
    assert answer.status_code == 403 and answer.json()["error"] == "wrong_key"
