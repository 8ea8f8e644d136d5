"""From an encoder to a viewer for real (issue 18): Debian's nginx with its RTMP module
runs the shipped ingest config (deploy/ingest/), ffmpeg pushes H.264 + AAC from a
generated test source exactly as OBS would (`-f flv rtmp://…/live/KEY`), and
`gateway serve` decides: a wrong key is refused and nothing is written; the right key's
stream plays to a registrant through the gateway and ffprobe decodes its frames; when
the push stops the gateway hears it and the origin turns stalled or ended.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.e2e.conftest import Server, local, run_cli
from tests.support.config import event_toml, part
from tests.support.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy" / "ingest"
MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
KEY = "obs-key-3f9c2d7e41a2"


def need(tools: bool) -> None:
    if tools:
        return
    missing = "Debian's nginx, libnginx-mod-rtmp and ffmpeg (apt-get install them)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must install {missing}")
    pytest.skip(f"needs {missing}")


@pytest.fixture
def live_dir() -> Iterator[Path]:
    """A folder nginx's workers (not root) can write: outside pytest's private tmp."""
    folder = Path(tempfile.mkdtemp(prefix="gw-ingest-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ingest(tmp_path: Path, live_dir: Path) -> Iterator[Callable[[str], tuple[int, int]]]:
    """Start the shipped ingest config against a gateway URL; its RTMP and HTTP ports."""
    need(
        MODULE.exists() and shutil.which("nginx") is not None and shutil.which("ffmpeg") is not None
    )
    started: list[subprocess.Popen[bytes]] = []

    def start(gateway_url: str) -> tuple[int, int]:
        port, hls_port = free_port(), free_port()
        env = {
            **os.environ,
            "GW_RTMP_PORT": str(port),
            "GW_GATEWAY_URL": gateway_url,
            "GW_LIVE_DIR": str(live_dir),
            "GW_INGEST_RUN": str(tmp_path),
            "GW_INGEST_LOG": str(tmp_path / "ingest-error.log"),
            "GW_HLS_HTTP_PORT": str(hls_port),
        }
        conf = tmp_path / "ingest-nginx.conf"
        rendered = subprocess.run(
            ["sh", str(DEPLOY / "render.sh"), str(DEPLOY / "ingest.conf"), str(conf)],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert rendered.returncode == 0, rendered.stderr
        args = ["nginx", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return port, hls_port
            except OSError:
                time.sleep(0.1)
        raise AssertionError((tmp_path / "ingest-error.log").read_text())

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def push(port: int, key: str, seconds: int) -> subprocess.Popen[bytes]:
    """ffmpeg as OBS: H.264 (keyframe every 2 s) + AAC, FLV over RTMP, in real time."""
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=320x180:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=44100:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "flv",
            f"rtmp://127.0.0.1:{port}/live/{key}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def events(config: Path, kind: str) -> list[dict[str, Any]]:
    out = run_cli(config, "audit", "export", "--type", kind)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_an_obs_push_with_the_right_key_plays_through_the_gateway(
    tmp_path: Path,
    live_dir: Path,
    ingest: Callable[[str], tuple[int, int]],
    start_server: Callable[..., Server],
) -> None:
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - an encoder pushes on the real clock
    config = tmp_path / "event.toml"
    config.write_text(
        event_toml(
            title="Ingest rehearsal",
            public_url="http://127.0.0.1",
            parts=[
                part(
                    "Part I",
                    local(now - dt.timedelta(minutes=1)),
                    local(now + dt.timedelta(minutes=10)),
                )
            ],
            recording_until=local(now + dt.timedelta(days=1)),
            live=f"file://{live_dir}",
            recording="recording",
            store_url="sqlite:///gateway.db",
        )
    )
    server = start_server(config, env_extra={"GATEWAY_INGEST_KEYS": f"old-key-000000,{KEY}"})
    port, hls_port = ingest(server.url)

    wrong = push(port, "guessed-key", 4)
    _, said = wrong.communicate(timeout=30)
    assert wrong.returncode != 0, said
    assert not any(live_dir.iterdir())  # refused before a byte was written
    assert [e["detail"]["reason"] for e in events(config, "ingest.refused")] == ["wrong_key"]

    obs = push(port, KEY, 40)
    try:
        link = run_cli(config, "registrants", "add", "--email", "v@example.org", "--name", "V")
        viewer = server.client()
        viewer.get(urlsplit(link.stdout.strip().splitlines()[-1]).path)
        deadline = time.monotonic() + 60
        listed: list[str] = []
        while len(listed) < 2:  # dated by watching (nginx-rtmp writes no PDT): it must grow
            assert time.monotonic() < deadline, sorted(os.listdir(live_dir))
            answer = viewer.get("/live/index.m3u8")
            if answer.status_code == 404:  # nginx-rtmp writes it after its first fragment
                time.sleep(1)
                continue
            assert answer.status_code == 200, answer.text
            listed = [line for line in answer.text.splitlines() if line.endswith(".ts")]
            time.sleep(1)
        assert all(name.startswith("index-") and KEY not in name for name in listed)
        segment = viewer.get(f"/live/{listed[-1]}")
        assert segment.status_code == 200
        (tmp_path / "segment.ts").write_bytes(segment.content)
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,nb_read_frames",
                "-of",
                "json",
                str(tmp_path / "segment.ts"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        (stream,) = json.loads(probe.stdout)["streams"]
        assert stream["codec_name"] == "h264" and int(stream["nb_read_frames"]) >= 25
        (started,) = events(config, "ingest.started")
        assert started["detail"]["key"] == "…41a2"
        assert not [p for p in os.listdir(live_dir) if KEY in p]  # the key names no file
        # the same folder over HTTP, for gateways that read the origin over the network
        over_http = httpx2.get(f"http://127.0.0.1:{hls_port}/hls/live/index.m3u8")
        assert over_http.status_code == 200 and "index-" in over_http.text
        assert httpx2.get(f"http://127.0.0.1:{hls_port}/").status_code == 404
    finally:
        obs.terminate()
        obs.communicate(timeout=10)
    deadline = time.monotonic() + 30
    while not events(config, "ingest.stopped"):
        assert time.monotonic() < deadline, "the gateway never heard the encoder leave"
        time.sleep(0.5)
    while viewer.get("/api/status").json().get("origin") not in ("stalled", "ended"):
        assert time.monotonic() < deadline + 20, "the origin still looks healthy"
        time.sleep(1)
