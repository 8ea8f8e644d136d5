"""A local HTTP origin that counts what it is asked: `python -m bench.origin --root D --port P`.

Serves the files of one folder over HTTP/1.1 keep-alive (GET and HEAD,
Content-Length bodies), counting requests per path. `GET /__counts` answers
the counts as JSON (not counted itself). Loopback only; it stops by itself
after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


class Origin:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.counts: dict[str, int] = {}
        self.cache: dict[str, tuple[int, int, bytes]] = {}

    def read(self, name: str) -> bytes | None:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            return None
        try:
            info = path.stat()
        except OSError:
            return None
        cached = self.cache.get(name)
        if cached and cached[0] == info.st_mtime_ns and cached[1] == info.st_size:
            return cached[2]
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if name.endswith(".ts"):
            self.cache[name] = (info.st_mtime_ns, info.st_size, data)
            if len(self.cache) > 64:
                self.cache.pop(next(iter(self.cache)))
        return data

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, _, rest = line.partition(" ")
                target = rest.split(" ", 1)[0].split("?", 1)[0]
                name = target.lstrip("/")
                if target == "/__counts":
                    body, status, ctype = json.dumps(self.counts).encode(), 200, "application/json"
                else:
                    self.counts[name] = self.counts.get(name, 0) + 1
                    data = self.read(name) if method in ("GET", "HEAD") else None
                    ctype = TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
                    status, body = (200, data) if data is not None else (404, b"not found\n")
                reason = "OK" if status == 200 else "Not Found"
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-cache\r\n\r\n".encode()
                )
                if method != "HEAD":
                    writer.write(body)
                await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()


async def serve(root: Path, port: int, max_seconds: float) -> None:
    origin = Origin(root)
    server = await asyncio.start_server(origin.handle, "127.0.0.1", port, backlog=4096)
    async with server:
        print(f"origin ready on 127.0.0.1:{port}", flush=True)
        await asyncio.sleep(max_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.origin")
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(Path(args.root), args.port, args.max_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
