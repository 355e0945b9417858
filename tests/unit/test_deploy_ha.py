"""Static checks of the production topology: RabbitMQ broker + Redis behind Sentinel.

``deploy/docker-compose.ha.yml`` (an override of docker-compose.yml) and ``deploy/k8s-ha`` (a
kustomize overlay of deploy/k8s). No engine or cluster runs here: the files are parsed, their
URLs read by the settings parser the processes use, their scripts syntax-checked, and
``docker-compose config`` / ``kubectl kustomize`` run when installed. The failover itself is
proven on loopback by tests/e2e/test_sentinel.py.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HA_COMPOSE = DEPLOY / "docker-compose.ha.yml"
HA_K8S = DEPLOY / "k8s-ha"
APP_SERVICES = ("api", "worker", "judge", "webhooks", "flower")
SENTINEL_PORT = 26379


def lease_ttl_outlasts_a_failover(lease_ttl_s: float, down_after_ms: int) -> bool:
    """docs/deploy.md: a run renews its lease every third of the TTL, so up to 2/3 of it is left
    when the master dies; a failover takes down-after + ~2 s (agreement, election, promotion) and
    a client may sleep up to 4 s more in its backoff before it tries the new master."""
    return lease_ttl_s * 2 / 3 > down_after_ms / 1000 + 2 + 4


@functools.cache
def ha_compose() -> dict[str, Any]:
    return dict(yaml.safe_load(HA_COMPOSE.read_text()))


def base_compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()))


def sentinel_conf(command: list[str]) -> str:
    """The sentinel.conf a compose sentinel writes on first start (its heredoc)."""
    script = command[-1]
    return script.split("<<CONF\n", 1)[1].split("\nCONF\n", 1)[0]


def conf_value(conf: str, directive: str) -> list[str]:
    (line,) = [ln for ln in conf.splitlines() if ln.startswith(directive + " ")]
    return line.split()[len(directive.split()):]


def settings_from(env: dict[str, str]) -> Settings:
    """The settings a container would read from ``env`` (the parser's errors name the setting)."""
    return Settings(
        redis_url=env["REDIS_URL"], redis_sentinel_master=env["BROWSERFLEET_REDIS_SENTINEL_MASTER"],
        broker_url=env.get("BROWSERFLEET_BROKER_URL"),
        consumer_timeout_s=int(env["BROWSERFLEET_CONSUMER_TIMEOUT_S"]),
        lease_ttl_s=float(env["BROWSERFLEET_LEASE_TTL_S"]),
    )


# --------------------------------------------------------------------------- compose


def test_compose_ha_every_app_service_uses_the_sentinels_and_rabbitmq() -> None:
    services = {**base_compose()["services"], **ha_compose()["services"]}
    sentinels = sorted(name for name in services if name.startswith("sentinel-"))
    assert len(sentinels) == 3
    for name in APP_SERVICES:
        env = {k: str(v) for k, v in ha_compose()["services"][name]["environment"].items()}
        env["BROWSERFLEET_BROKER_URL"] = env["BROWSERFLEET_BROKER_URL"].replace(
            "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD in deploy/.env}", "pw")
        settings = settings_from(env)
        target = settings.redis_target
        assert target.is_sentinel and settings.amqp, name
        assert sorted(host for host, _ in target.sentinels) == sentinels
        assert {port for _, port in target.sentinels} == {SENTINEL_PORT}
        assert settings.wait_replicas == 1  # durable writes behind Sentinel
        assert re.match(r"amqp://browserfleet:pw@rabbitmq:5672/", settings.broker)
        depends = ha_compose()["services"][name]["depends_on"]
        assert {"rabbitmq", *sentinels} <= set(depends)
        assert all(depends[d]["condition"] == "service_healthy" for d in depends)


def test_compose_ha_sentinels_monitor_the_master_with_a_majority_and_a_persistent_config() -> None:
    services = ha_compose()["services"]
    master_name = services["api"]["environment"]["BROWSERFLEET_REDIS_SENTINEL_MASTER"]
    sentinels = [s for name, s in services.items() if name.startswith("sentinel-")]
    for sentinel in sentinels:
        conf = sentinel_conf(sentinel["command"])
        name, host, port, quorum = conf_value(conf, "sentinel monitor")
        assert (name, host, port) == (master_name, "redis", "6379")
        assert len(sentinels) // 2 < int(quorum) <= len(sentinels)
        assert conf_value(conf, "sentinel resolve-hostnames") == ["yes"]
        assert "test -f /data/sentinel.conf ||" in sentinel["command"][-1]  # written once
        assert any(v.endswith(":/data") for v in sentinel["volumes"])
        assert "healthcheck" in sentinel
        down_after = int(conf_value(conf, f"sentinel down-after-milliseconds {master_name}")[0])
        lease = float(services["worker"]["environment"]["BROWSERFLEET_LEASE_TTL_S"])
        assert lease_ttl_outlasts_a_failover(lease, down_after)


def test_compose_ha_redis_nodes_are_durable_and_the_replica_follows_the_master() -> None:
    services = ha_compose()["services"]
    for name in ("redis", "redis-replica"):
        command = services[name]["command"]
        assert command[command.index("--appendonly") + 1] == "yes"
        assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
        assert command[command.index("--replica-announce-ip") + 1] == name  # what sentinels hand out
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]


