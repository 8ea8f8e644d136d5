"""The OpenAPI description's building blocks: shared schemas, error answers, a stream area."""

from __future__ import annotations

from typing import Any

VERSION = "1"
_HTML = {"text/html": {"schema": {"type": "string"}}}
_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "Page language; remembered in a cookie. Default: the browser's.",
    "schema": {"type": "string", "enum": ["en", "fi", "sv"]},
}
# gateway.core.paths.safe_path: what may follow /live/ or /recording/ (anything else: 400).
_NAME = "[A-Za-z0-9_][A-Za-z0-9._~+-]{0,254}"
_PATH = f"^{_NAME}(/{_NAME}){{0,15}}$"
_SESSION: list[dict[str, list[str]]] = [
    {"session": []},
    {},
]  # the session cookie, or none (then 401)


def _form(schema: str) -> dict[str, Any]:
    """A required x-www-form-urlencoded request body of `#/components/schemas/<schema>`."""
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": f"#/components/schemas/{schema}"}
            }
        },
    }


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": _HTML}


def _error(description: str, *, html: bool = False, retry: bool = False) -> dict[str, Any]:
    """A refusal: JSON `Error` on stream and API routes, an HTML page for people."""
    answer: dict[str, Any] = {
        "description": description,
        "content": _HTML if html else {"application/json": {"schema": _ERROR}},
    }
    if retry:
        answer["headers"] = _RETRY_AFTER
    return answer


def _store_down(*, html: bool) -> dict[str, Any]:
    return _error("The store is unreachable", html=html, retry=True)


def _stream(area: str) -> dict[str, Any]:
    """`/live/{path}` or `/recording/{path}`."""
    live = area == "live"
    media = {
        kind: {"schema": {"type": "string", "format": "binary"}}
        for kind in (
            "application/vnd.apple.mpegurl",
            "video/mp2t",
            "video/iso.segment",
            "video/mp4",
            "audio/aac",
            "audio/mp4",
            "text/vtt",
            "application/octet-stream",
        )
    }
    responses: dict[str, Any] = {
        "200": {
            "description": (
                "The file. A live playlist lists only segments dated inside the current streamed "
                "part (closed with #EXT-X-ENDLIST during the end grace)."
                if live
                else "The file, from recording.available_from until recording.available_until."
            ),
            "content": media,
        },
        "400": _error("The path could escape the origin folder or is not an allowed name"),
        "401": _error("No valid session (none, expired, evicted or superseded)"),
        "403": _error(
            "Outside a streamed part (the body names the part or the next window), stopped by "
            "ops, a segment outside the window, or a revoked registrant"
            if live
            else "Before the recording opens, or a revoked registrant"
        ),
        "404": _error("Nothing at that path"),
        "429": _error("Too many requests", retry=True),
        "502": _error("The origin failed or answered garbage"),
        "503": _store_down(html=False),
        "504": _error("The origin did not answer in time"),
    }
    if not live:
        responses["410"] = _error("The recording is no longer available")
    return {
        "get": {
            "summary": "HLS live stream" if live else "HLS recording",
            "operationId": area,
            "security": _SESSION,
            "parameters": [
                {
                    "name": "path",
                    "in": "path",
                    "required": True,
                    "description": (
                        "Origin-relative file: 1-16 '/'-separated names of ASCII letters, digits "
                        "and ._~+- (not starting with a dot)"
                    ),
                    "schema": {"type": "string", "maxLength": 1024, "pattern": _PATH},
                    "example": "index.m3u8",
                }
            ],
            "responses": responses,
        }
    }


def _health(statuses: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": statuses},
            "reason": {"type": "string"},
        },
    }
