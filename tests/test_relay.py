"""Passing a segment on while it arrives: the gate's side (the origin's is in test_origincache)."""

from __future__ import annotations

import pytest
from starlette.types import Message

from gateway.core.errors import OriginUnavailable
from gateway.stream.cache import Arriving
from gateway.web.stream import StreamCut, relay

pytestmark = pytest.mark.anyio


async def test_chunks_are_sent_as_they_land_with_the_origins_length() -> None:
    arriving = Arriving()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if len(sent) == 2:  # the first chunk is out before the rest has arrived
            assert not arriving.ended
            arriving.add(b"rest")
            arriving.end(None)

    arriving.begin(9)
    arriving.add(b"first")
    await relay(send, [(b"content-type", b"video/mp2t")], arriving)
    assert sent[0]["status"] == 200
    assert (b"content-length", b"9") in sent[0]["headers"]
    assert [m.get("body") for m in sent[1:]] == [b"first", b"rest", b""]
    assert sent[-1]["more_body"] is False


async def test_an_origin_failing_midway_cuts_the_answer() -> None:
    arriving = Arriving()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if len(sent) == 2:
            arriving.end(OriginUnavailable("connection reset"))

    arriving.begin(None)  # no length given: the server sends it chunked
    arriving.add(b"first")
    with pytest.raises(StreamCut):
        await relay(send, [], arriving)
    assert not any(m.get("more_body") is False for m in sent)  # never said complete
