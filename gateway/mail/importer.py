"""Reading a registrant list (CSV) all the way through before anyone is imported.

`header: name,email[,organisation]`, UTF-8 with or without BOM, any line
endings, quoted fields may hold newlines. Every bad row is reported with the
line it starts on; duplicates within the file are bad rows too. Rows are
streamed: memory holds the addresses seen, not the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.core.errors import UsageError
from gateway.mail.registrants import MAX_NAME, MAX_ORGANISATION, clean_email, clean_text

COLUMNS = ("name", "email", "organisation")


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    email: str
    organisation: str


def _rows(path: Path, label: str | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows by the line they start on; `label` names the file in messages (an upload's
    name rather than where it was saved)."""
    name = path if label is None else label
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file, strict=True)
            header = [h.strip().lower() for h in next(reader, [])]
            if (
                header[:2] != ["name", "email"]
                or not set(header) <= set(COLUMNS)
                or len(header) != len(set(header))
            ):
                raise UsageError(f"{name}: line 1: the header must be name,email[,organisation]")
            line = reader.line_num + 1
            for record in reader:
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in record):
                    continue  # blank line
                if len(record) == len(header) - 1 == 2:  # the optional organisation left out
                    record.append("")
                if len(record) != len(header):
                    yield start, {"__error__": f"expected {len(header)} fields, got {len(record)}"}
                    continue
                yield start, dict(zip(header, record, strict=True))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise UsageError(f"{name}: not valid CSV ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{name}: cannot read the file ({exc.strerror})") from None


def _check(line: int, fields: dict[str, str]) -> Row:
    if "__error__" in fields:
        raise UsageError(fields["__error__"])
    return Row(
        line,
        clean_text(fields["name"], "name", MAX_NAME, required=True),
        clean_email(fields["email"]),
        clean_text(
            fields.get("organisation", ""), "organisation", MAX_ORGANISATION, required=False
        ),
    )


def problems(path: Path, label: str | None = None) -> list[str]:
    """Every bad row as `line N: reason`; empty when the whole file can be imported.
    UsageError when the file as a whole cannot be read (header, encoding, CSV)."""
    found: list[str] = []
    seen: dict[str, int] = {}
    for line, fields in _rows(path, label):
        try:
            row = _check(line, fields)
        except UsageError as exc:
            found.append(f"line {line}: {exc}")
            continue
        first = seen.setdefault(row.email.lower(), line)
        if first != line:
            found.append(f"line {line}: {row.email} already appears on line {first}")
    return found


def rows(path: Path, label: str | None = None) -> Iterator[Row]:
    """The rows of a file `problems` found nothing wrong with."""
    for line, fields in _rows(path, label):
        yield _check(line, fields)
