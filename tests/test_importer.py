"""The CSV importer: every bad row found before anything is imported, in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from gateway.core.errors import UsageError
from gateway.mail.importer import problems, rows


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_bom_crlf_quoted_newlines_and_line_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '\ufeffname,email,organisation\r\n"Anna\r\nB",a@example.org,X\r\n'
        "Åke,ake@example.org,\r\n\r\nBad,nope,\r\n",
    )
    newline, address = problems(path)  # a line break inside a quoted name is read, then refused
    assert newline == "line 2: name contains a line break or a control character"
    assert address.startswith("line 6: invalid email address 'nope'")
    path.write_text("name,email\nGood,g@example.org\n")
    assert [r.name for r in rows(path)] == ["Good"]


def test_a_good_file_reads_back_with_names_intact(tmp_path: Path) -> None:
    path = _write(tmp_path, "name,email\nÅsa Öberg,asa@example.org\nJyrki Mäkelä,J@Example.org\n")
    assert problems(path) == []
    assert [(r.line, r.name, r.email) for r in rows(path)] == [
        (2, "Åsa Öberg", "asa@example.org"),
        (3, "Jyrki Mäkelä", "J@example.org"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("email,name\nx@example.org,X\n", "header"),
        ("", "header"),
        ("name,email,phone\nX,x@example.org,1\n", "header"),
        ('name,email\n"unterminated,x@example.org\n', "CSV"),
    ],
)
def test_a_bad_header_or_broken_csv_is_one_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        problems(_write(tmp_path, text))


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not UTF-8"):
        problems(_write(tmp_path, "name,email\nÅsa,a@example.org\n", "latin-1"))


def test_duplicates_within_the_file_and_wrong_field_counts(tmp_path: Path) -> None:
    path = _write(tmp_path, "name,email\nA,a@example.org\nB,A@EXAMPLE.ORG\nC\n")
    assert problems(path) == [
        "line 3: A@example.org already appears on line 2",
        "line 4: expected 2 fields, got 1",
    ]


def test_a_row_without_the_optional_organisation_reads_as_none_given(tmp_path: Path) -> None:
    """`name,email[,organisation]`: a row that leaves the last, optional field out (as
    hand-written files and some exporters do) is a row with no organisation."""
    path = _write(tmp_path, "name,email,organisation\nA,a@example.org\nB,b@example.org,Org\n")
    assert problems(path) == []
    assert [(r.name, r.organisation) for r in rows(path)] == [("A", ""), ("B", "Org")]
    short = _write(tmp_path, "name,email,organisation\nA\n")
    assert problems(short) == ["line 2: expected 3 fields, got 1"]


@pytest.mark.slow  # 20,000 rows
def test_a_large_file_is_checked_in_memory_bounded_by_its_addresses(tmp_path: Path) -> None:
    count = 20_000  # 100 000 behave the same, five times slower (email validation dominates)
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write("name,email,organisation\n")
        for i in range(count):
            file.write(f"Person {i} with a reasonably long name,person{i}@example.org,Ministry\n")
    tracemalloc.start()
    try:
        assert problems(path) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Only the addresses seen are kept (to find duplicates); the rows are streamed.
    assert peak < 250 * count + 1_000_000, peak
