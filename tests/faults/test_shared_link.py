"""A personal link forwarded to a mailing list: 50 opens from 50 addresses at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from gateway.core.clock import FrozenClock
from gateway.mail.registrants import Registry
from gateway.settings import Settings
from gateway.store.redis import RedisStore
from gateway.web.app import create_app
from tests.conftest import REDIS_URL, helsinki
from tests.faults.conftest import Figures
from tests.support.hls import write_live

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def test_fifty_opens_at_once_never_admit_more_than_max_devices(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    redis_prefix: str,
    kind: str,
    record_figures: Callable[[str], Figures],
) -> None:
    figures = record_figures(f"shared link, 50 opens at once ({kind})")
    settings = make_settings(sessions="max_devices = 3\nsharing_threshold = 5")
    write_live(tmp_path / "live", helsinki("2021-11-18T10:29:40"), 3)
    store = RedisStore(REDIS_URL, prefix=redis_prefix) if kind == "redis" else None
    clock = FrozenClock(helsinki("2021-11-18T10:30"))
    app = create_app(settings, store=store, clock=clock, watch_interval=None, background=False)
    async with app.router.lifespan_context(app):
        services = app.state.services
        registry = Registry(settings, services.store, services.audit)
        registrant, _ = await registry.add(
            email="shared@example.org", name="S", organisation="", now=clock(), actor="test"
        )
        path = "/w/" + registry.link(registrant).rsplit("/w/", 1)[1]

        async def open_from(i: int) -> httpx2.AsyncClient:
            transport = httpx2.ASGITransport(app=app, client=(f"198.51.100.{i}", 40000))
            client = httpx2.AsyncClient(transport=transport, base_url="https://stream.example.org")
            answer = await client.get(path)
            assert answer.status_code == 303
            return client

        clients = await asyncio.gather(*(open_from(i) for i in range(50)))
        statuses = [(await c.get("/live/index.m3u8")).status_code for c in clients]
        for client in clients:
            await client.aclose()
        figures.requests = 100
        figures.server_errors = sum(s >= 500 for s in statuses)
        figures.wrong_decisions = max(0, statuses.count(200) - 3)
        assert statuses.count(200) == 3 and statuses.count(401) == 47
        events = await services.store.audit_events()
        assert sum(e.type == "session.sharing_suspected" for e in events) == 1
        assert sum(e.type == "session.evicted" for e in events) == 47
    if store is not None:  # given to the app, so ours to close once it has shut down
        await store.close()
