"""`gateway recording build`: write the recording again from the archive, the pre-show
cut (`--trim "Part I=00:02:10-"`). Audited as `recording.built` with actor `cli`."""

from __future__ import annotations

import argparse
import re

from gateway.cli.common import Context, Parser, Subparsers, command, with_context
from gateway.core.clock import system_clock
from gateway.core.errors import UsageError
from gateway.settings import Settings
from gateway.stream import vod
from gateway.stream.archive import entries, write_recording

_TRIM = re.compile(r"^(?P<part>[^=]+)=(?P<first>[0-9:.]*)-(?P<last>[0-9:.]*)$")
_CLOCK = re.compile(r"^(?:(\d+):)?(?:(\d{1,2}):)?(\d+(?:\.\d+)?)$")


def seconds(text: str) -> float:
    """`01:05:30`, `05:30`, `330` or `330.5` as seconds (ValueError otherwise)."""
    found = _CLOCK.match(text)
    if found is None:
        raise ValueError(f"--trim: {text!r} is not a time like 00:02:10")
    parts = [float(x) for x in found.groups() if x is not None]
    if any(value >= 60 for value in parts[1:]):  # minutes and seconds after a larger unit
        raise ValueError(f"--trim: {text!r} is not a time like 00:02:10")
    total = 0.0
    for value in parts:
        total = total * 60 + value
    return total


def trims(values: list[str], lengths: dict[str, float]) -> dict[str, tuple[float, float | None]]:
    """`PART=FROM-TO` (either side may be empty) per part, in seconds into the part;
    `lengths`: each streamed part's length in seconds (a cut is within it)."""
    names = list(lengths)
    found: dict[str, tuple[float, float | None]] = {}
    for value in values:
        match = _TRIM.match(value.strip())
        if match is None:
            raise ValueError(f'--trim: {value!r}: write "Part I=00:02:10-" or "Part I=-01:05:00"')
        part = match["part"].strip()
        if part not in names:
            raise ValueError(
                f"--trim: there is no streamed part named {part!r} ({', '.join(names)})"
            )
        first = seconds(match["first"]) if match["first"] else 0.0
        last = seconds(match["last"]) if match["last"] else None
        if first >= lengths[part]:
            raise ValueError(f"--trim: {value!r} starts after the end: longer than the part")
        if last is not None and last >= lengths[part]:
            last = None  # to the part's end, or past it: the part kept to its end
        if last is not None and last <= first:
            raise ValueError(f"--trim: {value!r} ends before it starts")
        found[part] = (first, last)
    return found


def _build(settings: Settings, args: argparse.Namespace) -> int:
    folder = settings.archive.folder

    async def work(ctx: Context) -> int:
        schedule = (await ctx.controls().current()).schedule
        lengths = {p.name: (p.end - p.start).total_seconds() for p in schedule.parts if p.streamed}
        cut = trims(args.trim or [], lengths)
        if not any(entries(folder).values()):
            raise UsageError(f"the archive {folder} holds no segment: nothing to build")
        built = await write_recording(
            folder,
            schedule,
            ctx.store,
            ctx.audit,
            system_clock,
            actor="cli",
            trims=cut,
            describe=lambda name: settings.description(name, "en"),
        )
        for name, length in built.parts.items():
            print(f"{name}: {int(length // 60)} min {length % 60:04.1f} s")
        print(f"recording written: {folder / vod.ROOT} ({built.segments} segments)")
        return 0

    return with_context(settings, work)


def add(name: str, sub: Subparsers[Parser]) -> None:
    build = command(sub, "build", "write the recording again from the archive", _build)
    build.add_argument(
        "--trim",
        action="append",
        metavar="PART=FROM-TO",
        help='keep only this span of a part, e.g. "Part I=00:02:10-" (repeatable)',
    )
