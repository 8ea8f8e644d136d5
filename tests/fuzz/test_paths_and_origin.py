"""Fuzzing the stream path check and the file origin: nothing outside the origin folder, ever.

A real tree: the origin folder holds files, a sub-folder, a symlink to a
folder outside, a symlink to a file outside and a dangling one; a sibling
folder shares the root's name as a prefix. For any text, `safe_path` either
refuses it or returns a path whose real location is inside the root, and the
file origin, given the path or even the raw text, never returns the bytes of
a file outside it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gateway.core.errors import BadPath, NotFound, OriginUnavailable
from gateway.core.paths import safe_path
from gateway.stream.origins import FileOrigin

SECRET = b"SECRET: outside the origin folder"


@dataclass(frozen=True)
class Tree:
    root: Path
    inside: dict[str, bytes]  # origin-relative name -> bytes


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    base = tmp_path_factory.mktemp("origin-tree")
    root = base / "live"
    outside = base / "outside"
    sibling = base / "live-evil"  # shares the root's prefix: "live" + "-evil"
    for folder in (root / "sub", outside / "deep", sibling):
        folder.mkdir(parents=True)
    inside = {"index.m3u8": b"#EXTM3U\n", "seg0.ts": b"seg0", "sub/seg1.ts": b"seg1"}
    for name, data in inside.items():
        (root / name).write_bytes(data)
    for secret in (outside / "secret.ts", outside / "deep" / "secret.ts", sibling / "secret.ts"):
        secret.write_bytes(SECRET)
    (base / "secret.ts").write_bytes(SECRET)
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "up").symlink_to(base, target_is_directory=True)
    (root / "out.ts").symlink_to(outside / "secret.ts")
    (root / "dangling.ts").symlink_to(base / "missing.ts")
    os.mkfifo(root / "fifo.ts")  # must be refused, not hang a thread
    yield Tree(root, inside)


FRAGMENTS = [
    "seg0.ts",
    "sub",
    "seg1.ts",
    "index.m3u8",
    "out",
    "out.ts",
    "up",
    "deep",
    "secret.ts",
    "dangling.ts",
    "fifo.ts",
    "..",
    ".",
    "",
    "%2e%2e",
    "..%2f",
    "\\",
    "\x00",
    "live",
    "live-evil",
    "\u2024\u2024",  # one-dot leaders, look like ".."
    "\uff0e\uff0e",  # full-width dots
    "a" * 300,
]
joined = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("/".join)
NAMES = ["sub", "seg0.ts", "seg1.ts", "index.m3u8", "up", "live", "out", "out.ts", "secret.ts"]
plain = st.lists(st.sampled_from(NAMES), min_size=1, max_size=5).map("/".join)
raw_paths = st.one_of(
    plain,
    joined,
    joined.map(lambda p: "/" + p),
    st.text(),
    st.text("./\\%2eouts" + "\x00", max_size=40),
)


def _fetch(origin: FileOrigin, path: str) -> bytes | None:
    try:
        return asyncio.run(origin.fetch(path))
    except (NotFound, OriginUnavailable):
        return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw_paths)
@example("sub/up/live/seg0.ts")  # out through a link and back in: served, it is inside
@example("sub/up/secret.ts")
@example("sub/up/live-evil/secret.ts")
@example("out/deep/secret.ts")
def test_a_path_is_refused_or_stays_inside_the_origin_folder(tree: Tree, raw: str) -> None:
    try:
        path = safe_path(raw)
    except BadPath:
        event("refused by safe_path")
        return
    # Accepted: a plain relative path that does not climb, whatever the folder holds.
    assert not path.startswith("/") and ".." not in path.split("/")
    assert os.path.normpath(path) == path
    lexical = Path(os.path.normpath(tree.root / path))
    assert lexical.is_relative_to(tree.root)
    body = _fetch(FileOrigin(tree.root), path)
    event("accepted, not found" if body is None else "accepted, served")
    if body is not None:
        real = Path(os.path.realpath(tree.root / path))
        assert real.is_relative_to(tree.root)
        assert body == tree.inside[real.relative_to(tree.root).as_posix()]


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw_paths)
def test_the_file_origin_alone_never_reads_outside_its_folder(tree: Tree, raw: str) -> None:
    """Defence in depth: even a path `safe_path` never saw cannot leave the folder."""
    body = _fetch(FileOrigin(tree.root), raw)
    assert body is None or body != SECRET


@pytest.mark.parametrize(
    "path", ["out/secret.ts", "out.ts", "sub/up/secret.ts", "dangling.ts", "fifo.ts", "sub"]
)
def test_links_out_folders_and_fifos_are_not_found(tree: Tree, path: str) -> None:
    assert safe_path(path) == path  # the names are fine; what they point to is not
    with pytest.raises(NotFound):
        asyncio.run(FileOrigin(tree.root).fetch(path))


def test_files_inside_are_served(tree: Tree) -> None:
    for name, data in tree.inside.items():
        assert asyncio.run(FileOrigin(tree.root).fetch(name)) == data
