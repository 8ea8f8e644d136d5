"""deploy/: compose.yaml and k8s/ parse, hang together, match the image, and hold no secret."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import Settings, load_settings
from tests.deploy.test_image_recipe import ROOT, dockerfile_stages
from tests.support.nginx import RENDER, TEMPLATES

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SECRETS = (
    "GATEWAY_INGEST_KEYS",
    "GATEWAY_SECRET_KEYS",
    "GATEWAY_SMTP_PASSWORD",
    "GATEWAY_OIDC_CLIENT_SECRET",
    "GATEWAY_AUDIT_SIGNING_KEY",
)
API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "PersistentVolumeClaim": "v1",
    "PodDisruptionBudget": "policy/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
LABELS = {"app.kubernetes.io/name": "stream-gateway"}


def _documents(path: Path) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs and all(isinstance(doc, dict) for doc in docs), path
    return docs


def _k8s() -> dict[str, dict[str, Any]]:
    """Every k8s object of the replicas by kind (one of each); a second object of a kind
    (the ingest's, the archive's claim) by `kind:name`."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml"), key=lambda p: (p.name == "ingest.yaml", p.name)):
        for doc in _documents(path):
            kind = doc["kind"]
            key = kind if kind not in found else f"{kind}:{doc['metadata']['name']}"
            assert key not in found, f"two {key}s"
            found[key] = doc
    return found


def _settings(text: str, tmp: Path, env: dict[str, str]) -> Settings:
    path = tmp / "event.toml"
    path.write_text(text)
    return load_settings(path, {"GATEWAY_SECRET_KEYS": "k", **env})


def _runtime_user() -> int:
    runtime = dockerfile_stages((ROOT / "Dockerfile").read_text())[-1]
    (user,) = runtime.all("USER")
    return int(user.split(":")[0])


def test_every_yaml_file_under_deploy_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert {path.relative_to(DEPLOY).as_posix() for path in files} >= {
        "compose.yaml",
        "k8s/deployment.yaml",
        "k8s/service.yaml",
        "k8s/configmap.yaml",
        "k8s/secret.template.yaml",
        "k8s/pdb.yaml",
        "k8s/hpa.yaml",
        "k8s/kustomization.yaml",
    }
    for path in files:
        _documents(path)


