"""Origins: where stream files come from, a local folder or an HTTP server.

Both kinds answer `fetch(path)` with the whole file's bytes for a path that
`paths.safe_path` has already accepted, and still refuse on their own to reach
outside their root (defence in depth: a symlink in the folder pointing out, a
sibling folder sharing the root's prefix, a redirect to another host). Library
and OS errors are translated here into NotFound, OriginUnavailable and
OriginTimeout; a body larger than `max_bytes` is refused without being held
whole in memory.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx2

from gateway.errors import NotFound, OriginTimeout, OriginUnavailable

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_CHUNK = 256 * 1024
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
        self.max_bytes = max_bytes

    async def fetch(self, path: str) -> bytes:
        """The file's bytes; NotFound unless its real path is a regular file inside the root."""
        return await asyncio.to_thread(self._read, path)

    async def close(self) -> None:
        """Nothing to release."""

    def _read(self, path: str) -> bytes:
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
            if not stat.S_ISREG(info.st_mode):
                raise NotFound(path)
            if info.st_size > self.max_bytes:
                raise OriginUnavailable(f"{path!r} is larger than {self.max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            while chunk := os.read(fd, _CHUNK):
                size += len(chunk)
                if size > self.max_bytes:  # grew after fstat
                    raise OriginUnavailable(f"{path!r} is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        except OSError as exc:
            raise OriginUnavailable(f"cannot read {path!r}: {exc.strerror}") from None
        finally:
            os.close(fd)
        return b"".join(chunks)


class HttpOrigin:
    """Files under a base URL, fetched with an `httpx2.AsyncClient`; redirects never followed."""

    def __init__(
        self,
        base_url: str,
        client: httpx2.AsyncClient,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = 10.0,
        owns_client: bool = False,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.client = client
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._owns_client = owns_client

    async def fetch(self, path: str) -> bytes:
        """GET base_url + quoted `path`.

        404/410 → NotFound; any other status outside 2xx (redirects included)
        → OriginUnavailable; a timeout → OriginTimeout; a transport error or a
        body over `max_bytes` → OriginUnavailable, the body read only up to
        the limit.
        """
        url = self.base_url + quote(path)
        # Our timeout bounds every phase; a shorter connect timeout on the client is kept.
        connect = self.client.timeout.connect
        limit = httpx2.Timeout(self.timeout, connect=min(connect or self.timeout, self.timeout))
        try:
            async with self.client.stream(
                "GET", url, follow_redirects=False, timeout=limit
            ) as response:
                status = response.status_code
                if status in (404, 410):
                    raise NotFound(path)
                if not 200 <= status < 300:
                    raise OriginUnavailable(f"origin answered {status} for {path!r}")
                declared = response.headers.get("content-length", "")
                if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
                    raise OriginUnavailable(f"{path!r} is larger than {self.max_bytes} bytes")
                return await self._body(response, path)
        except httpx2.TimeoutException as exc:
            raise OriginTimeout(f"origin timed out for {path!r}: {type(exc).__name__}") from exc
        except httpx2.HTTPError as exc:
            raise OriginUnavailable(f"origin failed for {path!r}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Close the client if this origin created it; a shared client is left open."""
        if self._owns_client:
            await self.client.aclose()

    async def _body(self, response: httpx2.Response, path: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise OriginUnavailable(f"{path!r} is larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def make_origin(
    url: str,
    *,
    timeout: float,
    client: httpx2.AsyncClient | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Origin:
    """The origin a configured URL names.

    `file:///abs/folder` → FileOrigin (the folder taken literally, as
    settings writes it); `http(s)://host/base/` → HttpOrigin
    using `client` if given (left open by `close()`), else a client of its
    own with `timeout`, closed by `close()`. Raises ValueError for anything else.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        # Taken literally, not percent-decoded: settings writes "file://" + the resolved folder.
        folder = url[len("file://") :].removeprefix("localhost")
        if not folder.startswith("/"):
            raise ValueError(f"origin {url!r}: a file origin is file:///absolute/folder")
        return FileOrigin(Path(folder), max_bytes=max_bytes)
    if parts.scheme in ("http", "https") and parts.netloc:
        owns = client is None
        if client is None:
            client = httpx2.AsyncClient(
                timeout=timeout,
                follow_redirects=False,
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return HttpOrigin(url, client, max_bytes=max_bytes, timeout=timeout, owns_client=owns)
    raise ValueError(f"origin {url!r}: expected file:///folder, http:// or https:// URL")
