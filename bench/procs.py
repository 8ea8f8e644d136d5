"""Processes: starting servers on loopback, their RSS and CPU from /proc, stopping them."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def loopback_tls() -> ssl.SSLContext:
    """For our own self-signed certificate on 127.0.0.1 only."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """`pid` and every process below it (read from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def rss_bytes(pid: int) -> int:
    """VmRSS of one process, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> tuple[int, list[int]]:
    """Total VmRSS of `pid` and its descendants, and each one's."""
    each = [rss_bytes(p) for p in children(pid)]
    return sum(each), each


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (seconds), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in children(pid))


def machine_busy(cores: frozenset[int] | None = None) -> float:
    """CPU seconds spent busy since boot on the whole machine, or on `cores` only."""
    busy = 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if not name.startswith("cpu"):
            break
        wanted = name == "cpu" if cores is None else name != "cpu" and int(name[3:]) in cores
        if not wanted:
            continue
        fields = [int(v) for v in values]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy += (sum(fields[:8]) - idle) / TICK
    return busy


def core_list(text: str) -> frozenset[int]:
    """A taskset-style list of cores ("1", "0,2", "0-3") as a set; ValueError if malformed."""
    cores: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"not a core or a range of cores: {part.strip()!r}")
        first = int(low)
        last = int(high) if high else first
        if last < first:
            raise ValueError(f"not a range of cores: {part.strip()!r}")
        cores.update(range(first, last + 1))
    return frozenset(cores)


def has_taskset() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(argv: Sequence[str], cores: int | frozenset[int] | None) -> list[str]:
    """`argv` under `taskset -c cores` when there are two cores or more to split."""
    if cores is None or not has_taskset():
        return list(argv)
    return ["taskset", "-c", listed(cores) if isinstance(cores, frozenset) else str(cores), *argv]


@contextlib.contextmanager
def only_on(cores: frozenset[int] | None) -> Iterator[None]:
    """Run the calling thread (and the threads and processes it starts) on `cores` only,
    then as before; None: as it is."""
    if not cores:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def listed(cores: frozenset[int]) -> str:
    """A set of cores as taskset lists them ("0,2")."""
    return ",".join(map(str, sorted(cores)))


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        return tree_rss(self.pid)[0]

    def cpu(self) -> float:
        return tree_cpu(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (SIGQUIT for nginx's graceful stop is not needed), then SIGKILL after 10 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for pid in reversed(children(self.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait(timeout=10)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start(
    name: str,
    argv: Sequence[str],
    *,
    url: str,
    ready_path: str,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Server:
    """Start a server and wait (bounded) until `url + ready_path` answers below 500."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
    server = Server(name, url, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.tail()}")
        try:
            context = loopback_tls() if url.startswith("https:") else None
            with urllib.request.urlopen(  # noqa: S310
                url + ready_path, timeout=2, context=context
            ) as answer:
                if answer.status < 500:
                    return server
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(
        f"{name} did not answer {ready_path} within {timeout:.0f} s:\n{server.tail()}"
    )


def run_bounded(
    argv: Sequence[str], *, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, str, float]:
    """Run a load generator to its end; (exit code, stdout, stderr, its CPU seconds).

    CPU comes from wait4's resource usage of exactly this child.
    """
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + timeout
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    assert process.stdout is not None and process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, out_chunks)
    selector.register(process.stderr, selectors.EVENT_READ, err_chunks)
    open_pipes = 2
    try:
        while open_pipes:
            left = deadline - time.monotonic()
            if left <= 0:
                process.kill()
                break
            for key, _ in selector.select(timeout=min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                else:
                    key.data.append(chunk)
    except BaseException:  # interrupted: the generator must not outlive the run
        process.kill()
        process.wait()
        raise
    finally:
        selector.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return (
        process.returncode,
        b"".join(out_chunks).decode(errors="replace"),
        b"".join(err_chunks).decode(errors="replace"),
        cpu,
    )
