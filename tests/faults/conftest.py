"""The fault suite: real processes, one thing broken at a time, figures collected.

Each scenario records (requests, 5xx, wrong decisions, events lost, recovery
seconds) with `record_figures`; the table is printed at the end of the run
(`make chaos` runs the long versions: CHAOS=1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.deploy.conftest import start_nginx  # noqa: F401 - the fixture, shared with deploy
from tests.e2e.conftest import start_server  # noqa: F401 - the fixture, shared with e2e
from tests.web.conftest import make_gateway  # noqa: F401 - the fixture, shared with web

LONG = bool(os.environ.get("CHAOS"))


@dataclass
class Figures:
    scenario: str
    requests: int = 0
    server_errors: int = 0
    wrong_decisions: int = 0
    events_lost: int = 0
    recovery_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


_FIGURES: list[Figures] = []


@pytest.fixture
def record_figures() -> Callable[[str], Figures]:
    def make(scenario: str) -> Figures:
        figures = Figures(scenario)
        _FIGURES.append(figures)
        return figures

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'scenario':<44} {'requests':>8} {'5xx':>5} {'wrong':>6} {'lost':>5} {'recovery':>9}")
    for f in _FIGURES:
        recovery = f"{f.recovery_seconds:.1f} s" if f.recovery_seconds is not None else "-"
        write(
            f"{f.scenario:<44} {f.requests:>8} {f.server_errors:>5} {f.wrong_decisions:>6} "
            f"{f.events_lost:>5} {recovery:>9}"
        )