def test_compose_ha_rabbitmq_consumer_timeout_matches_the_setting() -> None:
    services = ha_compose()["services"]
    (mount,) = [v for v in services["rabbitmq"]["volumes"] if "rabbitmq.conf" in v]
    conf = (DEPLOY / mount.split(":")[0]).read_text()
    timeout_ms = int(re.search(r"^consumer_timeout = (\d+)$", conf, re.M)[1])  # type: ignore[index]
    setting = int(services["worker"]["environment"]["BROWSERFLEET_CONSUMER_TIMEOUT_S"])
    assert timeout_ms == setting * 1000
    assert setting > float(dict(_env_example())["BROWSERFLEET_HARD_TIME_LIMIT_S"])
    assert "healthcheck" in services["rabbitmq"]


def _env_example() -> dict[str, str]:
    found = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            found[match[1]] = match[2]
    return found


def test_every_compose_ha_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", HA_COMPOSE.read_text()))
    assert "RABBITMQ_PASSWORD" in used
    assert not used - set(_env_example())


def test_docker_compose_config_validates_the_ha_override(tmp_path: Path) -> None:
    cli = shutil.which("docker-compose")
    if cli is None:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "deploy").mkdir()
    for path in (DEPLOY / "docker-compose.yml", HA_COMPOSE):
        shutil.copy(path, tmp_path / "deploy" / path.name)
    shutil.copytree(DEPLOY / "rabbitmq", tmp_path / "deploy" / "rabbitmq")
    shutil.copy(DEPLOY / ".env.example", tmp_path / "deploy" / ".env")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BROWSERFLEET_", "REDIS_URL", "OPENAI_", "LITELLM_", "RABBITMQ_"))}
    files = ["-f", "docker-compose.yml", "-f", "docker-compose.ha.yml"]
    refused = subprocess.run([cli, *files, "config"], cwd=tmp_path / "deploy", capture_output=True,
                             text=True, timeout=30, env=env)
    assert refused.returncode != 0 and "RABBITMQ_PASSWORD" in refused.stderr  # required
    run = subprocess.run([cli, *files, "config"], cwd=tmp_path / "deploy", capture_output=True, text=True,
                         timeout=30, env={**env, "RABBITMQ_PASSWORD": "s3cret"})
    assert run.returncode == 0, run.stderr
    resolved = yaml.safe_load(run.stdout)["services"]
    for name in APP_SERVICES:
        environment = resolved[name]["environment"]
        assert environment["REDIS_URL"].startswith("sentinel://sentinel-1:26379;"), name
        assert settings_from(environment).broker == "amqp://browserfleet:s3cret@rabbitmq:5672//"
    assert resolved["worker"]["environment"]["BROWSERFLEET_CDP_RELAY_PORT"] == "9333"  # merged, not lost
    assert resolved["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"] == "s3cret"


# --------------------------------------------------------------------------- Kubernetes


