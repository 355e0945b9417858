"""Pipeline benchmarks: per-step harness overhead, prompt size, enqueue-to-first-LLM-call latency.

Run with ``make bench`` (needs Redis and Chromium, like the tests). Writes JSON to
``tests/benchmarks/results.json`` (merged with the other benchmarks' sections).

- *Step overhead* = step wall time minus the time spent waiting for the LLM: state
  capture, prompt build, action execution and recording. The fake LLM answers at once.
- *Prompt size* = characters of the system prompt and of the user message per step.
- *Start latency* = from ``create_task`` returning to the fake LLM receiving the task's
  first request, on a warm worker (browser already launched).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from shared.models import TaskStepView  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.fake_llm import Call, FakeLLM, step  # noqa: E402
from tests.support.site import Site  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
STEPS = 25


def page_with(n: int) -> str:
    rows = "\n".join(
        f'<div class="row"><a href="#item{i}">Item {i}</a> <button id="b{i}">Add {i}</button>'
        f'<input name="q{i}" placeholder="qty {i}"></div>'
        for i in range(n // 3)
    )
    return f"<!doctype html><title>Catalogue {n}</title><h1>Catalogue</h1><p>{'Text. ' * 200}</p>{rows}"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class _Hooks:
    def __init__(self) -> None:
        self.steps: list[TaskStepView] = []

    async def should_stop(self) -> bool:
        return False

    def over_budget(self) -> str | None:
        return None

    async def before_acting(self) -> None:
        pass

    async def on_step(self, s: TaskStepView, screenshot: str | None) -> None:
        self.steps.append(s)


async def _overhead(site: Site, fake: FakeLLM, llm_base: str, path: str) -> dict[str, Any]:
    from workers.agent.llm import LLMClient, Reply
    from workers.agent.runner import Agent, AgentConfig
    from workers.browser.pool import BrowserPool
    from workers.browser.tabs import BrowserTabs
    from workers.page.dom import INIT_SCRIPT

    class TimedLLM(LLMClient):
        waited: float = 0.0

        async def complete(self, messages: list[dict[str, Any]], json_mode: bool = True) -> Reply:
            started = time.perf_counter()
            try:
                return await super().complete(messages, json_mode)
            finally:
                self.waited += time.perf_counter() - started

    def script(call: Call) -> str:
        if f"step {STEPS} of" in call.user:
            return step({"done": {"text": "ok"}})
        return step({"click": {"index": call.index_of("<button")}})

    marker = fake.script(f"bench-{path.strip('/')}", script)
    sizes: list[dict[str, int]] = []
    pool = BrowserPool()
    try:
        async with pool.context(viewport={"width": 1280, "height": 800}) as context:
            await context.add_init_script(script=INIT_SCRIPT)
            tabs = BrowserTabs(context)
            llm = TimedLLM("openai/gpt-4.1-mini", max_retries=0)
            hooks = _Hooks()
            config = AgentConfig(
                task=f"bench {marker}",
                max_steps=STEPS,
                start_url=site.url + path,
                vision=False,
                element_window_pages=Settings().element_window_pages,  # as a worker runs it
            )
            agent = Agent(config, tabs, llm, hooks)
            overheads: list[float] = []
            original = agent._step

            async def timed_step(number: int) -> Any:
                llm.waited = 0.0
                started = time.perf_counter()
                result = await original(number)
                overheads.append((time.perf_counter() - started - llm.waited) * 1000)
                return result

            agent._step = timed_step  # type: ignore[method-assign]
            outcome = await agent.run()
            assert outcome.is_success, outcome
    finally:
        await pool.close()
    for call in fake.calls[f"bench-{path.strip('/')}"]:
        sizes.append({"system": len(call.system), "user": len(call.user)})
    warm = overheads[1:]
    return {
        "page": path,
        "elements": int(path.strip("/").split("-")[1]) if "-" in path else None,
        "steps": len(overheads),
        "overhead_ms_p50": round(statistics.median(warm), 1),
        "overhead_ms_p95": round(pct(warm, 95), 1),
        "system_prompt_chars": sizes[0]["system"],
        "user_message_chars_p50": int(statistics.median(s["user"] for s in sizes)),
    }


def _start_latency(site: Site, fake: FakeLLM, llm_base: str, runs: int = 10) -> dict[str, Any]:
    from tests.conftest import QUEUE, WorkerProcess, base_env

    env = base_env(llm_base)
    os.environ.update(env)
    from producer import Producer
    from shared.settings import Settings

    producer = Producer(Settings())
    worker = WorkerProcess(env, QUEUE, Path(tempfile.mkdtemp()) / "bench-worker.log", concurrency=2)
    latencies: list[float] = []
    arrivals: dict[str, float] = {}
    try:
        for i in range(runs + 1):
            sid = f"latency-{i}-{time.time_ns()}"

            def first(call: Call, sid: str = sid) -> str:
                arrivals.setdefault(sid, time.perf_counter())
                return step({"done": {"text": "ok"}})

            marker = fake.script(sid, first)
            t0 = time.perf_counter()
            created = producer.create_task({"task": f"latency {marker}", "vision": False})
            producer.wait(created.id, timeout=60)
            if i > 0:  # the first run warms the worker (browser launch)
                latencies.append((arrivals[sid] - t0) * 1000)
    finally:
        worker.stop()
    return {
        "runs": runs,
        "enqueue_to_first_llm_call_ms_p50": round(statistics.median(latencies), 1),
        "enqueue_to_first_llm_call_ms_p95": round(pct(latencies, 95), 1),
    }


def run() -> dict[str, Any]:
    site, fake = Site(), FakeLLM()
    site.pages.update({f"/page-{n}": page_with(n) for n in (20, 300, 2000)})
    site.start()
    llm_base = fake.start()
    os.environ.update({"OPENAI_API_BASE": llm_base, "OPENAI_API_KEY": "sk-bench"})
    try:
        overhead = [asyncio.run(_overhead(site, fake, llm_base, f"/page-{n}")) for n in (20, 300, 2000)]
        latency = _start_latency(site, fake, llm_base)
    finally:
        site.stop()
        fake.stop()
    return {"step_overhead": overhead, "start_latency": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run()
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing["pipeline"] = {**result, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
