"""constraints.txt read: the versions `make` and the image install (`make lock` writes it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent.parent
LOCK = ROOT / "constraints.txt"


def pinned(text: str) -> dict[NormalizedName, Version]:
    """name -> version of each `name==version` line; anything else is a comment."""
    pins: dict[NormalizedName, Version] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and name.strip() == name and version.strip() == version, (number, line)
        key = canonicalize_name(name)
        assert key not in pins, f"line {number}: {name} pinned twice"
        pins[key] = Version(version)
    return pins


def off_pins(
    installed: Mapping[str, str], required: Collection[str] = ()
) -> dict[NormalizedName, tuple[str | None, str]]:
    """name -> (installed version or None, pinned version) for each pinned package that
    `installed` (name -> version, as a venv reports them) has at another version, or
    lacks though `required` names it."""
    have = {canonicalize_name(name): Version(version) for name, version in installed.items()}
    needed = {canonicalize_name(name) for name in required}
    return {
        name: (str(have[name]) if name in have else None, str(pin))
        for name, pin in pinned(LOCK.read_text()).items()
        if (name in have or name in needed) and have.get(name) != pin
    }
