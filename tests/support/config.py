"""Event configs for tests, written from values (tomli-w) instead of by hand.

`event_toml` gives a whole config: the event, its parts, the recording's close, the
origins and the store, plus any other tables; `part` one `[[parts]]` entry. Times are
the config's own text (`2021-11-18T10:00` in the event's zone, or UTC with `Z`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tomli_w

SEMINAR_TITLE = "Seminar on best practice in anti-trafficking work in the Nordic countries"


def part(name: str, start: str, end: str, *, streamed: bool = True) -> dict[str, Any]:
    return {"name": name, "start": start, "end": end, "streamed": streamed}


CONTACT = {"email": "webcast@example.org", "name": "The web team", "phone": "+358 29 516 001"}


def event_toml(
    *,
    parts: Sequence[Mapping[str, Any]],
    recording_until: str,
    live: str,
    recording: str | None,
    store_url: str | None = None,
    title: str = SEMINAR_TITLE,
    timezone: str = "Europe/Helsinki",
    public_url: str = "https://stream.example.org",
    contact: Mapping[str, str] | None = CONTACT,
    closes: str | None = None,
    end_grace_seconds: int | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    extra: str = "",
) -> str:
    """A whole event config; `tables` adds or extends tables, `extra` is raw TOML after it."""
    doc: dict[str, Any] = {
        "event": {"title": title, "timezone": timezone, "public_url": public_url},
    }
    if contact is not None:
        doc["event"]["contact"] = dict(contact)
    if closes is not None:
        doc["registration"] = {"closes": closes}
    doc["parts"] = [dict(p) for p in parts]
    doc["recording"] = {"available_until": recording_until}
    doc["origin"] = {"live": live}
    if recording is not None:  # (else the recording is the one the gateway archives)
        doc["origin"]["recording"] = recording
    if end_grace_seconds is not None:
        doc["origin"]["end_grace_seconds"] = end_grace_seconds
    if store_url is not None:  # (else the gateway's default store)
        doc["store"] = {"url": store_url}
    for name, table in (tables or {}).items():
        doc[name] = {**doc.get(name, {}), **table}
    return tomli_w.dumps(doc) + extra
