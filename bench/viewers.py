"""The HLS-like load generator: `python -m bench.viewers MODE ...`, one JSON line on stdout.

Modes:
  open   open personal links (GET /w/<token>) and write one session cookie per line
  hls    N viewers, each with its own cookie and connection: fetch the playlist every
         target duration (4 s, phases spread), fetch each new segment once (starting at
         the live edge), like an HLS player; latencies, errors, bytes, falling behind.
         --tls speaks TLS (any certificate: loopback only); --shard k/n takes every n-th
         cookie from the k-th, so n processes share the viewers; --samples FILE writes
         every latency, so their percentiles can be merged; --warmup S counts the
         latencies of the first S seconds apart (joining: connections, TLS handshakes)
  churn  sessions that come and go: open a link, play a little (playlist, one or two
         segments), drop the connection; again, until the time is up

Every loop is bounded in count and time and stops by itself; loopback only.
The generator reports its own CPU (getrusage) so one can tell it kept up; it runs on
uvloop when installed (a dependency of the gateway), which costs it less CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.client import Client, HttpError, Reply
from bench.procs import loopback_tls

HARD_EXTRA = 30.0  # seconds past the planned end after which everything is cancelled


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass
class Stats:
    playlist_ms: list[float] = field(default_factory=list)
    segment_ms: list[float] = field(default_factory=list)
    open_ms: list[float] = field(default_factory=list)
    join_ms: list[float] = field(default_factory=list)  # hls: any request before --warmup ends
    steady: float = 0.0  # hls: the loop time from which latencies count (after --warmup)
    segment_bytes: int = 0
    total_bytes: int = 0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    fell_behind: int = 0  # playlist refreshes that started more than 1 s late
    max_lag: float = 0.0  # the furthest behind its 4 s schedule any viewer fell (s)
    started: int = 0
    kept_up: int = 0
    sessions: int = 0
    connects: int = 0

    def latency(self, kind: list[float], ms: float) -> None:
        """Into `kind` in the steady state, into join_ms while viewers are still joining."""
        steady = asyncio.get_running_loop().time() >= self.steady
        (kind if steady else self.join_ms).append(ms)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def count(self, reply: Reply) -> None:
        self.requests += 1
        self.total_bytes += reply.size

    def summary(self, seconds: float, began_cpu: float) -> dict[str, object]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - began_cpu

        def ms(values: list[float]) -> dict[str, float | int]:
            return {
                "count": len(values),
                "p50": percentile(values, 50),
                "p99": percentile(values, 99),
                "max": max(values) if values else float("nan"),
            }

        return {
            "seconds": seconds,
            "requests": self.requests,
            "total_bytes": self.total_bytes,
            "segment_bytes": self.segment_bytes,
            "playlist_ms": ms(self.playlist_ms),
            "segment_ms": ms(self.segment_ms),
            "open_ms": ms(self.open_ms),
            "join_ms": ms(self.join_ms),
            "errors": self.errors,
            "error_total": sum(self.errors.values()),
            "fell_behind": self.fell_behind,
            "max_lag": self.max_lag,
            "started": self.started,
            "kept_up": self.kept_up,
            "sessions": self.sessions,
            "connects": self.connects,
            "cpu_seconds": cpu,
            "max_rss_kb": usage.ru_maxrss,
        }


def listed(playlist: bytes) -> list[str]:
    text = playlist.decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _cookie_header(name: str, value: str) -> dict[str, str]:
    return {"Cookie": f"{name}={value}"}


async def _get(
    client: Client, path: str, headers: dict[str, str], stats: Stats, *, keep: bool
) -> Reply | None:
    try:
        reply = await client.get(path, headers, keep=keep)
    except TimeoutError:
        stats.error("timeout")
        return None
    except (HttpError, OSError) as exc:
        stats.error(type(exc).__name__)
        return None
    stats.count(reply)
    return reply


async def viewer(
    args: argparse.Namespace, cookie: str, phase: float, end: float, stats: Stats
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(phase)
    if loop.time() >= end:
        return
    stats.started += 1
    client = Client("127.0.0.1", args.port, timeout=args.timeout, tls=args.tls_context)
    headers = _cookie_header(args.cookie_name, cookie)
    base = args.playlist.rsplit("/", 1)[0] + "/"
    seen: set[str] = set()
    clean, first = True, True
    max_lag = 0.0
    next_refresh = loop.time()
    try:
        while loop.time() < end:
            reply = await _get(client, args.playlist, headers, stats, keep=True)
            if reply is not None and reply.status != 200:
                stats.error(f"playlist {reply.status}")
            if reply is None or reply.status != 200:
                clean = False
            else:
                stats.latency(stats.playlist_ms, reply.seconds * 1000)
                names = listed(reply.body)
                fresh = names[-1:] if first else [n for n in names if n not in seen]
                first = False
                seen.update(names)
                for name in fresh:
                    if loop.time() >= end:
                        break
                    got = await _get(client, base + name, headers, stats, keep=False)
                    if got is not None and got.status == 200:
                        stats.latency(stats.segment_ms, got.seconds * 1000)
                        stats.segment_bytes += got.size
                    else:
                        clean = False
                        if got is not None:
                            stats.error(f"segment {got.status}")
            # A fixed schedule, as a player's clock: a late viewer asks again at once
            # (catching up, as players do) and its lag is how far behind schedule it is.
            next_refresh += args.target
            now = loop.time()
            lag = now - next_refresh
            if lag > 0:
                max_lag = max(max_lag, lag)
                if lag > 1.0:
                    stats.fell_behind += 1
            await asyncio.sleep(max(0.0, min(next_refresh, end) - now))
    finally:
        stats.connects += client.connects
        client.close()
    stats.max_lag = max(stats.max_lag, max_lag)
    if clean and max_lag <= args.target:
        stats.kept_up += 1


async def churner(args: argparse.Namespace, links: list[str], k: int, end: float, s: Stats) -> None:
    """Open a link, play a little, drop; bounded by `end` and by --max-sessions."""
    loop = asyncio.get_running_loop()
    rng = random.Random(k)
    await asyncio.sleep(rng.uniform(0, 1.0))
    base = args.playlist.rsplit("/", 1)[0] + "/"
    while loop.time() < end and s.sessions < args.max_sessions:
        client = Client("127.0.0.1", args.port, timeout=args.timeout)
        try:
            link = links[rng.randrange(len(links))]
            opened = await _get(client, link, {}, s, keep=False)
            cookie = opened.cookies.get(args.cookie_name) if opened else None
            if opened is None or opened.status != 303 or not cookie:
                s.error(f"open {opened.status if opened else 'failed'}")
                await asyncio.sleep(1.0)
                continue
            s.sessions += 1
            s.open_ms.append(opened.seconds * 1000)
            headers = _cookie_header(args.cookie_name, cookie)
            for _ in range(rng.randint(1, 2)):
                reply = await _get(client, args.playlist, headers, s, keep=True)
                if reply is None or reply.status != 200:
                    s.error(f"playlist {reply.status if reply else 'failed'}")
                    break
                s.playlist_ms.append(reply.seconds * 1000)
                names = listed(reply.body)
                if names:
                    got = await _get(client, base + names[-1], headers, s, keep=False)
                    if got is not None and got.status == 200:
                        s.segment_ms.append(got.seconds * 1000)
                        s.segment_bytes += got.size
                    elif got is not None:
                        s.error(f"segment {got.status}")
                await asyncio.sleep(rng.uniform(0.2, 1.0))
        finally:
            client.close()


async def opener(args: argparse.Namespace, links: list[str], stats: Stats) -> list[str]:
    cookies: list[str] = [""] * len(links)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(links)):
        queue.put_nowait(i)

    async def work() -> None:
        client = Client("127.0.0.1", args.port, timeout=args.timeout)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                reply = await _get(client, links[i], {}, stats, keep=False)
                if reply is None or reply.status != 303:
                    stats.error(f"open {reply.status if reply else 'failed'}")
                    continue
                stats.open_ms.append(reply.seconds * 1000)
                cookies[i] = reply.cookies.get(args.cookie_name, "")
                stats.sessions += 1
        finally:
            client.close()

    await asyncio.gather(*(work() for _ in range(args.concurrency)))
    return cookies


async def pacer(
    args: argparse.Namespace, cookies: list[str], k: int, start: float, end: float, stats: Stats
) -> None:
    """One of `--concurrency` kept-alive connections asking `GET /auth` as nginx does (the
    original URI `--uri`, each time the next session's cookie): `--rate` requests a second
    across them all, evenly spaced, so that each request reaches an idle server alone."""
    loop = asyncio.get_running_loop()
    client = Client("127.0.0.1", args.port, timeout=args.timeout, tls=None)
    every = args.concurrency / args.rate
    at = start + every * k / args.concurrency
    turn = k
    try:
        while at < end:
            await asyncio.sleep(max(0.0, at - loop.time()))
            cookie = cookies[turn % len(cookies)]
            headers = {"X-Original-URI": args.uri, **_cookie_header(args.cookie_name, cookie)}
            reply = await _get(client, "/auth", headers, stats, keep=True)
            if reply is not None and reply.status != 204:
                stats.error(f"auth {reply.status}")
            turn += args.concurrency
            at += every
    finally:
        client.close()


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    raise_fd_limit()
    args.tls_context = loopback_tls() if args.tls else None
    stats = Stats()
    began_cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    loop = asyncio.get_running_loop()
    start = loop.time()
    if args.mode == "open":
        links = Path(args.links).read_text().split()
        async with asyncio.timeout(args.seconds):
            cookies = await opener(args, links, stats)
        Path(args.out).write_text("\n".join(cookies) + "\n")
        return stats.summary(loop.time() - start, began_cpu)
    end = start + args.seconds
    stats.steady = start + args.warmup
    if args.mode == "hls":
        cookies = [c for c in Path(args.cookies).read_text().split() if c][: args.viewers]
        shard, shards = (int(n) for n in args.shard.split("/"))
        cookies = cookies[shard::shards]
        if not cookies:
            raise SystemExit(f"no session cookies in {args.cookies} for shard {args.shard}")
        rng = random.Random(7 + shard)
        tasks = [
            asyncio.ensure_future(viewer(args, c, rng.uniform(0, args.spread), end, stats))
            for c in cookies
        ]
    elif args.mode == "paced":
        cookies = [c for c in Path(args.cookies).read_text().split() if c][: args.viewers]
        tasks = [
            asyncio.ensure_future(pacer(args, cookies, k, start, end, stats))
            for k in range(args.concurrency)
        ]
    else:
        links = Path(args.links).read_text().split()
        tasks = [
            asyncio.ensure_future(churner(args, links, k, end, stats))
            for k in range(args.concurrency)
        ]
    done, not_done = await asyncio.wait(tasks, timeout=args.seconds + HARD_EXTRA)
    for task in not_done:
        task.cancel()
        stats.error("cancelled at the hard deadline")
    for task in done:
        if task.exception() is not None:
            stats.error(f"crash {type(task.exception()).__name__}")
    if args.samples:
        samples = {
            "playlist_ms": stats.playlist_ms,
            "segment_ms": stats.segment_ms,
            "join_ms": stats.join_ms,
        }
        Path(args.samples).write_text(json.dumps(samples))
    return stats.summary(loop.time() - start, began_cpu)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.viewers")
    parser.add_argument("mode", choices=["open", "hls", "churn", "paced"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cookie-name", default="gw_session")
    parser.add_argument("--playlist", default="/live/index.m3u8")
    parser.add_argument("--cookies", help="hls: a file of session cookies, one a line")
    parser.add_argument("--links", help="open/churn: a file of /w/<token> paths")
    parser.add_argument("--out", help="open: where the cookies go")
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--spread", type=float, default=4.0, help="start phases over this")
    parser.add_argument("--target", type=float, default=4.0, help="playlist refresh interval")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-sessions", type=int, default=100_000)
    parser.add_argument("--tls", action="store_true", help="hls: over TLS (loopback only)")
    parser.add_argument("--shard", default="0/1", help="hls: k/n, every n-th cookie from k")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced: requests a second")
    parser.add_argument("--uri", default="/live/index.m3u8", help="paced: X-Original-URI")
    parser.add_argument("--samples", help="hls: write every latency (JSON) here")
    parser.add_argument(
        "--warmup", type=float, default=0.0, help="hls: latencies before this count as joining"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(main_async(args))
    else:
        result = uvloop.run(main_async(args))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
