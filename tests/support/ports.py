"""Ports for the servers tests start. Not from a bind to port 0: the kernel hands those
out of its ephemeral range, which outgoing connections and the other xdist worker's
binds draw from too, so a port handed out here could be taken by another worker's
server before ours listened on it (and the test would then talk to that server). These
come from below the ephemeral range, a block for each worker, in turn."""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

_FIRST = 10000  # above the well-known and registered ports the machines' services use
_BLOCK = 2000  # ports a worker goes round before using one again


def ephemeral() -> tuple[int, int]:
    """The kernel's range for outgoing connections and binds to port 0."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def block(worker: str | None) -> range:
    """The ports of an xdist worker ("gw0", "gw1", ...; none without xdist)."""
    n = int((worker or "gw0").removeprefix("gw"))
    start = _FIRST + n * _BLOCK
    below = range(start, min(start + _BLOCK, ephemeral()[0]))
    return below or range(start, start + _BLOCK)  # a machine whose range starts low


def _cycle(ports: range) -> Iterator[int]:
    return itertools.cycle(ports)


_ports = _cycle(block(os.environ.get("PYTEST_XDIST_WORKER")))
_lock = threading.Lock()


def free_port() -> int:
    """The worker's next port that nothing listens on (an earlier run's server may)."""
    with _lock:
        for port in itertools.islice(_ports, _BLOCK):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port in this worker's block")
