"""k. `/auth` at a viewer's pace: the CPU of a decision answered by the HTTP protocol
itself, and of one made through the ASGI app, side by side.

Under wrk (rows e, e1) one wake-up of the server serves several requests; behind nginx
each viewer's decision reaches a replica alone, on a core nginx has just used, and costs
several times as much. Here two gateways serve the static folder as `gateway serve` does
(bench/serve.py: `--app gateway`, and the same with `--through-app`), pinned to the
servers' core; `bench.viewers paced` on the other core asks `GET /auth` for the listed
segment with X-Original-URI and each time the next of the sessions' cookies, over 64
kept-alive connections (as nginx keeps to its upstream), evenly spaced at each rate in
turn. The server's CPU over the run, divided by the decisions, is its cost per
decision (its background work included: the origin watcher, the session cache's polls).

A single measurement of a process woken alone moves with whatever else the VM's host
runs (k1000 measured 201 against 273 µs one evening, 317 against 284 the next night,
and 176 against 232 an hour later): the two servers take turns at each rate, in rounds
(`plan.rounds`, as the wrk rows), and each row keeps its least disturbed round, the
others named in its note.
"""

from __future__ import annotations

import time

from bench import procs
from bench.context import (
    Context,
    Summary,
    bench_serve_argv,
    summary_float,
    summary_int,
    viewer_run,
)
from bench.plan import LOAD_CORE, PACED_SESSIONS, SERVER_CORE, numbers, say
from bench.prepare import Files
from bench.report import Row

CONNECTIONS = 64  # nginx's upstream keepalive (deploy/nginx)


def rates(quick: bool) -> list[int]:
    """Each of two replicas' share at 750 viewers, one replica's at 1,000, and at 2,000;
    BENCH_PACED_RATES (e.g. "1000,4000,8000") for others."""
    return numbers("BENCH_PACED_RATES", "375,1000" if quick else "375,1000,2000")


def scenario_paced(ctx: Context, files: Files) -> None:
    seconds = 5.0 if ctx.plan.quick else 7.0  # within 30 s of its warm pass: see below
    config, uri = files.config_static, f"/live/{files.segment_name}"
    servers = {}
    for suffix, extra in (("", []), ("a", ["--through-app"])):
        port = procs.free_port()
        argv = procs.pinned([*bench_serve_argv("gateway", config, port), *extra], SERVER_CORE)
        servers[suffix] = ctx.start(f"gateway-paced{suffix}", argv, port)
    time.sleep(2.5)  # the watchers date the static segments

    def paced(server: procs.Server, rate: int, seconds: float) -> tuple[Summary, float, float]:
        """The generator's summary and CPU seconds, and the server's CPU seconds."""
        args = ["--cookies", str(files.cookies), "--viewers", str(PACED_SESSIONS)]
        args += ["--rate", str(rate), "--uri", uri, "--concurrency", str(CONNECTIONS)]
        cpu0 = server.cpu()
        with procs.only_on(frozenset({LOAD_CORE})):  # the generator it starts too
            summary, _, gen_cpu = viewer_run(ctx, "paced", server, seconds, args)
        return summary, gen_cpu, server.cpu() - cpu0

    def measured(suffix: str, server: procs.Server, rate: int) -> Row:
        # Every session once, unreported, then the rate within the session cache's 30 s
        # (MAX_AGE) of it: the decisions measured are made with the sessions in memory (a
        # replica's steady state; the re-read of each every 30 s is row j's, spread out).
        paced(server, 1000, 2.0)
        how = "through the app" if suffix else "in the protocol"
        say(f"  /auth at {rate}/s for {seconds:g} s, {how}")
        summary, gen_cpu, used = paced(server, rate, seconds)
        took = summary_float(summary, "seconds", seconds)
        asked = summary_int(summary, "requests")
        row = Row(
            f"k{rate}{suffix}",
            f"/auth at {rate}/s, {how}",
            rps=asked / took if took else None,
            errors=summary_int(summary, "error_total"),
            server_cpu_us=used / asked * 1e6 if asked else None,
            gen_cpu_pct=100 * gen_cpu / took if took else None,
            viewers=f"{PACED_SESSIONS} sessions",
        )
        row.notes.append(
            f"{used / took:.2f} cores for {asked:,} decisions ({asked / took:,.0f}/s on "
            f"{CONNECTIONS} connections; server on core {SERVER_CORE}, generator on "
            f"{LOAD_CORE})"
        )
        return row

    runs: dict[str, list[tuple[float, Row]]] = {}
    for _ in range(ctx.plan.rounds):  # the servers take turns at each rate
        for rate in rates(ctx.plan.quick):
            for suffix, server in servers.items():
                row = measured(suffix, server, rate)
                runs.setdefault(row.key, []).append((row.server_cpu_us or float("inf"), row))
    for key, each_round in runs.items():
        kept = min(each_round, key=lambda run: run[0])[1]
        kept.errors = sum(row.errors or 0 for _, row in each_round)  # of every round
        if len(each_round) > 1:
            each = ", ".join(f"{us:.0f}" for us, _ in each_round)
            kept.notes.append(f"µs a decision in each round: {each}; the lowest kept")
        ctx.rows[key] = kept
    for server in servers.values():
        ctx.stop(server)
