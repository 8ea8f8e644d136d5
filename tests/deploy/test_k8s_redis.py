"""deploy/k8s/redis/: Redis that fails over in Kubernetes (issue 19). No cluster runs
here, so the manifests are checked for what they promise, and their scripts run for
real with Debian's redis-server and redis-sentinel as three "pods" on one machine
(hosts and ports from the variables the scripts read): the set's first start, the
primary killed, the Sentinels promoting a replica, and the old primary coming back as a
replica of the new one rather than as a second primary."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.deploy.test_image_recipe import ROOT
from tests.support.ports import free_port
from tests.support.waiting import until

COMPONENT = ROOT / "deploy" / "k8s" / "redis"
NAME = "mymaster"


def _objects() -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((COMPONENT / "redis.yaml").read_text())
    return {doc["kind"]: doc for doc in docs if doc}


def test_three_pods_each_a_redis_and_a_sentinel_from_the_tested_scripts() -> None:
    objects = _objects()
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    (scripts,) = kustomization["configMapGenerator"]
    assert set(scripts["files"]) == {"common.sh", "redis.sh", "sentinel.sh"}
    for name in scripts["files"]:
        assert (COMPONENT / name).is_file()
        assert subprocess.run(["sh", "-n", str(COMPONENT / name)], check=False).returncode == 0
    service, sts = objects["Service"], objects["StatefulSet"]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
    assert sts["spec"]["serviceName"] == service["metadata"]["name"] == "stream-gateway-redis"
    assert sts["spec"]["replicas"] == 3
    pod = sts["spec"]["template"]["spec"]
    commands = {c["name"]: c["command"] for c in pod["containers"]}
    assert commands == {
        "redis": ["sh", "/scripts/redis.sh"],
        "sentinel": ["sh", "/scripts/sentinel.sh"],
    }
    assert pod["volumes"][0]["configMap"]["name"] == scripts["name"]
    assert objects["PodDisruptionBudget"]["spec"]["minAvailable"] == 2  # the quorum stays
    # the URL the replicas are told to use names the pods the scripts announce
    names = ",".join(f"stream-gateway-redis-{n}.stream-gateway-redis:26379" for n in range(3))
    assert (
        f"redis+sentinel://:PASSWORD@{names}/{NAME}/0"
        in (COMPONENT / "kustomization.yaml").read_text()
    )


class Pods:
    """Three pods' Redis and Sentinel, started by the component's own scripts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.redis = [free_port() for _ in range(3)]
        self.sentinel = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, n: int) -> dict[str, str]:
        data = self.folder / f"pod{n}"
        data.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.redis[n]),
            "SENTINEL_PORT": str(self.sentinel[n]),
            "REDIS_FIRST": f"127.0.0.1 {self.redis[0]}",
            "SENTINELS": " ".join(f"127.0.0.1:{port}" for port in self.sentinel),
            "REDIS_DIR": str(data),
            "REDIS_MAXMEMORY": "64mb",
            "SENTINEL_DIR": str(data),
            "SENTINEL_DOWN_AFTER_MS": "2000",  # (1 s: a second failover under load)
            "SENTINEL_FAILOVER_TIMEOUT_MS": "4000",
        }

    def start(self, what: str, n: int) -> None:
        with (self.folder / f"{what}{n}.log").open("wb") as log:
            self.processes[f"{what}{n}"] = subprocess.Popen(
                ["sh", str(COMPONENT / f"{what}.sh")], env=self.env(n), stdout=log, stderr=log
            )
        port = (self.redis if what == "redis" else self.sentinel)[n]
        pid = self.processes[f"{what}{n}"].pid  # the script execs the server
        until(lambda: _serves(port, pid), f"{what} of pod {n} did not answer")

    def kill(self, what: str, n: int) -> None:
        process = self.processes.pop(f"{what}{n}")
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait(timeout=10)

    def primary(self, n: int) -> tuple[str, int] | None:
        with redis.Redis(port=self.sentinel[n], decode_responses=True) as sentinel:
            host_port = sentinel.sentinel_get_master_addr_by_name(NAME)
        return None if host_port is None else (host_port[0], int(host_port[1]))

    def replicas(self, n: int) -> set[int]:
        """The ports of the replicas Sentinel `n` knows (and sees up). A Sentinel learns
        them from the primary's INFO, every 10 s: a primary killed before that leaves it
        with no replica to promote ("failover-abort-no-good-slave")."""
        with redis.Redis(port=self.sentinel[n], decode_responses=True) as sentinel:
            known = sentinel.sentinel_slaves(NAME)
        return {int(r["port"]) for r in known if not r["is_sdown"] and not r["is_odown"]}

    def role(self, n: int) -> dict[str, Any]:
        with redis.Redis(port=self.redis[n]) as client:
            info: dict[str, Any] = client.info("replication")
        return info

    def get(self, port: int, key: str) -> bytes | None:
        with redis.Redis(port=port) as client:
            value: bytes | None = client.get(key)
        return value


