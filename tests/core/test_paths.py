"""Stream paths: the allow-list refuses every way out of the origin folder."""

from __future__ import annotations

import os.path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.errors import BadPath
from gateway.core.paths import is_playlist, media_type, safe_path


@pytest.mark.parametrize(
    "path",
    [
        "index.m3u8",
        "v1/index.m3u8",
        "v1/seg_00001.ts",
        "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p.ts",
        "_hidden_not.ts",
        "name-with~tilde+plus.m4s",
        "a..b.ts",
        "x" * 255,
    ],
)
def test_plain_names_are_accepted_unchanged(path: str) -> None:
    assert safe_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "..",
        ".",
        "../etc/passwd",
        "a/../b",
        "a/./b",
        "a/..",
        "%2e%2e/x.ts",
        "%2e%2e",
        "%252e%252e/x.ts",
        "/etc/passwd",
        "//etc/passwd",
        "a//b",
        "a/",
        "seg.ts\x00.m3u8",
        "..\\x",
        "a\\b.ts",
        ".hidden",
        "v1/.hidden.ts",
        "\u2024\u2024/x.ts",  # one dot leader, twice
        "\uff0e\uff0e/x.ts",  # fullwidth full stops
        "s\u00e9g.ts",
        "seg 1.ts",
        "seg\t.ts",
        "seg.ts\n",
        "C:x.ts",
        "x" * 256,
        "/".join(["a"] * 17),
        "/".join(["x" * 100] * 11),
    ],
)
def test_escapes_and_odd_names_are_refused(path: str) -> None:
    with pytest.raises(BadPath):
        safe_path(path)


def test_sixteen_segments_and_1024_characters_are_the_limits() -> None:
    assert safe_path("/".join(["a"] * 16))
    at_limit = "/".join(["x" * 63] * 16)  # 16 * 63 + 15 = 1023
    assert safe_path(at_limit + "y") == at_limit + "y"
    with pytest.raises(BadPath):
        safe_path(at_limit + "yz")


@given(st.text())
def test_any_text_is_refused_or_a_normal_relative_path(raw: str) -> None:
    try:
        path = safe_path(raw)
    except BadPath:
        return
    assert os.path.normpath(path) == path
    assert not path.startswith("/")
    assert ".." not in path.split("/")


@given(st.lists(st.sampled_from(["a", "b.ts", "..", ".", "", "%2e", "\\", "/"]), max_size=8))
def test_joined_fragments_never_yield_a_dot_segment(parts: list[str]) -> None:
    try:
        path = safe_path("/".join(parts))
    except BadPath:
        return
    assert all(part not in ("", ".", "..") for part in path.split("/"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("index.m3u8", "application/vnd.apple.mpegurl"),
        ("v1/INDEX.M3U8", "application/vnd.apple.mpegurl"),
        ("s.ts", "video/mp2t"),
        ("s.m4s", "video/iso.segment"),
        ("init.mp4", "video/mp4"),
        ("a.aac", "audio/aac"),
        ("subs/en.vtt", "text/vtt"),
        ("a.m4a", "audio/mp4"),
        ("page.html", "application/octet-stream"),
        ("noext", "application/octet-stream"),
        ("v1.m3u8/seg", "application/octet-stream"),
    ],
)
def test_media_type_by_extension(path: str, expected: str) -> None:
    assert media_type(path) == expected


def test_is_playlist() -> None:
    assert is_playlist("index.m3u8")
    assert is_playlist("v1/Index.M3U8")
    assert not is_playlist("seg.ts")
    assert not is_playlist("v1.m3u8/seg.ts")
    assert not is_playlist("index.m3u8.ts")
