"""The ports tests start their servers on (tests.conftest.free_port). A port the kernel
hands out for a bind to port 0 lies in its ephemeral range, which every outgoing
connection and every other worker's bind to port 0 draw from too: between being handed
out and a server listening on it, another worker's Redis could take it, and the test
would then talk to that one (CI once asked a Sentinel's port and a plain Redis
answered: "unknown command 'SENTINEL'"). Ports now come from below that range, a block
of its own for each xdist worker."""

from __future__ import annotations

import socket

import pytest

from tests.support import ports


def test_a_port_is_outside_the_kernels_ephemeral_range() -> None:
    low, high = ports.ephemeral()
    for _ in range(50):
        port = ports.free_port()
        assert not low <= port <= high


def test_the_workers_draw_from_blocks_that_do_not_overlap() -> None:
    blocks = [ports.block(f"gw{n}") for n in range(8)]
    for n, one in enumerate(blocks):
        assert len(one) >= 1000 and one.stop <= ports.ephemeral()[0]
        for other in blocks[n + 1 :]:
            assert not set(one) & set(other)
    assert ports.block(None) == ports.block("gw0")  # pytest without xdist


def test_a_worker_does_not_hand_out_a_port_twice_in_a_row_nor_one_in_use() -> None:
    with socket.socket() as taken:
        first = ports.free_port()
        taken.bind(("127.0.0.1", first + 1))
        taken.listen()
        handed = [ports.free_port() for _ in range(20)]
    assert first + 1 not in handed
    assert len(set(handed)) == len(handed)


def test_a_block_with_every_port_taken_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(ports, "_ports", ports._cycle(range(port, port + 1)))
        with pytest.raises(RuntimeError, match="no free port"):
            ports.free_port()
