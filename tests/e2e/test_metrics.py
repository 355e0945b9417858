"""Prometheus metrics: a worker's endpoint and the API's /metrics move as tasks run and queue up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from producer import Producer
from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import base_env
from tests.e2e.helpers import run, script_id
from tests.e2e.test_api import free_port
from tests.support.api import FULL_KEY, ApiServer, headers
from tests.support.fake_llm import FakeLLM, step
from tests.support.workers import WorkerProcess


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture()
def metrics_worker(
    settings: Settings, llm_base: str, tmp_path: Path
) -> Iterator[tuple[WorkerProcess, str, Producer]]:
    queue, port = f"bf-metrics-{uuid.uuid4().hex[:6]}", free_port()
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": queue, "BROWSERFLEET_METRICS_PORT": str(port)}
    proc = WorkerProcess(env, queue, tmp_path / "worker.log", concurrency=2)
    yield proc, f"http://127.0.0.1:{port}/metrics", Producer(settings.model_copy(update={"queue": queue}))
    proc.stop()


def test_a_worker_counts_tasks_llm_calls_and_its_browsers(
    metrics_worker: tuple[WorkerProcess, str, Producer], fake_llm: FakeLLM, site
) -> None:  # type: ignore[no-untyped-def]
    worker, url, producer = metrics_worker
    before = scrape(url)
    assert value(before, "browserfleet_tasks_started_total") == 0
    assert value(before, "browserfleet_pool_browsers") == 0

    marker = fake_llm.script(script_id("metrics"), [
        step({"scroll": {"down": True}}),
        step({"done": {"text": "done", "success": True}}),
    ])
    view = run(producer, {"task": f"Scroll then finish {marker}", "startUrl": site.url + "/login"})
    assert view.status == TaskStatus.finished, worker.log()[-2000:]
    away = fake_llm.script(script_id("metrics-blocked"), [
        step({"navigate": {"url": "https://elsewhere.example/"}}),
        step({"done": {"text": "blocked", "success": False}}),
    ])
    blocked = run(producer, {"task": f"Go away {away}", "startUrl": site.url,
                             "allowedDomains": ["127.0.0.1"]})
    assert blocked.status == TaskStatus.finished

    after = scrape(url)
    model = "openai/gpt-4.1-mini"
    assert value(after, "browserfleet_tasks_started_total") == 2
    assert value(after, "browserfleet_tasks_finished_total", status="finished", success="true") == 1
    assert value(after, "browserfleet_tasks_finished_total", status="finished", success="false") == 1
    assert value(after, "browserfleet_task_steps_count") == 2
    assert value(after, "browserfleet_task_steps_sum") == 4
    assert value(after, "browserfleet_task_duration_seconds_count") == 2
    assert value(after, "browserfleet_llm_request_duration_seconds_count", model=model) == 4
    assert value(after, "browserfleet_llm_tokens_total", model=model, direction="input") > 0
    assert value(after, "browserfleet_llm_tokens_total", model=model, direction="output") > 0
    assert value(after, "browserfleet_llm_cost_dollars_total", model=model) > 0
    assert sum(v for (name, _), v in after.items() if name == "browserfleet_requests_blocked_total") >= 1
    assert value(after, "browserfleet_pool_browsers") == 1
    assert value(after, "browserfleet_pool_contexts_in_use") == 0
    assert value(after, "browserfleet_pool_browser_tree_pss_bytes") > 50e6
    assert not [name for (name, labels) in after if any(k in ("task_id", "id") for k, _ in labels)]


def test_the_api_reports_queue_depth_age_and_admission_rejections(
    make_api: Callable[..., ApiServer],
) -> None:
    server = make_api(max_queued_tasks=2)
    queue = server.settings.queue
    before = scrape(server.url + "/metrics")
    assert value(before, "browserfleet_queue_depth", queue=queue) == 0
    with server.client(FULL_KEY) as client:
        for _ in range(2):
            assert client.post("/tasks", json={"task": "wait in line"}).status_code == 202
        time.sleep(1.1)
        refused = client.post("/tasks", json={"task": "one too many"})
    assert refused.status_code == 429
    after = scrape(server.url + "/metrics")
    assert value(after, "browserfleet_queue_depth", queue=queue) == 2
    assert value(after, "browserfleet_queue_oldest_age_seconds", queue=queue) >= 1.0
    assert value(after, "browserfleet_queue_depth", queue=server.settings.judge_queue) == 0
    rejected = "browserfleet_admission_rejections_total"
    assert value(after, rejected) == value(before, rejected) + 1
    assert httpx.get(server.url + "/metrics", headers=headers("not-a-key")).status_code == 200
