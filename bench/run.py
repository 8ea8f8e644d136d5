"""`make bench`: every scenario of issue 7 side by side in one run, then PASS/FAIL per target.

Usage: python -m bench [--dry-run] [--quick]
Env: BENCH_QUICK=1 (a ~2-minute smoke run), BENCH_SOAK_SECONDS (default 60; 600 for the
10-minute soak), BENCH_VIEWERS (default 2000), BENCH_FANIN_VIEWERS (default 1000),
BENCH_KEEP=1 (keep the work folder with logs), BENCH_NO_INSTALL=1 (never apt-get).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import deploy_render, media, nginx, procs, wrk
from bench.report import Row, Verdict, table, verdicts
from gateway.clock import system_clock

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
COOKIE = "gw_session"  # public_url is http://: the cookie has no __Host- prefix
SERVER_CORE, LOAD_CORE = 1, 0
QUIET_CORES = 0.3  # other processes' CPU (cores) under which a wrk row starts at once
PER_REGISTRANT = 10  # viewers sharing one registrant (sessions.max_devices = 10)
SOAK_REGISTRANTS = 20


@dataclass
class Plan:
    quick: bool
    wrk_seconds: float
    rounds: int
    quiet_budget: float
    small_connections: int
    segment_connections: int
    fanin_viewers: int
    fanin_seconds: float
    viewers: int
    viewers_seconds: float
    soak_seconds: float
    soak_concurrency: int
    only: set[str] = field(default_factory=lambda: {"wrk", "f", "h", "i"})

    @classmethod
    def from_env(cls, quick: bool) -> Plan:
        quick = quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
        soak = float(os.environ.get("BENCH_SOAK_SECONDS", "20" if quick else "60"))
        return cls(
            quick=quick,
            wrk_seconds=2.0 if quick else 5.0,
            rounds=1 if quick else 3,
            quiet_budget=20.0 if quick else 90.0,
            small_connections=32,
            segment_connections=8,
            fanin_viewers=int(os.environ.get("BENCH_FANIN_VIEWERS", "1000")),
            fanin_seconds=14.0 if quick else 32.0,
            viewers=int(os.environ.get("BENCH_VIEWERS", "2000")),
            viewers_seconds=16.0 if quick else 60.0,
            soak_seconds=max(10.0, min(soak, 3600.0)),
            soak_concurrency=24,
        )


@dataclass
class Tools:
    wrk: str | None = None
    nginx: str | None = None
    encoder: bool = False
    notes: list[str] = field(default_factory=list)


def say(text: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {text}", flush=True)


# ---------------------------------------------------------------- tools


def _apt_install(packages: list[str]) -> str | None:
    """apt-get install when root and allowed; the reason it was not done otherwise."""
    if os.environ.get("BENCH_NO_INSTALL"):
        return "BENCH_NO_INSTALL is set"
    if os.geteuid() != 0:
        return "not running as root, so not installing with apt-get"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing {' '.join(packages)} with apt-get")
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", *packages],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-q", *packages],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if result.returncode != 0:
        return f"apt-get install failed: {result.stderr.strip()[-300:]}"
    return None


def find_tools(install: bool) -> Tools:
    tools = Tools(wrk=shutil.which("wrk"), nginx=shutil.which("nginx"))
    missing = [name for name, path in (("wrk", tools.wrk), ("nginx", tools.nginx)) if not path]
    if missing and install:
        why = _apt_install(missing)
        tools.wrk, tools.nginx = shutil.which("wrk"), shutil.which("nginx")
        if why:
            tools.notes.append(f"{', '.join(missing)} missing: {why}")
    elif missing:
        tools.notes.append(f"{', '.join(missing)} missing (would apt-get install as root)")
    if tools.nginx:
        built = subprocess.run([tools.nginx, "-V"], capture_output=True, text=True).stderr
        if "http_auth_request_module" not in built:
            tools.notes.append("this nginx has no auth_request module: row g skipped")
    try:
        import av  # noqa: F401
        import PIL  # noqa: F401

        tools.encoder = True
    except ImportError:
        tools.notes.append(
            "PyAV/Pillow missing (the 'demo' extra): segments are MPEG-TS null packets, "
            "not real H.264 (sizes and rates unchanged)"
        )
    return tools


# ---------------------------------------------------------------- setup


def event_toml(folder: Path, live: str, store: Path) -> str:
    """Part I runs now for two hours; Part II (not streamed) after it."""
    now = system_clock().replace(microsecond=0)

    def z(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    p1 = now - dt.timedelta(minutes=10)
    return f"""
[event]
title = "Benchmark"
timezone = "Europe/Helsinki"
public_url = "http://127.0.0.1"

[[parts]]
name = "Part I"
start = "{z(p1)}"
end = "{z(p1 + dt.timedelta(hours=2))}"

[[parts]]
name = "Part II"
start = "{z(p1 + dt.timedelta(hours=2))}"
end = "{z(p1 + dt.timedelta(hours=3))}"
streamed = false

[recording]
available_until = "{z(now + dt.timedelta(days=1))}"

[origin]
live = "{live}"
recording = "{folder / "recording"}"

[store]
url = "sqlite:///{store}"

[sessions]
max_devices = {PER_REGISTRANT}
sharing_threshold = 1000000

[mail]
outbox = "{folder / "outbox"}"

