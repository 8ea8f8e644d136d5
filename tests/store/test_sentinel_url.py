"""`redis+sentinel://` store URLs (gateway/store/redis/connection.py)."""

from __future__ import annotations

import pytest

from gateway.core.sentinel import sentinel_url


def test_sentinels_service_database_and_password() -> None:
    assert sentinel_url("redis+sentinel://a:26379,b:26380/mymaster/2") == (
        [("a", 26379), ("b", 26380)],
        "mymaster",
        2,
        None,
    )
    assert sentinel_url("redis+sentinel://:p%40ss@[::1]:26379/m") == (
        [("::1", 26379)],
        "m",
        0,
        "p@ss",
    )
    assert sentinel_url("redis://127.0.0.1:6379/0") is None


@pytest.mark.parametrize(
    "url", ["redis+sentinel://a/m", "redis+sentinel://a:1/", "redis+sentinel://a:1/m/x"]
)
def test_malformed_ones_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        sentinel_url(url)
