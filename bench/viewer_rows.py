"""Rows f, h and i: `bench.viewers` against the gateway (fan-in, N viewers, memory soak)."""

from __future__ import annotations

import json
import math
import threading
import time

from bench import procs
from bench.context import (
    PY,
    ROOT,
    Context,
    Summary,
    bench_serve_argv,
    gateway_argv,
    summary_float,
    summary_int,
    summary_ms,
    two_worker_argv,
    viewer_run,
)
from bench.media import SEGMENT_BYTES, SEGMENT_SECONDS
from bench.prepare import Files
from bench.probes import COOKIE, check, http_get, metric_total
from bench.report import Row
from gateway.stream.live import MEMO_BYTES


def viewer_row(key: str, label: str, summary: Summary, cpu: float, rss: int, viewers: str) -> Row:
    seconds = summary_float(summary, "seconds", 0.0)
    row = Row(
        key,
        label,
        rps=summary_int(summary, "requests") / seconds if seconds else None,
        mbps=summary_int(summary, "total_bytes") / seconds / 2**20 if seconds else None,
        p50_ms=summary_ms(summary, "segment_ms", "p50"),
        p99_ms=summary_ms(summary, "segment_ms", "p99"),
        errors=summary_int(summary, "error_total"),
        rss_mb=rss / 2**20,
        gen_cpu_pct=100 * cpu / seconds if seconds else None,
        viewers=viewers,
    )
    errors = summary.get("errors")
    if isinstance(errors, dict) and errors:
        row.notes.append("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    pl50 = summary_ms(summary, "playlist_ms", "p50")
    pl99 = summary_ms(summary, "playlist_ms", "p99")
    row.notes.append(
        f"latencies are per segment (1 MB, request to last byte); playlists p50 "
        f"{pl50 if pl50 is None else round(pl50, 2)} ms, p99 "
        f"{pl99 if pl99 is None else round(pl99, 2)} ms"
    )
    return row


def kept_up(summary: Summary, planned: int) -> str:
    """The viewers column: kept up / started of planned."""
    return f"{summary_int(summary, 'kept_up')}/{summary_int(summary, 'started')} of {planned}"


def playable(ctx: Context, key: str, label: str, gateway: procs.Server, files: Files) -> bool:
    """Whether the first viewer's cookie gets the playlist; if not, the row says why."""
    first = files.cookies.read_text().split()[0]
    problem = check(gateway.url + "/live/index.m3u8", {"Cookie": f"{COOKIE}={first}"}, 200)
    if problem:
        ctx.rows[key] = Row(key, label, skipped=problem)
    return problem is None


def hls(
    ctx: Context, gateway: procs.Server, files: Files, viewers: int, seconds: float, spread: str
) -> tuple[Summary, list[int], float]:
    """`viewers` HLS viewers, one cookie each, starting within `spread` seconds."""
    args = ["--cookies", str(files.cookies), "--viewers", str(viewers), "--spread", spread]
    return viewer_run(ctx, "hls", gateway, seconds, args)


def scenario_fanin(ctx: Context, files: Files) -> None:
    """f. The gateway over a counting HTTP origin, N viewers in a herd (phases within 0.5 s)."""
    plan = ctx.plan
    key, label = "f", f"gateway over HTTP origin, {plan.fanin_viewers} viewers"
    origin_port = procs.free_port()
    config = files.config_http_template.read_text().replace("ORIGIN_PORT", str(origin_port))
    files.config_http.write_text(config)
    origin = ctx.start(
        "origin",
        [PY, "-m", "bench.origin", "--root", str(files.live), "--port", str(origin_port)],
        origin_port,
        ready="/__counts",
    )
    port = procs.free_port()
    gateway = ctx.start("gateway-http", gateway_argv(files.config_http, port), port)
    try:
        time.sleep(2.5)  # the watcher dates what the origin lists
        if not playable(ctx, key, label, gateway, files):
            return
        before = json.loads(http_get(origin.url + "/__counts")[1])
        rss0 = gateway.rss()
        summary, samples, cpu = hls(
            ctx, gateway, files, plan.fanin_viewers, plan.fanin_seconds, "0.5"
        )
        after = json.loads(http_get(origin.url + "/__counts")[1])
        counted = metric_total(gateway.url, "gateway_origin_requests_total")
    finally:
        ctx.stop(gateway)
        ctx.stop(origin)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    segs = {k: v for k, v in delta.items() if k.endswith(".ts")}
    playlist_requests = sum(v for k, v in delta.items() if k.endswith(".m3u8"))
    seconds = summary_float(summary, "seconds", plan.fanin_seconds)
    row = viewer_row(
        key, label, summary, cpu, max([rss0, *samples]), kept_up(summary, plan.fanin_viewers)
    )
    if segs:
        mean = sum(segs.values()) / len(segs)
        row.origin_per_segment = f"{mean:.2f}"
        row.notes.append(
            f"origin: {sum(segs.values())} segment requests for {len(segs)} segments "
            f"(max {max(segs.values())} for one), {playlist_requests} playlist requests in "
            f"{seconds:.0f} s = {playlist_requests / seconds:.2f}/s (one replica)"
        )
        if counted is not None:
            row.notes.append(
                f"the gateway's /metrics counts {counted:.0f} origin requests since it started "
                "(its watcher's polls included)"
            )
        ctx.extra["f_per_segment_max"] = max(segs.values())
        ctx.extra["f_per_segment_mean"] = mean
    else:
        row.origin_per_segment = "none"
        row.notes.append("the origin saw no segment request during the run")
    ctx.extra["f_playlist_per_s"] = playlist_requests / seconds if seconds else float("nan")
    ctx.rows[key] = row


def scenario_viewers(ctx: Context, files: Files) -> None:
    """h. N HLS viewers of the live file origin, gateway with two workers."""
    plan = ctx.plan
    key, label = "h", f"{plan.viewers} HLS viewers, 2 workers"
    port = procs.free_port()
    argv, how = two_worker_argv(files.config_live, port)
    ctx.notes.append(f"h: gateway started as {how}")
    # uvicorn's --factory takes no arguments: bench.apps reads the config path from the env
    env = {**ctx.env, "BENCH_GATEWAY_CONFIG": str(files.config_live), "PYTHONPATH": str(ROOT)}
    gateway = ctx.start("gateway-2w", argv, port, env=env)
    try:
        time.sleep(3)  # both workers up, segments dated
        if not playable(ctx, key, label, gateway, files):
            return
        summary, samples, cpu = hls(ctx, gateway, files, plan.viewers, plan.viewers_seconds, "4")
        rss_now = gateway.rss()
    finally:
        ctx.stop(gateway)
    peak = max([rss_now, *samples])
    started = summary_int(summary, "started")
    row = viewer_row(key, label, summary, cpu, peak, kept_up(summary, plan.viewers))
    row.notes.append(
        f"RSS is the peak over the run of all gateway processes (supervisor + 2 workers); "
        f"{summary_int(summary, 'fell_behind')} playlist refreshes started over 1 s late; the "
        f"furthest behind schedule a viewer fell: {summary_float(summary, 'max_lag', 0.0):.1f} s "
        "(kept up: no error and never more than one segment (4 s) behind)"
    )
    if started < plan.viewers:
        row.notes.append(f"only {started} viewers had a session cookie and started")
    ctx.extra["h_viewers_kept_up"] = summary_int(summary, "kept_up")
    ctx.rows[key] = row


def soak_warm_up(seconds: float) -> int:
    """The soak's warm-up in whole seconds: a fifth of the run (5 s to 120 s), or longer,
    up to half the run, while the live stream's memos fill: they keep up to MEMO_BYTES of
    segment bodies, one new body per segment, so RSS grows by design for the first
    ~16 segments (64 s here); a soak judged before then measures that fill, not a leak."""
    fifth = max(5, min(120, int(seconds) // 5))
    fill = math.ceil(MEMO_BYTES / SEGMENT_BYTES) * round(SEGMENT_SECONDS)
    return max(fifth, min(fill, int(seconds) // 2))


def scenario_soak(ctx: Context, files: Files) -> None:
    """i. Sessions that come and go for BENCH_SOAK_SECONDS; RSS at start and end."""
    plan = ctx.plan
    key, label = "i", f"soak {plan.soak_seconds:.0f} s, sessions come and go"
    port = procs.free_port()
    argv = (
        bench_serve_argv("traced", files.config_live, port)
        if plan.traced
        else gateway_argv(files.config_live, port)
    )
    gateway = ctx.start("gateway-soak", argv, port)
    marker: threading.Timer | None = None
    try:
        time.sleep(2)
        rss_idle = gateway.rss()
        if plan.traced:  # the tracemalloc baseline once the warm-up is over
            warm_s = float(soak_warm_up(plan.soak_seconds))
            marker = threading.Timer(
                warm_s, lambda: http_get(gateway.url + "/__bench/memory?mark=1")
            )
            marker.start()
        summary, samples, cpu = viewer_run(
            ctx,
            "churn",
            gateway,
            plan.soak_seconds,
            ["--links", str(files.soak_links), "--concurrency", str(plan.soak_concurrency)],
        )
        rss_end = gateway.rss()
        if plan.traced:
            report = http_get(gateway.url + "/__bench/memory")[1].decode(errors="replace")
            (ctx.work / "soak-memory.txt").write_text(report)
            ctx.notes.append("i: Python allocations that grew during the soak (tracemalloc):")
            ctx.notes += [f"    {line}" for line in report.splitlines()[:40]]
    finally:
        if marker is not None:
            marker.cancel()
        ctx.stop(gateway)
    warm = max(1, min(soak_warm_up(len(samples)), len(samples)))
    start_rss = samples[warm - 1] if samples else rss_idle
    growth = (rss_end - start_rss) / start_rss if start_rss else float("nan")
    row = viewer_row(key, label, summary, cpu, rss_end, f"{plan.soak_concurrency} at once")
    row.notes.append(
        f"{summary_int(summary, 'sessions')} sessions opened and dropped; RSS idle "
        f"{rss_idle / 2**20:.1f} MB, after {warm} s warm-up {start_rss / 2**20:.1f} MB, "
        f"end {rss_end / 2**20:.1f} MB, peak {max([rss_end, *samples]) / 2**20:.1f} MB "
        f"(growth {growth * 100:+.1f} %); RSS by quarter of the run: "
        + ", ".join(
            f"{samples[min(len(samples) - 1, len(samples) * q // 4)] / 2**20:.1f}"
            for q in (1, 2, 3, 4)
        )
        if samples
        else "no RSS samples"
    )
    ctx.extra["i_growth"] = growth
    ctx.extra["i_start_mb"] = start_rss / 2**20
    ctx.extra["i_end_mb"] = rss_end / 2**20
    ctx.rows[key] = row
