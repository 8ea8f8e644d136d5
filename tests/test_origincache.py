"""The origin cache in front of a real local HTTP origin that counts what it is asked."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gateway.core import dating
from gateway.core.errors import GatewayError, NotFound, OriginTimeout, OriginUnavailable
from gateway.metrics import Metrics
from gateway.stream.cache import CachingOrigin
from gateway.stream.origins import FileOrigin, HttpOrigin, make_origin
from tests.support.origin_server import (
    OriginHandler,
    OriginServer,
    fixture_client,  # noqa: F401 - the `client` fixture
    serving,
)

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024
PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg1.ts\n"


class Origin(OriginServer):
    """An HLS origin: `seg/<bytes>/<name>` bodies, `index.m3u8`, `status/<n>`, `slow`.

    `delay` holds every answer back that long, so concurrent requests overlap;
    `seen` counts the requests by path.
    """

    request_queue_size = 256
    base_path = "/live/"

    def __init__(self) -> None:
        super().__init__(Handler)
        self.seen: Counter[str] = Counter()
        self.times: list[float] = []
        self.delay = 0.0

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.seen.values())


class Handler(OriginHandler):
    server: Origin

    def do_GET(self) -> None:
        route = self.path.removeprefix("/live/")
        with self.server.lock:
            self.server.seen[route] += 1
            self.server.times.append(time.monotonic())
        if self.server.delay:
            time.sleep(self.server.delay)
        try:
            if route.startswith("seg/"):
                size = int(route.split("/")[1])
                self.answer(200, (route.encode() * (size // len(route) + 1))[:size])
            elif route == "index.m3u8":
                self.answer(200, PLAYLIST)
            elif route.startswith("status/"):
                self.answer(int(route.split("/")[1]), b"no")
            elif route == "slow":
                self.server.release.wait(10)
                self.answer(200, b"late")
            else:
                self.answer(404, b"no")
        except OSError:
            self.close_connection = True  # the client went away, as some tests intend


@pytest.fixture
def origin() -> Iterator[Origin]:
    yield from serving(Origin())


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached(
    origin: Origin, client: httpx2.AsyncClient, **kwargs: Any
) -> tuple[CachingOrigin, HttpOrigin]:
    http = HttpOrigin(origin.url, client, timeout=2.0)
    return CachingOrigin(http, **kwargs), http


async def gather_outcomes(
    cache: CachingOrigin, path: str, count: int
) -> list[bytes | BaseException]:
    return await asyncio.gather(*(cache.fetch(path) for _ in range(count)), return_exceptions=True)


# Single flight


async def test_a_thousand_concurrent_viewers_cost_one_origin_request(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    origin.delay = 0.2  # every viewer asks while the one fetch is on its way
    cache, http = cached(origin, client)
    path = f"seg/{MiB}/seg1.ts"
    bodies = await gather_outcomes(cache, path, 1000)
    assert origin.seen[path] == 1 and http.requests == 1
    assert all(body is bodies[0] for body in bodies) and len(bodies[0]) == MiB  # type: ignore[arg-type]
    assert (cache.misses, cache.joins) == (1, 999)
    assert await cache.fetch(path) is bodies[0]  # and later ones are answered from memory
    assert origin.seen[path] == 1 and cache.hits == 1


async def test_each_segment_is_fetched_once_whatever_the_viewers(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    """1,000 viewers following a live stream: one origin request per segment."""
    cache, _ = cached(origin, client)
    names = [f"seg/{64 * 1024}/seg{n}.ts" for n in range(5)]

    async def viewer(index: int) -> None:
        for name in names:
            await asyncio.sleep(index % 7 * 0.001)  # viewers do not ask in step
            assert len(await cache.fetch(name)) == 64 * 1024

    await asyncio.gather(*(viewer(i) for i in range(1000)))
    assert {name: origin.seen[name] for name in names} == dict.fromkeys(names, 1)


async def test_a_viewer_hanging_up_does_not_cancel_the_fetch_for_the_others(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    origin.delay = 0.2
    cache, _ = cached(origin, client)
    first = asyncio.create_task(cache.fetch("seg/100/a.ts"))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(cache.fetch("seg/100/a.ts"))
    await asyncio.sleep(0.01)
    first.cancel()
    assert len(await second) == 100
    assert first.cancelled() and origin.seen["seg/100/a.ts"] == 1


# Content identity: what dating binds a date to


async def test_identity_is_the_same_from_a_files_edges_and_from_its_body(tmp_path: Path) -> None:
    body = bytes(range(256)) * 100  # 25.6 kB: head and tail read apart
    (tmp_path / "a.ts").write_bytes(body)
    files = make_origin(f"file://{tmp_path}", timeout=1.0)
    assert await files.identify("a.ts") == dating.identity(body)
    assert await files.identify("a.ts", (1000, 9000)) == dating.identity(body[1000:10000])
    (tmp_path / "b.ts").write_bytes(b"tiny")
    assert await files.identify("b.ts") == dating.identity(b"tiny")
    with pytest.raises(NotFound):  # a range the file does not hold (yet)
        await files.identify("a.ts", (25_000, 1000))
    (tmp_path / "a.ts").write_bytes(body[:-1] + b"x")  # the same size, one byte rewritten
    assert await files.identify("a.ts") != dating.identity(body)


async def test_an_http_origin_is_identified_from_the_fetched_body(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    cache, http = cached(origin, client)
    body = await cache.fetch("seg/5000/a.ts")
    assert await cache.identify("seg/5000/a.ts") == dating.identity(body)
    assert await cache.identify("seg/5000/a.ts", (10, 20)) == dating.identity(body[10:30])
    with pytest.raises(NotFound):
        await cache.identify("seg/5000/a.ts", (4990, 20))
    assert http.requests == 1  # the kept body, not another fetch


# Playlists at most once a second


async def test_playlists_are_fetched_at_most_once_a_second(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    clock = Monotonic()
    cache, _ = cached(origin, client, monotonic=clock)
    start = clock.now
    asked_at: list[float] = []
    for tick in range(300):  # 3 s of viewers asking every 10 ms, 20 at a time
        clock.now = start + tick / 100
        before = origin.seen["index.m3u8"]
        assert set(await gather_outcomes(cache, "index.m3u8", 20)) == {PLAYLIST}
        if origin.seen["index.m3u8"] > before:
            asked_at.append(tick / 100)
    assert origin.seen["index.m3u8"] == 3
    assert asked_at == [0.0, 1.0, 2.0]


async def test_segments_are_kept_for_their_max_age(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    clock = Monotonic()
    cache, _ = cached(origin, client, monotonic=clock, segment_ttl=60.0)
    await cache.fetch("seg/10/a.ts")
    clock.now += 59.9
    await cache.fetch("seg/10/a.ts")
    assert origin.seen["seg/10/a.ts"] == 1
    clock.now += 0.2
    await cache.fetch("seg/10/a.ts")
    assert origin.seen["seg/10/a.ts"] == 2


async def test_files_that_may_change_are_kept_like_playlists(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    clock = Monotonic()
    cache, _ = cached(origin, client, monotonic=clock)
    paths = ["seg/10/init.mp4", "seg/10/captions.vtt", "seg/10/key.bin", "seg/10/a.m4s"]
    for path in paths:
        await cache.fetch(path)
    clock.now += 1.5
    for path in paths:
        await cache.fetch(path)
    assert [origin.seen[path] for path in paths] == [2, 2, 2, 1]


# Bounded


async def test_the_cache_holds_at_most_its_size_dropping_the_least_recently_used(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    cache, _ = cached(origin, client, max_bytes=MiB)
    names = [f"seg/{300 * 1024}/s{n}.ts" for n in range(10)]
    for name in names:
        await cache.fetch(name)
        await cache.fetch(names[0])  # kept in use: never the one dropped
        assert cache.size <= MiB
    assert cache.size == 3 * 300 * 1024
    assert origin.seen[names[0]] == 1
    await cache.fetch(names[-1])
    await cache.fetch(names[-2])
    assert origin.seen[names[-1]] == 1 and origin.seen[names[-2]] == 1
    await cache.fetch(names[1])  # dropped long ago: asked again
    assert origin.seen[names[1]] == 2 and cache.size <= MiB


async def test_a_body_larger_than_the_cache_is_served_but_not_kept(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    cache, _ = cached(origin, client, max_bytes=1000)
    assert len(await cache.fetch("seg/2000/big.ts")) == 2000
    assert len(await cache.fetch("seg/2000/big.ts")) == 2000
    assert origin.seen["seg/2000/big.ts"] == 2 and cache.size == 0


async def test_expired_bodies_are_swept_out_without_being_asked_for(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    clock = Monotonic()
    cache, _ = cached(origin, client, monotonic=clock, segment_ttl=60.0)
    for n in range(20):  # a live stream: one new 1 KiB segment every 4 s
        await cache.fetch(f"seg/1024/s{n}.ts")
        assert cache.size <= 16 * 1024  # at most the last 60 s of segments
        clock.now += 4.0
    assert cache.size == 15 * 1024


# Failures


async def test_a_failing_origin_is_asked_at_most_three_times_in_a_second(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    cache, http = cached(origin, client)
    started = time.monotonic()
    outcomes = await gather_outcomes(cache, "status/503", 200)
    assert time.monotonic() - started < 1.0  # two retries of 50-200 ms, then everyone is told
    assert all(isinstance(o, OriginUnavailable) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 200  # each waiter raises an error of its own
    while time.monotonic() - started < 1.0:  # the storm goes on: answered from memory
        storm = await gather_outcomes(cache, "status/503", 50)
        assert all(isinstance(o, OriginUnavailable) for o in storm)
        await asyncio.sleep(0.02)
    assert origin.seen["status/503"] == http.requests <= 3


async def test_a_failure_is_remembered_about_a_second_then_tried_again(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    clock = Monotonic()
    cache, _ = cached(origin, client, monotonic=clock, error_ttl=1.0)
    for _ in range(2):
        with pytest.raises(NotFound):
            await cache.fetch("nothing.ts")
    assert origin.seen["nothing.ts"] == 1
    clock.now += 1.01
    with pytest.raises(NotFound):
        await cache.fetch("nothing.ts")
    assert origin.seen["nothing.ts"] == 2


async def test_a_slow_origin_times_out_once_for_everyone(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    http = HttpOrigin(origin.url, client, timeout=0.3)
    cache = CachingOrigin(http)
    started = time.monotonic()
    outcomes = await gather_outcomes(cache, "slow", 200)
    assert time.monotonic() - started < 1.0
    assert all(isinstance(o, OriginTimeout) for o in outcomes)
    assert origin.seen["slow"] == 1  # a read timeout is not tried again


async def test_an_unreachable_origin_fails_fast_for_a_storm(client: httpx2.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = HttpOrigin(f"http://127.0.0.1:{port}/", client)
    cache = CachingOrigin(http)
    started = time.monotonic()
    outcomes = await gather_outcomes(cache, "seg1.ts", 200)
    assert time.monotonic() - started < 0.8
    assert all(isinstance(o, OriginUnavailable) for o in outcomes)
    assert http.requests == 3


async def test_errors_raised_again_do_not_grow_a_shared_traceback(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    cache, _ = cached(origin, client)
    depths = []
    for _ in range(5):
        try:
            await cache.fetch("missing.ts")
        except GatewayError as exc:
            depth, tb = 0, exc.__traceback__
            while tb is not None:
                depth, tb = depth + 1, tb.tb_next
            depths.append(depth)
    # The first from the flight, the others from memory: the same few frames each time.
    assert len(set(depths[1:])) == 1 and max(depths) <= 4


async def test_close_ends_the_flights_in_progress(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    cache, _ = cached(origin, client)
    waiting = asyncio.create_task(cache.fetch("slow"))
    await asyncio.sleep(0.05)
    await cache.close()
    with pytest.raises(OriginUnavailable, match="closed"):
        await waiting


# Counted


async def test_origin_requests_and_cache_answers_are_counted_in_metrics(
    origin: Origin, client: httpx2.AsyncClient
) -> None:
    metrics = Metrics()
    cache = make_origin(origin.url, timeout=2.0, client=client, metrics=metrics, name="live")
    origin.delay = 0.1
    await gather_outcomes(cache, "seg/10/a.ts", 10)
    await cache.fetch("seg/10/a.ts")
    with pytest.raises(NotFound):
        await cache.fetch("nothing.ts")

    def value(name: str, **labels: str) -> float:
        found = metrics.registry.get_sample_value(name, labels)
        return found or 0.0

    assert value("gateway_origin_requests_total", origin="live") == 2
    assert value("gateway_origin_cache_total", origin="live", result="miss") == 2
    assert value("gateway_origin_cache_total", origin="live", result="join") == 9
    assert value("gateway_origin_cache_total", origin="live", result="hit") == 1
    assert value("gateway_origin_errors_total", origin="live", kind="not_found") == 1


# File origins


async def test_file_origin_segments_are_read_once_for_concurrent_viewers(tmp_path: Path) -> None:
    (tmp_path / "seg1.ts").write_bytes(b"x" * MiB)
    file_origin = make_origin(f"file://{tmp_path}", timeout=1.0)
    assert isinstance(file_origin.inner, FileOrigin)
    bodies = await gather_outcomes(file_origin, "seg1.ts", 500)
    assert all(body is bodies[0] for body in bodies)
    assert file_origin.misses == 1