[audit]
spool_file = "{folder / "audit-spool.jsonl"}"
"""


def add_registrants(config: Path, prefix: str, count: int, env: dict[str, str]) -> list[str]:
    """`gateway registrants add` (in this process, through its CLI entry): the link paths."""
    from gateway.cli import main as gateway_main

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    paths = []
    try:
        for i in range(count):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = gateway_main(
                    [
                        "registrants",
                        "add",
                        "--config",
                        str(config),
                        "--email",
                        f"{prefix}{i}@bench.example.org",
                        "--name",
                        f"{prefix} {i}",
                    ]
                )
            if code != 0:
                raise RuntimeError(
                    f"gateway registrants add exited {code}: {err.getvalue() or out.getvalue()}"
                )
            link = out.getvalue().strip().splitlines()[-1]
            paths.append(urlsplit(link).path)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return paths


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    context = procs.loopback_tls() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def open_link(base: str, path: str) -> str:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(base + path, timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code == 303:
            for header, value in exc.headers.items():
                if header.lower() == "set-cookie" and value.startswith(COOKIE + "="):
                    return value.split(";", 1)[0].split("=", 1)[1].strip('"')
        raise RuntimeError(f"opening a link answered {exc.code}") from exc
    raise RuntimeError("opening a link did not answer 303")


# ---------------------------------------------------------------- the run


@dataclass
class Context:
    plan: Plan
    tools: Tools
    work: Path
    env: dict[str, str]
    servers: list[procs.Server] = field(default_factory=list)
    rows: dict[str, Row] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    g_baseline: str = "a1"  # a3 when g runs deploy/nginx over TLS
    quiet_budget: float = 0.0  # seconds left to wait for other processes to calm down
    quiet_waited: float = 0.0
    others: list[float] = field(default_factory=list)  # cores used by others, per wrk row

    def log(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"

    def start(self, name: str, argv: list[str], url: str, ready: str, **kw: object) -> procs.Server:
        server = procs.start(
            name,
            argv,
            url=url,
            ready_path=ready,
            log=self.log(name),
            env=self.env,
            cwd=ROOT,
            **kw,  # type: ignore[arg-type]
        )
        self.servers.append(server)
        return server

    def stop(self, server: procs.Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()


def gateway_argv(config: Path, port: int) -> list[str]:
    return [PY, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)]


def bench_serve_argv(app: str, config: Path, port: int) -> list[str]:
    return [PY, "-m", "bench.serve", "--app", app, "--config", str(config), "--port", str(port)]


def serve_has_workers() -> bool:
    result = subprocess.run(
        [PY, "-m", "gateway", "serve", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    return "--workers" in result.stdout


def two_worker_argv(config: Path, port: int) -> tuple[list[str], str]:
    if serve_has_workers():
        return [*gateway_argv(config, port), "--workers", "2"], "gateway serve --workers 2"
    argv = [PY, "-m", "uvicorn", "bench.apps:gateway_app", "--factory", "--workers", "2"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--proxy-headers"]
    argv += ["--forwarded-allow-ips", "127.0.0.1", "--no-server-header", "--log-level", "info"]
    return argv, "uvicorn --factory --workers 2 on bench.apps:gateway_app (flags as gateway serve)"


@dataclass
class Measured:
    result: wrk.WrkResult
    server_cpu: float
    others_cpu: float  # CPU seconds used by processes outside the benchmark during the run


def measure(
    ctx: Context,
    servers: list[procs.Server],
    url: str,
    connections: int,
    headers: dict[str, str],
) -> Measured:
    """One wrk run after a 1 s warm-up; CPU of every server process taking part."""
    script = ctx.work / "report.lua"
    wrk.run(url, script=script, connections=connections, seconds=1, headers=headers)  # warm-up
    cpu0, busy0 = sum(s.cpu() for s in servers), procs.machine_busy()
    result = wrk.run(
        url, script=script, connections=connections, seconds=ctx.plan.wrk_seconds, headers=headers
    )
    server_cpu = sum(s.cpu() for s in servers) - cpu0
    others = procs.machine_busy() - busy0 - server_cpu - result.cpu_seconds
    return Measured(result, server_cpu, max(0.0, others))


@dataclass
class Target:
    key: str
    label: str
    server: Callable[[], procs.Server | None]
    url: str
    headers: dict[str, str]
    connections: int
    behind: Callable[[], procs.Server | None] = lambda: None  # e.g. the gateway behind nginx


def others_busy(seconds: float = 0.5) -> float:
    """Cores used by the whole machine over `seconds` (our servers idle meanwhile)."""
    busy0 = procs.machine_busy()
    time.sleep(seconds)
    return (procs.machine_busy() - busy0) / seconds


def wait_quiet(ctx: Context) -> float:
    """Wait (bounded by the run's quiet budget, 15 s at a time) for other processes to calm.

    Other work on the machine (a test suite, a build) takes the servers' core and
    skews a side-by-side ratio. Returns the cores busy when the row started.
    """
    deadline = time.monotonic() + min(15.0, ctx.quiet_budget)
    began = time.monotonic()
    busy = others_busy()
    while busy > QUIET_CORES and time.monotonic() < deadline:
        busy = others_busy()
    ctx.quiet_budget = max(0.0, ctx.quiet_budget - (time.monotonic() - began))
    ctx.quiet_waited += time.monotonic() - began
    return busy


def wrk_rounds(ctx: Context, targets: list[Target]) -> None:
    """Every row in turn, `rounds` times; per row the round with the most requests/s."""
    best: dict[str, Measured] = {}
    errors: dict[str, int] = {}
    failed: dict[str, list[str]] = {}
    for round_no in range(ctx.plan.rounds):
        for t in targets:
            if t.key in ctx.rows and ctx.rows[t.key].skipped:
                continue
            server = t.server()
            assert server is not None
            busy = wait_quiet(ctx)
            say(
                f"  round {round_no + 1}: {t.key} {t.label}"
                + (f" (machine busy: {busy:.2f} cores before it)" if busy > QUIET_CORES else "")
            )
            behind = t.behind()
            try:
                m = measure(
                    ctx, [server, *([behind] if behind else [])], t.url, t.connections, t.headers
                )
            except (RuntimeError, OSError) as exc:
                failed.setdefault(t.key, []).append(f"round {round_no + 1}: {exc}"[:300])
                continue
            errors[t.key] = errors.get(t.key, 0) + m.result.errors
            ctx.others.append(m.others_cpu / m.result.seconds)
            if t.key not in best or m.result.rps > best[t.key].result.rps:
                best[t.key] = m
    for t in targets:
        if t.key not in best:
            if t.key in failed:
                ctx.rows[t.key] = Row(t.key, t.label, skipped="; ".join(failed[t.key]))
            continue
        m, r = best[t.key], best[t.key].result
        server = t.server()
        row = Row(
            t.key,
            t.label,
            rps=r.rps,
            mbps=r.bytes / r.seconds / 2**20 if r.seconds else None,
            p50_ms=r.p50_ms,
            p99_ms=r.p99_ms,
            errors=errors[t.key],
            rss_mb=server.rss() / 2**20 if server else None,
            server_cpu_us=m.server_cpu / r.requests * 1e6 if r.requests else None,
            gen_cpu_pct=100 * r.cpu_seconds / r.seconds if r.seconds else None,
            viewers=f"{t.connections} conns",
        )
        if r.error_detail:
            row.notes.append(f"wrk errors (best round): {r.error_detail}")
        noise = m.others_cpu / r.seconds if r.seconds else 0.0
        if noise > 0.15:
            row.notes.append(
                f"other processes on this machine used {noise:.2f} cores during its best round"
            )
        if t.behind() is not None:
            row.notes.append("srv µs/req includes the gateway's CPU behind nginx")
        row.notes += failed.get(t.key, [])
        ctx.rows[t.key] = row


def check(url: str, headers: dict[str, str], expect: int) -> str | None:
    status, body = http_get(url, headers)
    if status != expect:
        return f"GET {url} answered {status}, not {expect}: {body[:200]!r}"
    return None


def metric_total(url: str, name: str, match: str = "") -> float | None:
    status, body = http_get(url + "/metrics")
    if status != 200:
        return None
    total, seen = 0.0, False
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name) and match in line:
            with contextlib.suppress(ValueError):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
    return total if seen else None


def scenario_wrk(ctx: Context, files: dict[str, Path], segment: str, cookie: str) -> None:
    """Rows a-e and g: wrk on core 0, the servers (one process each) on core 1."""
    plan, tools = ctx.plan, ctx.tools
    seg_path, pl_path = f"/live/{segment}", "/live/index.m3u8"
    cookie_h = {"Cookie": f"{COOKIE}={cookie}"}
    started: dict[str, procs.Server | None] = {}

    def pin(argv: list[str]) -> list[str]:
        return procs.pinned(argv, SERVER_CORE)

    # g is compared with a3 (plain nginx over TLS) when deploy/nginx (TLS) is rendered
    use_deploy = bool(tools.nginx) and deploy_render.RENDER.is_file()
    tls_port = procs.free_port()
    tls_cert, tls_key = deploy_render.self_signed(ctx.work / "tls") if use_deploy else (None, None)
    # a. plain nginx
    if tools.nginx:
        prefix = ctx.work / "nginx-plain"
        nginx.prepare(prefix)
        port = procs.free_port()
        tls = (tls_port, tls_cert, tls_key) if tls_cert and tls_key else None
        (prefix / "nginx.conf").write_text(nginx.plain_conf(prefix, port, files["static"], tls))
        started["nginx"] = ctx.start(
            "nginx-plain", pin(nginx.command(prefix)), f"http://127.0.0.1:{port}", "/healthz"
        )
    # b. constant Starlette endpoint, served like `gateway serve`
    port = procs.free_port()
    started["constant"] = ctx.start(
        "constant",
        pin(bench_serve_argv("constant", files["config_static"], port)),
        f"http://127.0.0.1:{port}",
        "/healthz",
    )
    # c/e. the gateway, `gateway serve`, file origin
    port = procs.free_port()
    started["gateway"] = ctx.start(
        "gateway-file",
        pin(gateway_argv(files["config_static"], port)),
        f"http://127.0.0.1:{port}",
        "/healthz",
    )
    # d. the same app with session/revocation state stubbed out
    port = procs.free_port()
    started["stubbed"] = ctx.start(
        "gateway-stubbed",
        pin(bench_serve_argv("stubbed", files["config_static"], port)),
        f"http://127.0.0.1:{port}",
        "/healthz",
    )
    # g. nginx + /auth + cache in front of the gateway
    auth_skip = None
    if not tools.nginx:
        auth_skip = "nginx is not installed"
    elif any("auth_request" in n for n in tools.notes):
        auth_skip = "nginx without auth_request"
    else:
        gw = started["gateway"]
        assert gw is not None
        gw_port = int(urlsplit(gw.url).port or 0)
        prefix = ctx.work / "nginx-auth"
        nginx.prepare(prefix)
        port = procs.free_port()
        rendered = None
        if use_deploy:
            try:
                rendered = deploy_render.render(
                    prefix, port, procs.free_port(), files["static"], gw_port, ctx.work / "tls"
                )
            except RuntimeError as exc:
                ctx.notes.append(f"g: {exc}; bench/nginx.py's config used instead")
        if rendered is not None:
            (prefix / "nginx.conf").write_text(rendered.conf)
            ctx.notes.append(f"g: {rendered.how}")
            ctx.g_baseline = "a3"
            g_url = f"https://127.0.0.1:{port}"
        else:
            conf = nginx.auth_conf(prefix, port, files["static"], gw_port, COOKIE)
            (prefix / "nginx.conf").write_text(conf)
            reason = "deploy/nginx/render.sh not found" if not use_deploy else "render failed"
            ctx.notes.append(f"g: nginx config from bench/nginx.py ({reason}); plain http")
            g_url = f"http://127.0.0.1:{port}"
        try:
            started["nginx_auth"] = ctx.start(
                "nginx-auth", pin(nginx.command(prefix)), g_url, "/healthz"
            )
        except RuntimeError as exc:
            auth_skip = f"nginx + /auth did not start: {exc}"[:400]
    # wait for the gateways' origin watchers to date the static segments (polled each second)
    time.sleep(2.5)

    def get(name: str) -> Callable[[], procs.Server | None]:
        return lambda: started.get(name)

    def url(name: str, path: str) -> str:
        server = started.get(name)
        return (server.url if server else "http://127.0.0.1:1") + path

    small, big = plan.small_connections, plan.segment_connections
    auth_h = {**cookie_h, "X-Original-URI": seg_path}
    targets = [
        Target("a1", "plain nginx: 1 MB segment", get("nginx"), url("nginx", seg_path), {}, big),
        Target("a2", "plain nginx: playlist", get("nginx"), url("nginx", pl_path), {}, small),
        Target(
            "a3",
            "plain nginx over TLS: 1 MB segment",
            get("nginx"),
            f"https://127.0.0.1:{tls_port}{seg_path}",
            {},
            big,
        ),
        Target("b", "bare Starlette constant", get("constant"), url("constant", "/"), {}, small),
        Target(
            "c1", "gateway: 1 MB segment", get("gateway"), url("gateway", seg_path), cookie_h, big
        ),
        Target(
            "c2",
            "gateway: filtered playlist",
            get("gateway"),
            url("gateway", pl_path),
            cookie_h,
            small,
        ),
        Target(
            "d1",
            "stubbed state: 1 MB segment",
            get("stubbed"),
            url("stubbed", seg_path),
            cookie_h,
            big,
        ),
        Target(
            "d2",
            "stubbed state: playlist",
            get("stubbed"),
            url("stubbed", pl_path),
            cookie_h,
            small,
        ),
        Target(
            "e", "gateway: /auth decision", get("gateway"), url("gateway", "/auth"), auth_h, small
        ),
        Target(
            "g1",
            "nginx+/auth+cache: 1 MB segment",
            get("nginx_auth"),
            url("nginx_auth", seg_path),
            cookie_h,
            big,
            get("gateway"),
        ),
        Target(
            "g2",
            "nginx+/auth: playlist (via gateway)",
            get("nginx_auth"),
            url("nginx_auth", pl_path),
            cookie_h,
            small,
            get("gateway"),
        ),
    ]
    if not use_deploy:
        targets = [t for t in targets if t.key != "a3"]
    for t in targets:
        if not tools.wrk:
            why = "; ".join(n for n in tools.notes if "wrk" in n) or "wrk is not installed"
            ctx.rows[t.key] = Row(t.key, t.label, skipped=why)
            continue
        if t.server() is None:
            missing = auth_skip if t.key.startswith("g") else "nginx is not installed"
            ctx.rows[t.key] = Row(t.key, t.label, skipped=missing or "server not started")
            continue
        expect = 204 if t.key == "e" else 200
        problem = check(t.url, t.headers, expect)
        if problem:
            ctx.rows[t.key] = Row(t.key, t.label, skipped=problem)
    wrk_rounds(ctx, targets)
    # The stub is only a stub if the route still decides through Gatekeeper.authorize.
    stubbed = started["stubbed"]
    assert stubbed is not None
    decided = metric_total(stubbed.url, "gateway_decisions_total", 'outcome="granted"')
    row_d = ctx.rows.get("d1")
    if row_d and not row_d.skipped and decided is None:
        row_d.notes.append("could not read the stubbed gateway's /metrics to confirm the stub")
    if row_d and not row_d.skipped and decided is not None and decided > 10:
        for key in ("d1", "d2"):
            ctx.rows[key].notes.append(
                f"the stub was bypassed: {decided:.0f} real decisions counted "
                "(the route no longer decides through Gatekeeper.authorize)"
            )
    for server in list(started.values()):
        if server is not None:
            ctx.stop(server)


def viewer_run(
    ctx: Context, mode: str, port: int, seconds: float, args: list[str], server: procs.Server
) -> tuple[dict[str, object], list[int], float]:
    """Run the asyncio generator while sampling the server's RSS each second.

    Returns its JSON summary, the RSS samples (bytes) and its CPU seconds.
    """
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append(server.rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    argv = [PY, "-m", "bench.viewers", mode, "--port", str(port), "--seconds", f"{seconds:g}"]
    try:
        code, out, err, cpu = procs.run_bounded(
            [*argv, *args], timeout=seconds + 90, env={**ctx.env, "PYTHONPATH": str(ROOT)}
        )
    finally:
        stop.set()
        thread.join(timeout=5)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if code != 0 or not lines:
        raise RuntimeError(f"bench.viewers {mode} failed ({code}): {err.strip()[-500:]}")
    summary: dict[str, object] = json.loads(lines[-1])
    return summary, samples, cpu


def _ms(summary: dict[str, object], key: str, pct: str) -> float | None:
    part = summary.get(key)
    if isinstance(part, dict):
        value = part.get(pct)
        if isinstance(value, (int, float)) and not math.isnan(float(value)):
            return float(value)
    return None


def _int(summary: dict[str, object], key: str) -> int:
    value = summary.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0


def _viewer_row(
    key: str, label: str, summary: dict[str, object], cpu: float, rss: int, viewers: str
) -> Row:
    seconds = float(summary.get("seconds", 0.0) or 0.0)  # type: ignore[arg-type]
    row = Row(
        key,
        label,
        rps=_int(summary, "requests") / seconds if seconds else None,
        mbps=_int(summary, "total_bytes") / seconds / 2**20 if seconds else None,
        p50_ms=_ms(summary, "segment_ms", "p50"),
        p99_ms=_ms(summary, "segment_ms", "p99"),
        errors=_int(summary, "error_total"),
        rss_mb=rss / 2**20,
        gen_cpu_pct=100 * cpu / seconds if seconds else None,
        viewers=viewers,
    )
    errors = summary.get("errors")
    if isinstance(errors, dict) and errors:
        row.notes.append("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    pl50, pl99 = _ms(summary, "playlist_ms", "p50"), _ms(summary, "playlist_ms", "p99")
    row.notes.append(
        f"latencies are per segment (1 MB, request to last byte); playlists p50 "
        f"{pl50 if pl50 is None else round(pl50, 2)} ms, p99 "
        f"{pl99 if pl99 is None else round(pl99, 2)} ms"
    )
    return row


def scenario_fanin(ctx: Context, files: dict[str, Path], cookies: Path) -> None:
    """f. The gateway over a counting HTTP origin, N viewers in a herd (phases within 0.5 s)."""
    plan = ctx.plan
    key, label = "f", f"gateway over HTTP origin, {plan.fanin_viewers} viewers"
    origin_port = procs.free_port()
    config = files["config_http_template"].read_text().replace("ORIGIN_PORT", str(origin_port))
    files["config_http"].write_text(config)
    origin = ctx.start(
        "origin",
        [PY, "-m", "bench.origin", "--root", str(files["live"]), "--port", str(origin_port)],
        f"http://127.0.0.1:{origin_port}",
        "/__counts",
    )
    port = procs.free_port()
    gateway = ctx.start(
        "gateway-http",
        gateway_argv(files["config_http"], port),
        f"http://127.0.0.1:{port}",
        "/healthz",
    )
    try:
        time.sleep(2.5)  # the watcher dates what the origin lists
        first = cookies.read_text().split()[0]
        problem = check(gateway.url + "/live/index.m3u8", {"Cookie": f"{COOKIE}={first}"}, 200)
        if problem:
            ctx.rows[key] = Row(key, label, skipped=problem)
            return
        before = json.loads(http_get(origin.url + "/__counts")[1])
        rss0 = gateway.rss()
        summary, samples, cpu = viewer_run(
            ctx,
            "hls",
            port,
            plan.fanin_seconds,
            ["--cookies", str(cookies), "--viewers", str(plan.fanin_viewers), "--spread", "0.5"],
            gateway,
        )
        after = json.loads(http_get(origin.url + "/__counts")[1])
        counted = metric_total(gateway.url, "gateway_origin_requests_total")
    finally:
        ctx.stop(gateway)
        ctx.stop(origin)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    segs = {k: v for k, v in delta.items() if k.endswith(".ts")}
    playlist_requests = sum(v for k, v in delta.items() if k.endswith(".m3u8"))
    seconds = float(summary.get("seconds", plan.fanin_seconds) or plan.fanin_seconds)  # type: ignore[arg-type]
    started = _int(summary, "started")
    row = _viewer_row(
        key,
        label,
        summary,
        cpu,
        max([rss0, *samples]),
        f"{_int(summary, 'kept_up')}/{started} of {plan.fanin_viewers}",
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


def scenario_viewers(ctx: Context, files: dict[str, Path], cookies: Path) -> None:
    """h. N HLS viewers of the live file origin, gateway with two workers."""
    plan = ctx.plan
    key, label = "h", f"{plan.viewers} HLS viewers, 2 workers"
    port = procs.free_port()
    argv, how = two_worker_argv(files["config_live"], port)
    ctx.notes.append(f"h: gateway started as {how}")
    env_extra = {"BENCH_GATEWAY_CONFIG": str(files["config_live"]), "PYTHONPATH": str(ROOT)}
    old_env = ctx.env
    ctx.env = {**ctx.env, **env_extra}
    try:
        gateway = ctx.start("gateway-2w", argv, f"http://127.0.0.1:{port}", "/healthz")
    finally:
        ctx.env = old_env
    try:
        time.sleep(3)  # both workers up, segments dated
        first = cookies.read_text().split()[0]
        problem = check(gateway.url + "/live/index.m3u8", {"Cookie": f"{COOKIE}={first}"}, 200)
        if problem:
            ctx.rows[key] = Row(key, label, skipped=problem)
            return
        summary, samples, cpu = viewer_run(
            ctx,
            "hls",
            port,
            plan.viewers_seconds,
            ["--cookies", str(cookies), "--viewers", str(plan.viewers), "--spread", "4"],
            gateway,
        )
        rss_now = gateway.rss()
    finally:
        ctx.stop(gateway)
    peak = max([rss_now, *samples])
    started = _int(summary, "started")
    row = _viewer_row(
        key, label, summary, cpu, peak, f"{_int(summary, 'kept_up')}/{started} of {plan.viewers}"
    )
    row.notes.append(
        f"RSS is the peak over the run of all gateway processes (supervisor + 2 workers); "
        f"{_int(summary, 'fell_behind')} playlist refreshes started over 1 s late; the "
        f"furthest behind schedule a viewer fell: {float(summary.get('max_lag', 0.0)):.1f} s "  # type: ignore[arg-type]
        "(kept up: no error and never more than one segment (4 s) behind)"
    )
    if _int(summary, "started") < plan.viewers:
        row.notes.append(f"only {started} viewers had a session cookie and started")
    ctx.extra["h_viewers_kept_up"] = _int(summary, "kept_up")
    ctx.rows[key] = row


def scenario_soak(ctx: Context, files: dict[str, Path], links: Path) -> None:
    """i. Sessions that come and go for BENCH_SOAK_SECONDS; RSS at start and end."""
    plan = ctx.plan
    key, label = "i", f"soak {plan.soak_seconds:.0f} s, sessions come and go"
    port = procs.free_port()
    traced = os.environ.get("BENCH_TRACEMALLOC", "") not in ("", "0")
    argv = (
        bench_serve_argv("traced", files["config_live"], port)
        if traced
        else gateway_argv(files["config_live"], port)
    )
    gateway = ctx.start("gateway-soak", argv, f"http://127.0.0.1:{port}", "/healthz")
    marker: threading.Timer | None = None
    try:
        time.sleep(2)
        rss_idle = gateway.rss()
        if traced:  # the tracemalloc baseline once the warm-up is over
            warm_s = max(5.0, min(120.0, plan.soak_seconds / 5))
            marker = threading.Timer(
                warm_s, lambda: http_get(gateway.url + "/__bench/memory?mark=1")
            )
            marker.start()
        summary, samples, cpu = viewer_run(
            ctx,
            "churn",
            port,
            plan.soak_seconds,
            ["--links", str(links), "--concurrency", str(plan.soak_concurrency)],
            gateway,
        )
        rss_end = gateway.rss()
        if traced:
            report = http_get(gateway.url + "/__bench/memory")[1].decode(errors="replace")
            (ctx.work / "soak-memory.txt").write_text(report)
            ctx.notes.append("i: Python allocations that grew during the soak (tracemalloc):")
            ctx.notes += [f"    {line}" for line in report.splitlines()[:40]]
    finally:
        if marker is not None:
            marker.cancel()
        ctx.stop(gateway)
    # warm-up: the first fifth of the run (at least 5 s, at most 120 s)
    warm = max(1, min(120, max(5, len(samples) // 5), len(samples)))
    start_rss = samples[warm - 1] if samples else rss_idle
    growth = (rss_end - start_rss) / start_rss if start_rss else float("nan")
    row = _viewer_row(
        key,
        label,
        summary,
        cpu,
        rss_end,
        f"{plan.soak_concurrency} at once",
    )
    row.notes.append(
        f"{_int(summary, 'sessions')} sessions opened and dropped; RSS idle "
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


# ---------------------------------------------------------------- targets


def ratio(ctx: Context, num: str, den: str, attr: str) -> tuple[float | None, str]:
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


def judge(ctx: Context) -> list[Verdict]:
    out: list[Verdict] = []

    def at_least(target: str, num: str, den: str, attr: str, floor: float) -> None:
        value, measured = ratio(ctx, num, den, attr)
        ok = None if value is None else value >= floor
        out.append(Verdict(target, measured if value else "", value, ok, "" if value else measured))

    at_least("segments: gateway >= 0.8 x plain nginx (MB/s)", "c1", "a1", "mbps", 0.8)
    value, measured = ratio(ctx, "c1", "a1", "server_cpu_us")
    out.append(
        Verdict(
            "segments: gateway CPU/segment <= 1.3 x nginx's",
            measured if value else "",
            value,
            None if value is None else value <= 1.3,
            "" if value else measured,
        )
    )
    at_least("playlists: gateway >= 0.5 x bare Starlette (req/s)", "c2", "b", "rps", 0.5)
    at_least("/auth decisions >= 0.7 x bare Starlette (req/s)", "e", "b", "rps", 0.7)
    at_least("segments: with state >= 0.9 x stubbed (req/s)", "c1", "d1", "rps", 0.9)
    at_least("playlists: with state >= 0.9 x stubbed (req/s)", "c2", "d2", "rps", 0.9)
    at_least(
        f"segments: nginx+/auth+cache >= 0.8 x plain nginx ({ctx.g_baseline})",
        "g1",
        ctx.g_baseline,
        "mbps",
        0.8,
    )

    f = ctx.rows.get("f")
    if f is None or f.skipped:
        why = (f.skipped if f else None) or "not run"
        out.append(Verdict("fan-in: exactly 1 origin request per segment", "", None, None, why))
        out.append(Verdict("fan-in: <= 1 playlist request/s per replica", "", None, None, why))
    else:
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

    h = ctx.rows.get("h")
    plan = ctx.plan
    if h is None or h.skipped:
        why = (h.skipped if h else None) or "not run"
        out.append(Verdict(f"{plan.viewers} viewers, 2 workers: 0 errors", "", None, None, why))
    else:
        kept = int(ctx.extra.get("h_viewers_kept_up", 0))
        out.append(
            Verdict(
                "2,000 viewers reached (kept up, no error)",
                f"{kept} of {plan.viewers} planned",
                kept / 2000,
                kept >= 2000,
            )
        )
        out.append(Verdict("viewers: 0 errors", f"{h.errors} errors", None, h.errors == 0))
        p99 = h.p99_ms
        out.append(
            Verdict(
                "viewers: p99 segment latency < 250 ms",
                f"p99 {p99:.1f} ms" if p99 is not None else "no segment fetched",
                None if p99 is None else p99 / 250,
                None if p99 is None else p99 < 250,
            )
        )
        rss = h.rss_mb
        out.append(
            Verdict(
                "viewers: gateway RSS < 300 MB",
                f"{rss:.1f} MB" if rss is not None else "",
                None if rss is None else rss / 300,
                None if rss is None else rss < 300,
            )
        )
    i = ctx.rows.get("i")
    if i is None or i.skipped:
        out.append(
            Verdict(
                "soak: RSS growth < 10 %", "", None, None, (i.skipped if i else None) or "not run"
            )
        )
    else:
        growth = ctx.extra.get("i_growth", float("nan"))
        short = "" if ctx.plan.soak_seconds >= 600 else " (short soak; BENCH_SOAK_SECONDS=600)"
        out.append(
            Verdict(
                f"soak {ctx.plan.soak_seconds:.0f} s: RSS growth < 10 %{short}",
                f"{ctx.extra.get('i_start_mb', 0):.1f} MB -> {ctx.extra.get('i_end_mb', 0):.1f} MB",
                1 + growth,
                None if math.isnan(growth) else growth < 0.10,
            )
        )
    return out


# ---------------------------------------------------------------- main


def describe(plan: Plan, tools: Tools) -> str:
    wrk_time = plan.rounds * 11 * (plan.wrk_seconds + 1.5)
    lines = [
        f"mode: {'quick' if plan.quick else 'full'}; "
        f"wrk rows {plan.rounds} round(s) x {plan.wrk_seconds:g} s (+1 s warm-up), "
        f"best round kept; up to {plan.quiet_budget:g} s in all spent waiting for "
        "other processes to calm",
        f"wrk: {tools.wrk or 'missing'}; nginx: {tools.nginx or 'missing'}; "
        f"real H.264 segments: {'yes' if tools.encoder else 'no'}",
        "a1/a2  plain nginx (1 worker): the 1 MB segment file, the ~1 KB playlist",
        "b      bare Starlette constant endpoint, served as `gateway serve` serves the gateway",
        "c1/c2  `gateway serve`, file origin: 1 MB segment, filtered playlist, real session cookie",
        "d1/d2  the same app, access decision memoised (session/revocation state stubbed out)",
        "e      GET /auth with X-Original-URI (a segment) and the cookie",
        "g1/g2  nginx + auth_request to the gateway + 1 s decision cache; playlists via gateway",
        f"       (about {wrk_time:.0f} s of wrk; servers on core {SERVER_CORE}, wrk on core "
        f"{LOAD_CORE})",
        f"f      gateway over a counting HTTP origin: {plan.fanin_viewers} viewers in a herd for "
        f"{plan.fanin_seconds:g} s: origin requests per segment, playlist requests/s",
        f"h      {plan.viewers} HLS viewers (playlist every 4 s, each new 1 MB segment) for "
        f"{plan.viewers_seconds:g} s, gateway with 2 workers",
        f"i      soak: {plan.soak_concurrency} at a time open a link, play, drop, for "
        f"{plan.soak_seconds:g} s; RSS after warm-up vs end",
        f"registrants: one per {PER_REGISTRANT} viewers (sessions.max_devices = "
        f"{PER_REGISTRANT}), one for the wrk rows, {SOAK_REGISTRANTS} for the soak",
    ]
    lines += [f"note: {n}" for n in tools.notes]
    return "\n".join(lines)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    path.chmod(0o755)  # nginx's workers read the segment folders
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"(work folder kept: {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def prepare(ctx: Context) -> dict[str, Path]:
    work = ctx.work
    (work / "logs").mkdir()
    (work / "recording").mkdir()
    say("encoding real 4 s H.264 segments (PyAV), padding them to 1 MB")
    if ctx.tools.encoder:
        templates = media.encode_templates(work / "encoded")
    else:
        templates = [media.pad(media.NULL_PACKET)] * 4
    files = {
        "static": work / "static",
        "live": work / "live",
        "store": work / "bench.db",
    }
    files["segment_name"] = Path(media.write_static(files["static"], templates, system_clock()))
    files["config_static"] = work / "gateway-static.toml"
    files["config_static"].write_text(event_toml(work, str(files["static"]), files["store"]))
    files["config_live"] = work / "gateway-live.toml"
    files["config_live"].write_text(event_toml(work, str(files["live"]), files["store"]))
    files["config_http_template"] = work / "gateway-http.toml.in"
    files["config_http_template"].write_text(
        event_toml(work, "http://127.0.0.1:ORIGIN_PORT/", files["store"])
    )
    files["config_http"] = work / "gateway-http.toml"
    return files


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
            files = prepare(ctx)
            wrk.write_script(work)
            live_templates = [p.read_bytes() for p in sorted(files["static"].glob("*.ts"))[:4]]
            writer = media.LiveWriter(files["live"], live_templates, max_seconds=3600)
            writer.prime()
            writer.start()

            viewers_needed = 0
            if "h" in plan.only:
                viewers_needed = plan.viewers
            if "f" in plan.only:
                viewers_needed = max(viewers_needed, plan.fanin_viewers)
            registrants = math.ceil(viewers_needed / PER_REGISTRANT)
            say(
                f"adding {registrants + 1 + SOAK_REGISTRANTS} registrants (gateway registrants add)"
            )
            secret_env = {"GATEWAY_SECRET_KEYS": env["GATEWAY_SECRET_KEYS"]}
            wrk_link = add_registrants(files["config_static"], "wrk", 1, secret_env)[0]
            viewer_links = add_registrants(
                files["config_static"], "viewer", registrants, secret_env
            )
            soak_links = add_registrants(
                files["config_static"], "soak", SOAK_REGISTRANTS, secret_env
            )
            (work / "soak-links.txt").write_text("\n".join(soak_links) + "\n")
            (work / "viewer-links.txt").write_text(
                "".join(f"{link}\n" for link in viewer_links for _ in range(PER_REGISTRANT))
            )
            # sessions: one gateway opens every link once (cookies reused by f and h)
            port = procs.free_port()
            opener = ctx.start(
                "gateway-open",
                gateway_argv(files["config_static"], port),
                f"http://127.0.0.1:{port}",
                "/healthz",
            )
            wrk_cookie = open_link(opener.url, wrk_link)
            say(f"opening {viewers_needed} personal links (one session each)")
            t0 = time.monotonic()
            summary, _, _ = viewer_run(
                ctx,
                "open",
                port,
                300,
                [
                    "--links",
                    str(work / "viewer-links.txt"),
                    "--out",
                    str(work / "cookies.txt"),
                    "--concurrency",
                    "8",
                ],
                opener,
            )
            ctx.stop(opener)
            opened = _int(summary, "sessions")
            say(f"  {opened} sessions in {time.monotonic() - t0:.1f} s")
            if opened < viewers_needed:
                ctx.notes.append(
                    f"only {opened} of {viewers_needed} links opened: {summary.get('errors')}"
                )
            cookies = work / "cookies.txt"
            good = [c for c in cookies.read_text().split() if c]
            cookies.write_text("\n".join(good) + "\n")

            if "wrk" in plan.only:
                say("rows a-e, g: wrk side by side")
                scenario_wrk(ctx, files, str(files["segment_name"]), wrk_cookie)
            if "f" in plan.only:
                say(f"row f: {plan.fanin_viewers} viewers over an HTTP origin")
                guarded(
                    ctx,
                    "f",
                    "gateway over HTTP origin",
                    lambda: scenario_fanin(ctx, files, cookies),
                )
            if "h" in plan.only:
                say(f"row h: {plan.viewers} viewers, 2 workers")
                guarded(ctx, "h", "HLS viewers", lambda: scenario_viewers(ctx, files, cookies))
            if "i" in plan.only:
                say(f"row i: soak for {plan.soak_seconds:g} s")
                guarded(
                    ctx, "i", "soak", lambda: scenario_soak(ctx, files, work / "soak-links.txt")
                )
        finally:
            if writer is not None:
                writer.stop()
            ctx.stop_all()
        print_results(ctx, time.monotonic() - began)
    return 0


def guarded(ctx: Context, key: str, label: str, work: Callable[[], None]) -> None:
    try:
        work()
    except (RuntimeError, OSError, ValueError) as exc:
        ctx.rows[key] = Row(key, label, skipped=f"{type(exc).__name__}: {exc}"[:500])


ORDER = ["a1", "a2", "a3", "b", "c1", "c2", "d1", "d2", "e", "f", "g1", "g2", "h", "i"]


def print_results(ctx: Context, seconds: float) -> None:
    rows = [ctx.rows[k] for k in ORDER if k in ctx.rows]
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
        default="wrk,f,h,i",
        help="a comma-separated subset of wrk (rows a-e, g), f, h, i (default: all)",
    )
    args = parser.parse_args(argv)
    plan = Plan.from_env(args.quick)
    plan.only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = plan.only - {"wrk", "f", "h", "i"}
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    tools = find_tools(install=not args.dry_run)
    print(describe(plan, tools), flush=True)
    if args.dry_run:
        return 0
    return run(plan, tools)
