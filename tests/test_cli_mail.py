"""Importing registrants and mailing links from the command line, against a real SMTP server."""

from __future__ import annotations

import csv
import email.header
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import seminar_toml
from tests.support.smtp import SmtpServer
from tests.test_cli import KEYS, gateway


@pytest.fixture
def config(tmp_path: Path, smtp: SmtpServer) -> Path:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path, extra=f'\n[mail]\nsmtp_url = "{smtp.url}"\n'))
    return path


def _csv(tmp_path: Path, rows: Sequence[tuple[str, ...]], name: str = "people.csv") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(["name", "email", "organisation"])
        writer.writerows(rows)
    return path


def _people(count: int) -> list[tuple[str, ...]]:
    return [
        (f"Åsa Öberg-Ärlig {i}", f"person{i}@example.org", "Sisäministeriö") for i in range(count)
    ]


def _registrants(config: Path) -> list[str]:
    listing = gateway("registrants", "list", "--config", str(config), "--format", "csv", env=KEYS)
    assert listing.returncode == 0, listing.stderr
    return listing.stdout.splitlines()[1:]


def test_one_bad_row_imports_nothing_and_names_the_line(config: Path, tmp_path: Path) -> None:
    rows = [
        *_people(3),
        ("No Address", "not-an-address", ""),
        ("Multi\nLine", "m@example.org", ""),
        ("Dup", "PERSON0@example.org", ""),
    ]
    result = gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, rows)), env=KEYS
    )
    assert result.returncode == 1
    assert "line 5:" in result.stderr  # header is line 1: the bad address is on line 5
    assert "line 8:" in result.stderr and "line 2" in result.stderr  # the duplicate of line 2
    assert "Traceback" not in result.stderr
    assert _registrants(config) == []


HOSTILE_NAMES = [
    "=?UTF-8?Q?=0A?=Bcc: x@evil.example",
    "=?UTF-8?Q?=0D=0A=0D=0A?=Not our text",
    "Eve =?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLmV4YW1wbGU=?=",
    "Eve\x0bTab",
    "Eve\u2028Next",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_is_refused_by_add_and_import_and_nothing_is_stored(
    config: Path, tmp_path: Path, smtp: SmtpServer, name: str
) -> None:
    add = gateway(
        "registrants", "add", "--config", str(config), "--email", "e@example.org",
        "--name", name, "--send", env=KEYS,
    )  # fmt: skip
    assert add.returncode != 0 and len(add.stderr.strip().splitlines()) == 1
    assert "name" in add.stderr and "Traceback" not in add.stderr
    rows = [*_people(2), (name, "e@example.org", "")]
    result = gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, rows)), "--send",
        env=KEYS,
    )  # fmt: skip
    assert result.returncode == 1 and "line 4: name" in result.stderr
    assert _registrants(config) == [] and smtp.handler.received == []


def test_the_corrected_file_with_send_mails_each_person_once(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    result = gateway(
        "registrants",
        "import",
        "--config",
        str(config),
        str(_csv(tmp_path, _people(5))),
        "--send",
        env=KEYS,
    )
    assert result.returncode == 0, result.stderr
    for i in range(5):
        [mail] = smtp.to(f"person{i}@example.org")
        to = str(email.header.make_header(email.header.decode_header(mail.message["To"])))
        assert f"Åsa Öberg-Ärlig {i}" in to
    assert len(smtp.handler.received) == 5
    again = gateway(
        "registrants",
        "import",
        "--config",
        str(config),
        str(_csv(tmp_path, _people(5))),
        "--send",
        env=KEYS,
    )
    assert again.returncode == 0 and "already registered" in again.stdout
    assert len(smtp.handler.received) == 5


def test_import_with_send_mails_the_file_s_new_people_and_nobody_else(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    """Found by a black-box pass: `import --send` mailed every registrant whose link was
    never sent, also people added without --send and not in the file."""
    held = gateway(
        "registrants", "add", "--config", str(config), "--email", "held@example.org",
        "--name", "Held Back", env=KEYS,
    )  # fmt: skip
    assert held.returncode == 0, held.stderr
    rows = [*_people(2), ("Held Back", "held@example.org", "")]  # already there: left as it is
    result = gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, rows)), "--send",
        env=KEYS,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(r.recipients[0] for r in smtp.handler.received) == [
        "person0@example.org",
        "person1@example.org",
    ]
    assert "2 sent" in result.stdout


