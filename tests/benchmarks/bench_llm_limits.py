"""The fleet-wide LLM limit at full size: two workers x 16 tasks against 60 requests a minute.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_llm_limits.py [--out FILE] [--rpm 60] [--window 60]
[--tasks 32] [--steps 3]`` (needs Redis, Chromium; ``REDIS_URL`` picks the Redis). Merges
``"llm_limits"`` into ``tests/benchmarks/results.json``.

Two real ``celery worker`` processes (16 concurrent tasks each) run ``--tasks`` tasks of
``--steps`` LLM calls against a fake OpenAI-compatible model that records when each request
arrives. Reported: the most requests any window of ``--window`` seconds held at the model (the
limit says at most ``--rpm``), how many tasks ended well, the spread of the calls, the average
rate over the run, and the limiter's waits from both workers' metrics. The e2e test
(``tests/e2e/test_llm_limits.py``) runs the same thing on a 10 s window.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.fake_llm import FakeLLM, step  # noqa: E402
from tests.support.workers import WorkerProcess  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if end - window < t <= end) for end in ordered)


def scrape_sum(url: str, name: str) -> float:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        total += sum(s.value for s in family.samples if s.name == name)
    return total


def run(rpm: int, window: float, tasks: int, steps: int) -> dict[str, Any]:
    import socket

    from producer import Producer
    from shared.models import TaskStatus
    from shared.settings import Settings

    fake = FakeLLM()
    base = fake.start()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    queue = f"bf-bench-limits-{uuid.uuid4().hex[:6]}"
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    env = {
        "REDIS_URL": redis_url, "BROWSERFLEET_QUEUE": queue,
        "BROWSERFLEET_DEFAULT_MODEL": "openai/gpt-4.1-mini", "OPENAI_API_BASE": base, "OPENAI_BASE_URL": base,
        "OPENAI_API_KEY": "sk-bench-" + uuid.uuid4().hex[:8],
        "BROWSERFLEET_LLM_LIMITS": json.dumps({"gpt-4.1-mini": {"rpm": rpm}}),
        "BROWSERFLEET_LLM_LIMIT_WINDOW_S": str(window), "BROWSERFLEET_LLM_LIMIT_MAX_WAIT_S": str(10 * window),
        "BROWSERFLEET_STEP_TIMEOUT_S": str(12 * window), "BROWSERFLEET_SPARE_CONTEXTS": "2",
        "BROWSERFLEET_ALLOW_PRIVATE_NETWORKS": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    folder = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    workers = [WorkerProcess({**env, "BROWSERFLEET_METRICS_PORT": str(port)}, queue, folder / f"w{n}.log",
                             concurrency=16) for n, port in enumerate(ports)]
    try:
        os.environ["OPENAI_API_KEY"] = env["OPENAI_API_KEY"]
        producer = Producer(Settings(redis_url=redis_url, queue=queue, default_model="openai/gpt-4.1-mini"))
        scripts = [f"limits-{uuid.uuid4().hex[:8]}" for _ in range(tasks)]
        done = step({"done": {"text": "ok", "success": True}})
        replies = [step({"wait": {"seconds": 0}})] * (steps - 1) + [done]
        markers = [fake.script(sid, list(replies)) for sid in scripts]
        started = time.time()
        created = producer.create_tasks([{"task": f"Work. {m}", "llm": "gpt-4.1-mini", "vision": False}
                                         for m in markers])
        views = [producer.wait(c.id, timeout=20 * window + 600) for c in created]
        arrivals = [call.at for sid in scripts for call in fake.calls[sid]]
        span = max(arrivals) - min(arrivals)
        waits = sum(scrape_sum(f"http://127.0.0.1:{p}/metrics", "browserfleet_llm_limiter_waits_total")
                    for p in ports)
        wait_s = sum(scrape_sum(f"http://127.0.0.1:{p}/metrics", "browserfleet_llm_limiter_wait_seconds_sum")
                     for p in ports)
        return {
            "rpm": rpm, "window_s": window, "tasks": tasks, "calls": len(arrivals),
            "most_in_any_window": most_in_any_window(arrivals, window),
            "tasks_finished_ok": sum(v.status == TaskStatus.finished and bool(v.is_success) for v in views),
            "span_s": round(span, 1), "run_s": round(time.time() - started, 1),
            "average_rate_per_window": round((len(arrivals) - 1) / span * window, 1) if span else None,
            "calls_that_waited": int(waits), "mean_wait_s": round(wait_s / waits, 2) if waits else 0.0,
            "load_average": os.getloadavg()[0],
        }
    finally:
        for worker in workers:
            worker.stop()
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rpm", type=int, default=60)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    results = run(args.rpm, args.window, args.tasks, args.steps)
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["llm_limits"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
