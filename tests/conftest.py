"""Fixtures shared by every test: Redis, the fake LLM, a local site, a real Celery worker.

Nothing is faked but the LLM: tasks go through a real Redis, a real ``celery worker``
subprocess, real headless Chromium and local HTTP pages. (The ``strict_worker`` also
answers ``opVaultId`` from a fake 1Password SDK, since there is no 1Password here.)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from shared.crypto import new_key
from shared.settings import Settings
from tests.support.fake_llm import FakeLLM
from tests.support.site import Site
from tests.support.workers import WorkerProcess, stop_all_workers

# HTTP API fixtures (api, make_api, official_spec); Chromium fixtures (loop, browser).
pytest_plugins = ["tests.support.api", "tests.support.browser"]

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("BROWSERFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
# Kept in the environment: pytest imports this file as ``conftest`` and tests import it
# as ``tests.conftest``; both must agree on the queue and the key.
SECRETS_KEY = os.environ.setdefault("BROWSERFLEET_TEST_SECRETS_KEY", new_key())
QUEUE = os.environ.setdefault("BROWSERFLEET_TEST_QUEUE", f"bf-test-{uuid.uuid4().hex[:8]}")


def base_env(llm_base: str) -> dict[str, str]:
    """Environment shared by the test process's producer and the worker subprocess."""
    return {
        "REDIS_URL": TEST_REDIS_URL,
        "BROWSERFLEET_QUEUE": QUEUE,
        "BROWSERFLEET_JUDGE_QUEUE": QUEUE + "-judge",
        "BROWSERFLEET_DEFAULT_MODEL": "openai/gpt-4.1-mini",
        "BROWSERFLEET_SECRETS_KEY": SECRETS_KEY,
        "BROWSERFLEET_LLM_BACKOFF_S": "0.05",
        "BROWSERFLEET_LLM_TIMEOUT_S": "15",
        "BROWSERFLEET_LLM_MAX_RETRIES": "2",
        "BROWSERFLEET_STEP_TIMEOUT_S": "60",
        "BROWSERFLEET_LEASE_TTL_S": "2",
        "BROWSERFLEET_ALLOW_PRIVATE_NETWORKS": "true",
        "BROWSERFLEET_SKILLS_DIR": str(ROOT / "tests" / "support" / "skills"),
        "OPENAI_API_BASE": llm_base,
        "OPENAI_BASE_URL": llm_base,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not reachable at {TEST_REDIS_URL}: start redis-server (see .ci/run)")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def llm_base(fake_llm: FakeLLM) -> str:
    assert fake_llm.server is not None
    return f"http://127.0.0.1:{fake_llm.server.server_address[1]}/v1"


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    s = Site()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def settings(llm_base: str) -> Settings:
    for key, value in base_env(llm_base).items():
        os.environ[key] = value
    return Settings()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No worker (nor its Chromium) outlives the test run, whatever a test forgot."""
    stop_all_workers()


@pytest.fixture(scope="session")
def worker(
    settings: Settings, redis_client: redis.Redis, llm_base: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(base_env(llm_base), QUEUE, tmp_path_factory.mktemp("worker") / "worker.log")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def producer(settings: Settings, redis_client: redis.Redis):  # type: ignore[no-untyped-def]
    from producer import Producer

    return Producer(settings)


STRICT_QUEUE = QUEUE + "-strict"
FAKE_OP_TOKEN = os.environ.setdefault("BROWSERFLEET_TEST_OP_TOKEN", "ops_fake-token-" + uuid.uuid4().hex)


@pytest.fixture(scope="session")
def fake_op_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON file the fake 1Password SDK (tests/support/fake_sdk) answers from; tests fill it."""
    path = tmp_path_factory.mktemp("onepassword") / "vaults.json"
    path.write_text(json.dumps({"token": FAKE_OP_TOKEN, "vaults": {}}))
    return path


@pytest.fixture(scope="session")
def strict_worker(
    settings: Settings,
    redis_client: redis.Redis,
    llm_base: str,
    site: Site,
    fake_op_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A worker with the network guard at its defaults, opened only for the test site's
    ``127.0.0.1:port``, and ``opVaultId`` answered by the fake 1Password SDK."""
    assert site.server is not None
    env = {
        **base_env(llm_base),
        "BROWSERFLEET_QUEUE": STRICT_QUEUE,
        "BROWSERFLEET_ALLOW_PRIVATE_NETWORKS": "false",
        "BROWSERFLEET_ALLOWED_NETWORKS": f"127.0.0.1:{site.server.server_address[1]}",
        "OP_SERVICE_ACCOUNT_TOKEN": FAKE_OP_TOKEN,
        "FAKE_OP_DATA": str(fake_op_data),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "support" / "fake_sdk"), str(ROOT)]),
    }
    proc = WorkerProcess(env, STRICT_QUEUE, tmp_path_factory.mktemp("strict") / "worker.log")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def strict_producer(settings: Settings, strict_worker: WorkerProcess) -> Any:
    """A producer for the strict worker's queue."""
    from producer import Producer

    return Producer(settings.model_copy(update={"queue": STRICT_QUEUE}))
