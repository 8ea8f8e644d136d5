"""What `gateway serve` sets up around the app: the allocator."""

from __future__ import annotations

import platform

import pytest

from gateway.web.server import steady_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_allocator_is_told_to_give_big_blocks_back() -> None:
    assert steady_memory() is True
