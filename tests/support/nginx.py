"""Debian's nginx running the deploy config (deploy/nginx/), rendered for a test.

The site config is rendered by the same script the nginx container runs at
start (`deploy/nginx/render.sh`); the process-level wrapper (pid, logs,
temp folders: what the container's stock nginx.conf holds) and the certificate
are made as the benchmark makes them (bench/deploy_render.py). nginx terminates
TLS here as deployed, with a self-signed certificate for 127.0.0.1, on free high
ports (no root needed).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from bench.deploy_render import self_signed, wrapper
from tests.support.ports import free_port

NGINX = Path("/usr/sbin/nginx")
DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy"
TEMPLATES = DEPLOY / "nginx"
RENDER = TEMPLATES / "render.sh"


def require_nginx() -> None:
    """Skip without Debian's nginx, except in CI, where its absence is a failure."""
    if NGINX.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must install Debian's nginx (apt-get install nginx)")
    pytest.skip("Debian's nginx is not installed (apt-get install nginx)")


def render(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run deploy/nginx/render.sh into `root/conf` with these GW_* values."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    return subprocess.run(
        ["sh", str(RENDER), str(TEMPLATES), str(root / "conf")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@dataclass
class Nginx:
    root: Path
    https_port: int
    http_port: int
    cert: Path
    process: subprocess.Popen[bytes] | None = None
    clients: list[httpx2.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    def args(self, *extra: str) -> list[str]:
        error_log = str(self.root / "error.log")
        return [str(NGINX), "-p", str(self.root), "-c", str(self.conf), "-e", error_log, *extra]

    def test_config(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the rendered config."""
        return subprocess.run(
            self.args("-t"), capture_output=True, text=True, timeout=30, check=False
        )

    def start(self) -> None:
        checked = self.test_config()
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            self.args("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.https_port)) == 0:
                    return
            assert self.process.poll() is None, self.error_log()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self, *, source: str | None = None) -> httpx2.Client:
        """A browser of its own (cookie jar) over TLS, trusting the test certificate."""
        context = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx2.HTTPTransport(verify=context, local_address=source)
        client = httpx2.Client(base_url=self.url, transport=transport, timeout=10)
        self.clients.append(client)
        return client

    def access_log(self) -> list[str]:
        path = self.root / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""


def configure(
    root: Path,
    *,
    replicas: list[int],
    live: Path | None = None,
    recording: Path | None = None,
    origin_env: dict[str, str] | None = None,
) -> Nginx:
    """Render deploy/nginx for these gateway ports, in `root`; not started.

    A file origin by default (`live`, `recording`: the folders the gateway's
    config names); `origin_env` with GW_ORIGIN=http and its GW_*_ORIGIN_* for
    an http one.
    """
    root.mkdir(parents=True, exist_ok=True)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "temp" / temp).mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(root)
    upstreams = root / "upstreams.conf"
    upstreams.write_text(
        "".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in replicas)
    )
    nginx = Nginx(root, free_port(), free_port(), cert)
    env = {
        "GW_SERVER_NAME": "127.0.0.1",
        "GW_HTTPS_PORT": str(nginx.https_port),
        "GW_HTTP_PORT": str(nginx.http_port),
        "GW_TLS_CERT": str(cert),
        "GW_TLS_KEY": str(key),
        "GW_UPSTREAMS": str(upstreams),
        "GW_ORIGIN": "file",
        "GW_LIVE_DIR": str(live or root / "live"),
        "GW_RECORDING_DIR": str(recording or root / "recording"),
        "GW_CACHE_DIR": str(root / "cache"),
        "GW_ACCESS_LOG": str(root / "access.log"),
        **(origin_env or {}),
    }
    rendered = render(root, env)
    assert rendered.returncode == 0, rendered.stderr
    nginx.conf.write_text(wrapper(root, log_level="info", worker_connections=1024))
    return nginx
