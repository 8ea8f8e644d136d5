"""Row j: HLS viewers through the whole deploy stack, stepped up until a step fails.

The stack as shipped, on this machine: Debian's nginx with deploy/nginx/ rendered by
its render.sh (TLS, one worker per core, as the stock nginx.conf of the image), two
`gateway serve` replicas on one Redis (a redis-server of the run's own, nothing on
disk), a live folder where a 2 Mbit/s stream of 2 s segments (500 KB) grows. Each
viewer has its own session (personal links opened beforehand, ten per registrant),
its own TLS connection, asks for the playlist every target duration (2 s) and for
each new segment once. Nothing is pinned unless BENCH_STACK_CORES says: the servers and
the generator share the machine's cores, and the row says how much each used. With
BENCH_STACK_CORES (a taskset list, e.g. "0,1") the servers of both fronts run on those
cores only (nginx with one worker per core listed) and the generators (and this process,
which writes the live folder) on the others, so a machine
with more cores than the stack is given measures the stack on exactly its cores, the
generators' own cost off them (issue 19's "5,000 viewers on two cores").

Beside it, the yardstick (rows jp…): plain nginx serving the same folder over TLS
with as many workers, to the same viewers, so the machine's own limit (the generator
included) is measured in the same run.

A step holds when every viewer started and kept up, no request failed, the p99 of
playlists and of segments is under 250 ms after the joining seconds and each
replica's RSS stayed under 300 MB. The steps go up (BENCH_STACK_VIEWERS, e.g.
"1000,3000,5000"), each front stopping after its first step that does not hold;
`ctx.extra["j_held"]` and `["jp_held"]` are the highest that did.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import deploy_render, media, nginx, probes, procs
from bench.context import (
    PY,
    ROOT,
    Context,
    Summary,
    gateway_argv,
    summary_float,
    summary_int,
    summary_ms,
)
from bench.plan import PER_REGISTRANT, numbers, say
from bench.prepare import add_registrants, event_toml, open_cookies
from bench.report import Row
from bench.targets import alone
from bench.viewers import percentile

P99_MS = 250.0
RSS_MB = 300.0
TARGET = media.STACK_SECONDS
WARMUP = 3 * TARGET  # viewers join over the first target duration; then two more


@dataclass(frozen=True)
class Cores:
    """Where row j's processes run: the servers on `stack`, the generators on `load`;
    both None when nothing is pinned."""

    stack: frozenset[int] | None = None
    load: frozenset[int] | None = None

    @property
    def workers(self) -> int:
        """nginx workers: one per core the servers may use."""
        return len(self.stack) if self.stack else os.cpu_count() or 1

    def named(self) -> str:
        if not self.stack:
            return ""
        return f" on core{'s' if len(self.stack) > 1 else ''} {procs.listed(self.stack)}"


def pinning() -> Cores:
    """BENCH_STACK_CORES read and checked: RuntimeError (one line) when it cannot be kept."""
    raw = os.environ.get("BENCH_STACK_CORES", "").strip()
    if not raw:
        return Cores()
    try:
        stack = procs.core_list(raw)
    except ValueError as exc:
        raise RuntimeError(f"BENCH_STACK_CORES={raw!r}: {exc}") from None
    available = frozenset(os.sched_getaffinity(0))
    if not stack <= available:
        raise RuntimeError(
            f"BENCH_STACK_CORES={raw!r}: this machine has cores {procs.listed(available)}"
        )
    if not stack < available:
        raise RuntimeError(f"BENCH_STACK_CORES={raw!r} leaves no core for the generators")
    if not procs.has_taskset():
        raise RuntimeError("BENCH_STACK_CORES needs taskset (util-linux)")
    return Cores(stack, available - stack)


@dataclass
class Front:
    """What the viewers talk to (over TLS) and the processes behind it, by name."""

    key: str  # row key prefix: "j" the deploy stack, "jp" plain nginx
    label: str
    https_port: int
    processes: dict[str, procs.Server]
    cores: Cores


def start_redis(ctx: Context, cores: Cores) -> procs.Server:
    """A redis-server of the run's own on a free port, keeping nothing on disk."""
    import redis

    port = procs.free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv = procs.pinned([*argv, "--appendonly", "no", "--protected-mode", "no"], cores.stack)
    log = ctx.log("redis")
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ctx.work)
    server = procs.Server("redis", f"redis://127.0.0.1:{port}/0", process, log)
    ctx.servers.append(server)
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}: {server.tail()}")
        try:
            if client.ping():
                return server
        except redis.RedisError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not answer within 15 s")


