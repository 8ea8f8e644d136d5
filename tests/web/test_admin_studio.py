"""What the technician watches (issue 18): the live preview for ops at any time, audited,
never for auditors or anyone else; the encoder's connection and the archive on the
dashboard."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import helsinki
from tests.web.conftest import Gateway, encoder
from tests.web.test_admin_pages import ADMIN, auditor, ops
from tests.web.test_ingest import ENV, KEY, form


def test_ops_preview_the_live_origin_even_in_part_two_and_each_opening_is_audited(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(extra=ADMIN)
    gw.clock.now = helsinki("2021-11-18T13:00")  # Part II: participants get nothing
    names = [n for n, _ in encoder(gw.tmp, "2021-11-18T12:59", 3)]
    browser = ops(gw)
    page = browser.get("/admin/preview")
    assert page.status_code == 200 and "PREVIEW" in page.text
    assert 'data-src="/admin/preview/index.m3u8"' in page.text
    playlist = browser.get("/admin/preview/index.m3u8")
    assert playlist.status_code == 200 and all(n in playlist.text for n in names)
    assert playlist.headers["cache-control"] == "no-store"
    assert browser.get(f"/admin/preview/{names[0]}").status_code == 200
    viewer = gw.login()
    assert viewer.get("/live/index.m3u8").text.count(".ts") == 0  # participants: nothing
    opened = [e for e in gw.call(gw.services.store.audit_events) if e.type == "preview.opened"]
    assert [e.actor for e in opened] == ["ops@example.org"]
    assert browser.get("/admin/preview/../secret").status_code in (400, 404)


def test_nobody_else_previews(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(extra=ADMIN)
    encoder(gw.tmp, "2021-11-18T10:29", 3)
    assert auditor(gw).get("/admin/preview/index.m3u8").status_code == 403
    assert auditor(gw).get("/admin/preview").status_code == 403
    anyone = gw.browser().get("/admin/preview/index.m3u8", follow_redirects=False)
    assert anyone.status_code == 303  # to the sign-in
    assert gw.login().get("/admin/preview/index.m3u8", follow_redirects=False).status_code == 303


def test_the_dashboard_names_the_encoder_and_the_archive(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway(extra=ADMIN, env=ENV)
    encoder(gw.tmp, "2021-11-18T10:29:40", 5)
    gw.observe()
    board = ops(gw).get("/admin/").text
    assert "No encoder connected to the ingest." in board
    assert gw.client.post("/ingest/publish", data=form(KEY)).status_code == 200
    board = ops(gw).get("/admin/").text
    assert "Encoder connected since 10:30 (key …a1f2), last segment 0 s ago." in board
    assert 'href="/admin/preview"' in board
    assert "Archived:" not in board  # someone else makes this seminar's recording
