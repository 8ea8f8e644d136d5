"""The app under test: a real store (SQLite, or Redis with its own key prefix), a frozen clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from gateway.core.clock import FrozenClock
from gateway.core.records import Registrant
from gateway.mail.registrants import Registry
from gateway.settings import Settings
from gateway.store import Store
from gateway.web.app import create_app
from gateway.web.services import Services
from tests.conftest import REDIS_URL, delete_prefix, fresh_prefix, helsinki
from tests.support.hls import write_live, write_vod


@dataclass
class Gateway:
    client: TestClient
    clock: FrozenClock
    settings: Settings
    tmp: Path

    @property
    def services(self) -> Services:
        found: Services = self.client.app.state.services  # type: ignore[attr-defined]
        return found

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a coroutine function on the app's event loop (where its store lives)."""

        async def run() -> Any:
            return await fn(*args, **kwargs)

        assert self.client.portal is not None
        return self.client.portal.call(run)

    @property
    def registry(self) -> Registry:
        return Registry(self.settings, self.services.store, self.services.audit)

    def register(self, email: str = "maija@example.org", name: str = "Maija") -> Registrant:
        registrant: Registrant
        registrant, _ = self.call(
            self.registry.add,
            email=email,
            name=name,
            organisation="",
            now=self.clock(),
            actor="test",
        )
        return registrant

    def link_path(self, registrant: Registrant) -> str:
        return urlsplit(self.registry.link(registrant)).path

    def login(self, registrant: Registrant | None = None) -> TestClient:
        """Open the registrant's link in a fresh browser (cookie jar); return that client."""
        browser = self.browser()
        answer = browser.get(self.link_path(registrant or self.register()), follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return browser

    def browser(self, ip: str = "testclient") -> TestClient:
        other = TestClient(
            self.client.app, base_url="https://stream.example.org", client=(ip, 50000)
        )
        other.portal = self.client.portal  # share the running app (its lifespan and loop)
        return other

    def observe(self) -> int:
        count: int = self.call(self.services.live.observe)
        return count


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def make_gateway(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> Iterator[Callable[..., Gateway]]:
    opened: list[tuple[TestClient, Store | None]] = []
    prefixes: list[str] = []  # the test's one prefix on the shared Redis, made for kind="redis"

    def make(
        *,
        kind: str = "sqlite",
        clock: FrozenClock | None = None,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> Gateway:
        settings = settings or make_settings(**kwargs)
        store: Store | None = None
        if kind == "redis":
            from gateway.store.redis import RedisStore

            prefixes[:] = prefixes or [fresh_prefix()]  # replicas of one test share it
            store = RedisStore(REDIS_URL, prefix=prefixes[0])
        the_clock = clock or FrozenClock(helsinki("2021-11-18T10:30"))
        app = create_app(
            settings, store=store, clock=the_clock, watch_interval=None, background=False
        )
        client = TestClient(app, base_url="https://stream.example.org")
        client.__enter__()
        opened.append((client, store))
        return Gateway(client, the_clock, settings, tmp_path)

    yield make
    for client, store in opened:
        if store is not None:  # given to the app, so ours to close, after its last use
            assert client.portal is not None
            services: Services = client.app.state.services  # type: ignore[attr-defined]
            client.portal.call(services.attendance.flush)
            client.portal.call(store.close)
        client.__exit__(None, None, None)
    for prefix in prefixes:  # after the apps' last writes
        delete_prefix(prefix)


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()


@pytest.fixture
def any_gateway(make_gateway: Callable[..., Gateway], store_kind: str) -> Gateway:
    return make_gateway(kind=store_kind)


def encoder(tmp: Path, first: str, count: int, **kwargs: Any) -> list[tuple[str, dt.datetime]]:
    """An encoder's live playlist of `count` 4 s segments from Helsinki time `first`."""
    return write_live(tmp / "live", helsinki(first), count, **kwargs)


def recording(tmp: Path) -> list[str]:
    return write_vod(tmp / "recording")


COOKIE = "__Host-gw_session"  # the session cookie's name at a https event


def replicas(
    make_gateway: Callable[..., Gateway], kind: str, **kwargs: str
) -> tuple[Gateway, Gateway]:
    """Two app instances on one store (one Redis prefix, or one SQLite file) and one clock."""
    clock = FrozenClock(helsinki("2021-11-18T10:30"))
    first = make_gateway(kind=kind, clock=clock, **kwargs)
    second = make_gateway(kind=kind, clock=clock, **kwargs)
    encoder(first.tmp, "2021-11-18T10:29:40", 3)
    return first, second


def same_viewer(viewer: TestClient, replica: Gateway) -> TestClient:
    """The viewer's browser, sent to another replica (a load balancer's choice)."""
    other = replica.browser()
    other.cookies.set(COOKIE, viewer.cookies[COOKIE])
    return other
