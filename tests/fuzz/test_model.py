"""A stateful model of the day against the real app: who may watch, after any sequence of changes.

Hypothesis drives the app in process (SQLite store in a temp folder, frozen
clock, a live origin whose playlist is dated all day) through registrations,
link opens (current and old links), revocations, reinstatements, reissues, key
rotations (a new app instance over the same store with a new first key;
sometimes only "new,previous" are kept, and sessions and links signed with an
older key stop working), part moves, the ops kill switch and the clock, and
after every step checks each session ever opened against the model:

- a revoked registrant's sessions get 403; a session ended by a reissue, by
  eviction beyond max_devices, by expiry or by the retirement of its key gets 401;
- outside a streamed part /live is never 200, except during the end grace of
  the part that just ended (the playlist then closed with ENDLIST); inside a
  streamed part a valid session gets 200; a served playlist lists only that
  part's segments;
- the audit chain verifies, and `access.refused` is written once per
  (session, reason, part).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from limits import parse
from starlette.testclient import TestClient

from gateway.core import chain
from gateway.core.clock import FrozenClock
from gateway.sessions.controls import ScheduleRefused
from gateway.settings import Settings, load_settings
from gateway.web import ratelimit
from gateway.web.app import create_app
from gateway.web.services import Services
from tests.conftest import helsinki, seminar_toml
from tests.support.hls import listed, write_live

DAY = helsinki("2021-11-18T00:00")
GRACE = dt.timedelta(seconds=60)
LIFETIME = dt.timedelta(hours=12)
MAX_DEVICES = 2
SEGMENT = dt.timedelta(minutes=10)  # 144 segments date the whole day, cheaply
EMAILS = ["anna@example.org", "bo@example.org", "cai@example.org"]
PARTS = ["Part I", "Part II", "Part III"]
MAX_SESSIONS = 8  # sessions checked after every step: keeps a run within budget


@dataclass
class Person:
    id: str
    version: int = 1
    revoked: bool = False


@dataclass
class Viewer:
    """A session opened through the app, as the model expects it to stand."""

    cookie: str
    email: str
    key: str  # the key that signed the cookie
    opened: dt.datetime
    ended: bool = False  # by a reissue or an eviction


@dataclass(frozen=True)
class Link:
    token: str
    email: str
    version: int
    key: str


@dataclass
class Window:
    start: dt.datetime
    end: dt.datetime
    streamed: bool


@dataclass
class Day:
    parts: dict[str, Window] = field(default_factory=dict)
    stopped: bool = False

    def live(self, now: dt.datetime) -> tuple[str, Window, bool] | None:
        """The part whose segments may be shown at `now` and whether it has ended (grace)."""
        for name, part in self.parts.items():
            if part.streamed and part.start <= now < part.end:
                return name, part, False
        ended = [
            (name, part)
            for name, part in self.parts.items()
            if part.streamed and part.end <= now < part.end + GRACE
        ]
        if ended:
            name, part = max(ended, key=lambda item: item[1].end)
            return name, part, True
        return None


class GatewayModel(RuleBasedStateMachine):
    links = Bundle("links")

    def __init__(self) -> None:
        super().__init__()
        # Refused links from one address get 429 after 30 a minute of wall-clock time: not
        # what this model is about, and a wall-clock dependence hypothesis cannot replay.
        self._limit = ratelimit.LIMITS["link_refused_ip"]
        ratelimit.LIMITS["link_refused_ip"] = parse("1000000/minute")
        # Memory-backed when the machine has it: SQLite's fsyncs would be most of the time.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.tmp = Path(tempfile.mkdtemp(prefix="gw-model-", dir=shm))
        self.clock = FrozenClock(helsinki("2021-11-18T09:00"))
        config = seminar_toml(self.tmp, sessions=f"max_devices = {MAX_DEVICES}")
        (self.tmp / "event.toml").write_text(config)
        self.segments = write_live(
            self.tmp / "live",
            DAY,
            int(dt.timedelta(days=1) / SEGMENT),
            duration=SEGMENT.total_seconds(),
        )
        self.dates = dict(self.segments)
        self.keys = ["model-key-0"]
        self.key_count = 1
        self.people: dict[str, Person] = {}
        self.viewers: list[Viewer] = []
        self.client: TestClient | None = None
        self.settings = self._start()
        self.day = Day(
            {p.name: Window(p.start, p.end, p.streamed) for p in self.settings.schedule.parts}
        )

    # --- the app ------------------------------------------------------------------------

    def _start(self) -> Settings:
        loaded = load_settings(
            self.tmp / "event.toml", {"GATEWAY_SECRET_KEYS": ",".join(self.keys)}
        )
        app = create_app(loaded, clock=self.clock, watch_interval=None, background=False)
        self.client = TestClient(app, base_url="https://stream.example.org")
        self.client.__enter__()
        return loaded

    def _stop(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None

    def teardown(self) -> None:
        self._stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        ratelimit.LIMITS["link_refused_ip"] = self._limit

    @property
    def http(self) -> TestClient:
        assert self.client is not None
        return self.client

    @property
    def services(self) -> Services:
        found: Services = self.http.app.state.services  # type: ignore[attr-defined]
        return found

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        assert self.http.portal is not None
        return self.http.portal.call(functools.partial(fn, *args, **kwargs))

    def get(self, path: str, cookie: str | None = None) -> Any:
        headers = {"Cookie": f"{self.services.cookie_name}={cookie}"} if cookie else {}
        answer = self.http.get(path, headers=headers, follow_redirects=False)
        self.http.cookies.clear()  # each viewer's cookie is sent by hand
        return answer

    # --- rules --------------------------------------------------------------------------

    @initialize(target=links, start=st.sampled_from(["09:59:59", "10:20", "12:44:30", "17:30"]))
    def everyone_registered_and_watching(self, start: str) -> Any:
        self.clock.now = helsinki(f"2021-11-18T{start}")
        found = [self.register(email) for email in EMAILS]
        for link in found:
            self.open_link(link)
        return multiple(*found)

    @rule(target=links, email=st.sampled_from(EMAILS))
    def register(self, email: str) -> Link:
        registrant, created = self.call(
            self.services.registry.add,
            email=email,
            name="Model Viewer",
            organisation="",
            now=self.clock(),
            actor="model",
        )
        if email in self.people:
            assert not created
            assert registrant.id == self.people[email].id
        else:
            assert created
            self.people[email] = Person(registrant.id)
        return self._current_link(email)

    def _current_link(self, email: str) -> Link:
        person = self.people[email]
        registrant = self.call(self.services.store.registrant, person.id)
        assert registrant is not None
        assert (registrant.link_version, registrant.revoked) == (person.version, person.revoked)
        token = self.services.registry.link(registrant).rsplit("/", 1)[1]
        return Link(token, email, person.version, self.keys[0])

    @precondition(lambda self: len(self.viewers) < MAX_SESSIONS)
    @rule(link=links)
    def open_link(self, link: Link) -> None:
        person = self.people[link.email]
        answer = self.get(f"/w/{link.token}")
        opens = not person.revoked and link.version == person.version and link.key in self.keys
        event("link opened" if opens else "link refused")
        if not opens:
            assert answer.status_code == 403, (link, person, answer.text)
            assert "set-cookie" not in answer.headers
            return
        assert answer.status_code == 303, (link, person, answer.text)
        assert answer.headers["location"] == "/watch"
        cookie = answer.cookies[self.services.cookie_name]
        now = self.clock()
        viewer = Viewer(cookie, link.email, self.keys[0], now)
        # The store keeps the registrant's unexpired sessions, oldest first; beyond
        # max_devices the oldest end.
        mine = [
            v
            for v in self.viewers
            if v.email == link.email and not v.ended and now < v.opened + LIFETIME
        ]
        for old in mine[: max(0, len(mine) + 1 - MAX_DEVICES)]:
            old.ended = True
        self.viewers.append(viewer)

    @precondition(lambda self: self.people and len(self.viewers) < MAX_SESSIONS)
    @rule(data=st.data())
    def open_current_link(self, data: st.DataObject) -> None:
        """The common case, drawn more often than an arbitrary (maybe old) link."""
        self.open_link(self._current_link(data.draw(st.sampled_from(sorted(self.people)))))

    @precondition(lambda self: self.people)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        email = data.draw(st.sampled_from(sorted(self.people)))
        self.call(self.services.registry.revoke, email, actor="model")
        self.people[email].revoked = True  # the same link version: reinstating gives it back

    @precondition(lambda self: self.people)
    @rule(data=st.data())
    def reinstate(self, data: st.DataObject) -> None:
        email = data.draw(st.sampled_from(sorted(self.people)))
        self.call(self.services.registry.reinstate, email, actor="model")
        self.people[email].revoked = False  # its sessions and its link work again

    @precondition(lambda self: self.people)
    @rule(target=links, data=st.data())
    def reissue(self, data: st.DataObject) -> Link:
        email = data.draw(st.sampled_from(sorted(self.people)))
        self.call(self.services.registry.reissue, email, actor="model")
        person = self.people[email]
        person.version += 1
        person.revoked = False
        for viewer in self.viewers:
            if viewer.email == email:
                viewer.ended = True
        return self._current_link(email)

    @rule(retire=st.booleans())
    def rotate_keys(self, retire: bool) -> None:
        """A new signing key; with `retire`, only the new and the previous one verify."""
        self.key_count += 1
        self.keys = [f"model-key-{self.key_count}", *self.keys]
        if retire:
            self.keys = self.keys[:2]
        self._stop()
        self._start()

    @rule(
        name=st.sampled_from(PARTS),
        start=st.integers(0, 14 * 4).map(
            lambda q: helsinki("2021-11-18T08:00") + dt.timedelta(minutes=15 * q)
        ),
        length=st.sampled_from([1, 15, 60, 165, 265]).map(lambda m: dt.timedelta(minutes=m)),
        streamed=st.booleans(),
    )
    def move_part(
        self, name: str, start: dt.datetime, length: dt.timedelta, streamed: bool
    ) -> None:
        controls = self.services.gatekeeper.controls
        try:
            schedule = self.call(
                controls.change_part,
                name,
                start=start,
                end=start + length,
                streamed=streamed,
                actor="model",
            )
        except ScheduleRefused:
            return
        self.day.parts[name] = Window(start, start + length, streamed)
        assert {p.name: Window(p.start, p.end, p.streamed) for p in schedule.parts} == (
            self.day.parts
        )

    @rule(stopped=st.booleans())
    def kill_switch(self, stopped: bool) -> None:
        self.call(self.services.gatekeeper.controls.set_stopped, stopped, actor="model")
        self.day.stopped = stopped

    @rule(
        step=st.sampled_from([1, 29, 59, 60, 61, 600, 1800, 3600]).map(
            lambda seconds: dt.timedelta(seconds=seconds)
        )
        | st.tuples(st.sampled_from(PARTS), st.booleans(), st.sampled_from([-1, 0, 59, 60]))
    )
    def advance_clock(self, step: dt.timedelta | tuple[str, bool, int]) -> None:
        """Forwards by a step, or to a part's start or end give or take the grace (if ahead)."""
        if isinstance(step, dt.timedelta):
            self.clock.advance(seconds=step.total_seconds())
            return
        name, at_end, offset = step
        part = self.day.parts[name]
        target = (part.end if at_end else part.start) + dt.timedelta(seconds=offset)
        self.clock.now = max(self.clock.now, target)

    # --- invariants ---------------------------------------------------------------------

    def expected(self, viewer: Viewer, now: dt.datetime) -> int:
        person = self.people[viewer.email]
        if viewer.key not in self.keys or viewer.ended or now >= viewer.opened + LIFETIME:
            return 401
        if person.revoked:
            return 403
        if self.day.stopped or self.day.live(now) is None:
            return 403
        return 200

    @invariant()
    def live_answers_as_the_model_says(self) -> None:
        now = self.clock()
        showing = self.day.live(now)
        for viewer in self.viewers:
            answer = self.get("/live/index.m3u8", viewer.cookie)
            want = self.expected(viewer, now)
            event(
                f"/live answered {want}"
                + (" (grace)" if want == 200 and showing and showing[2] else "")
            )
            assert answer.status_code == want, (viewer, now, self.day, answer.text)
            if want != 200:
                continue
            assert showing is not None
            _, window, ended = showing
            names = listed(answer.text)
            assert all(window.start <= self.dates[n] < window.end for n in names), names
            assert ("#EXT-X-ENDLIST" in answer.text) == ended
        assert self.get("/live/index.m3u8").status_code == 401

    @invariant()
    def the_audit_chain_verifies(self) -> None:
        events = self.call(self.services.store.audit_events)
        assert chain.first_break(events) is None
        refusals = [
            (e.detail.get("session"), e.detail.get("reason"), e.detail.get("part"))
            for e in events
            if e.type == "access.refused"
        ]
        assert len(refusals) == len(set(refusals)), "access.refused written twice"


TestGatewayModel = pytest.mark.timeout(180)(GatewayModel.TestCase)  # ~25 s on a quiet machine
TestGatewayModel.settings = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
