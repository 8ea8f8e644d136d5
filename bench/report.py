"""The side-by-side table and the targets, printed so that no figure is ever left out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Row:
    key: str
    label: str
    rps: float | None = None
    mbps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    origin_per_segment: str = "-"  # "-" where it does not apply
    rss_mb: float | None = None
    server_cpu_us: float | None = None  # server CPU per request (all its processes)
    gen_cpu_pct: float | None = None  # load generator's CPU, % of one core over the run
    viewers: str = ""
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # why nothing was measured


@dataclass
class Verdict:
    target: str
    measured: str
    ratio: float | None
    ok: bool | None  # None: could not be measured
    reason: str = ""


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


COLUMNS = [
    ("scenario", 40),
    ("req/s", 8),
    ("MB/s", 7),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("errors", 6),
    ("orig/seg", 8),
    ("RSS MB", 6),
    ("srv µs/req", 10),
    ("gen CPU", 7),
    ("viewers", 11),
]


def table(rows: list[Row]) -> str:
    def line(cells: list[str]) -> str:
        out = []
        for (_, width), cell in zip(COLUMNS, cells, strict=True):
            out.append(cell.ljust(width) if width == COLUMNS[0][1] else cell.rjust(width))
        return " ".join(out).rstrip()

    lines = [line([name for name, _ in COLUMNS]), "-" * (sum(w for _, w in COLUMNS) + 10)]
    notes: list[str] = []
    for row in rows:
        label = f"{row.key} {row.label}"[: COLUMNS[0][1]]
        if row.skipped:
            lines.append(line([label, *["n/a"] * 9, row.viewers or "-"]))
            notes.append(f"{row.key}: not measured: {row.skipped}")
            continue
        lines.append(
            line(
                [
                    label,
                    _num(row.rps),
                    _num(row.mbps, 1),
                    _num(row.p50_ms, 2),
                    _num(row.p99_ms, 2),
                    _num(row.errors),
                    row.origin_per_segment,
                    _num(row.rss_mb, 1),
                    _num(row.server_cpu_us),
                    "n/a" if row.gen_cpu_pct is None else f"{row.gen_cpu_pct:.0f}%",
                    row.viewers or "-",
                ]
            )
        )
        notes += [f"{row.key}: {note}" for note in row.notes]
    if notes:
        lines += ["", "Notes:", *[f"  {n}" for n in notes]]
    return "\n".join(lines)


def verdicts(items: list[Verdict]) -> str:
    width = max(len(v.target) for v in items) if items else 10
    lines = [f"{'target'.ljust(width)}  {'result':<8} {'ratio':>7}  measured"]
    for v in items:
        result = "PASS" if v.ok else ("FAIL" if v.ok is False else "NOT RUN")
        ratio = "n/a" if v.ratio is None else f"{v.ratio:.2f}"
        measured = v.measured + (f"  ({v.reason})" if v.reason else "")
        lines.append(f"{v.target.ljust(width)}  {result:<8} {ratio:>7}  {measured}")
    return "\n".join(lines)
