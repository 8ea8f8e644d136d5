"""`make bench`: every scenario of issue 7 side by side in one run, then PASS/FAIL per target.

Usage: python -m bench [--dry-run] [--quick] [--only wrk,k,f,h,i,j]
Env: BENCH_QUICK=1 (a ~2-minute smoke run), BENCH_SOAK_SECONDS (default 180; 600 for the
10-minute soak), BENCH_VIEWERS (default 2000), BENCH_FANIN_VIEWERS (default 1000),
BENCH_KEEP=1 (keep the work folder with logs), BENCH_NO_INSTALL=1 (never apt-get),
BENCH_TRACEMALLOC=1 (the soak's gateway under tracemalloc), BENCH_STACK_VIEWERS (row j's
steps, default 1000,1500,2000,2500,3000,4000,5000; quick 1000,2000,3000),
BENCH_STACK_GENERATORS (2), BENCH_STACK_REPLICAS (2), BENCH_STACK_CORES (row j's servers
on these cores only, e.g. "0,1", the generators on the others; default: nothing pinned).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable

from bench import media, wrk
from bench.context import ROOT, Context
from bench.paced_rows import scenario_paced
from bench.plan import PARTS, Plan, Tools, describe, find_tools, say
from bench.prepare import open_sessions, prepare, workdir
from bench.report import Row, table, verdicts
from bench.stack_rows import pinning, scenario_stack
from bench.targets import judge
from bench.viewer_rows import scenario_fanin, scenario_soak, scenario_viewers
from bench.wrk_rows import scenario_wrk

ORDER = [
    "a1",
    "a2",
    "a3",
    "a4",
    "b",
    "c1",
    "c2",
    "d1",
    "d2",
    "e",
    "e1",
    "e0",
    "f",
    "g1",
    "g2",
    "h",
    "i",
]


def run(plan: Plan, tools: Tools) -> int:
    began = time.monotonic()
    env = {**os.environ, "GATEWAY_SECRET_KEYS": secrets.token_urlsafe(32)}
    env.pop("GATEWAY_STORE_URL", None)
    env.pop("GATEWAY_CONFIG", None)
    env["PYTHONPATH"] = str(ROOT)
    with workdir() as work:
        ctx = Context(plan, tools, work, env, quiet_budget=plan.quiet_budget)
        writer: media.LiveWriter | None = None
        try:
            files = prepare(work, tools.encoder)
            wrk.write_script(work)
            live_templates = [p.read_bytes() for p in sorted(files.static.glob("*.ts"))[:4]]
            writer = media.LiveWriter(files.live, live_templates, max_seconds=3600)
            writer.prime()
            writer.start()
            wrk_cookie = open_sessions(ctx, files)

            if "wrk" in plan.only:
                say("rows a-e, g: wrk side by side")
                scenario_wrk(ctx, files, wrk_cookie)
            if "k" in plan.only:
                say("row k: /auth at a viewer's pace, in the protocol and through the app")
                guarded(ctx, "k", "/auth at a viewer's pace", lambda: scenario_paced(ctx, files))
            if "f" in plan.only:
                say(f"row f: {plan.fanin_viewers} viewers over an HTTP origin")
                guarded(ctx, "f", "gateway over HTTP origin", lambda: scenario_fanin(ctx, files))
            if "h" in plan.only:
                say(f"row h: {plan.viewers} viewers, 2 workers")
                guarded(ctx, "h", "HLS viewers", lambda: scenario_viewers(ctx, files))
            if "i" in plan.only:
                say(f"row i: soak for {plan.soak_seconds:g} s")
                guarded(ctx, "i", "soak", lambda: scenario_soak(ctx, files))
            if "j" in plan.only:
                say("row j: viewers through the deploy stack (nginx, 2 replicas, Redis)")
                guarded(ctx, "j", "deploy stack", lambda: scenario_stack(ctx))
        finally:
            if writer is not None:
                writer.stop()
            ctx.stop_all()
        print_results(ctx, time.monotonic() - began)
    return 0


def guarded(ctx: Context, key: str, label: str, work: Callable[[], None]) -> None:
    """A viewer row that fails prints n/a with why; the other rows still run."""
    try:
        work()
    except (RuntimeError, OSError, ValueError) as exc:
        ctx.rows[key] = Row(key, label, skipped=f"{type(exc).__name__}: {exc}"[:500])


def print_results(ctx: Context, seconds: float) -> None:
    rows = [ctx.rows[k] for k in ORDER if k in ctx.rows]
    rows += [row for key, row in ctx.rows.items() if key.startswith("k")]  # k: its rates
    rows += [row for key, row in ctx.rows.items() if key.startswith("j")]  # j, or its steps
    print()
    print(
        f"gateway benchmark, {'quick' if ctx.plan.quick else 'full'} run, "
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, took {seconds:.0f} s"
    )
    print()
    print(table(rows))
    if ctx.others:
        ctx.notes.append(
            f"other processes on this machine used {sum(ctx.others) / len(ctx.others):.2f} "
            f"cores on average (max {max(ctx.others):.2f}) during the wrk rows; the run "
            f"waited {ctx.quiet_waited:.0f} s in all for them to calm down before rows"
        )
    if ctx.notes:
        print()
        for note in ctx.notes:
            print(f"  {note}")
    print()
    print(verdicts(judge(ctx)))
    print()
    print(
        "MB/s is MiB/s of response bytes (wrk counts headers too); srv µs/req is the "
        "server's CPU\n(all its processes) per request; gen CPU is the load generator's "
        "own CPU in % of one core."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    parser.add_argument("--quick", action="store_true", help="as BENCH_QUICK=1")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help="a comma-separated subset of wrk (rows a-e, g), f, h, i, j (default: all)",
    )
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: every server started is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = Plan.from_env(args.quick)
    plan.only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = plan.only - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    if "j" in plan.only:
        try:
            pinning()  # a BENCH_STACK_CORES that cannot be kept says so before anything runs
        except RuntimeError as exc:
            parser.error(str(exc))
    tools = find_tools(install=not args.dry_run)
    print(describe(plan, tools), flush=True)
    if args.dry_run:
        return 0
    return run(plan, tools)
