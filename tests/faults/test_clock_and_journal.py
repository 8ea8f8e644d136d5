"""A replica's clock drifts; Redis loses the last second of writes, a revocation among them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.audit.log import AuditLog
from gateway.core.clock import FrozenClock, system_clock
from gateway.mail.registrants import Registry
from gateway.settings import Settings
from gateway.store.redis import RedisStore
from gateway.web.app import create_app
from tests.conftest import REDIS_URL, OwnRedis
from tests.faults.conftest import Figures

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("offset", "ready"), [(90, False), (-90, False), (2, True)])
def test_a_replica_whose_clock_is_off_is_unready_with_the_reason(
    make_settings: Callable[..., Settings],
    redis_prefix: str,
    offset: int,
    ready: bool,
    record_figures: Callable[[str], Figures],
) -> None:
    if offset == 90:
        record_figures("clock 90 s fast vs Redis TIME: unready")
    clock = FrozenClock(system_clock() + dt.timedelta(seconds=offset))
    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    app = create_app(
        make_settings(), store=store, clock=clock, watch_interval=None, background=False
    )
    with TestClient(app) as client:
        answer = client.get("/readyz")
        assert client.portal is not None
        client.portal.call(store.close)
    assert (answer.status_code == 200) is ready
    if not ready:
        assert "90 s" in answer.json()["reason"]
        assert ("ahead" if offset > 0 else "behind") in answer.json()["reason"]


async def test_a_revocation_lost_by_redis_is_restored_from_the_journal(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    record_figures: Callable[[str], Figures],
) -> None:
    figures = record_figures("revocation just before a Redis crash (AOF)")
    redis = OwnRedis(tmp_path / "redis", appendonly=True)
    redis.start()
    settings = make_settings()
    clock = FrozenClock(dt.datetime(2021, 11, 18, 8, 30, tzinfo=dt.UTC))
    store = RedisStore(redis.url, timeout=0.5)
    try:
        registry = Registry(settings, store, AuditLog(store, clock))
        registrant, _ = await registry.add(
            email="r@example.org", name="R", organisation="", now=clock(), actor="test"
        )
        time.sleep(1.5)  # on disk by now (appendfsync everysec)
        # The same write AOF may lose: a revocation a moment before the crash. Make the
        # loss certain (an AOF rewrite gap is a race) by undoing it in Redis by hand after.
        await registry.revoke("r@example.org", actor="ops")
        await store._redis.hset(
            store._key("reg", registrant.id),  # noqa: SLF001 - the crash
            mapping={"revision": "0", "revoked": "0"},
        )
        redis.stop()
        redis.start()
        lost = await store.registrant(registrant.id)
        assert lost is not None and not lost.revoked
        figures.events_lost = 1  # before the replay...
        assert await registry.journal.replay(store) == 1
        restored = await store.registrant(registrant.id)
        assert restored is not None and restored.revoked and restored.revision == 1
        assert restored.link_version == 1  # the same link: a reinstatement gives it back
        figures.events_lost = 0  # ...and after
        assert await registry.journal.replay(store) == 0  # idempotent
    finally:
        await store.close()
        redis.stop()
