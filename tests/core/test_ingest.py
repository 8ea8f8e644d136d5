"""Who may publish (gateway/core/ingest.py)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from gateway.core.ingest import key_tail, refusal

KEYS = ["first-key-aaaa", "second-key-a1f2"]


@pytest.mark.parametrize(
    ("key", "address", "networks", "expected"),
    [
        ("second-key-a1f2", "203.0.113.5", [], None),
        ("second-key-a1f", "203.0.113.5", [], "wrong_key"),
        ("", "203.0.113.5", [], "wrong_key"),
        ("second-key-a1f2", "203.0.113.5", ["10.0.0.0/8"], "not_allowed"),
        ("second-key-a1f2", "10.1.2.3", ["10.0.0.0/8"], None),
        # the same IPv4 host as a dual-stack socket reports it (nginx-rtmp on [::]:1935)
        ("second-key-a1f2", "::ffff:10.1.2.3", ["10.0.0.0/8"], None),
        ("second-key-a1f2", "::ffff:203.0.113.5", ["10.0.0.0/8"], "not_allowed"),
        ("second-key-a1f2", "fd00::1", ["10.0.0.0/8", "fd00::/8"], None),
        ("second-key-a1f2", "unix:", ["10.0.0.0/8"], "not_allowed"),
    ],
)
def test_refusal(key: str, address: str, networks: list[str], expected: str | None) -> None:
    assert refusal(key, address, KEYS, [ip_network(n) for n in networks]) == expected


def test_without_keys_nobody_publishes() -> None:
    assert refusal("anything", "127.0.0.1", [], []) == "no_keys"


def test_a_key_is_named_by_its_last_four_characters_only() -> None:
    assert key_tail("second-key-a1f2") == "…a1f2"
    assert key_tail("short") == "…"  # too short to show any of it
