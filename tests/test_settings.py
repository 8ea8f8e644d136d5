from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.errors import ConfigError
from gateway.settings import load_settings
from tests.conftest import helsinki, seminar_toml

CONFIG = Path(__file__).parent.parent / "config" / "nordic-seminar-2021.toml"


def test_the_shipped_seminar_config_is_the_real_day() -> None:
    settings = load_settings(CONFIG, {})
    parts = settings.schedule.parts
    assert [(p.name, p.streamed) for p in parts] == [
        ("Part I", True),
        ("Part II", False),
        ("Part III", True),
    ]
    assert parts[0].start == helsinki("2021-11-18T10:00")
    assert parts[1].start == helsinki("2021-11-18T12:45")
    assert parts[2].end == helsinki("2021-11-18T18:20")
    assert settings.registration_closes == helsinki("2021-11-16T23:59:59")
    assert settings.schedule.recording_from == helsinki("2021-11-18T18:20")
    assert settings.schedule.recording_until == helsinki("2021-12-18T23:59:59")
    assert settings.store_url == "sqlite:///" + str(CONFIG.parent.resolve() / "var/gateway.db")


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env or {})
    return caught.value


def test_every_problem_is_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    text = seminar_toml(tmp_path).replace('"Europe/Helsinki"', '"Europe/Helsingfors"')
    text = text.replace('end = "2021-11-18T18:20"', 'end = "2021-11-18T17:00"')
    text += "\n[mail]\nsendr = 'x'\n"
    error = _load(tmp_path, text)
    message = str(error)
    assert str(tmp_path / "bad.toml") in message
    assert "event.timezone" in message and "Europe/Helsingfors" in message
    assert "mail.sendr: unknown key" in message


@pytest.mark.parametrize(
    ("tables", "said"),
    [
        ({"audit": {"spool_file": ""}}, "audit.spool_file: must name a file"),
        ({"audit": {"spool_file": "."}}, "audit.spool_file: must name a file"),
        ({"audit": {"verify_key": "xyz"}}, "audit.verify_key: not an Ed25519 public key"),
        ({"mail": {"sender": "no address here"}}, "mail.sender: "),
        ({"mail": {"sender": "Eve <eve@example.org>\nBcc: x@example.org"}}, "mail.sender: "),
        ({"admin": {"oidc_discovery_url": "not a url"}}, "admin.oidc_discovery_url: "),
    ],
)
def test_values_that_would_fail_later_are_refused_at_start(
    tmp_path: Path, tables: dict[str, dict[str, str]], said: str
) -> None:
    """Found by a black-box pass: each loaded, then failed when used (a traceback on the
    first audit event, a From line with no address, a sign-in that cannot start)."""
    assert said in str(_load(tmp_path, seminar_toml(tmp_path, tables=tables)))


@pytest.mark.parametrize("url", ["https://stream.example.org/?x=1", "https://s.example.org/#top"])
def test_a_public_url_with_a_query_or_fragment_is_refused(tmp_path: Path, url: str) -> None:
    """Every link is public_url + "/w/…": a query or fragment would swallow it."""
    text = seminar_toml(tmp_path).replace('"https://stream.example.org"', f'"{url}"')
    assert "event.public_url: " in str(_load(tmp_path, text))


def test_a_broken_time_zone_hides_no_other_time_problem(tmp_path: Path) -> None:
    """Every problem at once: the zone's, and each time's that no zone could mend."""
    text = seminar_toml(tmp_path).replace('"Europe/Helsinki"', '"Mars/Olympus"')
    text = text.replace('start = "2021-11-18T10:00"', 'start = "2021-11-18"')
    text = text.replace('closes = "2021-11-16T23:59:59"', 'closes = "tomorrow"')
    message = str(_load(tmp_path, text))
    assert "event.timezone" in message
    assert "parts[1].start" in message and "registration.closes" in message


def test_an_end_before_its_start_and_overlaps_are_refused(tmp_path: Path) -> None:
    text = seminar_toml(tmp_path).replace('end = "2021-11-18T18:20"', 'end = "2021-11-18T17:00"')
    assert "parts[3].end: Part III ends before it starts" in str(_load(tmp_path, text))
    text = seminar_toml(tmp_path).replace('end = "2021-11-18T12:45"', 'end = "2021-11-18T13:00"')
    assert "'Part I' and 'Part II' overlap" in str(_load(tmp_path, text))


def test_nonexistent_local_times_are_explained(tmp_path: Path) -> None:
    text = seminar_toml(tmp_path).replace("2021-11-18T10:00", "2021-03-28T03:30")
    assert "does not exist in Europe/Helsinki" in str(_load(tmp_path, text))


def test_required_tables_and_types(tmp_path: Path) -> None:
    problems = _load(tmp_path, "[sessions]\nmax_devices = 'three'\n").problems
    assert "event: missing (required)" in problems
    assert "parts: at least one [[parts]] is required" in problems
    assert "recording.available_until: missing (required)" in problems
    assert any(p.startswith("sessions.max_devices: must be int") for p in problems)


