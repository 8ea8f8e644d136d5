"""The targets (issues 7 and 19) judged from the rows: a ratio of two rows, or a figure of
f, h, i or j."""

from __future__ import annotations

import math
import re

from bench.context import Context
from bench.report import Row, Verdict


def ratio(ctx: Context, num: str, den: str, attr: str) -> tuple[float | None, str]:
    """`num`'s `attr` over `den`'s and how it was measured, or None and why not."""
    a, b = ctx.rows.get(num), ctx.rows.get(den)
    missing = [k for k, r in ((num, a), (den, b)) if r is None or r.skipped]
    if missing:
        why = "; ".join(
            f"{k}: {ctx.rows[k].skipped}" if k in ctx.rows else f"{k}: not run" for k in missing
        )
        return None, why
    assert a is not None and b is not None
    x, y = getattr(a, attr), getattr(b, attr)
    if not x or not y:
        return None, f"{num} or {den} has no {attr}"
    return x / y, f"{num} {x:,.1f} / {den} {y:,.1f}"


def _compared(
    ctx: Context, target: str, num: str, den: str, attr: str, limit: float, at_most: bool = False
) -> Verdict:
    value, measured = ratio(ctx, num, den, attr)
    ok = None if value is None else (value <= limit if at_most else value >= limit)
    return Verdict(target, measured if value else "", value, ok, "" if value else measured)


def _below(target: str, value: float | None, measured: str, limit: float) -> Verdict:
    if value is None:
        return Verdict(target, measured, None, None)
    return Verdict(target, measured, value / limit, value < limit)


def _not_run(row: Row | None) -> str:
    return (row.skipped if row else None) or "not run"


def _fanin(ctx: Context) -> list[Verdict]:
    f = ctx.rows.get("f")
    if f is None or f.skipped:
        why = _not_run(f)
        return [
            Verdict("fan-in: exactly 1 origin request per segment", "", None, None, why),
            Verdict("fan-in: <= 1 playlist request/s per replica", "", None, None, why),
        ]
    out: list[Verdict] = []
    mx, mean = ctx.extra.get("f_per_segment_max"), ctx.extra.get("f_per_segment_mean")
    if mx is None or mean is None:
        out.append(
            Verdict(
                "fan-in: exactly 1 origin request per segment",
                "",
                None,
                None,
                "no segment reached the origin",
            )
        )
    else:
        out.append(
            Verdict(
                f"fan-in: exactly 1 origin request per segment ({f.viewers} viewers)",
                f"mean {mean:.2f}, max {mx:.0f} per segment",
                mean,
                mx == 1 and mean == 1,
            )
        )
    rate = ctx.extra.get("f_playlist_per_s", float("nan"))
    out.append(
        Verdict(
            "fan-in: <= 1 playlist request/s per replica",
            f"{rate:.2f}/s at the origin",
            rate,
            None if math.isnan(rate) else rate <= 1.0 + 1e-9,
        )
    )
    return out


def _viewers(ctx: Context) -> list[Verdict]:
    h, planned = ctx.rows.get("h"), ctx.plan.viewers
    if h is None or h.skipped:
        return [Verdict(f"{planned} viewers, 2 workers: 0 errors", "", None, None, _not_run(h))]
    kept = int(ctx.extra.get("h_viewers_kept_up", 0))
    p99, rss = h.p99_ms, h.rss_mb
    return [
        Verdict(
            "2,000 viewers reached (kept up, no error)",
            f"{kept} of {planned} planned",
            kept / 2000,
            kept >= 2000,
        ),
        Verdict("viewers: 0 errors", f"{h.errors} errors", None, h.errors == 0),
        _below(
            "viewers: p99 segment latency < 250 ms",
            p99,
            f"p99 {p99:.1f} ms" if p99 is not None else "no segment fetched",
            250,
        ),
        _below(
            "viewers: gateway RSS < 300 MB", rss, f"{rss:.1f} MB" if rss is not None else "", 300
        ),
    ]


def _soak(ctx: Context) -> list[Verdict]:
    i, seconds = ctx.rows.get("i"), ctx.plan.soak_seconds
    if i is None or i.skipped:
        return [Verdict("soak: RSS growth < 10 %", "", None, None, _not_run(i))]
    growth = ctx.extra.get("i_growth", float("nan"))
    short = "" if seconds >= 600 else " (short soak; BENCH_SOAK_SECONDS=600)"
    return [
        Verdict(
            f"soak {seconds:.0f} s: RSS growth < 10 %{short}",
            f"{ctx.extra.get('i_start_mb', 0):.1f} MB -> {ctx.extra.get('i_end_mb', 0):.1f} MB",
            1 + growth,
            None if math.isnan(growth) else growth < 0.10,
        )
    ]