def test_send_links_unsent_only_twice_mails_each_once(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, _people(30))), env=KEYS
    )
    for flags in ([], ["--unsent-only"]):  # the default sends only what was not yet sent
        result = gateway("mail", "send-links", "--config", str(config), *flags, env=KEYS)
        assert result.returncode == 0, result.stderr
    assert sorted(r.recipients[0] for r in smtp.handler.received) == sorted(
        f"person{i}@example.org" for i in range(30)
    )
    assert all(line.endswith(",yes") for line in _registrants(config))
    unconfirmed = gateway("mail", "send-links", "--config", str(config), "--all", env=KEYS)
    assert unconfirmed.returncode != 0 and "--yes" in unconfirmed.stderr  # no terminal to ask
    assert len(smtp.handler.received) == 30
    again = gateway("mail", "send-links", "--config", str(config), "--all", "--yes", env=KEYS)
    assert again.returncode == 0, again.stderr
    assert len(smtp.handler.received) == 60  # everyone once more, on purpose


def test_server_down_at_the_start_then_the_rerun_sends_everything_once(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, _people(6))), env=KEYS
    )
    smtp.stop()
    down = gateway("mail", "send-links", "--config", str(config), "--unsent-only", env=KEYS)
    assert down.returncode == 1 and "could not be reached" in down.stderr
    assert all(line.endswith(",no") for line in _registrants(config))
    smtp.start()
    rerun = gateway("mail", "send-links", "--config", str(config), "--unsent-only", env=KEYS)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted(r.recipients[0] for r in smtp.handler.received) == sorted(
        f"person{i}@example.org" for i in range(6)
    )


def test_server_dropping_mid_way_then_the_rerun_sends_exactly_the_rest(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, _people(8))), env=KEYS
    )
    smtp.handler.fail_after, smtp.handler.answer_after = 3, "421 4.3.2 shutting down"
    first = gateway("mail", "send-links", "--config", str(config), "--unsent-only", env=KEYS)
    assert first.returncode == 1 and len(smtp.handler.received) == 3
    smtp.handler.fail_after = None
    rerun = gateway("mail", "send-links", "--config", str(config), "--unsent-only", env=KEYS)
    assert rerun.returncode == 0, rerun.stdout
    recipients = [r.recipients[0] for r in smtp.handler.received]
    assert sorted(recipients) == sorted(f"person{i}@example.org" for i in range(8))


def test_an_all_run_cut_short_is_finished_by_a_plain_run_mailing_nobody_twice(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, _people(8))), env=KEYS
    )
    assert gateway("mail", "send-links", "--config", str(config), env=KEYS).returncode == 0
    smtp.handler.fail_after, smtp.handler.answer_after = 8 + 3, "421 4.3.2 shutting down"
    cut = gateway("mail", "send-links", "--config", str(config), "--all", "--yes", env=KEYS)
    assert cut.returncode == 1 and len(smtp.handler.received) == 8 + 3
    # the same command again would mail the first three a third time: it says the other
    assert "`gateway mail send-links` (without --all) sends the rest" in cut.stderr
    smtp.handler.fail_after = None
    rest = gateway("mail", "send-links", "--config", str(config), env=KEYS)
    # (the rest of the --all run were queued, and were left pending with exit 0)
    assert rest.returncode == 0 and "5 sent" in rest.stdout, rest.stdout + rest.stderr
    recipients = [r.recipients[0] for r in smtp.handler.received]
    assert sorted(recipients) == sorted([f"person{i}@example.org" for i in range(8)] * 2)
    assert gateway("mail", "send-links", "--config", str(config), env=KEYS).returncode == 0
    assert len(smtp.handler.received) == 16


def test_a_5xx_is_marked_failed_with_the_reason_and_a_4xx_waits(
    config: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    gateway(
        "registrants", "import", "--config", str(config), str(_csv(tmp_path, _people(2))), env=KEYS
    )
    smtp.handler.answer = "550 5.1.1 no such user"
    refused = gateway("mail", "send-links", "--config", str(config), env=KEYS)
    assert refused.returncode == 1 and "2 failed" in refused.stdout
    smtp.handler.answer = "451 4.3.0 try later"
    deferred = gateway("mail", "send-links", "--config", str(config), env=KEYS)
    assert deferred.returncode == 1 and "2 left to send" in deferred.stdout
    assert smtp.handler.received == []
    export = gateway("audit", "export", "--config", str(config), "--type", "mail.failed", env=KEYS)
    assert export.stdout.count('"code":550') == 2 and "example.org" not in export.stdout


def test_list_as_csv_defuses_formulas(config: Path, tmp_path: Path) -> None:
    rows = [('=HYPERLINK("http://evil")', "f@example.org", "+cmd"), ("@sum", "g@example.org", "-1")]
    assert (
        gateway(
            "registrants", "import", "--config", str(config), str(_csv(tmp_path, rows)), env=KEYS
        ).returncode
        == 0
    )
    listing = "\n".join(_registrants(config))
    assert ',"\x27=HYPERLINK' in listing and ",'+cmd," in listing and ",'@sum," in listing
    assert ",'-1," in listing
