"""Fixtures for the deploy tests: nginx from deploy/nginx/, gateway processes, a local origin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.nginx import Nginx, configure, require_nginx
from tests.e2e.conftest import start_server  # noqa: F401 - the e2e tests' `gateway serve` fixture


@pytest.fixture
def start_nginx(tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    """Render deploy/nginx for the given gateway ports and start Debian's nginx on it."""
    require_nginx()
    started: list[Nginx] = []

    def start(*, replicas: list[int], **kwargs: Any) -> Nginx:
        nginx = configure(tmp_path / f"nginx{len(started)}", replicas=replicas, **kwargs)
        started.append(nginx)
        nginx.start()
        return nginx

    yield start
    for nginx in started:
        nginx.stop()
