"""Origins: where stream files come from, a local folder or an HTTP server.

Both kinds answer `fetch(path)` with the whole file's bytes for a path that
`paths.safe_path` has already accepted, and still refuse on their own to reach
outside their root (defence in depth: a symlink in the folder pointing out, a
sibling folder sharing the root's prefix, a redirect to another host). Library
and OS errors are translated here into NotFound, OriginUnavailable and
OriginTimeout; a body larger than `max_bytes` (a playlist: `MAX_PLAYLIST_BYTES`)
is refused without being held whole in memory. `make_origin` puts a
`CachingOrigin` (gateway.stream.cache) in front of either: one fetch per path
however many viewers ask at once.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import stat
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx2

from gateway.core import dating
from gateway.core.errors import GatewayError, NotFound, OriginTimeout, OriginUnavailable
from gateway.core.paths import is_playlist
from gateway.core.playlists import Range
from gateway.metrics import Metrics
from gateway.stream.cache import DEFAULT_CACHE_BYTES, CachingOrigin

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# A day-long live playlist with dates is ~1 MB; parsing takes ~12x its size in memory.
MAX_PLAYLIST_BYTES = 8 * 1024 * 1024
_CHUNK = 256 * 1024
_RETRIED = frozenset({500, 502, 503, 504})  # the origin may answer the next try
# Nothing there, or a symlink swapped in since the check (ELOOP under O_NOFOLLOW).
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG})


class Origin(Protocol):
    """A source of stream files."""

    async def fetch(self, path: str) -> bytes:
        """The whole file at origin-relative `path` (already `safe_path`-checked).

        Raises NotFound when there is nothing there, OriginUnavailable when the
        origin fails, answers an error or a body over its size limit, and
        OriginTimeout when it does not answer in time.
        """
        ...

    async def close(self) -> None:
        """Release what the origin holds (connections it owns)."""
        ...


class FileOrigin:
    """Files under a local folder, read in a worker thread."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(os.path.realpath(root))
        self._root = str(self.root)  # joined as text on the hot path: cheaper than Path
        self.max_bytes = max_bytes

    async def fetch(self, path: str) -> bytes:
        """The file's bytes; NotFound unless its real path is a regular file inside the root."""
        return await asyncio.to_thread(self._read, path)

    async def close(self) -> None:
        """Nothing to release."""

    def version(self, path: str) -> tuple[int, ...] | None:
        """What identifies the file `fetch(path)` would read now: device, inode, size,
        modification and change times; None if it cannot be told.

        One `stat` call, made on the event loop: a cache answers from memory
        while this is unchanged. Taken before a read, so a file changing during
        the read is read again next time. Says nothing about safety: only a
        body `fetch` returned is ever answered on the strength of it.
        """
        try:
            info = os.stat(self._root + "/" + path)  # `path` is relative: safe_path's
        except (OSError, ValueError):
            return None
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    async def identify(self, path: str, span: Range | None = None) -> str:
        """`dating.identity` of the file (or of the `span` of it) from its size and the
        few bytes at each end: no more is read. NotFound as `fetch`."""
        return await asyncio.to_thread(self._identify, path, span)

    def _identify(self, path: str, span: Range | None) -> str:
        fd, info = self._open(path)
        try:
            offset, size = span if span is not None else (0, info.st_size)
            if offset + size > info.st_size:
                raise NotFound(f"{path!r} has no bytes {offset}-{offset + size - 1} yet")
            (head_at, head), (tail_at, tail) = dating.edges(size)
            return dating.identity_of_edges(
                size, os.pread(fd, head, offset + head_at), os.pread(fd, tail, offset + tail_at)
            )
        except OSError as exc:
            raise OriginUnavailable(f"cannot read {path!r}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _read(self, path: str) -> bytes:
        fd, info = self._open(path)
        try:
            limit = _limit(path, self.max_bytes)
            if info.st_size > limit:
                raise OriginUnavailable(f"{path!r} is larger than {limit} bytes")
            # One read of the whole file as fstat sized it (one copy, no join),
            # then on in chunks if it grew meanwhile.
            chunks = [os.read(fd, info.st_size)] if info.st_size else []
            size = len(chunks[0]) if chunks else 0
            while chunk := os.read(fd, _CHUNK):
                size += len(chunk)
                if size > limit:  # grew after fstat
                    raise OriginUnavailable(f"{path!r} is larger than {limit} bytes")
                chunks.append(chunk)
        except OSError as exc:
            raise OriginUnavailable(f"cannot read {path!r}: {exc.strerror}") from None
        finally:
            os.close(fd)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _open(self, path: str) -> tuple[int, os.stat_result]:
        """An open descriptor of the regular file at `path` inside the root, and its stat."""
        try:
            real = Path(os.path.realpath(self.root / path))
        except (OSError, ValueError):  # NUL, over-long or looping paths
            raise NotFound(path) from None
        if real == self.root or not real.is_relative_to(self.root):
            raise NotFound(path)
        # O_NOFOLLOW: a symlink swapped in after the check above is not followed.
        # O_NONBLOCK: opening a FIFO must not hang the thread; it is refused below.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(real, flags)
        except OSError as exc:
            if exc.errno in _MISSING:
                raise NotFound(path) from None
            raise OriginUnavailable(f"cannot open {path!r}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise OriginUnavailable(f"cannot read {path!r}: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise NotFound(path)
        return fd, info


class HttpOrigin:
    """Files under a base URL, fetched with an `httpx2.AsyncClient`; redirects never followed.

    A connection error or a 5xx answer is tried again, at most `retries`
    times after a random pause in `backoff` seconds (jitter, so replicas and
    flights do not retry in step), and never past `timeout` from the first
    try: `timeout` bounds the whole fetch, retries included. `requests`
    counts the requests sent (and `metrics`, if given, under `name`).
    """

    def __init__(
        self,
        base_url: str,
        client: httpx2.AsyncClient,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = 10.0,
        owns_client: bool = False,
        retries: int = 2,
        backoff: tuple[float, float] = (0.05, 0.2),
        metrics: Metrics | None = None,
        name: str = "origin",
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.client = client
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.requests = 0
        self._owns_client = owns_client
        self._counter = metrics.origin_requests.labels(name) if metrics is not None else None

    async def fetch(self, path: str) -> bytes:
        """GET base_url + quoted `path`, tried again on connection errors and 5xx.

        404/410 → NotFound; any other status outside 2xx (redirects included)
        → OriginUnavailable; no answer within `timeout` → OriginTimeout; a
        transport error or a body over `max_bytes` → OriginUnavailable, the
        body read only up to the limit.
        """
        deadline = time.monotonic() + self.timeout
        tries = 0
        while True:
            try:
                return await self._once(path, deadline - time.monotonic())
            except _Transient as transient:
                tries += 1
                pause = random.uniform(*self.backoff)
                # Another try needs time for the pause and a little for itself.
                if tries > self.retries or time.monotonic() + 2 * pause >= deadline:
                    raise transient.error from transient.__cause__
                await asyncio.sleep(pause)

    async def close(self) -> None:
        """Close the client if this origin created it; a shared client is left open."""
        if self._owns_client:
            await self.client.aclose()

    async def _once(self, path: str, budget: float) -> bytes:
        url = self.base_url + quote(path)
        # The budget bounds every phase; a shorter connect timeout on the client is kept.
        connect = self.client.timeout.connect
        timeouts = httpx2.Timeout(budget, connect=min(connect or budget, budget))
        self.requests += 1
        if self._counter is not None:
            self._counter.inc()
        try:
            # httpx2's timeouts bound each phase; this bounds the whole fetch.
            async with asyncio.timeout(budget):
                async with self.client.stream(
                    "GET", url, follow_redirects=False, timeout=timeouts
                ) as response:
                    status = response.status_code
                    if status in (404, 410):
                        raise NotFound(path)
                    if not 200 <= status < 300:
                        error = OriginUnavailable(f"origin answered {status} for {path!r}")
                        raise _Transient(error) if status in _RETRIED else error
                    limit = _limit(path, self.max_bytes)
                    declared = response.headers.get("content-length", "")
                    length = int(declared) if declared.isascii() and declared.isdigit() else None
                    if length is not None and length > limit:
                        raise OriginUnavailable(f"{path!r} is larger than {limit} bytes")
                    return await self._body(response, path, limit)
        except (httpx2.TimeoutException, TimeoutError) as exc:
            timeout = OriginTimeout(f"origin timed out for {path!r}: {type(exc).__name__}")
            if isinstance(exc, httpx2.ConnectTimeout):  # nothing sent yet: worth another try
                raise _Transient(timeout) from exc
            raise timeout from exc
        except httpx2.TransportError as exc:  # refused, reset, a kept-alive connection closed
            error = OriginUnavailable(f"origin failed for {path!r}: {type(exc).__name__}")
            raise _Transient(error) from exc
        except httpx2.HTTPError as exc:
            raise OriginUnavailable(f"origin failed for {path!r}: {type(exc).__name__}") from exc

    async def _body(self, response: httpx2.Response, path: str, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise OriginUnavailable(f"{path!r} is larger than {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _limit(path: str, max_bytes: int) -> int:
    """The largest body accepted for `path`: a playlist is parsed whole, so it gets less."""
    return min(max_bytes, MAX_PLAYLIST_BYTES) if is_playlist(path) else max_bytes


class _Transient(Exception):
    """A failure worth another try; `error` is what the caller gets if none is left."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(str(error))
        self.error = error


def make_origin(
    url: str,
    *,
    timeout: float,
    client: httpx2.AsyncClient | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    metrics: Metrics | None = None,
    name: str = "origin",
) -> CachingOrigin:
    """The origin a configured URL names, behind a `CachingOrigin` of `cache_bytes`.

    `file:///abs/folder` → FileOrigin (the folder taken literally, as
    settings writes it): bodies kept as for HTTP but each answer checked
    against the file's current version (`FileOrigin.version`, a stat), so a
    rewritten playlist is seen at once; failures not kept.
    `http(s)://host/base/` → HttpOrigin using `client` if given (left open by
    `close()`), else a client of its own with `timeout`, closed by `close()`:
    media segments kept 60 s, playlists and other files 1 s, failures 1 s.
    `metrics` counts requests, cache answers and errors under `name`. Raises
    ValueError for anything else.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        # Taken literally, not percent-decoded: settings writes "file://" + the resolved folder.
        folder = url[len("file://") :].removeprefix("localhost")
        if not folder.startswith("/"):
            raise ValueError(f"origin {url!r}: a file origin is file:///absolute/folder")
        files = FileOrigin(Path(folder), max_bytes=max_bytes)
        return CachingOrigin(
            files,
            max_bytes=cache_bytes,
            validate=files.version,
            error_ttl=0,
            metrics=metrics,
            name=name,
        )
    if parts.scheme in ("http", "https") and parts.netloc:
        owns = client is None
        if client is None:
            client = httpx2.AsyncClient(
                timeout=timeout,
                follow_redirects=False,
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
            )
        http = HttpOrigin(
            url,
            client,
            max_bytes=max_bytes,
            timeout=timeout,
            owns_client=owns,
            metrics=metrics,
            name=name,
        )
        return CachingOrigin(http, max_bytes=cache_bytes, metrics=metrics, name=name)
    raise ValueError(f"origin {url!r}: expected file:///folder, http:// or https:// URL")
