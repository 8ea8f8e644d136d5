"""Serve a benchmark app exactly as `gateway serve` serves the gateway.

`python -m bench.serve --app constant|stubbed --config F --port P [--loop asyncio]` loads
the config
like `gateway serve`, swaps `gateway.web.server.create_app` for the chosen app's
builder and calls `gateway.web.server.serve`: whatever uvicorn settings that function
uses (loop, HTTP parser, access log, proxy headers), the yardsticks get the same
(`--loop asyncio` only swaps uvloop for asyncio's loop, for row e0; `--through-app` has
every `/auth` decided by the ASGI app, none answered by the protocol itself, rows e0 and e1).
"""

from __future__ import annotations

import argparse
import inspect
import os
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp

from bench import apps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.serve")
    parser.add_argument(
        "--app", choices=["constant", "stubbed", "gateway", "traced"], required=True
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--loop", choices=["auto", "asyncio"], default="auto", help="asyncio: as before uvloop"
    )
    parser.add_argument(
        "--through-app",
        action="store_true",
        help="every /auth through the ASGI app, none answered in the protocol (as before)",
    )
    args = parser.parse_args(argv)
    os.environ["BENCH_GATEWAY_CONFIG"] = args.config

    import gateway.web.server
    from gateway.settings import load_settings

    builders: dict[str, Callable[[], ASGIApp]] = {
        "constant": apps.constant_app,
        "stubbed": apps.stubbed_gateway,
        "gateway": apps.gateway_app,
        "traced": apps.traced_gateway,
    }
    build = builders[args.app]

    def create_app(settings: object, *_: object, **__: object) -> ASGIApp:
        app: ASGIApp = build()
        return app

    gateway.web.server.__dict__["create_app"] = create_app
    if args.loop == "asyncio":  # the row measured against: the same serve(), asyncio's loop
        import uvicorn

        run = uvicorn.run

        def on_asyncio(*a: Any, **k: Any) -> None:
            run(*a, **{**k, "loop": "asyncio"})

        uvicorn.__dict__["run"] = on_asyncio
    if args.through_app:  # the same serve(), its protocol answering nothing itself
        protocol = gateway.web.server.GuardedHttp
        protocol.answering = classmethod(lambda cls, answer: cls)  # type: ignore[method-assign,assignment]
    settings = load_settings(args.config)
    accepted = inspect.signature(gateway.web.server.serve).parameters
    given: dict[str, Any] = {"host": args.host, "port": args.port}
    kwargs = {k: v for k, v in given.items() if k in accepted}
    result: int = gateway.web.server.serve(settings, **kwargs)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
