"""The public HTTP API as an OpenAPI 3.0 description, served at `GET /openapi.json`.

Written by hand from the interface contract (README, "HTTP"): what a route
answers is a promise, not something to derive from the handlers. It covers
what participants, players, nginx and monitoring use; the staff console
(`/admin/…`) is not part of the public API and is not described. Tests check
that every public route is described and fuzz each operation with
schemathesis (tests/fuzz/test_api_schemathesis.py). The document (one data
literal) is here; its building blocks are in `openapi_parts`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.core.schedule import PHASES
from gateway.web.openapi_parts import (
    _LANG,
    _RETRY_AFTER,
    _SESSION,
    VERSION,
    _error,
    _form,
    _health,
    _page,
    _store_down,
    _stream,
)


def document(public_url: str | None = None, *, secure: bool = True) -> dict[str, Any]:
    """The description; `public_url` becomes its server, `secure` picks the cookie's name."""
    cookie = "__Host-gw_session" if secure else "gw_session"
    servers = [{"url": public_url.rstrip("/")}] if public_url else []
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "Landing page: the event, its schedule, what is on now",
                "operationId": "landing",
                "parameters": [_LANG],
                "responses": {"200": _page("The page"), "503": _store_down(html=True)},
            }
        },
        "/register": {
            "get": {
                "summary": "The registration form (or a page saying registration has closed)",
                "operationId": "registerForm",
                "parameters": [_LANG],
                "responses": {"200": _page("The form, or the closed notice")},
            },
            "post": {
                "summary": "Register; the personal link is sent by email",
                "description": (
                    "The same answer whether or not the address was registered already (a "
                    "repeat re-sends the current link; a revoked registrant is sent nothing)."
                ),
                "operationId": "register",
                "requestBody": _form("Registration"),
                "responses": {
                    "200": _page("Accepted: the link is on its way"),
                    "400": _page("A field is missing or invalid; the form again, explained"),
                    "403": _page("Registration has closed, or the form expired (CSRF)"),
                    "413": _page("The form is too large"),
                    "429": _error("Too many registrations from here", html=True, retry=True),
                    "503": _store_down(html=True),
                },
            },
        },
        "/link": {
            "get": {
                "summary": "The form to get one's personal link again by email",
                "description": "Open until the recording closes (after that, a closed notice).",
                "operationId": "linkAgainForm",
                "parameters": [_LANG],
                "responses": {"200": _page("The form, or the closed notice")},
            },
            "post": {
                "summary": "Mail the current personal link again to a registered address",
                "description": (
                    "The same answer for every address: a registered, not revoked address is "
                    "sent its current link (never a new one); any other gets nothing."
                ),
                "operationId": "linkAgain",
                "requestBody": _form("LinkAgain"),
                "responses": {
                    "200": _page("Accepted: if the address is registered, its link is on its way"),
                    "400": _page("Not an email address; the form again, explained"),
                    "403": _page("The recording has closed, or the form expired (CSRF)"),
                    "413": _page("The form is too large"),
                    "429": _error("Too many requests from here", html=True, retry=True),
                    "503": _store_down(html=True),
                },
            },
        },
        "/ingest/publish": {
            "post": {
                "summary": "nginx-rtmp's on_publish: may this encoder publish?",
                "description": (
                    "Called by the ingest nginx, not by people. A configured stream key "
                    "(GATEWAY_INGEST_KEYS) from an allowed network is accepted (200); anything "
                    "else is 403 and nginx-rtmp drops the connection. Audited either way."
                ),
                "operationId": "ingestPublish",
                "requestBody": _form("IngestCallback"),
                "responses": {
                    "200": {
                        "description": "Accepted (audited as ingest.started)",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "403": _error(
                        "Refused: no key configured, wrong key, or not allowed from there"
                    ),
                    "429": _error("Too many refused publishes from that address", retry=True),
                    "503": _store_down(html=False),
                },
            }
        },
        "/ingest/done": {
            "post": {
                "summary": "nginx-rtmp's on_publish_done: the encoder left",
                "operationId": "ingestDone",
                "requestBody": _form("IngestCallback"),
                "responses": {
                    "200": {"description": "Noted (audited as ingest.stopped)"},
                    "403": _error("Not a configured stream key"),
                    "503": _store_down(html=False),
                },
            }
        },
        "/w/{token}": {
            "get": {
                "summary": "Open a personal link: start a session",
                "operationId": "openLink",
                "parameters": [
                    {
                        "name": "token",
                        "in": "path",
                        "required": True,
                        "description": "The signed token from the emailed link",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "303": {
                        "description": "Valid link: the session cookie is set; on to /watch",
                        "headers": {
                            "Location": {"schema": {"type": "string", "enum": ["/watch"]}},
                            "Set-Cookie": {"schema": {"type": "string"}},
                        },
                    },
                    "403": _page("Invalid, tampered, revoked or superseded link"),
                    "404": _page("Not a link (for example, a token with a '/')"),
                    "503": _store_down(html=True),
                },
            }
        },
        "/calendar.ics": {
            "get": {
                "summary": "The streamed parts not yet over, as an iCalendar file",
                "description": (
                    "The schedule in force with the viewer's personal link (URL, LOCATION), "
                    "an alarm 15 minutes before each part, stable UIDs and a SEQUENCE that "
                    "rises with every schedule change, so a later download updates the entries."
                ),
                "operationId": "calendar",
                "security": _SESSION,
                "responses": {
                    "200": {
                        "description": "The calendar file (an attachment)",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    "401": _page("No session: how to get a link"),
                    "403": _page("The registrant's access was revoked"),
                    "503": _store_down(html=True),
                },
            }
        },
        "/watch": {
            "get": {
                "summary": "The player page",
                "operationId": "watch",
                "security": _SESSION,
                "parameters": [_LANG],
                "responses": {
                    "200": _page("The player"),
                    "401": _page("No session: how to get a link"),
                    "403": _page("The registrant's access was revoked"),
                    "503": _store_down(html=True),
                },
            }
        },
        "/live/{path}": _stream("live"),
        "/recording/{path}": _stream("recording"),
        "/auth": {
            "get": {
                "summary": "For nginx auth_request: may the original URI be served?",
                "operationId": "auth",
                "security": _SESSION,
                "parameters": [
                    {
                        "name": "X-Original-URI",
                        "in": "header",
                        "required": True,
                        "description": "The request nginx is deciding on: /live/… or /recording/…",
                        "schema": {"type": "string"},
                        "example": "/live/index.m3u8",
                    }
                ],
                "responses": {
                    "204": {"description": "Allowed"},
                    "400": _error("The path could escape the origin folder"),
                    "401": _error("No valid session"),
                    "403": _error("Not now, or not this segment, or revoked"),
                    "404": _error("Not a stream URI, or a segment never listed"),
                    "410": _error("The recording is no longer available"),
                    "503": _store_down(html=False),
                },
            }
        },
        "/api/status": {
            "get": {
                "summary": "What is on now, for players and pages",
                "operationId": "status",
                "responses": {
                    "200": {
                        "description": "The phase of the day",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}
                        },
                    },
                    "503": _store_down(html=False),
                },
            }
        },
        "/api/audit-head": {
            "get": {
                "summary": "The newest signed audit checkpoint, for auditors to record elsewhere",
                "operationId": "auditHead",
                "responses": {
                    "200": {
                        "description": "The checkpoint as written, and its SHA-256 (`hash`)",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Checkpoint"}
                            }
                        },
                    },
                    "404": _error("No checkpoint written (or no audit.checkpoint_dir)"),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "responses": {
                    "200": {
                        "description": "The process answers",
                        "content": {"application/json": {"schema": _health(["ok"])}},
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the store is reachable",
                "operationId": "readyz",
                "responses": {
                    "200": {
                        "description": "Ready",
                        "content": {"application/json": {"schema": _health(["ready"])}},
                    },
                    "503": {
                        "description": "Not ready, with the reason",
                        "headers": _RETRY_AFTER,
                        "content": {"application/json": {"schema": _health(["unavailable"])}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/accessibility": {
            "get": {
                "summary": "The accessibility statement",
                "operationId": "accessibility",
                "parameters": [_LANG],
                "responses": {"200": _page("The statement")},
            }
        },
        "/favicon.ico": {
            "get": {
                "summary": "The icon, where browsers look for it",
                "operationId": "favicon",
                "responses": {
                    "301": {
                        "description": "On to the SVG icon",
                        "headers": {
                            "Location": {
                                "schema": {"type": "string", "enum": ["/static/favicon.svg"]}
                            }
                        },
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This description",
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.0",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Livestream access gateway: public HTTP API",
            "version": VERSION,
            "description": (
                "Personal links, sessions and the HLS gate. Stream and API routes answer "
                "refusals as JSON (`Error`); pages for people answer HTML. While the store is "
                "unreachable, what needs it answers 503 with Retry-After, never 401, 403 or 500."
            ),
        },
        "servers": servers,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie,
                    "description": "Set by opening a personal link (/w/{token})",
                }
            },
            "schemas": {
                "Status": {
                    "type": "object",
                    "required": ["phase", "part", "live", "recording_available", "next_change"],
                    "properties": {
                        "phase": {
                            "type": "string",
                            "enum": list(PHASES),
                            "description": (
                                "before: no part yet; live: a streamed part runs; blocked: a part "
                                "that is not streamed runs; between: no part runs and more is to "
                                "come; recording: all parts over and the recording open; closed: "
                                "nothing more to come; stopped: ops stopped the stream"
                            ),
                        },
                        "part": {"type": "string", "nullable": True},
                        "live": {
                            "type": "boolean",
                            "description": "A streamed part runs (false during the end grace)",
                        },
                        "recording_available": {"type": "boolean"},
                        "next_change": {"type": "string", "format": "date-time", "nullable": True},
                        "now": {"type": "string", "format": "date-time"},
                        "timezone": {"type": "string", "example": "Europe/Helsinki"},
                        "origin": {
                            "type": "string",
                            "enum": ["ok", "stalled", "ended", "missing"],
                            "description": (
                                "Only while a streamed part runs: the encoder's output as "
                                "seen (stalled: no new segment for 3 target durations)"
                            ),
                        },
                    },
                },
                "Registration": {
                    "type": "object",
                    "required": ["name", "email", "consent", "csrf"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 200},
                        "email": {"type": "string", "format": "email", "maxLength": 254},
                        "organisation": {"type": "string", "maxLength": 200},
                        "consent": {"type": "string", "enum": ["yes"]},
                        "csrf": {
                            "type": "string",
                            "description": "From the form; bound to the csrf cookie it sets",
                        },
                        "lang": {"type": "string", "enum": ["en", "fi", "sv"]},
                    },
                },
                "IngestCallback": {
                    "type": "object",
                    "description": "The form nginx-rtmp sends (more fields are ignored)",
                    "properties": {
                        "call": {"type": "string", "enum": ["publish", "publish_done"]},
                        "name": {"type": "string", "description": "The stream key"},
                        "addr": {"type": "string", "description": "The encoder's address"},
                        "app": {"type": "string"},
                    },
                },
                "LinkAgain": {
                    "type": "object",
                    "required": ["email", "csrf"],
                    "properties": {
                        "email": {"type": "string", "format": "email", "maxLength": 254},
                        "csrf": {
                            "type": "string",
                            "description": "From the form; bound to the csrf cookie it sets",
                        },
                        "lang": {"type": "string", "enum": ["en", "fi", "sv"]},
                    },
                },
                "Checkpoint": {
                    "type": "object",
                    "required": [
                        "version",
                        "number",
                        "previous",
                        "seq",
                        "head",
                        "time",
                        "signature",
                        "hash",
                    ],
                    "properties": {
                        "version": {"type": "integer"},
                        "number": {"type": "integer", "description": "1, 2, 3..."},
                        "previous": {"type": "string", "description": "hash of the one before"},
                        "seq": {"type": "integer", "description": "the audit event signed"},
                        "head": {"type": "string", "description": "that event's hash"},
                        "time": {"type": "string", "format": "date-time"},
                        "signature": {"type": "string", "description": "Ed25519, base64"},
                        "hash": {"type": "string", "description": "SHA-256 of this checkpoint"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {
                            "description": "A machine code (a reason) or the HTTP status",
                            "oneOf": [{"type": "string"}, {"type": "integer"}],
                        },
                        "message": {"type": "string"},
                        "part": {"type": "string", "nullable": True},
                        "next_part": {"type": "string", "nullable": True},
                        "opens_at": {"type": "string", "format": "date-time", "nullable": True},
                    },
                },
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    settings = request.app.state.settings
    return JSONResponse(
        document(settings.event.public_url, secure=settings.event.secure),
        headers={"Cache-Control": "public, max-age=300"},
    )


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
