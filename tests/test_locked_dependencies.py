"""constraints.txt: every Python package `make` and the image install, at one tested version.

A clean clone (CI, a new machine) installed whatever PyPI had released since the last
session: on 2026-12-04 redis 8.2 typed `Sentinel()`, mypy --strict refused the
`type: ignore` that had been needed, and `make test` failed before a test ran. `make
lock` moves the pins on purpose; these tests keep the file whole and in use.
"""

from __future__ import annotations

import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.locked import LOCK, ROOT, off_pins, pinned


def declared() -> list[Requirement]:
    """What pyproject.toml asks for: the dependencies and every extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    return [Requirement(line) for line in wanted]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = pinned(LOCK.read_text())
    for requirement in declared():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # e.g. uvloop on Windows: not installed here, so not frozen here
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in constraints.txt: make lock"
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_suite_runs_on_the_pinned_versions() -> None:
    """`make` installs with `-c constraints.txt` and reinstalls when the file changes."""
    installed = {d.metadata["Name"]: d.version for d in metadata.distributions()}
    wrong = off_pins(installed, required=[r.name for r in declared()])
    assert not wrong, f"installed, pinned: {wrong}"


def test_a_pin_that_is_not_name_equals_version_is_refused() -> None:
    assert pinned("# a comment\n\nredis==8.2.0\n") == {"redis": Version("8.2.0")}
    for bad in ("redis>=8\n", "redis==8.2.0\nRedis==8.1\n", " redis==8.2.0\n"):
        try:
            pinned(bad)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {bad!r}")
