"""Ops in a real browser: sign in at a real OIDC provider, move the end of the running part.

Debian's chromium (Playwright), `gateway serve`, and oidc-provider-mock, all on
loopback and the real clock. Screenshots of the preview and the result go to
`test-artifacts/browser/`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx2
import pytest
from playwright.sync_api import Browser

from gateway.web.admin import oidc
from tests.e2e.conftest import ARTIFACTS, Server, local, run_cli
from tests.support.config import event_toml, part
from tests.support.hls import write_live
from tests.support.ports import free_port
from tests.web.test_admin_auth import SECRET_ENV, user

# A browser walks real windows on the real clock: a minute or more, twice that on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
def console(tmp_path: Path, idp: str, start_server: Callable[..., Server]) -> Iterator[Server]:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - a real browser runs on the real clock
    write_live(tmp_path / "live", now - dt.timedelta(seconds=20), 5)
    port = free_port()
    config = tmp_path / "event.toml"
    half_hour = dt.timedelta(minutes=30)
    config.write_text(
        event_toml(
            title="Console rehearsal",
            public_url=f"http://127.0.0.1:{port}",
            parts=[
                part("Part I", local(now - half_hour), local(now + half_hour)),
                part("Part II", local(now + half_hour), local(now + 2 * half_hour), streamed=False),
            ],
            recording_until=local(now + dt.timedelta(days=1)),
            live="live",
            recording="recording",
            tables={
                "admin": {
                    "oidc_discovery_url": f"{idp}{oidc.WELL_KNOWN}",
                    "client_id": "stream-gateway",
                    "ops": ["ops@example.org"],
                }
            },
        )
    )
    yield start_server(config, port=port, env_extra=SECRET_ENV)


def test_ops_moves_the_end_of_the_running_part_in_the_browser(
    console: Server, idp: str, chromium: Browser, tmp_path: Path
) -> None:
    user(idp, "ops@example.org")
    link = (
        run_cli(console.config, "registrants", "add", "--email", "v@example.org", "--name", "V")
        .stdout.strip()
        .splitlines()[-1]
    )
    viewer = console.client()
    viewer.get(urlsplit(link).path)
    assert viewer.get("/live/index.m3u8").status_code == 200
    now = dt.datetime.now(HELSINKI)  # noqa: TID251 - a real browser runs on the real clock
    new_end = (now + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = chromium.new_page()
    page.goto(console.url + "/admin/login?next=/admin/schedule")
    page.fill("input[name=sub]", "ops@example.org")
    page.click("button[type=submit]:has-text('Authorize')")
    page.wait_for_url("**/admin/schedule")
    page.fill("#end-1", new_end.strftime("%Y-%m-%dT%H:%M"))
    page.click("text=Preview change to Part I")
    effect = page.inner_text("ul.effects")
    assert f"Viewers of Part I will be cut off at {new_end:%H:%M}" in effect
    page.screenshot(path=str(ARTIFACTS / "5-console-preview.png"))
    page.click("text=Confirm the change")
    page.wait_for_url("**/admin/schedule?done=changed")
    assert "(changed by ops)" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "6-console-changed.png"))
    status = httpx2.get(console.url + "/api/status").json()
    assert dt.datetime.fromisoformat(status["next_change"]) == new_end
    export = run_cli(console.config, "audit", "export", "--type", "schedule.changed").stdout
    assert '"actor":"ops@example.org"' in export and new_end.strftime("%H:%M") in export
    page.close()
