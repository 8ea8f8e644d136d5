"""ASGI apps the benchmark serves besides `gateway serve` itself.

- `constant_app`: a bare Starlette route answering a constant (the second yardstick).
- `stubbed_gateway`: the real gateway app (same routes, same playlist and segment
  code, same origin, same store for segment dates) whose access decision is
  memoised: the first request per area is decided by the real Gatekeeper, every
  later one gets that same Grant without looking at session, revocation,
  schedule or kill-switch state. What it measures is the route with that state
  stubbed out; `gateway / stubbed` is the "the in-process cache works" ratio.
- `gateway_app`: the real gateway, for `uvicorn --factory --workers 2`.
- `traced_gateway`: the real gateway under tracemalloc, with `GET /__bench/memory`
  (`?mark=1` takes the baseline snapshot; later calls list the allocation sites
  that grew most since): where a soak's memory growth comes from
  (BENCH_TRACEMALLOC=1).

The config file comes from the env BENCH_GATEWAY_CONFIG (uvicorn factories take no
arguments).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

CONSTANT = b"ok\n"


async def _constant(request: Request) -> Response:
    return Response(CONSTANT, media_type="text/plain")


def constant_app() -> Starlette:
    return Starlette(routes=[Route("/", _constant), Route("/healthz", _constant)])


def _settings() -> Any:
    from gateway.settings import load_settings

    return load_settings(os.environ["BENCH_GATEWAY_CONFIG"])


def gateway_app() -> ASGIApp:
    from gateway.web.app import create_app

    app: ASGIApp = create_app(_settings())
    return app


Authorize = Callable[[str | None, str, dt.datetime], Awaitable[Any]]


class StubbedDecisions:
    """Wraps the gateway app: after startup, its Gatekeeper.authorize is memoised per area."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.patched = False

    def _patch(self) -> None:
        services = getattr(self.app.state, "services", None)
        if services is None:
            return
        gatekeeper = services.gatekeeper
        real: Authorize = gatekeeper.authorize
        grants: dict[str, Any] = {}

        async def authorize(cookie: str | None, area: str, now: dt.datetime) -> Any:
            grant = grants.get(area)
            if grant is None:
                grant = grants[area] = await real(cookie, area, now)
            return grant

        gatekeeper.authorize = authorize
        self.patched = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.patched and scope["type"] == "http":
            self._patch()
        await self.app(scope, receive, send)


def stubbed_gateway() -> ASGIApp:
    from gateway.web.app import create_app

    return StubbedDecisions(create_app(_settings()))


class MemoryProbe:
    """Serves /__bench/memory in front of an app; everything else passes through."""

    def __init__(self, app: ASGIApp, frames: int = 6) -> None:
        import tracemalloc

        self.app = app
        self.tracemalloc = tracemalloc
        self.baseline: Any = None
        tracemalloc.start(frames)

    def report(self, mark: bool) -> bytes:
        snapshot = self.tracemalloc.take_snapshot().filter_traces(
            [self.tracemalloc.Filter(False, self.tracemalloc.__file__)]
        )
        traced, peak = self.tracemalloc.get_traced_memory()
        if mark or self.baseline is None:
            self.baseline = snapshot
            return f"baseline taken: {traced / 2**20:.1f} MiB traced\n".encode()
        lines = [f"traced now {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)"]
        diff = snapshot.compare_to(self.baseline, "traceback")
        grown = sum(d.size_diff for d in diff)
        lines.append(f"grown since the baseline: {grown / 2**20:+.2f} MiB; largest growth:")
        for stat in diff[:12]:
            lines.append(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            lines += [f"      {frame}" for frame in stat.traceback.format()[-6:]]
        return ("\n".join(lines) + "\n").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/__bench/memory":
            body = self.report(b"mark=1" in scope.get("query_string", b""))
            await Response(body, media_type="text/plain")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def traced_gateway() -> ASGIApp:
    from gateway.web.app import create_app

    return MemoryProbe(create_app(_settings()))