def k8s_ha_docs() -> list[dict[str, Any]]:
    return [d for p in sorted(HA_K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def scripts() -> dict[str, str]:
    return dict(objects(k8s_ha_docs(), "ConfigMap")["browserfleet-redis-ha-scripts"]["data"])


def test_k8s_ha_scripts_are_valid_shell_and_agree_on_the_service(tmp_path: Path) -> None:
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell
    for name, text in scripts().items():
        path = tmp_path / name
        path.write_text(text)
        check = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, (name, check.stderr)
    common = scripts()["common.sh"]
    assert re.search(r"^SERVICE=browserfleet$", common, re.M)
    patch = yaml.safe_load((HA_K8S / "configmap-patch.yaml").read_text())["data"]
    assert patch["BROWSERFLEET_REDIS_SENTINEL_MASTER"] == "browserfleet"
    sentinel = scripts()["sentinel.sh"]
    monitor = re.search(r"^sentinel monitor \$SERVICE \$master 6379 (\d+)$", sentinel, re.M)
    assert monitor and int(monitor[1]) == 2
    down_after = int(re.search(r"down-after-milliseconds \$SERVICE (\d+)", sentinel)[1])  # type: ignore[index]
    assert lease_ttl_outlasts_a_failover(float(patch["BROWSERFLEET_LEASE_TTL_S"]), down_after)


def test_k8s_ha_clients_list_every_sentinel_pod() -> None:
    docs = k8s_ha_docs()
    (sts,) = objects(docs, "StatefulSet").values()
    name, service = sts["metadata"]["name"], sts["spec"]["serviceName"]
    pods = [f"{name}-{i}.{service}" for i in range(sts["spec"]["replicas"])]
    containers = {c["name"]: c for c in sts["spec"]["template"]["spec"]["containers"]}
    (port,) = [p["containerPort"] for p in containers["sentinel"]["ports"]]
    patch = yaml.safe_load((HA_K8S / "configmap-patch.yaml").read_text())["data"]
    settings = Settings(redis_url=patch["REDIS_URL"],
                        redis_sentinel_master=patch["BROWSERFLEET_REDIS_SENTINEL_MASTER"])
    assert list(settings.redis_target.sentinels) == [(pod, port) for pod in pods]
    assert sts["spec"]["replicas"] == 3
    first = re.search(r"^FIRST=(\S+)$", scripts()["common.sh"], re.M)
    assert first and first[1] == pods[0]
    services = objects(docs, "Service")
    assert services[sts["spec"]["serviceName"]]["spec"]["publishNotReadyAddresses"] is True
    (pdb,) = objects(docs, "PodDisruptionBudget").values()
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_k8s_ha_rabbitmq_is_a_three_node_cluster_with_the_consumer_timeout() -> None:
    (cluster,) = objects(k8s_ha_docs(), "RabbitmqCluster").values()
    assert cluster["spec"]["replicas"] == 3
    conf = cluster["spec"]["rabbitmq"]["additionalConfig"]
    timeout_ms = int(re.search(r"^consumer_timeout = (\d+)$", conf, re.M)[1])  # type: ignore[index]
    patch = yaml.safe_load((HA_K8S / "configmap-patch.yaml").read_text())["data"]
    assert timeout_ms == int(patch["BROWSERFLEET_CONSUMER_TIMEOUT_S"]) * 1000


def test_k8s_ha_overlay_builds_without_the_single_redis_and_with_the_broker_everywhere() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run([kubectl, "kustomize", str(HA_K8S)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    built = [d for d in yaml.safe_load_all(out) if d]
    assert "browserfleet-redis" not in objects(built, "StatefulSet")
    assert "browserfleet-redis" not in objects(built, "Service")
    assert "browserfleet-redis-ha" in objects(built, "StatefulSet")
    deployments = objects(built, "Deployment")
    assert set(deployments) >= {"browserfleet-api", "browserfleet-worker", "browserfleet-judge",
                                "browserfleet-webhooks", "browserfleet-flower"}
    for name, deployment in deployments.items():
        env = [v["name"] for v in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
        # $(VAR) is expanded from variables defined before it
        assert env.index("RABBITMQ_USERNAME") < env.index("BROWSERFLEET_BROKER_URL"), name
        assert env.index("RABBITMQ_PASSWORD") < env.index("BROWSERFLEET_BROKER_URL"), name
    config = objects(built, "ConfigMap")["browserfleet-config"]["data"]
    settings = Settings(
        redis_url=config["REDIS_URL"], redis_sentinel_master=config["BROWSERFLEET_REDIS_SENTINEL_MASTER"],
        broker_url="amqp://u:p@browserfleet-rabbitmq:5672//",
        consumer_timeout_s=int(config["BROWSERFLEET_CONSUMER_TIMEOUT_S"]),
        task_budget_s=float(config["BROWSERFLEET_TASK_BUDGET_S"]),
        soft_time_limit_s=float(config["BROWSERFLEET_SOFT_TIME_LIMIT_S"]),
        hard_time_limit_s=float(config["BROWSERFLEET_HARD_TIME_LIMIT_S"]),
    )
    assert settings.redis_target.is_sentinel and settings.amqp
    (scaled,) = objects(built, "ScaledObject").values()
    assert [t["type"] for t in scaled["spec"]["triggers"]] == ["prometheus"]
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "browserfleet" for d in built)
