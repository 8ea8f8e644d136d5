"""The run's state (its servers, the rows so far) and how it starts servers and viewers.

Servers run on 127.0.0.1 with the run's env, from the repository root, each with a
log in the work folder, and are all stopped however the run ends; `viewer_run` runs
`bench.viewers` against one of them.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import procs
from bench.plan import Plan, Tools
from bench.report import Row

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

Summary = dict[str, object]  # bench.viewers' JSON line


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

    def start(
        self,
        name: str,
        argv: list[str],
        port: int,
        *,
        ready: str = "/healthz",
        tls: bool = False,
        env: dict[str, str] | None = None,
    ) -> procs.Server:
        """Start a server listening on 127.0.0.1:`port`, once `ready` answers; stop_all stops it."""
        server = procs.start(
            name,
            argv,
            url=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
            ready_path=ready,
            log=self.log(name),
            env=self.env if env is None else env,
            cwd=ROOT,
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


def viewer_run(
    ctx: Context, mode: str, server: procs.Server, seconds: float, args: list[str]
) -> tuple[Summary, list[int], float]:
    """Run the asyncio generator against `server` while sampling its RSS each second.

    Returns its JSON summary, the RSS samples (bytes) and its CPU seconds.
    """
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append(server.rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    port = str(urlsplit(server.url).port)
    argv = [PY, "-m", "bench.viewers", mode, "--port", port, "--seconds", f"{seconds:g}"]
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
    summary: Summary = json.loads(lines[-1])
    return summary, samples, cpu


def summary_int(summary: Summary, key: str) -> int:
    value = summary.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0


def summary_float(summary: Summary, key: str, default: float) -> float:
    value = summary.get(key)
    return float(value) if isinstance(value, (int, float)) and value else default


def summary_ms(summary: Summary, key: str, pct: str) -> float | None:
    part = summary.get(key)
    if isinstance(part, dict):
        value = part.get(pct)
        if isinstance(value, (int, float)) and not math.isnan(float(value)):
            return float(value)
    return None
