"""The audit trail a day of use leaves: every kind of event, few refusals, no personal data."""

from __future__ import annotations

from gateway.core.chain import first_break
from tests.conftest import helsinki
from tests.web.conftest import Gateway, encoder


def test_a_day_leaves_a_complete_pseudonymous_chain(any_gateway: Gateway) -> None:
    gw = any_gateway
    encoder(gw.tmp, "2021-11-18T10:29:40", 3)
    maija = gw.register("maija@example.org", "Maija Meikäläinen")
    viewer = gw.login(maija)
    assert viewer.get("/live/index.m3u8").status_code == 200
    gw.browser().get("/w/1.forged.1.signature")
    gw.clock.now = helsinki("2021-11-18T13:00")
    for _ in range(50):
        assert viewer.get("/live/index.m3u8").status_code == 403
    gw.call(gw.registry.revoke, maija.email, actor="ops@ministry.example")
    events = gw.call(gw.services.store.audit_events)
    types = [e.type for e in events]
    for expected in (
        "registration.created",
        "link.issued",
        "link.opened",
        "session.created",
        "link.refused",
        "link.revoked",
        "access.refused",
    ):
        assert expected in types, expected
    refusals = [e for e in events if e.type == "access.refused"]
    assert len(refusals) == 1 and refusals[0].detail["reason"] == "part_not_streamed"
    # from where, as every event a request causes: the device's keyed address hash
    opened = next(e for e in events if e.type == "session.created")
    assert opened.ip and refusals[0].ip == opened.ip
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert first_break(events) is None
    dump = "\n".join(e.to_json() for e in events).lower()
    assert "maija" not in dump and "meikäläinen" not in dump and "example.org" not in dump
    assert next(e for e in events if e.type == "link.revoked").actor == "ops@ministry.example"