def _serves(port: int, pid: int) -> bool:
    """Whether the server answering on the port is the process we started (not another
    test's that took the port first)."""
    try:
        with redis.Redis(port=port, socket_timeout=0.5) as client:
            return bool(client.info("server")["process_id"] == pid)
    except redis.RedisError:
        return False


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[Pods]:
    if not (shutil.which("redis-server") and shutil.which("redis-sentinel")):
        pytest.skip("needs Debian's redis-server and redis-sentinel (.ci/run installs them)")
    started = Pods(tmp_path)
    yield started
    started.stop()


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_the_scripts_start_a_set_survive_the_primarys_death_and_take_it_back_as_a_replica(
    pods: Pods,
) -> None:
    # First start, in the StatefulSet's order: pod 0 finds no Sentinel and is the primary.
    for n in range(3):
        pods.start("redis", n)
        pods.start("sentinel", n)
    first = ("127.0.0.1", pods.redis[0])
    assert pods.role(0)["role"] == "master"

    def set_up() -> bool:
        replicas = [pods.role(n) for n in (1, 2)]
        return all(r["role"] == "slave" and r["master_link_status"] == "up" for r in replicas)

    until(set_up, "pods 1 and 2 did not replicate pod 0")
    # (each Sentinel learns the set on its own schedule: their view is waited for, not
    # asked once)
    until(lambda: {pods.primary(n) for n in range(3)} == {first}, "the Sentinels disagree")
    replicas = set(pods.redis[1:])
    until(lambda: all(pods.replicas(n) == replicas for n in range(3)), "replicas unknown")
    with redis.Redis(port=pods.redis[0]) as primary:
        primary.set("registrant", "kept")
        assert primary.wait(2, 5000) == 2  # on both replicas

    # Pod 0's Redis dies: the Sentinels promote one of the others.
    pods.kill("redis", 0)
    until(lambda: pods.primary(1) not in (None, first), "no failover", seconds=30)
    promoted = pods.primary(1)
    assert promoted is not None and promoted[1] in pods.redis[1:]
    survivor = pods.redis.index(promoted[1])
    until(lambda: pods.role(survivor)["role"] == "master", "the promoted one is no primary")
    assert pods.get(promoted[1], "registrant") == b"kept"

    # Pod 0 restarts (its script again): it asks the Sentinels and follows the new primary
    # (whichever they name by then: on a loaded machine one slow answer can make them fail
    # over once more, between the replicas).
    pods.start("redis", 0)

    def follows() -> bool:
        back, now = pods.role(0), pods.primary(1)
        return back["role"] == "slave" and now is not None and int(back["master_port"]) == now[1]

    until(follows, "pod 0 came back as a second primary")
    until(lambda: pods.role(0)["master_link_status"] == "up", "pod 0 did not catch up")
    assert pods.get(pods.redis[0], "registrant") == b"kept"

    def agreed() -> bool:
        named = {pods.primary(n) for n in range(3)}
        return len(named) == 1 and named != {first}

    until(agreed, "no agreement")