def start_stack(ctx: Context, live: Path, steps: list[int], cookies: Path, cores: Cores) -> Front:
    """Redis, the config, registrants, the replicas (two unless BENCH_STACK_REPLICAS
    says), nginx as deployed; one session per viewer, written to `cookies`."""
    redis_server = start_redis(ctx, cores)
    config = ctx.work / "gateway-stack.toml"
    config.write_text(event_toml(ctx.work, str(live), redis_server.url))
    registrants = math.ceil(max(steps) / PER_REGISTRANT)
    say(f"  adding {registrants} registrants to the stack's Redis")
    secret_env = {"GATEWAY_SECRET_KEYS": ctx.env["GATEWAY_SECRET_KEYS"]}
    links = add_registrants(config, "stack", registrants, secret_env)
    links_file = ctx.work / "stack-links.txt"
    links_file.write_text("".join(f"{link}\n" for link in links for _ in range(PER_REGISTRANT)))
    replicas = []
    for k in range(1, replica_count() + 1):
        port = procs.free_port()
        argv = procs.pinned(gateway_argv(config, port), cores.stack)
        replicas.append(ctx.start(f"replica-{k}", argv, port))
    prefix = ctx.work / "nginx-stack"
    nginx.prepare(prefix)
    https_port = procs.free_port()
    ports = [int(s.url.rsplit(":", 1)[1]) for s in replicas]
    rendered = deploy_render.render(
        prefix,
        https_port,
        procs.free_port(),
        live,
        ports,
        ctx.work / "tls",
        workers=cores.workers,
        worker_connections=4 * max(steps) + 1024,
    )
    if rendered is None:
        raise RuntimeError("deploy/nginx/render.sh not found")
    (prefix / "nginx.conf").write_text(rendered.conf)
    argv = procs.pinned(nginx.command(prefix), cores.stack)
    front = ctx.start("nginx-stack", argv, https_port, tls=True)
    say(f"  opening {len(links) * PER_REGISTRANT} personal links through a replica")
    open_cookies(ctx, replicas[0], links_file, cookies)
    processes = {"nginx": front, "redis": redis_server}
    processes.update({f"replica {k}": s for k, s in enumerate(replicas, 1)})
    count = len(replicas)
    label = f"deploy stack (TLS, {count} replica{'s' if count > 1 else ''}, Redis){cores.named()}"
    return Front("j", label, https_port, processes, cores)


def start_plain(ctx: Context, live: Path, steps: list[int], cores: Cores) -> Front:
    """The yardstick: plain nginx serving the same folder over TLS, as many workers."""
    prefix = ctx.work / "nginx-plain-stack"
    nginx.prepare(prefix)
    cert, key = deploy_render.self_signed(ctx.work / "tls")
    port, https_port = procs.free_port(), procs.free_port()
    conf = nginx.plain_conf(
        prefix,
        port,
        live,
        (https_port, cert, key),
        workers=cores.workers,
        connections=4 * max(steps) + 1024,
    )
    (prefix / "nginx.conf").write_text(conf)
    server = ctx.start("nginx-plain-stack", procs.pinned(nginx.command(prefix), cores.stack), port)
    label = f"plain nginx over TLS (files){cores.named()}"
    return Front("jp", label, https_port, {"nginx": server}, cores)


def replica_count() -> int:
    """How many `gateway serve` replicas the stack runs (BENCH_STACK_REPLICAS, default 2, as
    issue 19 measures; 1 shows what fewer, busier replicas cost per decision)."""
    return max(1, int(os.environ.get("BENCH_STACK_REPLICAS", "2")))


def generators() -> int:
    """How many generator processes share the viewers (BENCH_STACK_GENERATORS, default 2)."""
    return max(1, int(os.environ.get("BENCH_STACK_GENERATORS", "2")))


