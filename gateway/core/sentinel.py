"""A Redis Sentinel store URL: `redis+sentinel://[:password@]host:26379,host2:26379/SERVICE[/DB]`.

One reading of it for the config (`store.url`, refused with a clear problem) and for the
Redis store (which connects through the Sentinels it names).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_SENTINEL = re.compile(r"\[?[^\s/]+\]?:\d{1,5}")  # host:port, an IPv6 host in brackets


def sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int, str | None] | None:
    """The URL as (sentinels, service, db, password), or None for another scheme.
    ValueError when it is malformed."""
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        return None
    password = unquote(parts.password) if parts.password else None
    hosts = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        if not _SENTINEL.fullmatch(item.strip()):
            raise ValueError(f"{item!r}: name each sentinel as host:port")
        host, _, port = item.strip().rpartition(":")
        hosts.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("name the primary's service and optionally a database: /mymaster/0")
    return hosts, path[0], int(path[1]) if len(path) == 2 else 0, password
