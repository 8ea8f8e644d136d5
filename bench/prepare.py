"""Before the rows: the work folder, segments, configs, registrants and their sessions."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import media, procs
from bench.context import Context, gateway_argv, summary_int, viewer_run
from bench.plan import PACED_SESSIONS, PER_REGISTRANT, SOAK_REGISTRANTS, say
from bench.probes import open_link
from gateway.core.clock import system_clock


@dataclass
class Files:
    static: Path  # the wrk rows' fixed segments and playlist
    live: Path  # the viewer rows' live folder (media.LiveWriter)
    store: Path  # one SQLite store for every gateway process
    segment_name: str  # a static segment inside Part I
    config_static: Path
    config_live: Path
    config_http_template: Path  # origin.live = http://127.0.0.1:ORIGIN_PORT/
    config_http: Path  # the template with row f's origin port
    viewer_links: Path  # one link path a line, each registrant's PER_REGISTRANT times
    soak_links: Path
    cookies: Path  # one session cookie a line, from the viewer links


def event_toml(folder: Path, live: str, store_url: str) -> str:
    """Part I runs now for two hours; Part II (not streamed) after it."""
    now = system_clock().replace(microsecond=0)

    def z(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    p1 = now - dt.timedelta(minutes=10)
    return f"""
[event]
title = "Benchmark"
timezone = "Europe/Helsinki"
public_url = "http://127.0.0.1"

[[parts]]
name = "Part I"
start = "{z(p1)}"
end = "{z(p1 + dt.timedelta(hours=2))}"

[[parts]]
name = "Part II"
start = "{z(p1 + dt.timedelta(hours=2))}"
end = "{z(p1 + dt.timedelta(hours=3))}"
streamed = false

[recording]
available_until = "{z(now + dt.timedelta(days=1))}"

[origin]
live = "{live}"
recording = "{folder / "recording"}"

[store]
url = "{store_url}"

[sessions]
max_devices = {PER_REGISTRANT}
sharing_threshold = 1000000

[mail]
outbox = "{folder / "outbox"}"

[audit]
spool_file = "{folder / "audit-spool.jsonl"}"
"""


def add_registrants(config: Path, prefix: str, count: int, env: dict[str, str]) -> list[str]:
    """`gateway registrants add` (in this process, through its CLI entry): the link paths."""
    from gateway.cli import main as gateway_main

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    paths = []
    try:
        for i in range(count):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = gateway_main(
                    [
                        "registrants",
                        "add",
                        "--config",
                        str(config),
                        "--email",
                        f"{prefix}{i}@bench.example.org",
                        "--name",
                        f"{prefix} {i}",
                    ]
                )
            if code != 0:
                raise RuntimeError(
                    f"gateway registrants add exited {code}: {err.getvalue() or out.getvalue()}"
                )
            link = out.getvalue().strip().splitlines()[-1]
            paths.append(urlsplit(link).path)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return paths


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    path.chmod(0o755)  # nginx's workers read the segment folders
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"(work folder kept: {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def prepare(work: Path, encoder: bool) -> Files:
    """The segments, the static folder and the configs (file, live and HTTP origin)."""
    (work / "logs").mkdir()
    (work / "recording").mkdir()
    say("encoding real 4 s H.264 segments (PyAV), padding them to 1 MB")
    if encoder:
        templates = media.encode_templates(work / "encoded")
    else:
        templates = [media.pad(media.NULL_PACKET)] * 4
    static = work / "static"
    files = Files(
        static=static,
        live=work / "live",
        store=work / "bench.db",
        segment_name=media.write_static(static, templates, system_clock()),
        config_static=work / "gateway-static.toml",
        config_live=work / "gateway-live.toml",
        config_http_template=work / "gateway-http.toml.in",
        config_http=work / "gateway-http.toml",
        viewer_links=work / "viewer-links.txt",
        soak_links=work / "soak-links.txt",
        cookies=work / "cookies.txt",
    )
    sqlite = f"sqlite:///{files.store}"
    files.config_static.write_text(event_toml(work, str(files.static), sqlite))
    files.config_live.write_text(event_toml(work, str(files.live), sqlite))
    files.config_http_template.write_text(event_toml(work, "http://127.0.0.1:ORIGIN_PORT/", sqlite))
    return files


def open_sessions(ctx: Context, files: Files) -> str:
    """Registrants for every row, and one session per viewer link (in `files.cookies`).

    One gateway opens every link once; f and h reuse the cookies. Returns the wrk rows'
    cookie.
    """
    plan = ctx.plan
    viewers_needed = 0
    if "h" in plan.only:
        viewers_needed = plan.viewers
    if "f" in plan.only:
        viewers_needed = max(viewers_needed, plan.fanin_viewers)
    if "k" in plan.only:
        viewers_needed = max(viewers_needed, PACED_SESSIONS)
    registrants = math.ceil(viewers_needed / PER_REGISTRANT)
    say(f"adding {registrants + 1 + SOAK_REGISTRANTS} registrants (gateway registrants add)")
    secret_env = {"GATEWAY_SECRET_KEYS": ctx.env["GATEWAY_SECRET_KEYS"]}

    def add(prefix: str, count: int) -> list[str]:
        return add_registrants(files.config_static, prefix, count, secret_env)

    wrk_link = add("wrk", 1)[0]
    viewer_links = add("viewer", registrants)
    soak_links = add("soak", SOAK_REGISTRANTS)
    files.soak_links.write_text("\n".join(soak_links) + "\n")
    files.viewer_links.write_text(
        "".join(f"{link}\n" for link in viewer_links for _ in range(PER_REGISTRANT))
    )
    port = procs.free_port()
    opener = ctx.start("gateway-open", gateway_argv(files.config_static, port), port)
    wrk_cookie = open_link(opener.url, wrk_link)
    say(f"opening {viewers_needed} personal links (one session each)")
    open_cookies(ctx, opener, files.viewer_links, files.cookies)
    ctx.stop(opener)
    return wrk_cookie


def open_cookies(ctx: Context, gateway: procs.Server, links: Path, cookies: Path) -> None:
    """Open every link of `links` once through `gateway`: one session cookie a line."""
    t0 = time.monotonic()
    args = ["--links", str(links), "--out", str(cookies), "--concurrency", "8"]
    summary, _, _ = viewer_run(ctx, "open", gateway, 300, args)
    opened = summary_int(summary, "sessions")
    wanted = len(links.read_text().split())
    say(f"  {opened} sessions in {time.monotonic() - t0:.1f} s")
    if opened < wanted:
        ctx.notes.append(f"only {opened} of {wanted} links opened: {summary.get('errors')}")
    good = [c for c in cookies.read_text().split() if c]
    cookies.write_text("\n".join(good) + "\n")
