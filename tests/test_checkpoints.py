"""Signed checkpoints: signatures cover every field, keys are checked, files are written whole."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.checkpoints import (
    NONE_BEFORE,
    PUBLISHED,
    checkpoint_hash,
    keygen,
    public_key_of,
    read_checkpoints,
    read_published,
    sign_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)

HEAD = "ab" * 32
AT = dt.datetime(2021, 11, 18, 8, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return keygen()


def test_keys_are_base64_of_32_bytes_and_the_public_half_derives(keys: tuple[str, str]) -> None:
    private, public = keys
    assert len(base64.b64decode(private)) == 32 and len(base64.b64decode(public)) == 32
    assert public_key_of(private) == public
    assert keygen()[0] != private


def test_a_signed_checkpoint_verifies(keys: tuple[str, str]) -> None:
    doc = sign_checkpoint(keys[0], 20, HEAD, AT)
    assert doc["version"] == 2 and doc["seq"] == 20 and doc["head"] == HEAD
    assert doc["number"] == 1 and doc["previous"] == NONE_BEFORE
    assert doc["time"] == "2021-11-18T08:30:00Z"
    assert verify_checkpoint(doc, keys[1])
    assert verify_checkpoint(json.loads(json.dumps(doc)), keys[1])


def test_each_checkpoint_names_the_one_before(keys: tuple[str, str]) -> None:
    first = sign_checkpoint(keys[0], 20, HEAD, AT)
    second = sign_checkpoint(keys[0], 25, HEAD, AT, after=first)
    assert second["number"] == 2 and second["previous"] == checkpoint_hash(first)
    assert checkpoint_hash(first) != checkpoint_hash({**first, "time": "2021-11-18T08:30:01Z"})
    assert verify_checkpoint(second, keys[1])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 1),
        ("number", 2),
        ("number", 0),
        ("previous", "cd" * 32),
        ("seq", 21),
        ("seq", 19),
        ("seq", "20"),
        ("seq", True),
        ("head", "cd" * 32),
        ("head", HEAD.upper()),
        ("time", "2021-11-18T08:30:01Z"),
        ("time", "2021-11-18T10:30:00+02:00"),
        ("signature", base64.b64encode(bytes(64)).decode()),
        ("signature", "not base64!"),
    ],
)
def test_changing_any_field_fails(keys: tuple[str, str], field: str, value: object) -> None:
    doc = sign_checkpoint(keys[0], 20, HEAD, AT)
    assert not verify_checkpoint({**doc, field: value}, keys[1])


def test_every_bit_of_the_signature_counts(keys: tuple[str, str]) -> None:
    doc = sign_checkpoint(keys[0], 1, HEAD, AT)
    raw = base64.b64decode(doc["signature"])
    for i in range(0, len(raw) * 8, 7):
        flipped = bytearray(raw)
        flipped[i // 8] ^= 1 << (i % 8)
        forged = {**doc, "signature": base64.b64encode(bytes(flipped)).decode()}
        assert not verify_checkpoint(forged, keys[1])


@pytest.mark.parametrize(
    "doc",
    [None, [], "x", {}, {"version": 2, "seq": 1, "head": HEAD, "time": "2021-11-18T08:30:00Z"}],
)
def test_malformed_documents_fail(keys: tuple[str, str], doc: object) -> None:
    assert not verify_checkpoint(doc, keys[1])


def test_an_extra_field_fails(keys: tuple[str, str]) -> None:
    doc = sign_checkpoint(keys[0], 1, HEAD, AT)
    assert not verify_checkpoint({**doc, "note": "x"}, keys[1])


def test_another_key_fails(keys: tuple[str, str]) -> None:
    doc = sign_checkpoint(keys[0], 5, HEAD, AT)
    assert not verify_checkpoint(doc, keygen()[1])


@pytest.mark.parametrize(
    "bad",
    ["", "not base64!", base64.b64encode(bytes(31)).decode(), base64.b64encode(bytes(64)).decode()],
)
def test_bad_key_material_is_a_clear_value_error(keys: tuple[str, str], bad: str) -> None:
    with pytest.raises(ValueError, match="signing key.*base64 of 32 bytes"):
        sign_checkpoint(bad, 1, HEAD, AT)
    with pytest.raises(ValueError, match=r"audit\.verify_key.*base64 of 32 bytes"):
        verify_checkpoint(sign_checkpoint(keys[0], 1, HEAD, AT), bad)
    with pytest.raises(ValueError, match="signing key"):
        public_key_of(bad)


@pytest.mark.parametrize(
    ("seq", "head", "at"),
    [(0, HEAD, AT), (1, "xyz", AT), (1, HEAD, AT.replace(tzinfo=None))],
)
def test_bad_fields_are_refused_when_signing(
    keys: tuple[str, str], seq: int, head: str, at: dt.datetime
) -> None:
    with pytest.raises(ValueError):
        sign_checkpoint(keys[0], seq, head, at)


def test_write_then_read_in_number_order_and_published(
    keys: tuple[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "checkpoints"
    first = sign_checkpoint(keys[0], 7, HEAD, AT)
    second = sign_checkpoint(keys[0], 120, HEAD, AT, after=first)
    later = write_checkpoint(folder, second)
    earlier = write_checkpoint(folder, first)
    assert later.name == "checkpoint-000002.json" and earlier.name == "checkpoint-000001.json"
    with pytest.raises(FileExistsError):  # one checkpoint per number, never replaced
        write_checkpoint(folder, sign_checkpoint(keys[0], 9, HEAD, AT))
    (folder / "checkpoint-000003-x.json").write_text("{not json")
    (folder / "notes.txt").write_text("ignored")
    found = read_checkpoints(folder)
    assert [path.name for path, _ in found] == [
        earlier.name,
        later.name,
        "checkpoint-000003-x.json",
    ]
    docs: list[dict[str, Any] | None] = [doc for _, doc in found]
    assert docs[2] is None and docs[0] == first and docs[1] == second
    assert verify_checkpoint(docs[0], keys[1])
    assert read_published(folder) == [(1, second), (2, first)]  # as appended, one line each
    with (folder / PUBLISHED).open("a") as out:
        out.write('{"version": 2, "cut')  # a crash mid-line
    assert read_published(folder)[-1] == (3, None)
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".checkpoint-*"))


def test_reading_a_missing_folder_finds_none(tmp_path: Path) -> None:
    assert read_checkpoints(tmp_path / "absent") == []


def test_writing_a_malformed_document_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_checkpoint(tmp_path, {"seq": 1})
    assert list(tmp_path.iterdir()) == []
