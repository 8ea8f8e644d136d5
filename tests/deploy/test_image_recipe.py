"""The container image's recipe: the Dockerfile's shape, and its build script run for real.

Docker does not run on these machines, so the Dockerfile builds with nothing
but scripts/image-build.sh, and these tests run that script into a clean venv
(and the npm step into a clean folder) and use what it made: the installed
package alone must serve pages, static files and messages.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from tests.conftest import SECRET, seminar_toml
from tests.support.locked import off_pins
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "image-build.sh"
LIST_DISTRIBUTIONS = (
    "from importlib import metadata\n"
    "for d in metadata.distributions(): print(d.metadata['Name'] + '==' + d.version)"
)
COMPILERS = ("gcc", "g++", "cc ", "clang", "build-essential", "make ", "cargo", "rustc")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile_stages(text: str) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continuation line ends the Dockerfile"
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(parts[0], name))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def test_the_dockerfile_is_multi_stage_slim_non_root_and_built_by_the_script() -> None:
    stages = dockerfile_stages((ROOT / "Dockerfile").read_text())
    assert [stage.name for stage in stages] == ["assets", "builder", "runtime"]
    assets, builder, runtime = stages
    assert assets.base == "node:20-bookworm-slim"
    assert builder.base == runtime.base == "python:3.11-slim-bookworm"  # the venv's interpreter

    # Build stages run the script and nothing else; the modes they use exist in it.
    script = SCRIPT.read_text()
    for stage, mode in ((assets, "assets"), (builder, "venv")):
        runs = stage.all("RUN")
        assert runs and all("bash scripts/image-build.sh " + mode in run for run in runs), runs
        assert f"    {mode}) " in script
        assert any("scripts/image-build.sh" in copy for copy in stage.all("COPY"))
    assert "GATEWAY_REQUIRE_HLS_JS=1" in builder.all("RUN")[0]
    assert any(
        copy.startswith("--from=assets ") and "static/vendor" in copy
        for copy in builder.all("COPY")
    )

    # The runtime: only the venv from the builder, no build tools, an unprivileged user.
    copies = runtime.all("COPY")
    assert copies == ["--from=builder /opt/gateway /opt/gateway"], copies
    for run in runtime.all("RUN"):
        assert not any(tool in run + " " for tool in COMPILERS), run
        assert not re.search(r"\b(apt-get|apt|pip|npm)\b", run), run
    (user,) = runtime.all("USER")
    assert user.split(":")[0] not in ("root", "0"), user
    assert int(user.split(":")[0]) >= 1000
    assert "useradd" in " ".join(runtime.all("RUN")) and "10001" in " ".join(runtime.all("RUN"))
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in healthcheck and "CMD" in healthcheck
    assert any("/opt/gateway/bin" in env for env in runtime.all("ENV"))
    assert [json.loads(e) for e in runtime.all("ENTRYPOINT")] == [["gateway"]]
    assert [json.loads(c) for c in runtime.all("CMD")] == [
        ["serve", "--config", "/etc/gateway/event.toml", "--host", "0.0.0.0"]
    ]
    assert runtime.all("EXPOSE") == ["8000"]
    # What the build stages copy is what .dockerignore lets in.
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line]
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for stage in (assets, builder):
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = shlex.split(copy)
            assert set(sources) <= allowed, (sources, allowed)


def test_the_build_context_is_an_allow_list() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "**"  # everything out, then only the build inputs back in
    allowed = {line for line in lines if line.startswith("!")}
    assert allowed == {
        "!pyproject.toml",
        "!constraints.txt",
        "!README.md",
        "!package.json",
        "!package-lock.json",
        "!gateway/",
        "!scripts/image-build.sh",
    }
    assert "gateway/web/static/vendor/" in lines  # hls.js comes from the npm stage only


def _venv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PYTHON": sys.executable, "GATEWAY_SECRET_KEYS": SECRET}


@pytest.mark.timeout(180)  # a venv and a pip install: ~20 s on a quiet machine
def test_the_recipe_builds_a_clean_venv_that_serves_the_gateway(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    started = time.monotonic()
    built = subprocess.run(
        ["bash", str(SCRIPT), "venv", str(ROOT), str(venv)],
        env=_venv_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    assert time.monotonic() - started < 180
    assert "package data complete" in built.stdout

    # The package is the venv's own copy, not the work tree; no pip left in the runtime.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", "import gateway; print(gateway.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
    assert not (venv / "bin" / "pip").exists()
    # Every package at the version constraints.txt pins, never what PyPI has today.
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", LIST_DISTRIBUTIONS],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    installed = dict(line.split("==") for line in listed.stdout.split())
    assert "redis" in installed and "stream-gateway" in installed
    assert off_pins(installed) == {}
    gateway = str(venv / "bin" / "gateway")
    assert subprocess.run([gateway, "--help"], capture_output=True, check=False).returncode == 0

    config = tmp_path / "event.toml"
    config.write_text(seminar_toml(tmp_path))
    schedule = subprocess.run(
        [gateway, "schedule", "--config", str(config), "--at", "2021-11-18T13:00"],
        capture_output=True,
        text=True,
        env=_venv_env(),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert schedule.returncode == 0, schedule.stderr
    assert "Part I" in schedule.stdout and "Part III" in schedule.stdout

    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [gateway, "serve", "--config", str(config), "--port", str(port)],
            env=_venv_env(),
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx2.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the installed gateway did not start"
            time.sleep(0.1)
        static = ROOT / "gateway" / "web" / "static"
        player = httpx2.get(base + "/static/player.js")
        assert player.status_code == 200 and player.content == (static / "player.js").read_bytes()
        vendored = static / "vendor" / "hls.min.js"
        if vendored.exists():
            assert httpx2.get(base + "/static/vendor/hls.min.js").content == vendored.read_bytes()
        for lang in ("en", "fi", "sv"):  # templates and message catalogues
            page = httpx2.get(base + f"/?lang={lang}")
            assert page.status_code == 200 and f'lang="{lang}"' in page.text, page.text[:300]
            assert "Part II" in page.text
        assert httpx2.get(base + "/register").status_code == 200
        assert httpx2.get(base + "/admin/").status_code in (303, 404)  # admin templates load
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_assets_step_fetches_the_locked_hls_js(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install npm (apt-get install npm)")
        pytest.skip("npm is not installed")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["bash", str(SCRIPT), "assets", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    hls = tmp_path / "gateway" / "web" / "static" / "vendor" / "hls.min.js"
    locked = json.loads((ROOT / "package-lock.json").read_text())
    version = locked["packages"]["node_modules/hls.js"]["version"]
    assert hls.stat().st_size > 100_000 and version.encode() in hls.read_bytes()
    assert not (tmp_path / "node_modules").exists()  # nothing but the file leaves the stage


def test_the_script_refuses_an_image_without_hls_js_and_an_existing_venv(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    (source / "gateway" / "web" / "static").mkdir(parents=True)
    env = {**_venv_env(), "GATEWAY_REQUIRE_HLS_JS": "1"}
    refused = subprocess.run(
        ["bash", str(SCRIPT), "venv", str(source), str(tmp_path / "venv")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1 and "hls.min.js is missing" in refused.stderr
    (tmp_path / "taken").mkdir()
    again = subprocess.run(
        ["bash", str(SCRIPT), "venv", str(ROOT), str(tmp_path / "taken")],
        env=_venv_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1 and "built anew" in again.stderr
    usage = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert usage.returncode == 1 and "usage" in usage.stderr
