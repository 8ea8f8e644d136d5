"""Prometheus metrics, one registry per app so tests and replicas never share counters."""

from __future__ import annotations

import time
from collections import Counter as Counts
from collections import deque
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric


class Tally:
    """A Prometheus counter by labels for the hot path: plain ints, no lock.

    prometheus_client's Counter takes a lock on every increment (~1 µs, a fifth
    of an access decision); these counts are only ever changed on the event
    loop, and a scrape reads a copy.
    """

    def __init__(
        self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.counts: Counts[tuple[str, ...]] = Counts()
        registry.register(self)

    def add(self, *values: str) -> None:
        self.counts[values] += 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, count in self.counts.copy().items():
            family.add_metric(list(values), count)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labels)


class Recent:
    """Counts by name over the last few minutes, for the dashboard ("refused, last 5 min"):
    one Counter per minute, the oldest dropped. This process's counts only."""

    def __init__(self, minutes: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        self.minutes = minutes
        self.clock = clock
        self.buckets: deque[tuple[int, Counts[str]]] = deque()

    def note(self, name: str) -> None:
        minute = int(self.clock() // 60)
        if not self.buckets or self.buckets[-1][0] != minute:
            self.buckets.append((minute, Counts()))
            while self.buckets[0][0] <= minute - self.minutes:
                self.buckets.popleft()
        self.buckets[-1][1][name] += 1

    def last(self, minutes: int = 5) -> Counts[str]:
        """The counts of the last `minutes` minutes (the current one included)."""
        since = int(self.clock() // 60) - minutes
        total: Counts[str] = Counts()
        for minute, counts in self.buckets:
            if minute > since:
                total.update(counts)
        return total


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.recent = Recent()  # refusals and origin errors, for the dashboard
        self.decisions = Tally(
            "gateway_decisions",
            "Access decisions by area, outcome and reason",
            ["area", "outcome", "reason"],
            self.registry,
        )
        self.answered = Tally(
            "gateway_auth_answered",
            "nginx's /auth decisions by what answered them: the HTTP protocol itself (a grant "
            "made from memory, no ASGI request) or the app",
            ["by"],
            self.registry,
        )
        self.links = Counter(
            "gateway_link_opens",
            "Personal links opened, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.sessions_active = Gauge(
            "gateway_sessions_active",
            "Participant sessions not ended or expired",
            registry=self.registry,
        )
        self.origin_errors = Counter(
            "gateway_origin_errors",
            "Origin fetches that failed, by kind",
            ["origin", "kind"],
            registry=self.registry,
        )
        self.origin_requests = Counter(
            "gateway_origin_requests",
            "Requests sent to an origin (every try of a fetch), by origin",
            ["origin"],
            registry=self.registry,
        )
        self.origin_cache = Tally(
            "gateway_origin_cache",
            "Origin fetches by how the cache answered: hit, join (shared a flight), miss",
            ["origin", "result"],
            self.registry,
        )
        self.store_errors = Counter(
            "gateway_store_unavailable",
            "Requests answered 503 because the store did not answer",
            registry=self.registry,
        )
        self.segments_undated = Counter(
            "gateway_segments_undated",
            "Live segments listed by the origin that could not be dated, so never served",
            registry=self.registry,
        )
        self.origin_age = Gauge(
            "gateway_origin_last_segment_age_seconds",
            "Seconds since the live origin's newest segment was first listed (NaN: none yet)",
            registry=self.registry,
        )
        self.origin_state = Gauge(
            "gateway_origin_state",
            "The live origin's state: 1 for the current one of ok, stalled, ended, missing",
            ["state"],
            registry=self.registry,
        )
        self.stale_grants = Counter(
            "gateway_stale_session_grants",
            "Grants made from a session verified within 5 s while the store was down",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