def run_viewers(
    ctx: Context, front: Front, cookies: Path, viewers: int, seconds: float
) -> tuple[Summary, float]:
    """`viewers` viewers over TLS, shared by the generator processes; merged summary, CPU."""
    count = generators()
    results: list[tuple[int, str, str, float]] = [(1, "", "not run", 0.0)] * count

    def samples(k: int) -> Path:
        return ctx.work / f"{front.key}{viewers}-{k}.json"

    env = {**ctx.env, "PYTHONPATH": str(ROOT)}

    def one(k: int) -> None:
        argv = [PY, "-m", "bench.viewers", "hls", "--port", str(front.https_port), "--tls"]
        argv += ["--cookies", str(cookies), "--viewers", str(viewers)]
        argv += ["--shard", f"{k}/{count}", "--samples", str(samples(k))]
        argv += ["--target", f"{TARGET:g}", "--spread", f"{TARGET:g}"]
        argv += ["--seconds", f"{seconds:g}", "--timeout", "10", "--warmup", f"{WARMUP:g}"]
        argv = procs.pinned(argv, front.cores.load)
        results[k] = procs.run_bounded(argv, timeout=seconds + 90, env=env)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged: Summary = {"generators": count}
    latencies: dict[str, list[float]] = {"playlist_ms": [], "segment_ms": [], "join_ms": []}
    errors: dict[str, int] = {}
    cpu = 0.0
    for k, (code, out, err, used) in enumerate(results):
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if code != 0 or not lines:
            raise RuntimeError(f"bench.viewers hls {k}/{count} failed ({code}): {err[-400:]}")
        part = json.loads(lines[-1])
        cpu += used
        for key in ("requests", "total_bytes", "started", "kept_up", "fell_behind", "connects"):
            merged[key] = summary_int(merged, key) + summary_int(part, key)
        for key in ("seconds", "max_lag"):
            merged[key] = max(summary_float(merged, key, 0.0), summary_float(part, key, 0.0))
        for kind, n in part.get("errors", {}).items():
            errors[kind] = errors.get(kind, 0) + int(n)
        measured = json.loads(samples(k).read_text())
        for key, values in latencies.items():
            values += measured[key]
    merged["errors"] = errors
    merged["error_total"] = sum(errors.values())
    for key, values in latencies.items():
        merged[key] = {
            "count": len(values),
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
        }
    return merged, cpu


def _ms(summary: Summary, key: str, pct: str) -> float:
    value = summary_ms(summary, key, pct)
    return float("nan") if value is None else value


def step(
    ctx: Context, front: Front, cookies: Path, viewers: int, seconds: float
) -> tuple[Row, bool]:
    """One step: the row and whether it held."""
    processes = front.processes
    peak = {name: 0 for name in processes if name.startswith("replica")}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            for name in peak:
                peak[name] = max(peak[name], processes[name].rss())

    replicas = {name: s for name, s in processes.items() if name.startswith("replica")}
    answered0 = {name: _answered(s) for name, s in replicas.items()}
    cpu0 = {name: s.cpu() for name, s in processes.items()}
    busy0, stack_busy0 = procs.machine_busy(), procs.machine_busy(front.cores.stack)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        summary, gen_cpu = run_viewers(ctx, front, cookies, viewers, seconds)
    finally:
        stop.set()
        sampler.join(timeout=5)
    took = summary_float(summary, "seconds", seconds)
    used = {name: (s.cpu() - cpu0[name]) / took for name, s in processes.items()}
    answered = {name: _answered(s) for name, s in replicas.items()}
    machine = (procs.machine_busy() - busy0) / took
    stack_busy = (procs.machine_busy(front.cores.stack) - stack_busy0) / took
    errors = summary_int(summary, "error_total")
    kept, started = summary_int(summary, "kept_up"), summary_int(summary, "started")
    pl99, seg99 = _ms(summary, "playlist_ms", "p99"), _ms(summary, "segment_ms", "p99")
    rss = max(peak.values()) / 2**20 if peak else float("nan")  # nan: no replica (plain nginx)
    held = kept == viewers and errors == 0 and max(pl99, seg99) < P99_MS and not rss >= RSS_MB
    requests = summary_int(summary, "requests")
    servers = sum(used.values())  # the front's own processes: nginx (and Redis, replicas)
    row = Row(
        f"{front.key}{viewers}",
        f"{front.label}: {viewers} viewers",
        rps=requests / took if took else None,
        mbps=summary_int(summary, "total_bytes") / took / 2**20 if took else None,
        p50_ms=_ms(summary, "segment_ms", "p50"),
        p99_ms=seg99,
        errors=errors,
        rss_mb=rss,
        server_cpu_us=servers * took / requests * 1e6 if requests else None,
        gen_cpu_pct=100 * gen_cpu / took if took else None,
        viewers=f"{kept}/{started} of {viewers}",
    )
    row.notes.append(
        f"{'HELD' if held else 'did not hold'}: playlists p50 "
        f"{_ms(summary, 'playlist_ms', 'p50'):.1f} ms, p99 {pl99:.1f} ms; segments (500 KB, "
        f"to the last byte) p50 {_ms(summary, 'segment_ms', 'p50'):.1f} ms, p99 {seg99:.1f} ms "
        f"after the first {WARMUP:g} s; while joining (every viewer connects, TLS handshake, "
        f"within {TARGET:g} s) p50 {_ms(summary, 'join_ms', 'p50'):.1f} ms, p99 "
        f"{_ms(summary, 'join_ms', 'p99'):.1f} ms"
    )
    row.notes.append(
        "CPU (cores): "
        + ", ".join(f"{name} {value:.2f}" for name, value in used.items())
        + f", generators {gen_cpu / took:.2f} ({summary.get('generators')} processes); "
        f"the whole machine {machine:.2f} of {os.cpu_count()}"
    )
    per_thousand = 1000 * servers / viewers
    row.notes.append(
        f"the {'stack' if front.key == 'j' else 'server'}: {per_thousand:.2f} cores per 1,000 "
        f"viewers; at that rate two cores of its own would serve ~{alone(servers, viewers):,} "
        "(arithmetic, not measured: latency rises before the cores are full)"
    )
    pin = front.cores
    if pin.stack and pin.load:
        row.notes.append(
            f"pinned: the servers' cores ({procs.listed(pin.stack)}) busy {stack_busy:.2f} of "
            f"{len(pin.stack)}, the generators' ({procs.listed(pin.load)}) "
            f"{machine - stack_busy:.2f}"
        )
    row.notes.append(
        "".join(f"RSS peak of {name}: {value / 2**20:.1f} MB; " for name, value in peak.items())
        + f"furthest behind schedule: {summary_float(summary, 'max_lag', 0.0):.2f} s"
    )
    shares = []
    for name, (protocol, app) in answered.items():
        before_protocol, before_app = answered0[name]
        protocol, app = protocol - before_protocol, app - before_app
        if protocol + app > 0:
            per = used[name] * took / (protocol + app) * 1e6
            shares.append(
                f"{name} {protocol + app:,.0f} ({100 * protocol / (protocol + app):.1f} % in "
                f"the protocol, {per:.0f} µs of CPU a decision, all its work included)"
            )
    if shares:
        row.notes.append("/auth decided by " + "; ".join(shares))
    problems = summary.get("errors")
    if isinstance(problems, dict) and problems:
        row.notes.append("errors: " + ", ".join(f"{k} {v}" for k, v in problems.items()))
    return row, held


