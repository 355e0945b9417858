"""Fleet-wide LLM rate limits, measured where a provider would measure them: at the (fake) LLM.

Two worker processes of 16 concurrent tasks each share one limit through Redis. The fake LLM
records when each request arrives; no window of the configured length may hold more requests
than the limit, and no task may fail because of it. The window is shortened for the test
(10 s instead of 60) with the limit scaled with it: the mechanism is the same one. Then a
provider's 429 with ``Retry-After``: the call is retried no sooner, and the other tasks'
calls to that model wait it out too (the limiter learned from it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer import Producer
from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import base_env
from tests.e2e.helpers import script_id
from tests.e2e.test_api import free_port
from tests.e2e.test_metrics import scrape, value
from tests.support.fake_llm import FakeLLM, Reply, step
from tests.support.workers import WorkerProcess

WINDOW_S = 10.0
LIMIT = 20  # per window: 120 requests a minute, scaled to the 10 s window
TASKS = 32
METRICS: list[str] = []  # the two workers' metrics URLs
WAIT = step({"wait": {"seconds": 0}})
DONE = step({"done": {"text": "done", "success": True}})


@pytest.fixture(scope="module")
def limited(
    settings: Settings, llm_base: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Producer]:
    queue = f"bf-limits-{uuid.uuid4().hex[:6]}"
    env = {
        **base_env(llm_base),
        "BROWSERFLEET_QUEUE": queue,
        "BROWSERFLEET_LLM_LIMITS": json.dumps({"gpt-4.1-mini": {"rpm": LIMIT}}),
        "BROWSERFLEET_LLM_LIMIT_WINDOW_S": str(WINDOW_S),
        "BROWSERFLEET_STEP_TIMEOUT_S": "120",
        "BROWSERFLEET_SPARE_CONTEXTS": "2",
    }
    folder: Path = tmp_path_factory.mktemp("limits")
    ports = [free_port(), free_port()]
    workers = [WorkerProcess({**env, "BROWSERFLEET_METRICS_PORT": str(port)}, queue,
                             folder / f"worker{n}.log", concurrency=16) for n, port in enumerate(ports)]
    METRICS.extend(f"http://127.0.0.1:{port}/metrics" for port in ports)
    yield Producer(settings.model_copy(update={"queue": queue}))
    for worker in workers:
        worker.stop()


def counted(name: str, **labels: str) -> float:
    """``name`` summed over both workers' metrics."""
    return sum(value(scrape(url), name, **labels) for url in METRICS)


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if end - window < t <= end) for end in ordered)


def test_two_workers_never_exceed_the_fleet_wide_limit_and_no_task_fails(
    limited: Producer, fake_llm: FakeLLM
) -> None:
    scripts = [script_id("limited") for _ in range(TASKS)]
    markers = [fake_llm.script(sid, [WAIT, DONE]) for sid in scripts]
    created = limited.create_tasks([{"task": f"Wait, then finish. {m}", "llm": "gpt-4.1-mini",
                                     "vision": False} for m in markers])
    views = [limited.wait(c.id, timeout=240) for c in created]
    assert [v.status for v in views] == [TaskStatus.finished] * TASKS, [v.error for v in views if v.error]
    assert all(v.is_success for v in views)
    arrivals = [call.at for sid in scripts for call in fake_llm.calls[sid]]
    assert len(arrivals) == 2 * TASKS
    spread = " ".join(str(round(t - min(arrivals), 2)) for t in sorted(arrivals))
    assert most_in_any_window(arrivals, WINDOW_S) <= LIMIT, spread
    # and it did limit: 64 requests at 20 per 10 s cannot arrive in less than ~22 s
    assert max(arrivals) - min(arrivals) >= (2 * TASKS - LIMIT) / (LIMIT / WINDOW_S) - 1
    waits = counted("browserfleet_llm_limiter_waits_total", model="openai/gpt-4.1-mini")
    assert waits >= 2 * TASKS - LIMIT - 2
    assert counted("browserfleet_llm_limiter_wait_seconds_count", model="openai/gpt-4.1-mini") >= 1


def test_a_providers_429_is_retried_after_its_retry_after_and_pauses_the_others(
    limited: Producer, fake_llm: FakeLLM, redis_client: redis.Redis
) -> None:
    first = script_id("429")
    answers = iter([Reply(status=429, headers={"Retry-After": "3"}), Reply(DONE)])
    marker = fake_llm.script(first, lambda call: next(answers))
    task = limited.create_task({"task": f"Finish. {marker}", "llm": "gpt-4.1-mini"})
    deadline = time.monotonic() + 60
    while not fake_llm.calls[first]:
        assert time.monotonic() < deadline, "the first call never came"
        time.sleep(0.02)
    limited_at = fake_llm.calls[first][0].at
    while not list(redis_client.scan_iter("bf:llm:openai/gpt-4.1-mini@*:cooldown")):  # the worker heard it
        assert time.monotonic() < deadline, "the 429 never reached the limiter"
        time.sleep(0.01)
    other = script_id("after-429")
    other_marker = fake_llm.script(other, [DONE])
    neighbour = limited.create_task({"task": f"Finish too. {other_marker}", "llm": "gpt-4.1-mini"})
    for view in (limited.wait(task.id, timeout=60), limited.wait(neighbour.id, timeout=60)):
        assert view.status == TaskStatus.finished and view.is_success, view.error
    retry = fake_llm.calls[first][1].at
    assert retry - limited_at >= 3 - 0.05  # not before Retry-After
    assert fake_llm.calls[other][0].at - limited_at >= 3 - 0.05  # another task, another worker maybe: too
    assert counted("browserfleet_llm_provider_rate_limited_total", model="openai/gpt-4.1-mini") == 1
