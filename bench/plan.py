"""What a run does: the plan (flags and env), the tools found or installed, the plan printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field

PARTS = ("wrk", "k", "f", "h", "i", "j")  # what --only picks from; wrk is rows a-e and g
SERVER_CORE, LOAD_CORE = 1, 0
PER_REGISTRANT = 10  # viewers sharing one registrant (sessions.max_devices = 10)
SOAK_REGISTRANTS = 20
PACED_SESSIONS = 750  # row k's sessions: the viewers behind one of two replicas at 1,500


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def numbers(name: str, default: str) -> list[int]:
    """A comma-separated list of whole numbers from env `name` (else `default`), sorted,
    each once: the steps or rates a row runs at."""
    return sorted({int(n) for n in os.environ.get(name, default).split(",") if n.strip()})


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
    traced: bool = False  # the soak's gateway under tracemalloc
    only: set[str] = field(default_factory=lambda: set(PARTS))

    @classmethod
    def from_env(cls, quick: bool) -> Plan:
        quick = quick or _flag("BENCH_QUICK")
        soak = float(os.environ.get("BENCH_SOAK_SECONDS", "20" if quick else "180"))
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
            traced=_flag("BENCH_TRACEMALLOC"),
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


def _apt_install(packages: list[str]) -> str | None:
    """apt-get install when root and allowed; the reason it was not done otherwise."""
    if os.environ.get("BENCH_NO_INSTALL"):
        return "BENCH_NO_INSTALL is set"
    if os.geteuid() != 0:
        return "not running as root, so not installing with apt-get"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def install() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", "install", "-y", "-q", *packages],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    say(f"installing {' '.join(packages)} with apt-get")
    result = install()
    if result.returncode != 0:  # stale package lists: update them once and try again
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        result = install()
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


def describe(plan: Plan, tools: Tools) -> str:
    wrk_time = plan.rounds * 13 * (plan.wrk_seconds + 1.5)
    paced = "375 and 1,000" if plan.quick else "375, 1,000 and 2,000"
    lines = [
        f"mode: {'quick' if plan.quick else 'full'}; "
        f"wrk rows {plan.rounds} round(s) x {plan.wrk_seconds:g} s (+1 s warm-up), "
        f"best round kept; up to {plan.quiet_budget:g} s in all spent waiting for "
        "other processes to calm",
        f"wrk: {tools.wrk or 'missing'}; nginx: {tools.nginx or 'missing'}; "
        f"real H.264 segments: {'yes' if tools.encoder else 'no'}",
        "a1/a2  plain nginx (1 worker): the 1 MB segment file, the ~1 KB playlist",
        "a3/a4  the same over TLS (deploy/nginx's TLS settings), when g runs deploy/nginx",
        "b      bare Starlette constant endpoint, served as `gateway serve` serves the gateway",
        "c1/c2  the gateway (gateway.web.server.serve, launched as b and d), file origin: 1 MB "
        "segment, filtered playlist, real session cookie",
        "d1/d2  the same app, access decision memoised (session/revocation state stubbed out)",
        "e      GET /auth with X-Original-URI (a segment) and the cookie: a grant from memory "
        "is answered by the HTTP protocol itself",
        "e1     the same, every decision through the ASGI app (before the protocol answered)",
        "e0     and on asyncio's event loop instead of uvloop (as before issue 19)",
        "g1/g2  deploy/nginx: auth_request to the gateway, a grant kept for a request repeated "
        "within its second; playlists shared 1 s",
        f"       (about {wrk_time:.0f} s of wrk; servers on core {SERVER_CORE}, wrk on core "
        f"{LOAD_CORE})",
        f"k      /auth at a viewer's pace ({paced}/s, "
        f"{PACED_SESSIONS} sessions, 64 connections): CPU per decision answered in the "
        f"protocol and through the app, taking turns, {plan.rounds} round(s), the lowest kept",
        f"f      gateway over a counting HTTP origin: {plan.fanin_viewers} viewers in a herd for "
        f"{plan.fanin_seconds:g} s: origin requests per segment, playlist requests/s",
        f"h      {plan.viewers} HLS viewers (playlist every 4 s, each new 1 MB segment) for "
        f"{plan.viewers_seconds:g} s, gateway with 2 workers",
        f"i      soak: {plan.soak_concurrency} at a time open a link, play, drop, for "
        f"{plan.soak_seconds:g} s; RSS after warm-up vs end",
        "j      viewers through the deploy stack (deploy/nginx over TLS, 2 replicas, Redis), "
        "2 s segments of 500 KB,\n       stepped up (BENCH_STACK_VIEWERS) until a step fails "
        "(an error, p99 >= 250 ms, RSS >= 300 MB)",
        f"registrants: one per {PER_REGISTRANT} viewers (sessions.max_devices = "
        f"{PER_REGISTRANT}), one for the wrk rows, {SOAK_REGISTRANTS} for the soak",
    ]
    lines += [f"note: {n}" for n in tools.notes]
    return "\n".join(lines)
