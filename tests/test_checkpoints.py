"""Signed checkpoints: signatures cover every field, keys are checked, files are written whole."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.checkpoints import (
    keygen,
    public_key_of,
    read_checkpoints,
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
    assert doc["version"] == 1 and doc["seq"] == 20 and doc["head"] == HEAD
    assert doc["time"] == "2021-11-18T08:30:00Z"
    assert verify_checkpoint(doc, keys[1])
    assert verify_checkpoint(json.loads(json.dumps(doc)), keys[1])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 2),
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
    [None, [], "x", {}, {"version": 1, "seq": 1, "head": HEAD, "time": "2021-11-18T08:30:00Z"}],
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


def test_write_then_read_in_seq_order(keys: tuple[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    later = write_checkpoint(folder, sign_checkpoint(keys[0], 120, HEAD, AT))
    first = write_checkpoint(
        folder, sign_checkpoint(keys[0], 7, HEAD, AT + dt.timedelta(microseconds=5))
    )
    assert later.name == "checkpoint-000000000120-20211118T083000Z.json"
    assert first.name == "checkpoint-000000000007-20211118T083000Z.json"
    (folder / "checkpoint-000000000050-x.json").write_text("{not json")
    (folder / "notes.txt").write_text("ignored")
    found = read_checkpoints(folder)
    assert [path.name for path, _ in found] == [
        first.name,
        "checkpoint-000000000050-x.json",
        later.name,
    ]
    docs: list[dict[str, Any] | None] = [doc for _, doc in found]
    assert docs[1] is None
    assert docs[0] is not None and docs[0]["seq"] == 7 and verify_checkpoint(docs[0], keys[1])
    assert not list(folder.glob("*.tmp"))


def test_reading_a_missing_folder_finds_none(tmp_path: Path) -> None:
    assert read_checkpoints(tmp_path / "absent") == []


def test_writing_a_malformed_document_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_checkpoint(tmp_path, {"seq": 1})
    assert list(tmp_path.iterdir()) == []
