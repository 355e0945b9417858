"""Static checks of deploy/: Dockerfile, docker-compose, Kubernetes manifests, healthcheck.

No Docker engine or cluster is needed; `docker compose config` and `kubectl kustomize`
run when their CLIs are installed and are skipped otherwise.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"

QUEUE = "browserfleet"
WORKER_DEPLOYMENT = "browserfleet-worker"
MB_PER_TASK = 150
MB_BROWSER = 250

# ------------------------------------------------------------------------ helpers


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_docs(path: Path) -> list[dict[str, Any]]:
    """The documents of a YAML file (cached: tests only read them)."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=Loader) if doc is not None]


@functools.cache
def k8s_docs() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_docs(path)
    ]


def k8s_objects(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == kind}


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def configmap_data() -> dict[str, str]:
    return k8s_objects("ConfigMap")["browserfleet-config"]["data"]


def env_example() -> dict[str, str]:
    """Every variable of .env.example, commented-out optional ones included."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            found[match[1]] = match[2]
    return found


def compose() -> dict[str, Any]:
    return load_docs(COMPOSE)[0]


def duration_s(value: str | int) -> float:
    """A compose duration ("2500s", "1h2m", "90") in seconds."""
    if isinstance(value, int):
        return value
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"bad duration {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def memory_mb(quantity: str) -> float:
    units = {"Mi": 1.048576, "Gi": 1073.741824, "M": 1, "G": 1000}
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", quantity).groups()
    return float(number) * units[unit]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    logical, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


# ---------------------------------------------------------------------- all YAML


def test_every_yaml_file_parses_into_mappings() -> None:
    paths = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert COMPOSE in paths and K8S / "kustomization.yaml" in paths
    for path in paths:
        docs = load_docs(path)
        assert docs, f"{path} is empty"
        assert all(isinstance(doc, dict) for doc in docs), path


# ---------------------------------------------------------------------- Kubernetes


def test_k8s_objects_are_named_and_namespace_free() -> None:
    docs = k8s_docs()
    kinds = {d.get("kind") for d in docs}
    assert {"ConfigMap", "Secret", "StatefulSet", "Service", "Deployment", "ScaledObject"} <= kinds
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc
        assert "namespace" not in doc["metadata"], doc["metadata"]["name"]
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "duplicate objects"


def test_kustomization_lists_exactly_the_manifests() -> None:
    kustomization = load_docs(K8S / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization lists missing {resource}"
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(resources) == manifests


def test_workload_selectors_match_their_pod_labels_and_services_select_pods() -> None:
    workloads = [*k8s_objects("Deployment").values(), *k8s_objects("StatefulSet").values()]
    pod_labels = []
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), workload["metadata"]["name"]
        pod_labels.append(labels)
    for name, service in k8s_objects("Service").items():
        selector = service["spec"]["selector"]
        matched = [labels for labels in pod_labels if selector.items() <= labels.items()]
        assert len(matched) == 1, f"Service {name} selects {len(matched)} workloads"


def test_config_and_secret_references_resolve() -> None:
    configmaps = k8s_objects("ConfigMap")
    secrets = k8s_objects("Secret")
    for workload in [*k8s_objects("Deployment").values(), *k8s_objects("StatefulSet").values()]:
        for container in containers(workload):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                assert ref["name"] in secrets, var["name"]
                if not ref.get("optional"):
                    assert ref["key"] in secrets[ref["name"]]["stringData"], var["name"]


def test_secret_template_holds_the_required_keys_and_only_placeholders() -> None:
    data = k8s_objects("Secret")["browserfleet-secrets"]["stringData"]
    assert {"BROWSERFLEET_SECRETS_KEY", "BROWSERFLEET_API_KEYS", "FLOWER_BASIC_AUTH"} <= set(data)
    assert all("REPLACE" in value for value in data.values())


def test_api_sees_no_llm_keys_and_flower_only_its_auth() -> None:
    def secret_keys(deployment: str) -> set[str]:
        env = containers(k8s_objects("Deployment")[deployment])[0].get("env", [])
        refs = [v.get("valueFrom", {}).get("secretKeyRef") for v in env]
        return {ref["key"] for ref in refs if ref}

    assert secret_keys("browserfleet-api") == {"BROWSERFLEET_SECRETS_KEY", "BROWSERFLEET_API_KEYS",
                                               "BROWSERFLEET_WEBHOOK_SECRET", "BROWSERFLEET_API_KEY_WEBHOOKS"}
    assert not {k for k in secret_keys("browserfleet-webhooks") if k.endswith("_API_KEY")}  # no LLM keys
    assert secret_keys("browserfleet-flower") == {"FLOWER_BASIC_AUTH"}
    assert "OPENAI_API_KEY" in secret_keys(WORKER_DEPLOYMENT)
    assert "OPENAI_API_KEY" in secret_keys("browserfleet-judge")


def test_app_containers_keep_tini_and_run_the_right_command() -> None:
    commands = {}
    for name, deployment in k8s_objects("Deployment").items():
        (container,) = containers(deployment)
        assert container["image"].startswith("browserfleet")
        assert "command" not in container, f"{name}: use args so tini stays PID 1"
        commands[name] = container["args"]
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert commands["browserfleet-api"][:2] == ["browserfleet", "api"]
    assert commands[WORKER_DEPLOYMENT] == ["browserfleet", "worker", "--queues", QUEUE]
    assert commands["browserfleet-judge"] == ["browserfleet", "worker", "--queues", "judge"]
    assert commands["browserfleet-webhooks"] == ["browserfleet", "worker", "--queues", "webhooks"]
    assert "workers.celery_app:app" in commands["browserfleet-flower"]
    assert "flower" in commands["browserfleet-flower"]


def test_configmap_budgets_nest_and_pass_the_settings_validator() -> None:
    from shared.settings import Settings

    data = configmap_data()
    settings = Settings(
        task_budget_s=float(data["BROWSERFLEET_TASK_BUDGET_S"]),
        soft_time_limit_s=float(data["BROWSERFLEET_SOFT_TIME_LIMIT_S"]),
        hard_time_limit_s=float(data["BROWSERFLEET_HARD_TIME_LIMIT_S"]),
        visibility_timeout_s=int(data["BROWSERFLEET_VISIBILITY_TIMEOUT_S"]),
    )
    assert settings.task_budget_s < settings.soft_time_limit_s < settings.hard_time_limit_s
    assert settings.hard_time_limit_s < settings.visibility_timeout_s


def test_worker_grace_period_outlasts_the_hard_limit_and_visibility_timeout() -> None:
    data = configmap_data()
    pod = k8s_objects("Deployment")[WORKER_DEPLOYMENT]["spec"]["template"]["spec"]
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > 2000
    assert grace > float(data["BROWSERFLEET_HARD_TIME_LIMIT_S"])
    assert grace > float(data["BROWSERFLEET_VISIBILITY_TIMEOUT_S"])


def test_worker_memory_fits_its_concurrency_and_has_a_memory_backed_dev_shm() -> None:
    concurrency = int(configmap_data()["BROWSERFLEET_CONCURRENCY"])
    pod = k8s_objects("Deployment")[WORKER_DEPLOYMENT]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    resources = container["resources"]
    request = memory_mb(resources["requests"]["memory"])
    assert request >= concurrency * MB_PER_TASK + MB_BROWSER
    assert memory_mb(resources["limits"]["memory"]) >= request
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


def test_worker_liveness_pings_its_own_celery_node() -> None:
    for name in (WORKER_DEPLOYMENT, "browserfleet-judge"):
        (container,) = containers(k8s_objects("Deployment")[name])
        command = container["livenessProbe"]["exec"]["command"]
        assert command[-2:] == ["/opt/browserfleet/healthcheck.py", "worker"]


def test_keda_scales_the_worker_deployment_on_the_browserfleet_list() -> None:
    (scaled,) = k8s_objects("ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert target["name"] == WORKER_DEPLOYMENT
    assert target["name"] in k8s_objects("Deployment")
    assert target.get("kind", "Deployment") == "Deployment"
    assert 0 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert spec["cooldownPeriod"] > 0
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    meta = trigger["metadata"]
    assert meta["listName"] == QUEUE
    # One worker process per pod: the per-pod target is its concurrency.
    assert int(meta["listLength"]) == int(configmap_data()["BROWSERFLEET_CONCURRENCY"])
    # addressFromEnv is read from the target's container env: the ConfigMap must have it,
    # fully qualified because the KEDA operator resolves it from its own namespace.
    address = configmap_data()[meta["addressFromEnv"]]
    assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local:\d+", address), address
    (worker,) = containers(k8s_objects("Deployment")[WORKER_DEPLOYMENT])
    assert {"configMapRef": {"name": "browserfleet-config"}} in worker["envFrom"]


def test_redis_is_durable_and_never_evicts() -> None:
    (redis,) = containers(k8s_objects("StatefulSet")["browserfleet-redis"])
    args = redis["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"


def test_kubectl_kustomize_builds(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    built = [doc for doc in yaml.safe_load_all(out) if doc]
    assert len(built) == len(k8s_docs())
    assert all(
        d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "browserfleet" for d in built
    )


# ---------------------------------------------------------------------- compose


def test_compose_services_and_dependencies() -> None:
    services = compose()["services"]
    assert {"redis", "api", "worker", "judge", "webhooks", "flower"} <= set(services)
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for dependency in depends:
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if isinstance(depends, dict) and depends[dependency].get("condition") == (
                "service_healthy"
            ):
                assert "healthcheck" in services[dependency], dependency
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert "stop_grace_period" in service, name


def test_compose_worker_is_scalable_and_outlasts_its_tasks() -> None:
    services = compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:4] == ["browserfleet", "worker", "--queues", QUEUE]
    assert services["judge"]["command"][:4] == ["browserfleet", "worker", "--queues", "judge"]
    env = env_example()
    grace = duration_s(worker["stop_grace_period"])
    assert grace > 2000
    assert grace > float(env["BROWSERFLEET_HARD_TIME_LIMIT_S"])
    assert grace > float(env["BROWSERFLEET_VISIBILITY_TIMEOUT_S"])
    assert "shm_size" in worker


def test_compose_redis_is_durable_and_flower_requires_auth() -> None:
    services = compose()["services"]
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])
    flower = services["flower"]
    assert re.fullmatch(r"\$\{FLOWER_BASIC_AUTH:\?.+\}", flower["environment"]["FLOWER_BASIC_AUTH"])
    assert any(port.endswith(":5555") for port in flower["ports"])


def test_every_compose_variable_is_documented_in_env_example() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert used, "expected ${VAR} interpolation in docker-compose.yml"
    missing = used - set(env_example())
    assert not missing, f"undocumented in .env.example: {sorted(missing)}"
    for name, service in compose()["services"].items():
        if name != "redis":
            assert service["env_file"] == ".env", name


def test_env_example_budgets_match_the_configmap() -> None:
    env, data = env_example(), configmap_data()
    for key in (
        "BROWSERFLEET_CONCURRENCY",
        "BROWSERFLEET_TASK_BUDGET_S",
        "BROWSERFLEET_SOFT_TIME_LIMIT_S",
        "BROWSERFLEET_HARD_TIME_LIMIT_S",
        "BROWSERFLEET_VISIBILITY_TIMEOUT_S",
        "BROWSERFLEET_DEFAULT_MODEL",
    ):
        assert env[key] == data[key], key


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=10
    ).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")
    (tmp_path / "deploy").mkdir()
    shutil.copy(COMPOSE, tmp_path / "deploy" / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / "deploy" / ".env")
    # Compose lets the caller's environment override .env: run it with none of ours.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BROWSERFLEET_", "REDIS_URL", "OPENAI_", "LITELLM_"))}
    run = subprocess.run(
        [*cli, "config"], cwd=tmp_path / "deploy", capture_output=True, text=True, timeout=30, env=env
    )
    assert run.returncode == 0, run.stderr
    resolved = yaml.safe_load(run.stdout)["services"]
    assert resolved["worker"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert resolved["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "admin:change-me"
    assert duration_s(resolved["worker"]["stop_grace_period"]) > 2000


# ---------------------------------------------------------------------- Dockerfile


def test_dockerfile_installs_chromium_and_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    froms = [args for op, args in instructions if op == "FROM"]
    base_arg = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text())
    assert base_arg and base_arg[1].startswith("python:3.11-slim")
    assert any(args.startswith("${PYTHON_IMAGE}") for args in froms)
    installs = " ".join(args for op, args in instructions if op == "RUN" and "apt-get install" in args)
    assert re.search(r"\bchromium\b", installs)
    assert "fonts-" in installs
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert "BROWSERFLEET_CHROMIUM_PATH=/usr/bin/chromium" in env

    final = final_stage(instructions)
    users = [args for op, args in final if op == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_defaults_to_the_worker_under_tini_with_a_healthcheck() -> None:
    final = dict(final_stage(dockerfile_instructions()))
    assert final["ENTRYPOINT"] == '["tini", "--"]'
    assert final["CMD"].startswith('["browserfleet", "worker"')
    assert "/opt/browserfleet/healthcheck.py" in final["HEALTHCHECK"]


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for op, args in dockerfile_instructions():
        if op != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            if "*" in source:
                continue
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source in allowed, f"COPY {source}: excluded by Dockerfile.dockerignore"


# ---------------------------------------------------------------------- healthcheck


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bf_healthcheck", DEPLOY / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tini", "--", "browserfleet", "worker", "--queues", "judge"], ("worker", None)),
        (["tini", "--", "browserfleet", "api", "--host", "0.0.0.0", "--port", "8000"], ("api", 8000)),
        (["tini", "--", "celery", "-A", "workers.celery_app:app", "flower", "--port=5556"],
         ("flower", 5556)),
        (["tini", "--", "bash"], (None, None)),
    ],
)
def test_healthcheck_detects_role_and_port(
    healthcheck: ModuleType, argv: list[str], expected: tuple[str | None, int | None]
) -> None:
    role, port, node = healthcheck.detect(argv, "pod-1")
    assert (role, port) == expected
    assert node == "celery@pod-1"


def test_healthcheck_expands_celery_nodenames(healthcheck: ModuleType) -> None:
    _, _, node = healthcheck.detect(["celery", "worker", "-n", "judge@%h"], "w1.example")
    assert node == "judge@w1.example"
    _, _, node = healthcheck.detect(["celery", "worker", "--hostname=%n"], "w1.example")
    assert node == "celery@w1"


@pytest.fixture
def http_server() -> Iterator[tuple[int, dict[str, int]]]:
    statuses: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], statuses
    server.shutdown()
    server.server_close()


def test_healthcheck_http_roles(
    healthcheck: ModuleType, http_server: tuple[int, dict[str, int]]
) -> None:
    port, statuses = http_server
    # The API is alive when it answers HTTP at all below 500, even without /healthz.
    assert healthcheck.check_http("api", port, 5) is True
    statuses["/healthz"] = 503
    assert healthcheck.check_http("api", port, 5) is False
    # Flower must answer its own /healthcheck with 200.
    assert healthcheck.check_http("flower", port, 5) is False
    statuses["/healthcheck"] = 200
    assert healthcheck.check_http("flower", port, 5) is True


def test_healthcheck_fails_when_nothing_listens(healthcheck: ModuleType) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    assert healthcheck.main(["api", "--port", str(free_port), "--timeout", "2"]) == 1


# ---------------------------------------------------------------------- metrics


def test_prometheus_scrapes_the_api_and_every_worker_where_they_serve_metrics() -> None:
    (config,) = load_docs(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    (api_target,) = jobs["browserfleet-api"]["static_configs"][0]["targets"]
    host, port = api_target.split(":")
    assert host in services and f"--port {port}" in " ".join(services[host]["command"])
    (sd,) = jobs["browserfleet-workers"]["dns_sd_configs"]
    for name in sd["names"]:
        command = services[name]["command"]
        assert command[:2] == ["browserfleet", "worker"]
        assert command[command.index("--metrics-port") + 1] == str(sd["port"])
    template = k8s_objects("Deployment")[WORKER_DEPLOYMENT]["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    (worker,) = containers(k8s_objects("Deployment")[WORKER_DEPLOYMENT])
    env = {item["name"]: item.get("value") for item in worker["env"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == env["BROWSERFLEET_METRICS_PORT"]
    assert {"name": "metrics", "containerPort": int(env["BROWSERFLEET_METRICS_PORT"])} in worker["ports"]