def test_k8s_objects_have_their_kinds_versions_names_and_labels() -> None:
    objects = _k8s()
    assert {key.split(":")[0] for key in objects} == set(API_VERSIONS)
    for key, doc in objects.items():
        kind = key.split(":")[0]
        assert doc["apiVersion"] == API_VERSIONS[kind], kind
        if kind != "Kustomization":
            assert doc["metadata"]["name"].startswith("stream-gateway"), kind
            assert doc["metadata"]["labels"] == LABELS, kind
    listed = set(objects["Kustomization"]["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    # The Secret template is applied by hand, filled in: never by `kubectl apply -k`.
    assert listed == on_disk - {"secret.template.yaml"}


def test_the_deployment_probes_runs_as_the_image_user_and_wires_config_and_secret() -> None:
    objects = _k8s()
    deployment = objects["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"] == LABELS == spec["template"]["metadata"]["labels"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == _runtime_user()
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"][:3] == ["serve", "--config", "/etc/gateway/event.toml"]
    assert container["resources"]["requests"]["cpu"]  # the HPA scales on CPU requests
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]

    # The config and the secret it mounts exist under those names.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    config = volumes[mounts["/etc/gateway"]]["configMap"]
    assert config["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert [item["key"] for item in config["items"]] == ["event.toml"]
    assert "event.toml" in objects["ConfigMap"]["data"]
    (source,) = container["envFrom"]
    assert source["secretRef"]["name"] == objects["Secret"]["metadata"]["name"]
    claim = volumes[mounts["/var/lib/gateway-checkpoints"]]["persistentVolumeClaim"]
    assert claim["claimName"] == objects["PersistentVolumeClaim"]["metadata"]["name"]
    archive = volumes[mounts["/var/lib/gateway-archive"]]["persistentVolumeClaim"]
    shared = objects["PersistentVolumeClaim:stream-gateway-archive"]
    assert archive["claimName"] == "stream-gateway-archive"
    assert shared["spec"]["accessModes"] == ["ReadWriteMany"]  # one archives, all serve
    assert "/var/lib/gateway" in mounts and "/tmp" in mounts  # writable despite a read-only root


def test_the_ingest_is_apart_from_the_replicas_and_feeds_their_origin() -> None:
    objects = _k8s()
    ingest = objects["Deployment:stream-gateway-ingest"]["spec"]
    labels = ingest["template"]["metadata"]["labels"]
    assert ingest["selector"]["matchLabels"] == labels != LABELS  # never the replicas' pods
    assert objects["Service"]["spec"]["selector"] == LABELS
    hls = objects["Service:stream-gateway-ingest"]
    rtmp = objects["Service:stream-gateway-rtmp"]
    assert hls["spec"]["type"] == "ClusterIP" and hls["spec"]["selector"] == labels
    assert rtmp["spec"]["ports"][0]["port"] == 1935 and rtmp["spec"]["selector"] == labels
    (container,) = ingest["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GW_GATEWAY_URL"] == "http://stream-gateway:80"
    config = objects["ConfigMap"]["data"]["event.toml"]
    assert 'live = "http://stream-gateway-ingest:8080/hls/live/"' in config
    assert "archive = true" in config


def test_service_pdb_and_hpa_point_at_the_deployment() -> None:
    objects = _k8s()
    service = objects["Service"]["spec"]
    assert service["selector"] == LABELS
    assert [port["targetPort"] for port in service["ports"]] == ["http"]
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"] == LABELS and pdb["minAvailable"] == 1
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        objects["Deployment"]["metadata"]["name"],
    )
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    assert pdb["minAvailable"] < hpa["minReplicas"]
    assert [metric["resource"]["name"] for metric in hpa["metrics"]] == ["cpu"]


@pytest.mark.parametrize("where", ["k8s", "compose"])
def test_the_deployed_event_configs_load(where: str, tmp_path: Path) -> None:
    if where == "k8s":  # a real relay, with a password from the Secret
        text = _k8s()["ConfigMap"]["data"]["event.toml"]
        settings = _settings(text, tmp_path, {"GATEWAY_SMTP_PASSWORD": "p"})
    else:  # compose passes GATEWAY_SMTP_PASSWORD empty: Mailpit takes mail without one
        text = (DEPLOY / "event.toml").read_text()
        settings = _settings(text, tmp_path, {"GATEWAY_SMTP_PASSWORD": ""})
    assert settings.event.secure  # https: Secure, __Host- cookies (nginx's cache key sees them)
    assert settings.store_url.startswith("redis://")  # replicas share one store
    writable = Path("/var/lib/gateway")
    assert settings.audit.spool_file.is_relative_to(writable)  # the config folder is read-only
    assert settings.audit.checkpoint_dir == Path("/var/lib/gateway-checkpoints")
    assert [part.name for part in settings.schedule.parts] == ["Part I", "Part II", "Part III"]


def test_the_secret_template_names_every_secret_and_holds_no_value() -> None:
    secret = _k8s()["Secret"]
    assert secret["type"] == "Opaque" and "data" not in secret
    assert set(secret["stringData"]) == {*SECRETS, "GATEWAY_STORE_URL"}
    assert all(value == "" for value in secret["stringData"].values())


def test_compose_runs_redis_with_aof_and_noeviction_two_replicas_nginx_and_mailpit() -> None:
    (compose,) = _documents(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"redis", "gateway-1", "gateway-2", "nginx", "mailpit", "ingest"}

    command = services["redis"]["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert command[0] == "redis-server"
    assert flags["--appendonly"] == "yes"
    assert flags["--appendfsync"] == "everysec"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])

    first, second = services["gateway-1"], services["gateway-2"]
    assert first["build"] == second["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert first["environment"] == second["environment"]
    assert first["environment"]["GATEWAY_STORE_URL"] == "redis://redis:6379/0"
    assert first["depends_on"]["redis"]["condition"] == "service_healthy"
    for replica in (first, second):
        volumes = replica["volumes"]
        assert "./event.toml:/etc/gateway/event.toml:ro" in volumes
        assert any(volume.endswith(":/var/lib/gateway") for volume in volumes)
    assert first["volumes"] != second["volumes"]  # each its own spool
    # one archive, shared (one replica archives at a time), which nginx sends the recording from
    for replica in (first, second):
        assert "archive:/var/lib/gateway-archive" in replica["volumes"]
    assert "archive:/var/lib/gateway-archive:ro" in services["nginx"]["volumes"]
    assert services["nginx"]["environment"]["GW_RECORDING_DIR"] == "/var/lib/gateway-archive"
    ingest = services["ingest"]
    assert ingest["build"] == {"context": "./ingest"} and "1935:1935" in ingest["ports"]
    assert ingest["environment"]["GW_GATEWAY_URL"] == "http://gateway-1:8000"
    assert ingest["environment"]["GW_LIVE_DIR"] == "/srv/hls/live"
    assert first["environment"]["GATEWAY_INGEST_KEYS"] == "${GATEWAY_INGEST_KEYS:-}"

    # nginx upstreams are exactly the replicas, on the image's port.
    upstreams = (TEMPLATES / "gateway.d" / "upstreams.conf").read_text()
    servers = re.findall(r"^server (\S+)", upstreams, re.MULTILINE)
    assert servers == ["gateway-1:8000", "gateway-2:8000"]
    nginx = services["nginx"]
    assert "./nginx/render.sh:/docker-entrypoint.d/40-gateway-render.sh:ro" in nginx["volumes"]
    assert "./nginx:/etc/nginx/gateway-templates:ro" in nginx["volumes"]
    assert {"443:443", "80:80"} <= set(nginx["ports"])
    assert nginx["depends_on"]["gateway-1"]["condition"] == "service_healthy"
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    assert all(port.startswith("127.0.0.1:") for port in services["mailpit"]["ports"])


def test_compose_nginx_environment_renders_the_deploy_config(tmp_path: Path) -> None:
    (compose,) = _documents(DEPLOY / "compose.yaml")
    env = {
        key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
        for key, value in compose["services"]["nginx"]["environment"].items()
    }
    env["GW_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run(
        ["sh", str(RENDER), str(TEMPLATES), str(tmp_path / "conf")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rendered = (tmp_path / "conf" / "gateway.conf").read_text()
    segments = (tmp_path / "conf" / "gateway.d" / "segments-file.conf").read_text()
    assert "listen 443 ssl" in rendered and "alias /srv/hls/live/$gw_path;" in segments
    assert f"include {tmp_path}/conf/gateway.d/upstreams.conf;" in rendered


def test_nothing_secret_is_committed_under_deploy() -> None:
    files = [path for path in DEPLOY.rglob("*") if path.is_file()]
    files += [ROOT / "Dockerfile", ROOT / ".dockerignore"]
    for path in files:
        text = path.read_text()
        assert "PRIVATE KEY" not in text, path
        for name in SECRETS:
            assignments = rf"^[ \t]*(?:-[ \t]*)?(?:export[ \t]+)?{name}[ \t]*[:=][ \t]*([^\n#]*)"
            for value in re.findall(assignments, text, re.MULTILINE):
                value = value.strip().strip("\"'")
                # Only references to the environment, a command making one, or empty.
                assert value == "" or value.startswith(("${" + name, "$(")), (path, name, value)
    (compose,) = _documents(DEPLOY / "compose.yaml")
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if key in SECRETS:
                assert str(value).startswith("${" + key), (key, value)
    assert not list(DEPLOY.rglob("*.pem")) and not list(DEPLOY.rglob("*.key"))


def test_the_sentinel_override_adds_a_replica_three_sentinels_and_points_the_gateways_at_them(
    tmp_path: Path,
) -> None:
    (override,) = _documents(DEPLOY / "compose.sentinel.yaml")
    services = override["services"]
    assert {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"} <= set(services)
    command = services["redis-replica"]["command"]
    assert command[command.index("--replicaof") + 1 : command.index("--replicaof") + 3] == [
        "redis",
        "6379",
    ]
    script = services["sentinel-1"]["entrypoint"][-1]
    assert "sentinel monitor mymaster redis 6379 2" in script  # a quorum of 2 of the 3
    urls = {services[g]["environment"]["GATEWAY_STORE_URL"] for g in ("gateway-1", "gateway-2")}
    (url,) = urls
    assert url.startswith("redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/")
    text = (DEPLOY / "event.toml").read_text()
    settings = _settings(text, tmp_path, {"GATEWAY_STORE_URL": url})
    assert settings.store_url == url  # the config accepts it as the replicas will read it
