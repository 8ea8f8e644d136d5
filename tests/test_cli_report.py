"""`report attendance` and `privacy purge` from the command line."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from gateway.store.sqlite import SqliteStore
from tests.conftest import seminar_toml
from tests.test_attendance import minutes
from tests.test_cli import KEYS, gateway


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path))
    return path


def _add(config: Path, email: str, name: str) -> str:
    result = gateway(
        "registrants", "add", "--config", str(config), "--email", email, "--name", name, env=KEYS
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    return line.split("(id ")[1].rstrip(").")


def test_attendance_report_by_id_and_with_names(config: Path, tmp_path: Path) -> None:
    rid = _add(config, "viewer@example.org", "Ville Viewer")

    async def watch() -> None:
        store = SqliteStore(str(tmp_path / "gateway.db"))
        await store.record_attendance({rid: minutes("2021-11-18T10:00", 90)})
        await store.close()

    asyncio.run(watch())
    table = gateway("report", "attendance", "--config", str(config), env=KEYS)
    assert table.returncode == 0, table.stderr
    assert "Part I" in table.stdout and "1.50" in table.stdout
    assert "Ville" not in table.stdout and rid in table.stdout
    named = gateway(
        "report", "attendance", "--config", str(config), "--format", "csv", "--with-names", env=KEYS
    )
    assert "Part I,1,1,1.5,90.0,90.0" in named.stdout
    assert "Ville Viewer,viewer@example.org" in named.stdout
    for name in ("day.svg", "day.png"):
        charted = gateway(
            "report", "attendance", "--config", str(config), "--chart", str(tmp_path / name),
            env=KEYS,
        )  # fmt: skip
        assert charted.returncode == 0 and "Chart of viewers" in charted.stderr, charted.stderr
    svg = (tmp_path / "day.svg").read_text()
    assert svg.startswith("<svg") and "peak 1 at 10:00" in svg and "<title" in svg
    assert (tmp_path / "day.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = gateway(
        "report", "attendance", "--config", str(config), "--chart", str(tmp_path / "day.gif"),
        env=KEYS,
    )  # fmt: skip
    assert wrong.returncode != 0 and ".svg or .png" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    empty = gateway("report", "attendance", "--config", str(config), "--chart", "", env=KEYS)
    assert empty.returncode != 0 and ".svg or .png" in empty.stderr  # was: no chart, exit 0


def test_attendance_follows_the_schedule_in_force_with_ops_changes(
    config: Path, tmp_path: Path
) -> None:
    rid = _add(config, "late@example.org", "Late Viewer")

    async def watch() -> None:
        store = SqliteStore(str(tmp_path / "gateway.db"))
        await store.record_attendance({rid: minutes("2021-11-18T12:50", 10)})  # the overrun
        await store.close()

    asyncio.run(watch())
    moved = gateway(
        "schedule", "set", "--config", str(config), "--part", "Part I", "--end", "13:05", "--yes"
    )
    assert moved.returncode == 0, moved.stderr
    table = gateway("report", "attendance", "--config", str(config), env=KEYS)
    assert f"{rid} Part I: 2021-11-18 12:50" in table.stdout, table.stdout  # not unnamed


def test_purge_before_a_date_alone_means_that_day_s_first_moment(config: Path) -> None:
    """README says `--before DATE`: a date alone was refused (it wanted a time too)."""
    _add(config, "maija@example.org", "Maija")
    kept = gateway("privacy", "purge", "--config", str(config), "--before", "2021-01-01", env=KEYS)
    assert kept.returncode == 0, kept.stderr
    assert "0 registrant" in kept.stdout and "before 2021-01-01 00:00" in kept.stdout
    purge = gateway("privacy", "purge", "--config", str(config), "--before", "2100-01-01", env=KEYS)
    assert purge.returncode == 0 and "1 registrant" in purge.stdout, purge.stderr
    bad = gateway("privacy", "purge", "--config", str(config), "--before", "soon", env=KEYS)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_purge_leaves_no_name_or_address_in_the_outbox_or_the_database_files(
    config: Path,
) -> None:
    """Found by a black-box pass: after `privacy purge`, the outbox's .eml files (mail
    written without an SMTP server) still held the name, the address and a working link,
    and the SQLite write-ahead log of a running server still held the erased rows."""
    gone = gateway(
        "registrants", "add", "--config", str(config), "--email", "alice.purged@example.org",
        "--name", "Alice Purgedname", "--send", env=KEYS,
    )  # fmt: skip
    assert gone.returncode == 0, gone.stderr
    outbox = config.parent / "var" / "outbox"
    assert any(b"alice.purged" in f.read_bytes() for f in outbox.glob("*.eml"))
    database = config.parent / "gateway.db"
    reader = sqlite3.connect(database)  # a server's connection, open throughout
    try:
        reader.execute("SELECT count(*) FROM registrants").fetchone()
        purge = gateway(
            "privacy", "purge", "--config", str(config), "--before", "2100-01-01", env=KEYS
        )
        assert purge.returncode == 0, purge.stderr
        assert "1 mail file" in purge.stdout
        files = [*outbox.glob("*.eml"), database, *config.parent.glob("gateway.db-*")]
        for found in files:
            data = found.read_bytes()
            assert b"alice.purged" not in data and b"Purgedname" not in data, found.name
    finally:
        reader.close()


def test_purge_erases_names_and_emails_and_keeps_the_chain(config: Path) -> None:
    rid = _add(config, "maija@example.org", "Maija")
    purge = gateway(
        "privacy", "purge", "--config", str(config), "--before", "2100-01-01T00:00", env=KEYS
    )
    assert purge.returncode == 0, purge.stderr
    assert "1 registrant" in purge.stdout
    listing = gateway(
        "registrants", "list", "--config", str(config), "--format", "csv", env=KEYS
    ).stdout
    assert "maija" not in listing.lower() and rid in listing
    events = [
        json.loads(line)
        for line in gateway(
            "audit", "export", "--config", str(config), env=KEYS
        ).stdout.splitlines()
    ]
    assert events[-1]["type"] == "registration.purged" and events[-1]["registrant"] == rid
    again = _add(config, "maija@example.org", "Maija")
    assert again != rid  # the address may register again, as someone new
