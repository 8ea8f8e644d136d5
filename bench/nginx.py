"""nginx configs for the benchmark: plain nginx (the yardstick) and nginx + /auth + cache.

Both run Debian's nginx as `nginx -p PREFIX -c PREFIX/nginx.conf -g 'daemon off;'`
with one worker, on a loopback port, access log on (buffered) like a real site,
sendfile on. The deploy/nginx/ config, when it exists, is preferred for the
auth row (see `bench.wrk_rows`); this module's `auth_conf` is the minimal equivalent:
segments served from disk by nginx after `auth_request /auth` to the gateway
(upstream keepalive, every request decided; deploy/nginx keeps a grant only for a
request repeated within its second), playlists
proxied to the gateway (they are filtered per session there).
"""

from __future__ import annotations

import os
from pathlib import Path

MIME = """
    types {
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
        text/plain txt;
    }
    default_type application/octet-stream;
"""


def _common(prefix: Path, workers: int = 1, connections: int = 8192) -> str:
    user = "user root;" if os.geteuid() == 0 else ""  # workers may read the work folder
    return f"""
{user}
worker_processes {workers};
worker_rlimit_nofile {4 * connections};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {connections}; }}
"""


def _http_common(prefix: Path) -> str:
    return f"""
    {MIME}
    access_log {prefix}/access.log combined buffer=64k flush=1s;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
"""


def prepare(prefix: Path) -> None:
    for sub in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi", "cache"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)


def plain_conf(
    prefix: Path,
    port: int,
    folder: Path,
    tls: tuple[int, Path, Path] | None = None,
    *,
    workers: int = 1,
    connections: int = 8192,
) -> str:
    """Serves `folder` at /live/ (segments and the playlist as files); also over TLS if given.

    `tls` is (port, certificate, key); the TLS settings are deploy/nginx's.
    """
    tls_lines = ""
    if tls is not None:
        tls_port, cert, key = tls
        tls_lines = f"""
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:tls:20m;
        ssl_session_tickets off;"""
    return f"""{_common(prefix, workers, connections)}
http {{
{_http_common(prefix)}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;{tls_lines}
        location = /healthz {{ return 200 "ok\\n"; }}
        location /live/ {{ alias {folder}/; }}
    }}
}}
"""


def auth_conf(prefix: Path, port: int, folder: Path, gateway_port: int) -> str:
    """nginx + auth_request to the gateway (every request decided); segments from `folder`."""
    return f"""{_common(prefix)}
http {{
{_http_common(prefix)}
    upstream gateway {{
        server 127.0.0.1:{gateway_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /healthz {{ return 200 "ok\\n"; }}
        location ~ ^/live/[A-Za-z0-9_-]+\\.ts$ {{
            auth_request /_auth;
            root {folder.parent};
            rewrite ^/live/(.*)$ /{folder.name}/$1 break;
            add_header Cache-Control "private, max-age=3600";
        }}
        location /live/ {{
            proxy_pass http://gateway;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location = /_auth {{
            internal;
            proxy_pass http://gateway/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


def command(prefix: Path) -> list[str]:
    return ["nginx", "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf", "-g", "daemon off;"]
