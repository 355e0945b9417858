"""Fleet throughput of one worker process: N concurrent tasks on one event loop and one browser.

The setting of DESIGN.md's measurement of the reference agent (2 cores, a model that
answers after 1 s, 3-step tasks): tasks per minute and per-step overhead (step duration
minus the model's 1 s) for N = 1, 4, 8, 16, plus the memory (PSS) of the worker's whole
process tree (Python + Playwright driver + Chromium) at its peak. Writes ``"throughput"`` into
``tests/benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.fake_llm import Call, FakeLLM, Reply, step  # noqa: E402
from tests.support.procs import descendants  # noqa: E402
from tests.support.site import Site  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
LLM_DELAY_S = 1.0
STEPS = 3


def _pss_mb(pid: int) -> float:
    """Proportional set size of the process tree: shared pages counted once, not per process."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _round(fake: FakeLLM, site: Site, llm_base: str, concurrency: int, tasks: int) -> dict[str, Any]:
    from tests.conftest import base_env
    from tests.support.workers import WorkerProcess

    queue = f"bench-throughput-{concurrency}-{time.time_ns()}"
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": queue, "BROWSERFLEET_CONCURRENCY": str(concurrency)}
    os.environ.update(env)
    from producer import Producer
    from shared.settings import Settings

    producer = Producer(Settings(queue=queue))
    worker = WorkerProcess(env, queue, Path(tempfile.mkdtemp()) / "worker.log", concurrency=concurrency)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], _pss_mb(worker.proc.pid))

    def script(call: Call) -> Reply:
        action = {"done": {"text": "ok"}} if f"step {STEPS} of" in call.user else {"scroll": {"down": True}}
        return Reply(content=step(action), delay_s=LLM_DELAY_S)

    try:
        warm = fake.script(f"warm-{queue}", [step({"done": {"text": "ok"}})])
        producer.wait(producer.create_task({"task": f"warm {warm}"}).id, timeout=120)
        threading.Thread(target=sample, daemon=True).start()
        started = time.monotonic()
        ids = []
        for i in range(tasks):
            marker = fake.script(f"t-{queue}-{i}", script)
            payload = {"task": f"bench {marker}", "startUrl": site.url + "/login", "maxSteps": STEPS}
            ids.append(producer.create_task(payload).id)
        views = [producer.wait(task_id, timeout=600) for task_id in ids]
        elapsed = time.monotonic() - started
    finally:
        done.set()
        worker.stop()
    ok = [v for v in views if v.is_success]
    overheads = [
        (s.duration or 0) - LLM_DELAY_S for v in views for s in v.steps[1:] if s.duration is not None
    ]
    return {
        "concurrency": concurrency,
        "tasks": tasks,
        "succeeded": len(ok),
        "tasks_per_min": round(len(ok) / elapsed * 60, 1),
        "ideal_tasks_per_min": round(concurrency * 60 / (STEPS * LLM_DELAY_S), 1),
        "step_overhead_s_p50": round(statistics.median(overheads), 3),
        "worker_tree_peak_pss_mb": round(peak[0]),
    }


def run(levels: tuple[int, ...] = (1, 4, 8, 16)) -> dict[str, Any]:
    site, fake = Site(), FakeLLM()
    site.start()
    llm_base = fake.start()
    try:
        rounds = [_round(fake, site, llm_base, n, max(6, 3 * n)) for n in levels]
    finally:
        site.stop()
        fake.stop()
    return {"llm_delay_s": LLM_DELAY_S, "steps_per_task": STEPS, "vision": True, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--levels", default="1,4,8,16")
    args = parser.parse_args()
    result = run(tuple(int(n) for n in args.levels.split(",")))
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing["throughput"] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
