"""The console's registrants, audit, verify and attendance pages (`gateway.web.admin`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.audit.checkpoints import checkpoint_hash, keygen, sign_checkpoint, write_checkpoint
from gateway.audit.verify import checkpoint
from gateway.core.records import Registrant
from gateway.sessions.signing import Purpose, timed_signer
from gateway.web.admin import auth
from tests.conftest import SECRET, helsinki
from tests.web.conftest import Gateway, encoder

OPS = "ops@example.org"
AUDITOR = "auditor@example.org"
ADMIN = """
[admin]
oidc_discovery_url = "https://id.example.org/.well-known/openid-configuration"
client_id = "gateway"
ops = ["ops@example.org"]
auditors = ["auditor@example.org"]
"""


@pytest.fixture
def gw(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway(extra=ADMIN)


def signed_in(gw: Gateway, identity: str) -> TestClient:
    """A browser with an admin session made the way `auth.callback` makes one (the roles
    are whatever `[admin]` gives `identity`)."""
    sid = secrets.token_urlsafe(32)
    expires = gw.clock() + dt.timedelta(hours=8)
    record = {"identity": identity, "names": [identity], "expires_at": expires.isoformat()}
    gw.call(gw.services.store.set_value, auth.SESSION_KEY + sid, json.dumps(record))
    browser = gw.browser()
    cookie = timed_signer([SECRET], Purpose.ADMIN, gw.clock).sign(sid).decode()
    browser.cookies.set("__Host-gw_admin", cookie, domain="stream.example.org")
    return browser


def ops(gw: Gateway) -> TestClient:
    return signed_in(gw, OPS)


def auditor(gw: Gateway) -> TestClient:
    return signed_in(gw, AUDITOR)


def token(browser: TestClient, path: str = "/admin/registrants") -> str:
    """The CSRF token of a console page (the browser keeps its cookie)."""
    answer = browser.get(path)
    assert answer.status_code == 200, answer.text
    found = re.search(r'name="csrf" value="([^"]+)"', answer.text)
    assert found
    return found.group(1)


def table_rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


def events(gw: Gateway, type: str) -> list[tuple[str | None, str]]:
    found = gw.call(gw.services.store.audit_events)
    return [(e.registrant, e.actor) for e in found if e.type == type]


# Registrants


def test_registrants_lists_searches_by_email_name_or_id(gw: Gateway) -> None:
    maija = gw.register("Maija@Example.org", "Maija Meikäläinen")
    gw.register("ville@example.org", "Ville")
    browser = ops(gw)
    page = browser.get("/admin/registrants")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "<h1>Registrants</h1>" in page.text and len(table_rows(page.text)) == 2
    assert '<label for="q">' in page.text and 'scope="col"' in page.text
    for query in ("maija@EXAMPLE", "meikä", maija.id):
        rows = table_rows(browser.get("/admin/registrants", params={"q": query}).text)
        assert len(rows) == 1 and maija.id in rows[0] and "active" in rows[0]
    assert "No registrant matches" in browser.get("/admin/registrants?q=nobody").text


def test_registrants_are_paged_fifty_at_a_time(gw: Gateway) -> None:
    for n in range(51):
        gw.register(f"p{n}@example.org", f"Person {n}")
    browser = ops(gw)
    first = browser.get("/admin/registrants")
    assert len(table_rows(first.text)) == 50 and "page 1 of 2" in first.text
    assert 'href="/admin/registrants?page=2"' in first.text
    second = browser.get("/admin/registrants?page=2")
    assert len(table_rows(second.text)) == 1 and "p50@example.org" in second.text
    assert "Previous page" in second.text and "Next page" not in second.text


def test_rows_show_mail_state_and_whether_the_current_link_was_opened(gw: Gateway) -> None:
    svc = gw.services
    sent, failed, fresh = (gw.register(f"{n}@example.org", n) for n in ("sent", "bad", "new"))
    gw.call(svc.mailer.enqueue, sent, "en")
    assert gw.call(svc.mailer.send_next).sent
    gw.call(svc.mailer.enqueue, failed, "en")
    job = gw.call(svc.store.claim_mail, now=gw.clock(), worker="t", lease=dt.timedelta(seconds=30))
    gw.call(svc.store.finish_mail, job.id, state="failed", now=gw.clock(), error="550 no such user")
    gw.login(sent)
    rows = table_rows(ops(gw).get("/admin/registrants").text)
    assert "sent 2021-11-18 10:30" in rows[0] and "<td>yes</td>" in rows[0]
    assert "failed: 550 no such user" in rows[1] and "<td>no</td>" in rows[1]
    assert "not queued" in rows[2] and fresh.id in rows[2]
    gw.call(gw.registry.reissue, "sent@example.org", actor="test")
    rows = table_rows(ops(gw).get("/admin/registrants").text)
    assert "not queued" in rows[0] and "an older link only" in rows[0]


def test_the_registrants_page_reads_no_audit_log(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review: `/admin/registrants` read the whole audit log per request. It reads only
    what it shows: a page of registrants and what the store keeps about each."""
    shown = gw.register("seen@example.org", "Seen")
    gw.login(shown)

    async def whole_log(**kwargs: object) -> list[object]:
        raise AssertionError(f"the audit log was read: {kwargs}")

    monkeypatch.setattr(gw.services.store, "audit_events", whole_log)
    rows = table_rows(ops(gw).get("/admin/registrants").text)
    assert "<td>yes</td>" in rows[0]


