"""Rows a-e and g: wrk on core 0 against one server process each on core 1, in rounds.

Before each row the run waits (within its quiet budget) for other processes on the
machine to calm down; per row the round with the most requests per second is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench import deploy_render, nginx, procs, wrk
from bench.context import Context, bench_serve_argv
from bench.plan import LOAD_CORE, SERVER_CORE, say
from bench.prepare import Files
from bench.probes import COOKIE, check, metric_total
from bench.report import Row

QUIET_CORES = 0.3  # other processes' CPU (cores) under which a wrk row starts at once


@dataclass
class Target:
    key: str
    label: str
    server: procs.Server | None
    url: str
    headers: dict[str, str]
    connections: int
    behind: procs.Server | None = None  # e.g. the gateway behind nginx


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

    def run(seconds: float) -> wrk.WrkResult:
        return wrk.run(
            url,
            script=ctx.work / "report.lua",
            connections=connections,
            seconds=seconds,
            headers=headers,
            core=LOAD_CORE,
        )

    run(1)  # warm-up
    cpu0, busy0 = sum(s.cpu() for s in servers), procs.machine_busy()
    result = run(ctx.plan.wrk_seconds)
    server_cpu = sum(s.cpu() for s in servers) - cpu0
    others = procs.machine_busy() - busy0 - server_cpu - result.cpu_seconds
    return Measured(result, server_cpu, max(0.0, others))


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
            assert t.server is not None
            busy = wait_quiet(ctx)
            say(
                f"  round {round_no + 1}: {t.key} {t.label}"
                + (f" (machine busy: {busy:.2f} cores before it)" if busy > QUIET_CORES else "")
            )
            servers = [t.server, *([t.behind] if t.behind else [])]
            try:
                m = measure(ctx, servers, t.url, t.connections, t.headers)
            except (RuntimeError, OSError) as exc:
                failed.setdefault(t.key, []).append(f"round {round_no + 1}: {exc}"[:300])
                continue
            errors[t.key] = errors.get(t.key, 0) + m.result.errors
            ctx.others.append(m.others_cpu / m.result.seconds)
            if t.key not in best or m.result.rps > best[t.key].result.rps:
                best[t.key] = m
    for t in targets:
        if t.key in best:
            ctx.rows[t.key] = _row(t, best[t.key], errors[t.key], failed.get(t.key, []))
        elif t.key in failed:
            ctx.rows[t.key] = Row(t.key, t.label, skipped="; ".join(failed[t.key]))


def _row(t: Target, m: Measured, errors: int, failed: list[str]) -> Row:
    """The row of a target's best round; `errors` of all rounds, `failed` rounds noted."""
    r = m.result
    row = Row(
        t.key,
        t.label,
        rps=r.rps,
        mbps=r.bytes / r.seconds / 2**20 if r.seconds else None,
        p50_ms=r.p50_ms,
        p99_ms=r.p99_ms,
        errors=errors,
        rss_mb=t.server.rss() / 2**20 if t.server else None,
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
    if t.behind is not None:
        row.notes.append("srv µs/req includes the gateway's CPU behind nginx")
    row.notes += failed
    return row


def _pin(argv: list[str]) -> list[str]:
    return procs.pinned(argv, SERVER_CORE)


def start_nginx_auth(
    ctx: Context, files: Files, gateway: procs.Server, use_deploy: bool
) -> tuple[procs.Server | None, str | None]:
    """g. nginx + /auth + cache in front of `gateway`: the server, or why there is none.

    deploy/nginx rendered for loopback (TLS, as deployed) when it renders, else
    bench/nginx.py's minimal equivalent over plain HTTP.
    """
    if not ctx.tools.nginx:
        return None, "nginx is not installed"
    if any("auth_request" in n for n in ctx.tools.notes):
        return None, "nginx without auth_request"
    gw_port = int(urlsplit(gateway.url).port or 0)
    prefix = ctx.work / "nginx-auth"
    nginx.prepare(prefix)
    port = procs.free_port()
    rendered = None
    if use_deploy:
        try:
            rendered = deploy_render.render(
                prefix, port, procs.free_port(), files.static, [gw_port], ctx.work / "tls"
            )
        except RuntimeError as exc:
            ctx.notes.append(f"g: {exc}; bench/nginx.py's config used instead")
    if rendered is not None:
        (prefix / "nginx.conf").write_text(rendered.conf)
        ctx.notes.append(f"g: {rendered.how}")
        ctx.g_baseline = "a3"
    else:
        conf = nginx.auth_conf(prefix, port, files.static, gw_port)
        (prefix / "nginx.conf").write_text(conf)
        reason = "deploy/nginx/render.sh not found" if not use_deploy else "render failed"
        ctx.notes.append(f"g: nginx config from bench/nginx.py ({reason}); plain http")
    try:
        argv = _pin(nginx.command(prefix))
        return ctx.start("nginx-auth", argv, port, tls=rendered is not None), None
    except RuntimeError as exc:
        return None, f"nginx + /auth did not start: {exc}"[:400]


def check_stub(ctx: Context, stubbed: procs.Server) -> None:
    """The stub is only a stub if the route still decides through Gatekeeper.authorize."""
    row_d = ctx.rows.get("d1")
    decided = metric_total(stubbed.url, "gateway_decisions_total", 'outcome="granted"')
    if row_d and not row_d.skipped and decided is None:
        row_d.notes.append("could not read the stubbed gateway's /metrics to confirm the stub")
    if row_d and not row_d.skipped and decided is not None and decided > 10:
        for key in ("d1", "d2"):
            ctx.rows[key].notes.append(
                f"the stub was bypassed: {decided:.0f} real decisions counted "
                "(the route no longer decides through Gatekeeper.authorize)"
            )


def scenario_wrk(ctx: Context, files: Files, cookie: str) -> None:
    """Rows a-e and g: wrk on core 0, the servers (one process each) on core 1."""
    plan, tools, config = ctx.plan, ctx.tools, files.config_static
    # g is compared with a3 (plain nginx over TLS) when deploy/nginx (TLS) is rendered
    use_deploy = bool(tools.nginx) and deploy_render.RENDER.is_file()
    tls_port = procs.free_port()
    tls_cert, tls_key = deploy_render.self_signed(ctx.work / "tls") if use_deploy else (None, None)
    # a. plain nginx
    plain = None
    if tools.nginx:
        prefix = ctx.work / "nginx-plain"
        nginx.prepare(prefix)
        port = procs.free_port()
        tls = (tls_port, tls_cert, tls_key) if tls_cert and tls_key else None
        (prefix / "nginx.conf").write_text(nginx.plain_conf(prefix, port, files.static, tls))
        plain = ctx.start("nginx-plain", _pin(nginx.command(prefix)), port)
    # b. constant Starlette endpoint, served like `gateway serve`
    port = procs.free_port()
    constant = ctx.start("constant", _pin(bench_serve_argv("constant", config, port)), port)
    # c/e. the gateway, file origin, launched exactly as b and d are (bench/serve.py): the
    # same app measured 20-35 µs a request slower started that way than by `gateway serve`
    # on this machine (cause not found), so a different launcher would flatter the ratios
    port = procs.free_port()
    gateway = ctx.start("gateway-file", _pin(bench_serve_argv("gateway", config, port)), port)
    # e1. the same gateway, every /auth through the ASGI app (none answered by the protocol)
    port = procs.free_port()
    argv = [*bench_serve_argv("gateway", config, port), "--through-app"]
    through_app = ctx.start("gateway-through-app", _pin(argv), port)
    # e0. and on asyncio's loop too: /auth as it was before issue 19
    port = procs.free_port()
    argv = [*bench_serve_argv("gateway", config, port), "--through-app", "--loop", "asyncio"]
    on_asyncio = ctx.start("gateway-asyncio", _pin(argv), port)
    # d. the same app with session/revocation state stubbed out
    port = procs.free_port()
    stubbed = ctx.start("gateway-stubbed", _pin(bench_serve_argv("stubbed", config, port)), port)
    # g. nginx + /auth + cache in front of the gateway
    auth, auth_skip = start_nginx_auth(ctx, files, gateway, use_deploy)
    # wait for the gateways' origin watchers to date the static segments (polled each second)
    time.sleep(2.5)

    def at(server: procs.Server | None, path: str) -> str:
        return (server.url if server else "http://127.0.0.1:1") + path

    seg, pl = f"/live/{files.segment_name}", "/live/index.m3u8"
    small, big = plan.small_connections, plan.segment_connections
    cookie_h = {"Cookie": f"{COOKIE}={cookie}"}
    auth_h = {**cookie_h, "X-Original-URI": seg}
    tls_seg, tls_pl = f"https://127.0.0.1:{tls_port}{seg}", f"https://127.0.0.1:{tls_port}{pl}"
    targets = [
        Target("a1", "plain nginx: 1 MB segment", plain, at(plain, seg), {}, big),
        Target("a2", "plain nginx: playlist", plain, at(plain, pl), {}, small),
        Target("a3", "plain nginx over TLS: 1 MB segment", plain, tls_seg, {}, big),
        Target("a4", "plain nginx over TLS: playlist", plain, tls_pl, {}, small),
        Target("b", "bare Starlette constant", constant, at(constant, "/"), {}, small),
        Target("c1", "gateway: 1 MB segment", gateway, at(gateway, seg), cookie_h, big),
        Target("c2", "gateway: filtered playlist", gateway, at(gateway, pl), cookie_h, small),
        Target("d1", "stubbed state: 1 MB segment", stubbed, at(stubbed, seg), cookie_h, big),
        Target("d2", "stubbed state: playlist", stubbed, at(stubbed, pl), cookie_h, small),
        Target("e", "gateway: /auth decision", gateway, at(gateway, "/auth"), auth_h, small),
        Target(
            "e1",
            "gateway, through the app: /auth decision",
            through_app,
            at(through_app, "/auth"),
            auth_h,
            small,
        ),
        Target(
            "e0",
            "gateway on asyncio, through the app: /auth decision",
            on_asyncio,
            at(on_asyncio, "/auth"),
            auth_h,
            small,
        ),
        Target("g1", "nginx+/auth: 1 MB segment", auth, at(auth, seg), cookie_h, big, gateway),
        Target(
            "g2",
            "nginx+/auth: playlist (shared 1 s)",
            auth,
            at(auth, pl),
            cookie_h,
            small,
            gateway,
        ),
    ]
    if not use_deploy:
        targets = [t for t in targets if t.key not in ("a3", "a4")]
    for t in targets:
        if not tools.wrk:
            why = "; ".join(n for n in tools.notes if "wrk" in n) or "wrk is not installed"
            ctx.rows[t.key] = Row(t.key, t.label, skipped=why)
            continue
        if t.server is None:
            missing = auth_skip if t.key.startswith("g") else "nginx is not installed"
            ctx.rows[t.key] = Row(t.key, t.label, skipped=missing or "server not started")
            continue
        expect = 204 if t.key in ("e", "e1", "e0") else 200
        problem = check(t.url, t.headers, expect)
        if problem:
            ctx.rows[t.key] = Row(t.key, t.label, skipped=problem)
    wrk_rounds(ctx, targets)
    check_stub(ctx, stubbed)
    for server in (plain, constant, gateway, on_asyncio, stubbed, auth):
        if server is not None:
            ctx.stop(server)
