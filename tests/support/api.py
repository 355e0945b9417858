"""The HTTP API under test: a real uvicorn server in a thread, and the official spec to check it against.

Registered as a pytest plugin by ``tests/conftest.py``. ``api`` serves the queue the
``worker`` fixture consumes; ``make_api`` builds extra servers on a queue nobody
consumes (tasks stay queued: admission control, races, fuzzing) and removes that
queue afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import redis
import uvicorn

from producer.api import create_app
from shared.settings import Settings
from tests.support.redis_server import RedisServer

FULL_KEY = "bf-test-full-access-key"
SCOPED_KEY_A = "bf-test-scoped-key-a"
SCOPED_KEY_B = "bf-test-scoped-key-b"
# The public Browser Use Cloud v2 OpenAPI document (the wire contract), kept with the tests.
SPEC_PATH = Path(__file__).resolve().parent / "spec" / "browser-use-cloud-v2.openapi.json"


def headers(key: str = FULL_KEY) -> dict[str, str]:
    return {"X-Browser-Use-API-Key": key}


class ApiServer:
    """``create_app(settings)`` served by uvicorn on 127.0.0.1 (a free port), in a daemon thread."""

    def __init__(self, settings: Settings, root_path: str = "") -> None:
        self.settings = settings
        self.app = create_app(settings)
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only then (else +40 ms per request).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", root_path=root_path)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name="api-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        """What a client's ``base_url`` is set to."""
        return self.url + "/api/v2"

    def client(self, key: str = FULL_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=headers(key), timeout=30)

    def start(self) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._socket.close()


def api_settings(settings: Settings, **overrides: Any) -> Settings:
    """Test keys; no session limit (the full key counts every session the suite leaves active)."""
    defaults = {
        "api_keys": [FULL_KEY],
        "scoped_api_keys": [SCOPED_KEY_A, SCOPED_KEY_B],
        "max_active_sessions": 0,
    }
    return settings.model_copy(update={**defaults, **overrides})


@pytest.fixture(scope="session")
def api(settings: Settings, worker: Any) -> Iterator[ApiServer]:
    """The API in front of the real worker."""
    server = ApiServer(api_settings(settings)).start()
    yield server
    server.stop()


@pytest.fixture
def make_api(settings: Settings, redis_client: redis.Redis) -> Iterator[Callable[..., ApiServer]]:
    """Build API servers on a queue no worker consumes; ``overrides`` are Settings fields."""
    servers: list[ApiServer] = []

    def make(**overrides: Any) -> ApiServer:
        overrides.setdefault("queue", f"bf-idle-{uuid.uuid4().hex[:8]}")
        server = ApiServer(api_settings(settings, **overrides)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
        redis_client.delete(server.settings.queue)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of this test's own (connections and commands can be counted exactly)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_api(settings: Settings, own_redis: RedisServer) -> Iterator[Callable[..., ApiServer]]:
    """API servers on ``own_redis``, on a queue no worker consumes; ``overrides`` are Settings fields."""
    servers: list[ApiServer] = []

    def make(**overrides: Any) -> ApiServer:
        url = f"redis://127.0.0.1:{own_redis.port}/0"
        server = ApiServer(api_settings(settings, redis_url=url, broker_url=url, result_backend=url,
                                        queue=f"bf-nobody-{uuid.uuid4().hex[:6]}", **overrides)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def official_spec() -> dict[str, Any]:
    """The wire contract."""
    return dict(json.loads(SPEC_PATH.read_text()))


def check_against_spec(spec: dict[str, Any], schema_name: str, instance: Any) -> None:
    """Validate ``instance`` against a component schema of the official v2 document."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{schema_name}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:10]
    )
