"""What `gateway serve` sets up around the app: the log filter, the allocator."""

from __future__ import annotations

import logging
import platform
import sys

import pytest

from gateway.web.server import QuietCuts, steady_memory
from gateway.web.stream import StreamCut


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        return logging.LogRecord("uvicorn.error", logging.ERROR, "", 0, "x", (), sys.exc_info())


def test_a_segment_cut_by_its_origin_leaves_no_traceback_but_a_bug_does() -> None:
    assert QuietCuts().filter(_record(StreamCut("connection reset"))) is False
    assert QuietCuts().filter(_record(RuntimeError("a bug"))) is True
    plain = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "started", (), None)
    assert QuietCuts().filter(plain) is True


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_allocator_is_told_to_give_big_blocks_back() -> None:
    assert steady_memory() is True
