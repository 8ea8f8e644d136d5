"""The break-glass command line (issue 16): what the console does, from a shell on the
server when nobody can sign in, audited with actor `cli`; and the CLI's own manners."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from tests.test_cli import KEYS, config, gateway

__all__ = ["config"]
pytestmark = pytest.mark.subprocess


def _events(config: Path, type: str) -> list[dict[str, object]]:
    out = gateway("audit", "export", "--config", str(config), "--type", type, env=KEYS)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_bare_gateway_prints_help_and_version_prints_the_version() -> None:
    bare = gateway()
    assert bare.returncode == 0 and "usage: gateway" in bare.stdout and "serve" in bare.stdout
    version = gateway("--version")
    assert version.returncode == 0 and version.stdout.startswith("gateway ")


def test_the_demo_on_a_taken_port_says_so_first_and_prints_no_link(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "demo-data"
        demo = gateway("demo", "--port", str(port), "--data", str(data))
    assert demo.returncode == 2 and demo.stdout == ""
    assert demo.stderr.strip() == (
        f"gateway: port {port} is in use: run `make run PORT={port + 1}` or "
        f"`gateway demo --port {port + 1}`"
    )
    assert not data.exists()  # nothing made for a server that cannot start


def test_a_reason_naming_an_address_is_refused_and_one_is_kept_to_200_characters(
    config: Path,
) -> None:
    """A reason stays in the hash chain for good (purge cannot erase it): one naming an
    address was kept there, and the command line kept 5,000 characters (the console 200)."""
    named = ("--reason", "asked by mail from jane.doe@example.org")
    refused = gateway("live", "stop", "--config", str(config), *named)
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert refused.stderr.endswith(
        "--reason: a reason is kept in the audit log for good (purge does not erase it): "
        "name no email address in it\n"
    )
    assert not (config.parent / "gateway.db").exists()  # refused before anything was opened
    long = gateway("live", "stop", "--config", str(config), "--reason", "x" * 5000)
    assert long.returncode == 0, long.stderr
    [stopped] = _events(config, "live.stopped")
    assert stopped["detail"] == {"reason": "x" * 200}


def test_live_stop_and_resume_are_audited_as_cli(config: Path) -> None:
    stop = gateway("live", "stop", "--config", str(config), "--reason", "encoder shows Part II")
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
    [stopped] = _events(config, "live.stopped")
    assert stopped["actor"] == "cli" and stopped["detail"] == {"reason": "encoder shows Part II"}
    twice = gateway("live", "stop", "--config", str(config))
    assert twice.returncode == 0 and "already stopped" in twice.stdout  # nothing changed
    assert len(_events(config, "live.stopped")) == 1
    resume = gateway("live", "resume", "--config", str(config))
    assert resume.returncode == 0 and "resumed" in resume.stdout
    assert [e["actor"] for e in _events(config, "live.resumed")] == ["cli"]
    again = gateway("live", "resume", "--config", str(config))
    assert again.returncode == 0 and "already" in again.stdout
    assert len(_events(config, "live.resumed")) == 1


def test_schedule_set_previews_then_applies_with_yes(config: Path) -> None:
    args = ["schedule", "set", "--config", str(config), "--part", "Part I", "--end", "12:30"]
    preview = gateway(*args)
    assert preview.returncode == 0, preview.stderr
    assert "Part I" in preview.stdout and "--yes" in preview.stdout
    assert _events(config, "schedule.changed") == []
    applied = gateway(*args, "--yes")
    assert applied.returncode == 0, applied.stderr
    [change] = _events(config, "schedule.changed")
    assert change["actor"] == "cli"
    detail = change["detail"]
    assert isinstance(detail, dict) and detail["after"]["end"] == "2021-11-18T12:30:00+02:00"
    day = gateway("schedule", "--config", str(config), "--at", "12:20")  # on the event's day
    assert day.returncode == 0 and "Part I" in day.stdout.splitlines()[-1], day.stdout
    overlap = gateway(  # into Part I, the part before: refused, the reason said
        "schedule", "set", "--config", str(config), "--part", "Part II", "--start", "12:00",
        "--yes",
    )  # fmt: skip
    assert overlap.returncode != 0 and "overlap" in overlap.stderr
    assert len(overlap.stderr.strip().splitlines()) == 1
    unknown = gateway("schedule", "set", "--config", str(config), "--part", "Part IX", "--yes")
    assert unknown.returncode != 0 and "Part IX" in unknown.stderr
    backwards = gateway(
        "schedule", "set", "--config", str(config), "--part", "Part I", "--start", "09:00",
        "--end", "08:00", "--yes",
    )  # fmt: skip
    assert backwards.returncode != 0  # said for ops, with no class name of ours in it
    assert backwards.stderr == "gateway: Part I would end before it starts\n"
    # A change that changes nothing: said, and neither applied nor audited (it printed
    # "Applied" and wrote a schedule.changed whose before was its after).
    same = gateway("schedule", "set", "--config", str(config), "--part", "Part III", "--yes")
    assert same.returncode == 0 and "Nothing to change" in same.stdout
    assert "Applied" not in same.stdout and len(_events(config, "schedule.changed")) == 1


def test_schedule_set_into_the_next_part_moves_its_start_as_previewed(config: Path) -> None:
    args = ["schedule", "set", "--config", str(config), "--part", "Part I", "--end", "13:05"]
    preview = gateway(*args)  # Part I overruns into Part II
    assert preview.returncode == 0, preview.stderr
    assert "Part I would run into Part II: Part II moves with it" in preview.stdout
    assert "Part II will start at 13:05 (was 12:45)." in preview.stdout
    assert _events(config, "schedule.changed") == []
    applied = gateway(*args, "--yes")
    assert applied.returncode == 0, applied.stderr
    first, second = _events(config, "schedule.changed")
    assert (first["detail"]["part"], second["detail"]["part"]) == ("Part I", "Part II")  # type: ignore[index]
    assert second["actor"] == "cli"
    past = gateway(*args[:-1], "17:30", "--yes")  # past Part II's end: refused, one line
    assert past.returncode != 0 and "past the end of Part II" in past.stderr
    assert len(past.stderr.strip().splitlines()) == 1


def test_links_show_is_audited_a_second_revoke_changes_nothing_and_reinstate_gives_it_back(
    config: Path,
) -> None:
    added = gateway(
        "registrants", "add", "--config", str(config), "--email", "r@example.org", "--name", "R",
        env=KEYS,
    )  # fmt: skip
    link = added.stdout.strip().splitlines()[-1]
    shown = gateway("links", "show", "--config", str(config), "R@example.org", env=KEYS)
    assert shown.returncode == 0 and shown.stdout.strip() == link
    [event] = _events(config, "link.shown")
    assert event["actor"] == "cli" and event["registrant"]
    for _ in range(2):
        revoked = gateway("links", "revoke", "--config", str(config), "r@example.org", env=KEYS)
        assert revoked.returncode == 0, revoked.stderr
    assert "already revoked: nothing changed" in revoked.stdout
    assert len(_events(config, "link.revoked")) == 1
    dead = gateway("links", "show", "--config", str(config), "r@example.org", env=KEYS)
    assert dead.stdout.strip() == link and "access is revoked" in dead.stderr  # (said nothing)
    reinstate = ["links", "reinstate", "--config", str(config), "r@example.org"]
    back = gateway(*reinstate, "--reason", "wrong person", env=KEYS)
    assert back.returncode == 0 and "the same link" in back.stdout, back.stderr
    [event] = _events(config, "link.reinstated")
    assert event["actor"] == "cli" and event["detail"] == {"version": 1, "reason": "wrong person"}
    same = gateway("links", "show", "--config", str(config), "r@example.org", env=KEYS)
    assert same.stdout.strip() == link
    again = gateway(*reinstate, env=KEYS)
    assert again.returncode == 0 and "was not revoked: nothing changed" in again.stdout


def test_every_option_of_every_command_has_help() -> None:
    """`gateway X --help` explains every option (argparse's own -h and --version aside)."""
    from gateway.cli import parser

    def walk(node: argparse.ArgumentParser, path: str) -> list[str]:
        missing = [
            f"{path} {'/'.join(a.option_strings) or a.dest}"
            for a in node._actions  # noqa: SLF001 - argparse names no public way to list them
            if not a.help
            and not isinstance(a, argparse._SubParsersAction)  # noqa: SLF001
            and a.dest not in ("help", "version")
        ]
        for action in node._actions:  # noqa: SLF001
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for name, child in action.choices.items():
                    missing += walk(child, f"{path} {name}")
        return missing

    assert walk(parser(), "gateway") == []


def test_the_demo_day_starts_with_a_minute_of_countdown(tmp_path: Path) -> None:
    import datetime as dt

    from gateway.cli.demo import write_config
    from gateway.settings import load_settings

    now = dt.datetime(2026, 12, 3, 9, 0, 17, tzinfo=dt.UTC)
    config = write_config(tmp_path, 8000, now)
    parts = load_settings(config, {"GATEWAY_SECRET_KEYS": "k" * 32}).schedule.parts
    away = parts[0].start - now  # a short countdown ("starts in 0:58"), then live
    assert dt.timedelta(seconds=45) <= away <= dt.timedelta(seconds=105), away
    assert parts[0].start.second == 0  # whole minutes: the programme reads cleanly
    assert [p.streamed for p in parts] == [True, False, True]
