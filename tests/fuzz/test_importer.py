"""Fuzzing the CSV importer: any file is a list of problems or one UsageError, never a crash.

And a file with no problems reads back, every row, without raising.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.core.errors import UsageError
from gateway.mail.importer import problems, rows

HEADERS = [
    "name,email",
    "name,email,organisation",
    "Name , EMAIL",
    "\ufeffname,email",
    "email,name",
    "name,email,email",
    "name,email,phone",
    "",
]
CELLS = st.one_of(
    st.sampled_from(
        [
            "Maija Meikäläinen",
            "maija@example.org",
            "MAIJA@example.org",
            "a@b",
            "a@[127.0.0.1]",
            "ääkkönen@esimerkki.fi",
            "x@xn--",
            "@",
            "",
            " ",
            '"',
            "line\nbreak",
            "x" * 300,
        ]
    ),
    st.text(max_size=30),
    st.emails().map(str),
)


def _csv(header: str, records: list[list[str]], newline: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    for record in records:
        writer.writerow(record)
    return (header + newline + out.getvalue()).encode("utf-8", "surrogatepass")


files = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        _csv,
        st.sampled_from(HEADERS),
        st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=8),
        st.sampled_from(["\n", "\r\n", "\r"]),
    ),
    st.binary(max_size=200).map(lambda b: b"name,email\n" + b),
    # Mostly good files, so that the clean path (`rows`) is exercised too.
    st.builds(
        _csv,
        st.sampled_from(HEADERS[:2]),
        st.lists(st.tuples(st.text(min_size=1, max_size=20), st.emails()).map(list), max_size=6),
        st.sampled_from(["\n", "\r\n"]),
    ),
)


def _check(data: bytes) -> str:
    """Import-check `data` as a file; what happened."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "people.csv"
        path.write_bytes(data)
        try:
            found = problems(path)
        except UsageError:
            return "refused whole (UsageError)"
        assert isinstance(found, list) and all(isinstance(p, str) for p in found)
        if found:
            return "bad rows reported"
        read = list(rows(path))
        assert len({row.email.lower() for row in read}) == len(read)
        return "clean"


@settings(max_examples=500, deadline=None)
@given(files)
def test_any_file_is_problems_or_a_usage_error_and_a_clean_file_reads_back(data: bytes) -> None:
    event(_check(data))


def test_an_oversized_field_is_a_usage_error() -> None:
    assert "UsageError" in _check(
        b"name,email\n" + b'"' + b"x" * (csv.field_size_limit() + 10) + b'",a@b.fi\n'
    )
