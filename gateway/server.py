"""Running the app under uvicorn (`gateway serve`)."""

from __future__ import annotations

import uvicorn

from gateway.settings import Settings
from gateway.web.app import create_app


def serve(settings: Settings, *, host: str, port: int) -> int:
    """Serve until interrupted. Refuses to start without a secret key."""
    if not settings.secrets.secret_keys:
        raise ValueError(
            "refusing to start: set GATEWAY_SECRET_KEYS (comma-separated, "
            "newest first) to sign links and cookies"
        )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
        server_header=False,
    )
    return 0
