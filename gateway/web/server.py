"""Running the app under uvicorn (`gateway serve`)."""

from __future__ import annotations

import ctypes
import ctypes.util

import uvicorn

from gateway.settings import Settings
from gateway.web.app import create_app

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024


def steady_memory() -> bool:
    """Have glibc give big blocks (segment bodies) back to the system when freed.

    By default glibc raises its mmap threshold the first time such a block is
    freed, and from then on serves 1 MB bodies from the heap, which keeps its
    peak: RSS creeps up as segments come and go (+9 % over a 10-minute soak).
    Fixing the threshold keeps it flat. Whether it was set (False off glibc).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    except (OSError, AttributeError):
        return False


def serve(settings: Settings, *, host: str, port: int, trusted_proxies: str = "127.0.0.1") -> int:
    """Serve until interrupted. Refuses to start without a secret key.

    `trusted_proxies` (comma-separated addresses or CIDRs, `*` for any) are the
    hops whose X-Forwarded-For is believed: the client address that rate
    limits, sharing detection and the audit's address hashes rest on.
    """
    if not settings.secrets.secret_keys:
        raise ValueError(
            "refusing to start: set GATEWAY_SECRET_KEYS (comma-separated, "
            "newest first) to sign links and cookies"
        )
    app = create_app(settings)
    steady_memory()
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
        log_level="info",
        access_log=False,  # a line per segment costs ~20 % of the request rate; nginx logs
        server_header=False,
    )
    return 0
