"""The command line as scripts and ops use it: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SECRET, seminar_toml

pytestmark = pytest.mark.subprocess  # each test runs `python -m gateway`

SEMINAR = Path(__file__).parent.parent / "config" / "nordic-seminar-2021.toml"


def gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path))
    return path


KEYS = {"GATEWAY_SECRET_KEYS": SECRET}


@pytest.mark.parametrize(
    ("at", "running"),
    [
        ("2021-11-18T12:44:59+02:00", "Part I"),
        ("2021-11-18T10:45Z", "Part II"),
        ("2021-11-18T17:10+02:00", "Part III"),
        ("2021-11-18T17:10", "Part III"),
    ],
)
def test_schedule_last_line_names_the_running_part_first(at: str, running: str) -> None:
    result = gateway("schedule", "--config", str(SEMINAR), "--at", at)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    positions = {name: last.find(name + " ") for name in ("Part I", "Part II", "Part III")}
    first = min((pos, name) for name, pos in positions.items() if pos >= 0)
    assert first[1] == running, last


def test_schedule_with_no_part_running_names_none() -> None:
    result = gateway("schedule", "--config", str(SEMINAR), "--at", "2021-11-18T09:00")
    last = result.stdout.strip().splitlines()[-1]
    assert "Part" not in last and "before the event" in last
    assert "08:00:00Z" in result.stdout and "EET (+02:00)" in result.stdout


@pytest.mark.parametrize("at", ["2021-11-18", "25:00", "soon"])  # 12:00: a time of day
def test_schedule_refuses_a_partial_time_in_one_line(at: str) -> None:
    result = gateway("schedule", "--config", str(SEMINAR), "--at", at)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["registrants", "add"], ["links", "reissue"]])
def test_a_language_without_send_says_that_nothing_was_mailed_and_how_to(
    config: Path, command: list[str]
) -> None:
    """`--lang fi` chose the language of a mail `--send` would send; without it nothing is
    mailed and no language is kept, so a later mail went out in English, unsaid."""
    who = ["--email", "liisa@example.org", "--name", "Liisa Virtanen"]
    gateway("registrants", "add", "--config", str(config), *who, env=KEYS)
    target = who if command[0] == "registrants" else ["liisa@example.org"]
    out = gateway(*command, "--config", str(config), *target, "--lang", "fi", env=KEYS)
    assert out.returncode == 0 and out.stdout.splitlines()[-1].startswith("https://")
    assert out.stderr.strip() == (
        "Note: nothing was mailed (no --send); "
        "`gateway mail send-links --lang fi` mails the link in that language."
    )
    quiet = gateway(*command, "--config", str(config), *target, env=KEYS)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_registrants_add_prints_the_link_last_and_is_idempotent(config: Path) -> None:
    first = gateway(
        "registrants",
        "add",
        "--config",
        str(config),
        "--email",
        "Liisa@Example.org",
        "--name",
        "Liisa Virtanen",
        env=KEYS,
    )
    assert first.returncode == 0, first.stderr
    link = first.stdout.strip().splitlines()[-1]
    assert link.startswith("https://stream.example.org/w/")
    again = gateway(
        "registrants",
        "add",
        "--config",
        str(config),
        "--email",
        "liisa@example.ORG",
        "--name",
        "Liisa",
        env=KEYS,
    )
    assert again.returncode == 0
    assert again.stdout.strip().splitlines()[-1] == link


def test_revoke_and_reissue(config: Path) -> None:
    add = gateway(
        "registrants",
        "add",
        "--config",
        str(config),
        "--email",
        "a@example.org",
        "--name",
        "A",
        env=KEYS,
    )
    old = add.stdout.strip().splitlines()[-1]
    assert (
        gateway("links", "revoke", "--config", str(config), "a@example.org", env=KEYS).returncode
        == 0
    )
    reissue = gateway("links", "reissue", "--config", str(config), "A@example.org", env=KEYS)
    assert reissue.returncode == 0
    new = reissue.stdout.strip().splitlines()[-1]
    assert new.startswith("https://stream.example.org/w/") and new != old
    missing = gateway("links", "revoke", "--config", str(config), "nobody@example.org", env=KEYS)
    assert missing.returncode == 1 and "nobody@example.org" in missing.stderr


def test_audit_export_has_ids_not_names_or_emails(config: Path) -> None:
    gateway(
        "registrants",
        "add",
        "--config",
        str(config),
        "--email",
        "maija@example.org",
        "--name",
        "Maija Meikäläinen",
        env=KEYS,
    )
    gateway("links", "revoke", "--config", str(config), "maija@example.org", env=KEYS)
    result = gateway("audit", "export", "--config", str(config), "--format", "jsonl", env=KEYS)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == ["registration.created", "link.issued", "link.revoked"]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert all(e["actor"] == "cli" for e in events)
    assert "maija" not in result.stdout.lower() and "Meikäläinen" not in result.stdout
    only = gateway("audit", "export", "--config", str(config), "--type", "link.revoked", env=KEYS)
    assert len(only.stdout.splitlines()) == 1
    csv_out = gateway("audit", "export", "--config", str(config), "--format", "csv", env=KEYS)
    assert csv_out.stdout.splitlines()[0].startswith("seq,ts,type,")


def test_bad_input_is_one_line_and_a_nonzero_exit(config: Path, tmp_path: Path) -> None:
    bad_email = gateway(
        "registrants",
        "add",
        "--config",
        str(config),
        "--email",
        "not-an-email",
        "--name",
        "X",
        env=KEYS,
    )
    assert bad_email.returncode != 0 and "Traceback" not in bad_email.stderr
    assert len(bad_email.stderr.strip().splitlines()) == 1
    no_keys = gateway(
        "registrants", "add", "--config", str(config), "--email", "b@example.org", "--name", "B"
    )
    assert no_keys.returncode != 0 and "GATEWAY_SECRET_KEYS" in no_keys.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text(seminar_toml(tmp_path).replace("Europe/Helsinki", "Mars/Olympus"))
    serve = gateway("serve", "--config", str(broken), env=KEYS)
    assert serve.returncode == 2 and "event.timezone" in serve.stderr
    assert "Traceback" not in serve.stderr
    assert len(serve.stderr.strip().splitlines()) == 1  # one problem, one line
    two = tmp_path / "two.toml"
    two.write_text(
        seminar_toml(tmp_path).replace("Europe/Helsinki", "Mars/Olympus") + "\n[nonsense]\n"
    )
    problems = gateway("schedule", "--config", str(two)).stderr.strip().splitlines()
    assert len(problems) == 2, problems  # config errors one per line, each line whole
    assert all(line.startswith(f"gateway: config error: {two}: ") for line in problems)
    no_config = gateway("schedule")
    assert no_config.returncode == 2 and "config" in no_config.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["registrants", "import", "--config", "{config}", "{tmp}/missing.csv"], "no such file"),
        (["registrants", "import", "--config", "{config}", "{tmp}"], "a folder, not a file"),
        (["demo", "--port", "99999", "--data", "{tmp}/demo"], "1-65535"),
        (["demo", "--port", "-1", "--data", "{tmp}/demo"], "1-65535"),
        (["serve", "--config", "{config}", "--port", "99999"], "1-65535"),
        (["serve", "--config", "{config}", "--port", "http"], "not a port"),
        (["serve", "--config", "{config}", "--trusted-proxies", "bogus"], "'bogus'"),
        (["serve", "--config", "{config}", "--host", "999.1.1.1"], "999.1.1.1"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2_before_anything_starts(
    config: Path, tmp_path: Path, args: list[str], said: str
) -> None:
    """Found by a black-box pass over the contract: a missing CSV was a traceback,
    `--port 99999` a traceback for `demo` and port 34463 for `serve`."""
    filled = [a.format(config=config, tmp=tmp_path) for a in args]
    result = gateway(*filled, env=KEYS)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "demo").exists()  # nothing made for a run refused


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gateway("serve", "--config", str(config), "--port", str(port), env=KEYS)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"gateway: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_output_cut_short_by_its_reader_is_no_traceback(config: Path, tmp_path: Path) -> None:
    """`gateway registrants list | head -1`: the reader leaves after a line."""
    rows = tmp_path / "many.csv"
    rows.write_text("name,email\n" + "".join(f"Person {i},p{i}@example.org\n" for i in range(3000)))
    assert (
        gateway("registrants", "import", "--config", str(config), str(rows), env=KEYS).returncode
        == 0
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with subprocess.Popen(
        [sys.executable, "-m", "gateway", "registrants", "list", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, **KEYS},
    ) as listing:
        assert listing.stdout is not None and listing.stderr is not None
        assert listing.stdout.readline()
        listing.stdout.close()  # as `head -1` does
        stderr = listing.stderr.read().decode()
        assert listing.wait(timeout=60) != 0  # said by the exit code, not by a traceback
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_serve_refuses_to_start_without_a_secret_key(config: Path) -> None:
    result = gateway("serve", "--config", str(config))
    assert result.returncode != 0 and "GATEWAY_SECRET_KEYS" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_an_end_before_a_start(tmp_path: Path) -> None:
    path = tmp_path / "event.toml"
    path.write_text(
        seminar_toml(tmp_path).replace('end = "2021-11-18T12:45"', 'end = "2021-11-18T09:45"')
    )
    result = gateway("serve", "--config", str(path), env=KEYS)
    assert result.returncode == 2 and "Part I ends before it starts" in result.stderr
