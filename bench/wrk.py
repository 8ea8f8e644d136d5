"""wrk (Debian's package) with a Lua `done` hook that prints its summary as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.procs import pinned, run_bounded

LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"bytes\":%d,\"duration_us\":%d,\"connect\":%d," ..
    "\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d," ..
    "\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class WrkResult:
    requests: int
    bytes: int
    seconds: float
    errors: int
    error_detail: str
    p50_ms: float
    p99_ms: float
    cpu_seconds: float  # wrk's own, from wait4

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


def write_script(folder: Path) -> Path:
    path = folder / "report.lua"
    path.write_text(LUA)
    return path


def run(
    url: str,
    *,
    script: Path,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    core: int | None = 0,
) -> WrkResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-s", str(script), url]
    code, out, err, cpu = run_bounded(pinned(argv, core), timeout=seconds + 30)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCHJSON ")), None)
    if code != 0 or line is None:
        raise RuntimeError(f"wrk failed ({code}): {err.strip() or out.strip()}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    kinds = ("connect", "read", "write", "status", "timeout")
    errors = sum(int(data[k]) for k in kinds)
    detail = ", ".join(f"{k} {data[k]}" for k in kinds if data[k])
    return WrkResult(
        requests=int(data["requests"]),
        bytes=int(data["bytes"]),
        seconds=int(data["duration_us"]) / 1e6,
        errors=errors,
        error_detail=detail,
        p50_ms=int(data["p50_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
        cpu_seconds=cpu,
    )
