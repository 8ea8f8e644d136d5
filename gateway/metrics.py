"""Prometheus metrics, one registry per app so tests and replicas never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "gateway_decisions",
            "Access decisions by area, outcome and reason",
            ["area", "outcome", "reason"],
            registry=self.registry,
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
        self.origin_cache = Counter(
            "gateway_origin_cache",
            "Origin fetches by how the cache answered: hit, join (shared a flight), miss",
            ["origin", "result"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "gateway_store_unavailable",
            "Requests answered 503 because the store did not answer",
            registry=self.registry,
        )
        self.stale_grants = Counter(
            "gateway_stale_session_grants",
            "Grants made from a session verified within 5 s while the store was down",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