def _stack(ctx: Context) -> list[Verdict]:
    """Issue 19: 5,000 viewers through the deploy stack (3,000 at least), found by stepping;
    beside it, how many plain nginx holds with the same viewers on the same machine."""
    target = "deploy stack: 5,000 viewers held (0 errors, p99 < 250 ms, RSS < 300 MB)"
    steps = [row for key, row in ctx.rows.items() if re.fullmatch(r"j\d+", key)]
    if not steps or all(row.skipped for row in steps):
        skipped = ctx.rows.get("j")
        return [Verdict(target, "", None, None, _not_run(steps[0] if steps else skipped))]
    held, plain = int(ctx.extra.get("j_held", 0)), int(ctx.extra.get("jp_held", 0))
    tried = ", ".join(row.key[1:] for row in steps if not row.skipped)
    return [
        Verdict(
            target,
            f"held up to {held:,} viewers (steps: {tried}; 3,000 is the minimum); plain nginx "
            f"over TLS with the same viewers on this machine: up to {plain:,}"
            + _two_cores(ctx.rows.get(f"j{held}"), held),
            held / 5000,
            held >= 5000,
        )
    ]


def alone(cores: float, viewers: int, given: int = 2) -> int:
    """How many viewers `given` cores would serve at the rate `cores` served `viewers`,
    rounded down to the hundred (issue 19's "5,000 viewers on two cores", by arithmetic)."""
    if cores <= 0:
        return 0
    return int(given * viewers / cores) // 100 * 100


def _two_cores(row: Row | None, viewers: int) -> str:
    """What the stack's CPU at the step held says two cores of its own would serve."""
    if row is None or not row.server_cpu_us or not row.rps or not viewers:
        return ""
    cores = row.server_cpu_us * row.rps / 1e6
    return (
        f"; the stack used {1000 * cores / viewers:.2f} cores per 1,000 viewers there: two "
        f"cores of its own ~{alone(cores, viewers):,} by arithmetic"
    )


def judge(ctx: Context) -> list[Verdict]:
    g_base = ctx.g_baseline
    pl_base = "a4" if g_base == "a3" else "a2"
    return [
        _compared(ctx, "segments: gateway >= 0.8 x plain nginx (MB/s)", "c1", "a1", "mbps", 0.8),
        _compared(
            ctx,
            "segments: gateway CPU/segment <= 1.3 x nginx's",
            "c1",
            "a1",
            "server_cpu_us",
            1.3,
            at_most=True,
        ),
        _compared(ctx, "playlists: gateway >= 0.5 x bare Starlette (req/s)", "c2", "b", "rps", 0.5),
        _compared(ctx, "/auth decisions >= 0.7 x bare Starlette (req/s)", "e", "b", "rps", 0.7),
        _compared(
            ctx,
            "/auth CPU per decision: uvloop <= 0.8 x asyncio's loop (µs)",
            "e1",
            "e0",
            "server_cpu_us",
            0.8,
            at_most=True,
        ),
        _compared(
            ctx,
            "/auth CPU per decision under wrk: in the protocol <= 0.9 x through the app (µs)",
            "e",
            "e1",
            "server_cpu_us",
            0.9,
            at_most=True,
        ),
        _compared(
            ctx,
            "/auth at a viewer's pace (1,000/s): in the protocol <= 0.9 x through the app (µs)",
            "k1000",
            "k1000a",
            "server_cpu_us",
            0.9,
            at_most=True,
        ),
        _compared(ctx, "segments: with state >= 0.9 x stubbed (req/s)", "c1", "d1", "rps", 0.9),
        _compared(ctx, "playlists: with state >= 0.9 x stubbed (req/s)", "c2", "d2", "rps", 0.9),
        _compared(
            ctx,
            f"segments: nginx+/auth >= 0.8 x plain nginx ({g_base})",
            "g1",
            g_base,
            "mbps",
            0.8,
        ),
        _compared(
            ctx,
            f"segments: deploy stack >= 0.9 x plain nginx ({g_base})",
            "g1",
            g_base,
            "mbps",
            0.9,
        ),
        _compared(
            ctx,
            f"playlists: deploy stack >= 0.5 x plain nginx ({pl_base}, req/s)",
            "g2",
            pl_base,
            "rps",
            0.5,
        ),
        *_fanin(ctx),
        *_viewers(ctx),
        *_stack(ctx),
        *_soak(ctx),
    ]
