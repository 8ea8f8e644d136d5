"""uvicorn in a thread on a free port, as `gateway serve` runs it or around a tiny app."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from gateway.web import server
from tests.support.ports import free_port


async def tiny(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that reads the whole body and says how long it was."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok %d" % len(body)})


class Served:
    """uvicorn with GuardedHttp on a free port, in a thread, around a tiny app; or around
    the gateway's app, run as `gateway serve` runs it (`server.options`)."""

    def __init__(
        self, protocol: type[asyncio.Protocol] = server.GuardedHttp, app: Any = None
    ) -> None:
        self.port = free_port()
        options: dict[str, Any] = {"http": protocol}
        if app is not None:
            options = server.options(
                app, host="127.0.0.1", port=self.port, trusted_proxies="127.0.0.1"
            )
        options.update(host="127.0.0.1", port=self.port, log_level="critical")
        config = uvicorn.Config(app or tiny, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def ask(self, head: bytes, body: bytes = b"", *, pieces: int = 1) -> bytes:
        """Send `head` (in `pieces`) and `body`; what came back before the server closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            step = max(1, len(head) // pieces)
            try:
                for i in range(0, len(head), step):
                    sock.sendall(head[i : i + step])
                sock.sendall(body)
            except OSError:
                pass  # closed on us mid-send: read what it said first
            reply = b""
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except OSError:
                pass
            return reply
