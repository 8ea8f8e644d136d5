"""Single HTTP asks of the servers: a GET, a link opened for its cookie, a check, a metric."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request

from bench import procs

COOKIE = "gw_session"  # the event's public_url is http://: the cookie has no __Host- prefix


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    context = procs.loopback_tls() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def open_link(base: str, path: str) -> str:
    """GET a personal link (`/w/<token>`): the session cookie its 303 sets."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(base + path, timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code == 303:
            for header, value in exc.headers.items():
                if header.lower() == "set-cookie" and value.startswith(COOKIE + "="):
                    return value.split(";", 1)[0].split("=", 1)[1].strip('"')
        raise RuntimeError(f"opening a link answered {exc.code}") from exc
    raise RuntimeError("opening a link did not answer 303")


def check(url: str, headers: dict[str, str], expect: int) -> str | None:
    """What is wrong with `GET url`, or None when it answers `expect`."""
    status, body = http_get(url, headers)
    if status != expect:
        return f"GET {url} answered {status}, not {expect}: {body[:200]!r}"
    return None


def metric_total(url: str, name: str, match: str = "") -> float | None:
    """The sum of a server's /metrics samples of `name` whose line holds `match`."""
    status, body = http_get(url + "/metrics")
    if status != 200:
        return None
    total, seen = 0.0, False
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name) and match in line:
            with contextlib.suppress(ValueError):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
    return total if seen else None
