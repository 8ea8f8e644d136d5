"""deploy/nginx/ rendered for the benchmark, the way tests/support/nginx.py renders it.

The site config comes from `deploy/nginx/render.sh` (the script the nginx
container runs at start) with loopback ports, the static segment folder and
a self-signed certificate for 127.0.0.1, inside a process-level wrapper (pid,
logs, temp folders, one worker). The wrapper and the certificate maker are
shared with tests/support/nginx.py, which imports them from here. nginx
terminates TLS as deployed, so this row is compared with plain nginx over TLS
with the same certificate (row a3).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
RENDER = DEPLOY / "render.sh"

WRAPPER = """\
{user}pid {root}/nginx.pid;
error_log {root}/error.log {log_level};
worker_processes {workers};
worker_rlimit_nofile {nofile};
events {{ worker_connections {worker_connections}; }}
http {{
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    include {root}/conf/gateway.conf;
}}
"""


@dataclass
class Rendered:
    conf: str
    how: str
    https_port: int


def wrapper(root: Path, *, log_level: str, worker_connections: int, workers: int = 1) -> str:
    """The process-level nginx.conf (what the container's stock one holds) for `root`.

    It includes the site config render.sh wrote to `root/conf/gateway.conf`.
    `workers`: 1 for the wrk rows (one core each side), as many as cores for row j.
    """
    # As root, nginx would run its workers as nobody, who cannot use root's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return WRAPPER.format(
        root=root,
        user=user,
        log_level=log_level,
        worker_connections=worker_connections,
        workers=workers,
        nofile=4 * worker_connections,
    )


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost) and its key, valid for a day (cryptography).

    One already in `folder` is reused: the benchmark's plain and deploy nginx share it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)  # noqa: TID251 - a certificate's validity is wall-clock time
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def render(
    prefix: Path,
    https_port: int,
    http_port: int,
    folder: Path,
    gateway_ports: list[int],
    tls: Path,
    *,
    workers: int = 1,
    worker_connections: int = 8192,
) -> Rendered | None:
    """The deploy config for this loopback setup, or None when deploy/nginx has no render.sh.

    `gateway_ports`: the replicas. Raises RuntimeError when render.sh exists but fails.
    """
    if not RENDER.is_file():
        return None
    cert, key = self_signed(tls)
    upstreams = prefix / "upstreams.conf"
    upstreams.write_text(
        "".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in gateway_ports)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env.update(
        {
            "GW_SERVER_NAME": "127.0.0.1",
            "GW_HTTPS_PORT": str(https_port),
            "GW_HTTP_PORT": str(http_port),
            "GW_TLS_CERT": str(cert),
            "GW_TLS_KEY": str(key),
            "GW_UPSTREAMS": str(upstreams),
            "GW_ORIGIN": "file",
            "GW_LIVE_DIR": str(folder),
            "GW_RECORDING_DIR": str(folder.parent / "recording"),
            "GW_CACHE_DIR": str(prefix / "cache"),
            "GW_ACCESS_LOG": str(prefix / "access.log"),
        }
    )
    done = subprocess.run(
        ["sh", str(RENDER), str(DEPLOY), str(prefix / "conf")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"deploy/nginx/render.sh failed: {done.stderr.strip()[-400:]}")
    if not (prefix / "conf" / "gateway.conf").is_file():
        raise RuntimeError("deploy/nginx/render.sh wrote no gateway.conf")
    return Rendered(
        wrapper(prefix, log_level="warn", worker_connections=worker_connections, workers=workers),
        "deploy/nginx/ rendered by its render.sh (TLS as deployed; compared with a3, "
        "plain nginx over TLS)",
        https_port,
    )