def _answered(replica: procs.Server) -> tuple[float, float]:
    """A replica's /auth decisions so far: answered by its HTTP protocol, by its app."""
    url, name = replica.url, "gateway_auth_answered_total"
    protocol = probes.metric_total(url, name, 'by="protocol"') or 0.0
    return protocol, probes.metric_total(url, name, 'by="app"') or 0.0


def steps_planned(quick: bool) -> list[int]:
    default = "1000,2000,3000" if quick else "1000,1500,2000,2500,3000,4000,5000"
    return numbers("BENCH_STACK_VIEWERS", default)


def scenario_stack(ctx: Context) -> None:
    """j. Viewers through nginx + two replicas + Redis and, side by side, through plain
    nginx serving the same files over TLS; each stepped up until a step fails."""
    steps = steps_planned(ctx.plan.quick)
    seconds = 12.0 if ctx.plan.quick else 30.0
    live = ctx.work / "live-stack"
    if ctx.tools.encoder:
        templates = media.encode_templates(
            ctx.work / "encoded-stack", seconds=TARGET, size=media.STACK_BYTES
        )
    else:
        templates = [media.pad(media.NULL_PACKET, media.STACK_BYTES)] * 4
    cores = pinning()
    with procs.only_on(cores.load):  # this thread, so the live writer and samplers too
        _steps(ctx, steps, seconds, live, templates, cores)


def _steps(
    ctx: Context,
    steps: list[int],
    seconds: float,
    live: Path,
    templates: list[bytes],
    cores: Cores,
) -> None:
    """Both fronts started, warmed up and stepped up; stopped however it ends."""
    writer = media.LiveWriter(live, templates, max_seconds=3600, seconds=TARGET)
    writer.prime()
    writer.start()
    cookies = ctx.work / "stack-cookies.txt"
    try:
        fronts = [
            start_plain(ctx, live, steps, cores),
            start_stack(ctx, live, steps, cookies, cores),
        ]
        time.sleep(2.5)  # the replicas' watchers date what the folder lists
        for front in fronts:  # a warm-up run, not reported: the first run after a start was
            say(f"  warm-up: {steps[0]} viewers, {front.label}")  # always slower
            step(ctx, front, cookies, steps[0], 10.0)
        held = {front.key: 0 for front in fronts}
        going = list(fronts)
        for viewers in steps:
            for front in going[:]:
                say(f"  {viewers} viewers for {seconds:g} s: {front.label}")
                row, ok = step(ctx, front, cookies, viewers, seconds)
                ctx.rows[row.key] = row
                if ok:
                    held[front.key] = viewers
                else:
                    going.remove(front)
        ctx.extra["j_held"] = held["j"]
        ctx.extra["jp_held"] = held["jp"]
    finally:
        writer.stop()
        ours = ("nginx-stack", "nginx-plain-stack", "redis")
        for server in ctx.servers[:]:
            if server.name in ours or server.name.startswith("replica-"):
                ctx.stop(server)
