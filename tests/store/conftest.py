"""Fixtures for the store contract suite: every test runs once per backend.

`make_store` builds store instances on one backend (one SQLite file under
`tmp_path`, or one key prefix of the test's own on the Redis at 127.0.0.1:6379),
so a test can open a second instance to play a second process or replica; every
instance is closed and every Redis key deleted afterwards. `store` is the first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import REDIS_URL

MakeStore = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    stores: list[Store] = []
    if request.param == "sqlite":
        path = str(tmp_path / "state" / "gateway.db")  # the folder does not exist yet

        def make() -> Store:
            stores.append(SqliteStore(path))
            return stores[-1]
    else:
        prefix: str = request.getfixturevalue("redis_prefix")  # deletes its keys afterwards

        def make() -> Store:
            stores.append(RedisStore(REDIS_URL, prefix=prefix))
            return stores[-1]

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
def store(make_store: MakeStore) -> Store:
    return make_store()