def test_revoke_reissue_and_resend_are_audited_with_the_staff_identity(gw: Gateway) -> None:
    maija = gw.register()
    browser = ops(gw)
    csrf = token(browser)
    base = f"/admin/registrants/{maija.id}"
    asked = browser.post(f"{base}/revoke", data={"csrf": csrf, "q": "maija"})
    assert asked.status_code == 200 and "Revoke Maija's access?" in asked.text
    assert "not signed in on any device" in asked.text and events(gw, "link.revoked") == []
    answer = browser.post(
        f"{base}/revoke",
        data={"csrf": csrf, "q": "maija", "confirmed": "yes", "reason": "asked to leave"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/registrants?done=revoked&q=maija"
    page = browser.get(answer.headers["location"])
    assert "Access revoked" in page.text and "revoked" in table_rows(page.text)[0]
    assert events(gw, "link.revoked") == [(maija.id, OPS)]
    resend = browser.post(f"{base}/resend", data={"csrf": csrf}, follow_redirects=False)
    assert resend.headers["location"].endswith("done=revoked_not_sent")

    asked = browser.post(f"{base}/reissue", data={"csrf": csrf})
    assert "Reissue Maija's link?" in asked.text and "Send the new link now" in asked.text
    answer = browser.post(
        f"{base}/reissue", data={"csrf": csrf, "confirmed": "yes"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/admin/registrants?done=reissued"
    now: Registrant = gw.call(gw.services.store.registrant, maija.id)
    assert not now.revoked and now.link_version == 2
    assert events(gw, "link.issued")[-1] == (maija.id, OPS)

    answer = browser.post(f"{base}/resend", data={"csrf": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/admin/registrants?done=resent"
    again = browser.post(f"{base}/resend", data={"csrf": csrf}, follow_redirects=False)
    assert again.headers["location"] == "/admin/registrants?done=already_queued"
    jobs = gw.call(gw.services.store.mail_jobs, registrant_id=maija.id)
    assert [(j.link_version, j.state) for j in jobs] == [(2, "pending")]
    assert "pending" in table_rows(browser.get("/admin/registrants").text)[0]
    revoked = [e for e in gw.call(gw.services.store.audit_events) if e.type == "link.revoked"]
    assert revoked[0].detail.get("reason") == "asked to leave"
    sent_at_once = browser.post(
        f"{base}/reissue",
        data={"csrf": csrf, "confirmed": "yes", "send": "yes"},
        follow_redirects=False,
    )
    assert sent_at_once.headers["location"] == "/admin/registrants?done=reissued_sent"
    jobs = gw.call(gw.services.store.mail_jobs, registrant_id=maija.id)
    assert (3, "pending") in [(j.link_version, j.state) for j in jobs]


def test_a_revoked_registrant_is_reinstated_with_the_same_link(gw: Gateway) -> None:
    encoder(gw.tmp, "2021-11-18T10:29:40", 3)
    maija = gw.register()
    viewer = gw.login(maija)
    assert viewer.get("/live/index.m3u8").status_code == 200
    browser = ops(gw)
    csrf = token(browser)
    base = f"/admin/registrants/{maija.id}"
    asked = browser.post(f"{base}/revoke", data={"csrf": csrf})
    assert "Maija is signed in on 1 device: it stops within a second" in asked.text
    browser.post(f"{base}/revoke", data={"csrf": csrf, "confirmed": "yes"})
    assert viewer.get("/live/index.m3u8").status_code == 403
    twice = browser.post(  # a second revoke (a colleague, a stale page): says nothing changed
        f"{base}/revoke", data={"csrf": csrf, "confirmed": "yes", "reason": "again"}
    )
    assert "was already revoked" in twice.text and len(events(gw, "link.revoked")) == 1
    row = table_rows(browser.get("/admin/registrants").text)[0]
    assert "Reinstate" in row and ">Revoke<" not in row

    asked = browser.post(f"{base}/reinstate", data={"csrf": csrf})
    assert asked.status_code == 200 and "Reinstate Maija's access?" in asked.text
    assert "same link" in asked.text and events(gw, "link.reinstated") == []
    answer = browser.post(
        f"{base}/reinstate",
        data={"csrf": csrf, "confirmed": "yes", "reason": "revoked the wrong Maija"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/admin/registrants?done=reinstated"
    assert "reinstated" in browser.get(answer.headers["location"]).text
    assert viewer.get("/live/index.m3u8").status_code == 200  # the same session, again
    assert gw.browser().get(gw.link_path(maija), follow_redirects=False).status_code == 303
    back: Registrant = gw.call(gw.services.store.registrant, maija.id)
    assert not back.revoked and back.link_version == maija.link_version
    assert events(gw, "link.reinstated") == [(maija.id, OPS)]
    [event] = [e for e in gw.call(gw.services.store.audit_events) if e.type == "link.reinstated"]
    assert event.detail == {"version": 1, "reason": "revoked the wrong Maija"}
    again = browser.post(f"{base}/reinstate", data={"csrf": csrf, "confirmed": "yes"})
    assert "was not revoked" in again.text and len(events(gw, "link.reinstated")) == 1


def test_flash_shows_only_fixed_messages(gw: Gateway) -> None:
    page = ops(gw).get("/admin/registrants", params={"done": "<script>alert(1)</script>"})
    assert page.status_code == 200 and "alert(1)" not in page.text
    assert 'class="flash"' not in page.text


def test_actions_need_a_csrf_token(gw: Gateway) -> None:
    maija = gw.register()
    browser = ops(gw)
    token(browser)  # the browser has its CSRF cookie, but the form sends no token
    for action in ("revoke", "reissue", "resend"):
        answer = browser.post(f"/admin/registrants/{maija.id}/{action}", data={"csrf": "x"})
        assert answer.status_code == 403
    unchanged: Registrant = gw.call(gw.services.store.registrant, maija.id)
    assert unchanged.link_version == 1 and not unchanged.revoked
    assert gw.call(gw.services.store.mail_jobs) == []


def test_unknown_registrant_or_action_is_404(gw: Gateway) -> None:
    browser = ops(gw)
    csrf = token(browser)
    assert browser.post("/admin/registrants/nobody/revoke", data={"csrf": csrf}).status_code == 404
    maija = gw.register()
    answer = browser.post(f"/admin/registrants/{maija.id}/delete", data={"csrf": csrf})
    assert answer.status_code == 404


def test_an_auditor_may_not_see_registrants_or_act(gw: Gateway) -> None:
    maija = gw.register()
    browser = auditor(gw)
    assert browser.get("/admin/registrants").status_code == 403
    csrf = token(browser, "/admin/audit")
    for action in ("revoke", "reissue", "resend"):
        answer = browser.post(f"/admin/registrants/{maija.id}/{action}", data={"csrf": csrf})
        assert answer.status_code == 403
    unchanged: Registrant = gw.call(gw.services.store.registrant, maija.id)
    assert unchanged.link_version == 1 and not unchanged.revoked
    assert 'href="/admin/registrants"' not in browser.get("/admin/audit").text  # not in the nav


@pytest.mark.parametrize(
    "path", ["/admin/registrants", "/admin/audit", "/admin/audit/verify", "/admin/attendance"]
)
def test_without_a_session_pages_send_to_sign_in(gw: Gateway, path: str) -> None:
    answer = gw.browser().get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login?next=")


def test_without_a_session_actions_change_nothing(gw: Gateway) -> None:
    maija = gw.register()
    answer = gw.browser().post(f"/admin/registrants/{maija.id}/revoke", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    assert events(gw, "link.revoked") == []


# Audit


@pytest.mark.parametrize("role", ["auditor", "ops"])
def test_audit_pages_render_for_auditors_and_ops(gw: Gateway, role: str) -> None:
    gw.register()
    browser = signed_in(gw, f"{role}@example.org")
    for path, heading in [
        ("/admin/audit", "Audit log"),
        ("/admin/audit/verify", "Verify the audit log"),
        ("/admin/attendance", "Attendance"),
    ]:
        page = browser.get(path)
        assert page.status_code == 200 and f"<h1>{heading}</h1>" in page.text
        assert page.headers["cache-control"] == "no-store"


def test_audit_lists_newest_first_with_filters(gw: Gateway) -> None:
    maija, ville = gw.register(), gw.register("ville@example.org", "Ville")
    browser = auditor(gw)
    page = browser.get("/admin/audit")
    assert "Newest events first" in page.text
    seqs = [int(s) for s in re.findall(r'<th scope="row">(\d+)</th>', page.text)]
    assert seqs == [4, 3, 2, 1]
    assert '<label for="since">' in page.text and '<option value="link.opened">' in page.text
    page = browser.get("/admin/audit", params={"type": "link.issued", "registrant": ville.id})
    rows = table_rows(page.text)
    assert len(rows) == 1 and "link.issued" in rows[0] and ville.id in rows[0]
    assert "<td>version: 1</td>" in rows[0] and "Link issued" in rows[0]
    assert "2021-11-18 10:30:00 EET (+02:00)" in rows[0]
    later = browser.get("/admin/audit", params={"since": "2021-11-18T10:31"})
    assert "No event matches" in later.text
    earlier = browser.get(
        "/admin/audit", params={"since": "2021-11-18T10:30", "until": "2021-11-18 10:31"}
    )
    assert len(table_rows(earlier.text)) == 4 and maija.id in earlier.text


def test_audit_review_in_words_names_for_ops_ids_for_auditors_and_by_actor(gw: Gateway) -> None:
    from gateway.audit.log import TYPES
    from gateway.web.admin.auditing import WORDS

    assert set(WORDS) == set(TYPES)  # every type has its words
    maija = gw.register()
    gw.call(gw.registry.revoke, "maija@example.org", actor=OPS)
    as_ops = table_rows(ops(gw).get("/admin/audit").text)
    revoked = next(row for row in as_ops if "link.revoked" in row)
    assert "Access revoked" in revoked and "Maija<br>" in revoked and maija.id in revoked
    as_auditor = table_rows(auditor(gw).get("/admin/audit").text)
    revoked = next(row for row in as_auditor if "link.revoked" in row)
    assert "Maija" not in revoked and maija.id in revoked
    only_ops = table_rows(auditor(gw).get("/admin/audit", params={"actor": OPS}).text)
    assert [("link.revoked" in row) for row in only_ops] == [True]
    by_cli = auditor(gw).get("/admin/audit", params={"actor": "cli"})
    assert "No event matches" in by_cli.text
    export = auditor(gw).get("/admin/audit/export", params={"format": "jsonl", "actor": OPS})
    assert [json.loads(line)["type"] for line in export.text.splitlines()] == ["link.revoked"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2021-11-18"}, "until"),
        ({"type": "no.such"}, "type"),
        ({"before": "x"}, "before"),
    ],
)
def test_bad_audit_filters_are_400_naming_the_field(
    gw: Gateway, params: dict[str, str], field: str
) -> None:
    browser = auditor(gw)
    page = browser.get("/admin/audit", params=params)
    assert page.status_code == 400 and f"Cannot list events: {field}:" in page.text
    if field != "before":  # a download is every page: it takes no cursor
        export = browser.get("/admin/audit/export", params=params)
        assert export.status_code == 400 and f"{field}:" in export.text
    assert browser.get("/admin/audit/export?format=xlsx").status_code == 400


def test_audit_pages_by_seq_cursors(gw: Gateway) -> None:
    for n in range(250):
        gw.call(gw.services.audit.record, "live.stopped", actor=f"ops{n}")
    browser = auditor(gw)

    def page_of(url: str) -> tuple[list[int], dict[str, str]]:
        text = browser.get(url).text
        seqs = [int(s) for s in re.findall(r'<th scope="row">(\d+)</th>', text)]
        navs = re.findall(r'<a href="(/admin/audit\?[^"]*)"[^>]*>(\w+)', text)
        return seqs, {label: href.replace("&amp;", "&") for href, label in navs}

    first, nav = page_of("/admin/audit")
    assert first == list(range(250, 150, -1)) and "Newer" not in nav
    second, nav = page_of(nav["Older"])
    assert second == list(range(150, 50, -1)) and "Newer" in nav
    third, nav = page_of(nav["Older"])
    assert third == list(range(50, 0, -1)) and "Older" not in nav
    back, nav = page_of(nav["Newer"])
    assert back == second
    filtered, nav = page_of("/admin/audit?type=live.stopped&before=120")
    assert filtered == list(range(119, 19, -1))
    assert "type=live.stopped" in nav["Older"] and "before=20" in nav["Older"]


def test_export_downloads_formula_safe_csv_and_json_lines(gw: Gateway) -> None:
    maija = gw.register()
    gw.call(gw.services.audit.record, "link.revoked", registrant=maija.id, actor="=cmd|' /C calc'")
    browser = auditor(gw)
    answer = browser.get("/admin/audit/export", params={"format": "csv", "type": "link.revoked"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert "ts" in rows[0] and "type" in rows[0]
    actor = rows[0].index("actor")
    assert len(rows) == 2 and rows[1][actor] == "'=cmd|' /C calc'"
    lines = browser.get("/admin/audit/export?format=jsonl").text.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]


def test_verify_shows_valid_events_and_checkpoints(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    private, public = keygen()
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    audit = f'\n[audit]\ncheckpoint_dir = "{folder}"\nverify_key = "{public}"\n'
    gw = make_gateway(extra=ADMIN + audit)
    gw.register()
    gw.call(checkpoint, gw.services.store, folder, private, gw.clock)
    page = auditor(gw).get("/admin/audit/verify")
    assert page.status_code == 200
    assert "Intact: 3 events valid, 1 checkpoints valid." in page.text  # and its record


def test_the_audit_head_is_public_for_auditors_to_write_down(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    private, public = keygen()
    folder = tmp_path / "checkpoints"
    audit = f'\n[audit]\ncheckpoint_dir = "{folder}"\nverify_key = "{public}"\n'
    gw = make_gateway(extra=ADMIN + audit)
    none = gw.client.get("/api/audit-head")
    assert none.status_code == 404 and none.json()["error"] == "no_checkpoint"
    gw.register()
    first = gw.call(checkpoint, gw.services.store, folder, private, gw.clock)
    gw.register("other@example.org")
    second = gw.call(checkpoint, gw.services.store, folder, private, gw.clock)
    assert first and second
    (folder / "checkpoint-000002.json").unlink()  # the published line still has it
    head = gw.client.get("/api/audit-head")
    assert head.status_code == 200 and head.headers["cache-control"] == "no-cache"
    assert head.json() == {**second, "hash": checkpoint_hash(second)}
    assert head.json()["previous"] == checkpoint_hash(first)


def test_verify_without_checkpoints_counts_events_and_notes_the_limit(gw: Gateway) -> None:
    gw.register()
    page = auditor(gw).get("/admin/audit/verify")
    assert "Intact: 2 events valid, 0 checkpoints valid." in page.text
    assert "audit.checkpoint_dir is not set" in page.text  # a limit, not a failure


def test_verify_shows_the_first_failure(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    private, public = keygen()
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    audit = f'\n[audit]\ncheckpoint_dir = "{folder}"\nverify_key = "{public}"\n'
    gw = make_gateway(extra=ADMIN + audit)
    gw.register()
    write_checkpoint(folder, sign_checkpoint(private, 9, "f" * 64, gw.clock()))
    page = auditor(gw).get("/admin/audit/verify")
    assert page.status_code == 200 and "NOT verified: 2 events valid" in page.text
    assert "First failure at seq 3:" in page.text and "the tail was truncated" in page.text


# Attendance


def test_attendance_for_ops_names_people_and_exports_separate_files(gw: Gateway) -> None:
    maija, ville = gw.register(), gw.register("ville@example.org", "Ville")
    gw.call(
        gw.services.store.record_attendance,
        {maija.id: [helsinki("2021-11-18T10:00") + dt.timedelta(minutes=m) for m in range(5)]},
    )
    browser = ops(gw)
    page = browser.get("/admin/attendance").text
    assert f'Maija<br><code class="mono">{maija.id}</code>' in page
    assert '<th scope="row">Part I</th><td>1</td><td>1</td>' in page  # Ville: a no-show
    parts = list(csv.reader(io.StringIO(browser.get("/admin/attendance/parts.csv").text)))
    assert parts[1][:4] == ["Part I", "2", "1", "1"] and len(parts) == 4  # I, III, recording
    people = browser.get("/admin/attendance/registrants.csv")
    assert 'filename="attendance-registrants-' in people.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(people.text)))
    assert rows[0] == ["registrant", "name", "part", "first_seen", "last_seen", "minutes"]
    assert rows[1][:3] == [maija.id, "Maija", "Part I"] and rows[1][5] == "5"
    ids_only = list(
        csv.reader(io.StringIO(auditor(gw).get("/admin/attendance/registrants.csv").text))
    )
    assert ids_only[0][1] == "part" and "Maija" not in str(ids_only)
    assert ville.id not in str(rows)


def test_an_auditor_sees_names_only_when_asking_with_a_reason_and_it_is_audited(
    gw: Gateway,
) -> None:
    maija = gw.register()
    gw.call(gw.services.store.record_attendance, {maija.id: [helsinki("2021-11-18T10:00")]})
    browser = auditor(gw)
    page = browser.get("/admin/attendance").text
    assert "Maija" not in page and 'action="/admin/attendance/names"' in page
    csrf = token(browser, "/admin/attendance")
    refused = browser.post("/admin/attendance/names", data={"csrf": csrf, "reason": " "})
    assert refused.status_code == 400 and events(gw, "names.shown") == []
    shown = browser.post(
        "/admin/attendance/names", data={"csrf": csrf, "reason": "complaint 2021/17"}
    )
    assert (
        shown.status_code == 200 and f'Maija<br><code class="mono">{maija.id}</code>' in shown.text
    )
    [event] = [e for e in gw.call(gw.services.store.audit_events) if e.type == "names.shown"]
    assert event.actor == AUDITOR
    assert event.detail == {"page": "attendance", "reason": "complaint 2021/17"}
    assert "Maija" not in browser.get("/admin/attendance").text  # once, not from now on
    assert 'action="/admin/attendance/names"' not in ops(gw).get("/admin/attendance").text


def test_attendance_per_part_and_per_registrant_without_names(gw: Gateway) -> None:
    maija, ville = gw.register(), gw.register("ville@example.org", "Ville")
    minutes = [helsinki(f"2021-11-18T10:{m:02d}") for m in range(0, 30)]
    gw.call(
        gw.services.store.record_attendance,
        {maija.id: minutes, ville.id: minutes[:6] + [helsinki("2021-11-18T17:30")]},
    )
    browser = auditor(gw)
    page = browser.get("/admin/attendance")
    assert page.status_code == 200 and "Maija" not in page.text and "ville@" not in page.text
    # Part I: 30 + 6 minutes, both at 10:00; Part III: Ville's one minute
    # Part I: 30 + 6 minutes, both at 10:00 (no no-shows); Part III: Ville's one minute
    assert (
        '<th scope="row">Part I</th><td>2</td><td>0</td><td>2</td><td>0.60</td>'
        "<td>18.0</td><td>18.0</td>"
    ) in page.text
    assert '<th scope="row">Part III</th><td>1</td><td>1</td><td>1</td><td>0.02</td>' in page.text
    assert f'<code class="mono">{maija.id}</code></th><td>Part I</td>' in page.text
    assert "Viewers per minute from 10:00 to 18:20, peak 2 at 10:00." in page.text
    answer = browser.get("/admin/attendance?format=csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="attendance-')
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:5] == ["part", "registered", "unique_viewers", "no_shows", "peak_concurrent"]
    assert rows[1] == ["Part I", "2", "2", "0", "2", "0.6", "18.0", "18.0"]
    header = rows.index(["registrant", "part", "first_seen", "last_seen", "minutes"])
    presence = {(r[0].lstrip("'"), r[1], r[4]) for r in rows[header + 1 :]}
    assert presence == {
        (maija.id, "Part I", "30"),
        (ville.id, "Part I", "6"),
        (ville.id, "Part III", "1"),
    }