def test_not_toml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    assert "not valid TOML" in str(_load(tmp_path, "[event\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml", {})


def test_store_url_from_env_wins_and_secrets_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path))
    settings = load_settings(
        path,
        {
            "GATEWAY_STORE_URL": "redis://127.0.0.1:6379/3",
            "GATEWAY_SECRET_KEYS": "new-key, old-key",
        },
    )
    assert settings.store_url == "redis://127.0.0.1:6379/3"
    assert [k.reveal() for k in settings.secrets.secret_keys] == ["new-key", "old-key"]
    assert "new-key" not in repr(settings)


def test_relative_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    text = seminar_toml(tmp_path, store_url="sqlite:///var/g.db")
    text = text.replace(f'live = "file://{tmp_path / "live"}"', 'live = "hls/live"')
    path = tmp_path / "event.toml"
    path.write_text(text)
    settings = load_settings(path, {})
    assert settings.origin.live == f"file://{tmp_path.resolve() / 'hls/live'}"
    assert settings.store_url == f"sqlite:///{tmp_path.resolve() / 'var/g.db'}"


def test_the_archive_is_on_when_no_recording_origin_is_given(tmp_path: Path) -> None:
    given = tmp_path / "given.toml"
    given.write_text(seminar_toml(tmp_path))
    assert not load_settings(given, {}).archive.enabled  # someone else makes the recording
    text = seminar_toml(tmp_path).replace(f'recording = "file://{tmp_path / "recording"}"\n', "")
    assert "recording = " not in text.split("[origin]")[1]
    made = tmp_path / "made.toml"
    made.write_text(text)
    settings = load_settings(made, {})
    assert settings.archive.enabled and settings.archive.folder == tmp_path / "var" / "archive"
    assert settings.origin.recording == f"file://{tmp_path / 'var' / 'archive'}"
    both = tmp_path / "both.toml"
    both.write_text(
        seminar_toml(tmp_path, tables={"recording": {"archive": True, "archive_dir": "a"}})
    )
    settings = load_settings(both, {})
    assert settings.archive.enabled and settings.archive.folder == tmp_path / "a"
    # archive = true: the recording is the one made here, whatever origin.recording says
    assert settings.origin.recording == f"file://{tmp_path / 'a'}"


def test_ingest_keys_and_networks(tmp_path: Path) -> None:
    path = tmp_path / "event.toml"
    path.write_text(
        seminar_toml(tmp_path, tables={"ingest": {"allowed_from": ["10.0.0.0/8", "::1"]}})
    )
    settings = load_settings(path, {"GATEWAY_INGEST_KEYS": " k1 ,, k2 "})
    assert [k.reveal() for k in settings.secrets.ingest_keys] == ["k1", "k2"]
    assert "k1" not in repr(settings.secrets)
    assert [str(n) for n in settings.ingest.allowed_from] == ["10.0.0.0/8", "::1/128"]
    path.write_text(seminar_toml(tmp_path, tables={"ingest": {"allowed_from": ["ten"]}}))
    with pytest.raises(ConfigError, match=r"ingest.allowed_from: 'ten' is not a CIDR"):
        load_settings(path, {})


@pytest.mark.parametrize(
    ("tables", "said"),
    [
        ({"recording": {"archive_dir": "a\u0000b"}}, "recording.archive_dir: must not contain"),
        ({"ingest": {"allowed_from": "10.0.0.0/8"}}, "ingest.allowed_from"),
        ({"ingest": {"allowed_from": [10]}}, "ingest.allowed_from: 10 is not a CIDR"),
    ],
)
def test_bad_archive_and_ingest_values_are_config_errors(
    tmp_path: Path, tables: dict[str, dict[str, object]], said: str
) -> None:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path, tables=tables))
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    assert any(said in problem for problem in error.value.problems), error.value.problems


def test_an_origin_that_is_not_a_table_is_said_once(tmp_path: Path) -> None:
    path = tmp_path / "event.toml"
    text = seminar_toml(tmp_path)
    head, _, rest = text.partition("[origin]")
    rest = rest.split("\n[", 1)[1]  # drop the [origin] table
    path.write_text("origin = 2021-11-18T10:00:00\n" + head + "[" + rest)
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    assert len([p for p in error.value.problems if p.startswith("origin")]) == 1


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/0", True),
        ("redis+sentinel://:secret@s1:26379/mymaster", True),
        ("redis+sentinel://s1/mymaster/0", False),  # no port
        ("redis+sentinel://s1:26379/", False),  # no service
        ("redis+sentinel://s1:26379/mymaster/zero", False),
    ],
)
def test_a_sentinel_store_url(tmp_path: Path, url: str, ok: bool) -> None:
    path = tmp_path / "event.toml"
    path.write_text(seminar_toml(tmp_path, store_url=url))
    if ok:
        assert load_settings(path, {}).store_url == url
    else:
        with pytest.raises(ConfigError, match="redis\\+sentinel://host:26379"):
            load_settings(path, {})
