"""Mail end to end: `gateway serve`'s worker, a real SMTP server, crashes and restarts."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import SECRET
from tests.e2e.conftest import Server, event_toml, local
from tests.support import config as support_config
from tests.support.hls import write_live
from tests.support.smtp import SmtpServer
from tests.support.waiting import until

pytestmark = pytest.mark.e2e


def _config(tmp_path: Path, smtp: SmtpServer, closes_in: float = 1) -> Path:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - end-to-end tests run on the real clock
    write_live(tmp_path / "live", now - dt.timedelta(seconds=20), 5)
    text = event_toml(tmp_path, now, "sqlite:///gateway.db")
    closes = (now + dt.timedelta(hours=closes_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text += f'\n[registration]\ncloses = "{closes}"\n\n[mail]\nsmtp_url = "{smtp.url}"\n'
    config = tmp_path / "event.toml"
    config.write_text(text)
    return config


def test_register_in_the_form_get_one_mail_and_watch(
    tmp_path: Path, smtp: SmtpServer, start_server: Callable[[Path], Server]
) -> None:
    server = start_server(_config(tmp_path, smtp))
    browser = server.client()
    form = browser.get("/register").text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    answer = browser.post(
        "/register",
        data={
            **hidden,
            "name": "Liisa",
            "organisation": "",
            "email": "liisa@example.org",
            "consent": "yes",
        },
    )
    assert answer.status_code == 200 and "Check your email" in answer.text
    until(lambda: smtp.to("liisa@example.org"), "no mail to liisa", 15)
    [mail] = smtp.to("liisa@example.org")
    text = next(p for p in mail.message.walk() if p.get_content_type() == "text/plain")
    link = re.search(r"http://127\.0\.0\.1/w/\S+", text.get_payload(decode=True).decode()).group(0)  # type: ignore[union-attr]
    viewer = server.client()
    assert viewer.get(urlsplit(link).path, follow_redirects=False).status_code == 303
    assert viewer.get("/live/index.m3u8").status_code == 200
    time.sleep(1)
    assert len(smtp.handler.received) == 1


def _link_in(mail: object) -> str:
    text = next(p for p in mail.message.walk() if p.get_content_type() == "text/plain")  # type: ignore[attr-defined]
    found = re.search(r"http://127\.0\.0\.1/w/\S+", text.get_payload(decode=True).decode())
    assert found is not None
    return found.group(0)


def test_after_registration_closed_a_lost_link_is_mailed_again_to_known_addresses_only(
    tmp_path: Path, smtp: SmtpServer, start_server: Callable[[Path], Server]
) -> None:
    config = _config(tmp_path, smtp, closes_in=-1)  # registration closed an hour ago
    added = subprocess.run(
        [sys.executable, "-m", "gateway", "registrants", "add", "--config", str(config),
         "--email", "aino@example.org", "--name", "Aino"],
        env={**os.environ, "GATEWAY_SECRET_KEYS": SECRET},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    link = added.stdout.strip().splitlines()[-1]
    server = start_server(config)
    browser = server.client()
    assert "/link" in browser.get("/register").text  # the closed page offers it
    answers = []
    for address in ("aino@example.org", "nobody@example.org"):
        form = browser.get("/link").text
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        answer = browser.post("/link", data={**hidden, "email": address})
        assert answer.status_code == 200
        answers.append(answer.text.replace(address, "ADDRESS"))
    assert answers[0] == answers[1]  # the same page for a known and an unknown address
    until(lambda: smtp.to("aino@example.org"), "no mail to aino", 15)
    [mail] = smtp.to("aino@example.org")
    assert urlsplit(_link_in(mail)).path == urlsplit(link).path  # the current link, not a new one
    time.sleep(1.5)
    assert len(smtp.handler.received) == 1  # nothing to the unknown address


def test_a_reminder_before_part_one_reaches_each_registrant_exactly_once(
    tmp_path: Path, smtp: SmtpServer, start_server: Callable[[Path], Server]
) -> None:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - end-to-end tests run on the real clock
    starts = now + dt.timedelta(minutes=2, seconds=4)  # the "2m" reminder is due in 4 s
    part = dt.timedelta(minutes=10)
    config = tmp_path / "event.toml"
    config.write_text(
        support_config.event_toml(
            title="Reminder rehearsal",
            public_url="http://127.0.0.1",
            parts=[
                support_config.part("Part I", local(starts), local(starts + part)),
                support_config.part(
                    "Part II", local(starts + part), local(starts + 2 * part), streamed=False
                ),
            ],
            closes=local(now + dt.timedelta(minutes=1)),
            recording_until=local(now + dt.timedelta(days=1)),
            live="live",
            recording="recording",
            store_url="sqlite:///gateway.db",
            tables={"mail": {"smtp_url": smtp.url, "reminders": ["2m"]}},
        )
    )
    people = tmp_path / "people.csv"
    people.write_text("name,email\nAino,aino@example.org\nBo,bo@example.org\n")
    imported = subprocess.run(
        [sys.executable, "-m", "gateway", "registrants", "import", str(people),
         "--config", str(config)],
        env={**os.environ, "GATEWAY_SECRET_KEYS": SECRET},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    start_server(config)
    until(lambda: len(smtp.handler.received) >= 2, "fewer than 2 mails", 30)
    time.sleep(6)  # more looks of the reminder task: still one each
    assert sorted(r.recipients[0] for r in smtp.handler.received) == [
        "aino@example.org",
        "bo@example.org",
    ]
    for address in ("aino@example.org", "bo@example.org"):
        [mail] = smtp.to(address)
        assert str(mail.message["Subject"]).startswith("Reminder: Reminder rehearsal starts")
        assert "/w/" in _link_in(mail)


def test_killed_with_mails_queued_and_smtp_down_each_is_delivered_once_after(
    tmp_path: Path, smtp: SmtpServer, start_server: Callable[[Path], Server]
) -> None:
    config = _config(tmp_path, smtp)
    smtp.stop()
    people = tmp_path / "people.csv"
    people.write_text("name,email\n" + "".join(f"P{i},p{i}@example.org\n" for i in range(20)))
    queued = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "registrants",
            "import",
            str(people),
            "--send",
            "--config",
            str(config),
        ],
        env={**os.environ, "GATEWAY_SECRET_KEYS": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert queued.returncode == 1 and "could not be reached" in queued.stderr
    server = start_server(config)
    time.sleep(1.5)  # its worker tries and fails: the server is down
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    smtp.start()
    start_server(config)
    # (a killed claim lapses after LEASE)
    until(lambda: len(smtp.handler.received) >= 20, "fewer than 20 mails", 60)
    time.sleep(2)
    recipients = sorted(r.recipients[0] for r in smtp.handler.received)
    assert recipients == sorted(f"p{i}@example.org" for i in range(20))
