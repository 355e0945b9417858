"""Throughput of one worker process against the machine's floor, measured in one run.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_throughput.py [--out FILE] [--levels 1,4,8,16,32]
[--quick]`` (needs Redis, Chromium; ``REDIS_URL`` picks the Redis). Writes ``"throughput"`` into
``tests/benchmarks/results.json``.

Two paths, each at N concurrent tasks (N = 1, 4, 8, 16, 32), on a local page with three buttons:

- **floor**: Chromium alone, driven by Playwright in a child process: per task a new
  context and page, the page load, then three clicks each after a 1 s pause, close. No
  agent, queue or LLM: the browser work every task needs whatever runs it.
- **full**: ``Producer.create_task`` → Redis → a real ``celery worker`` (threads pool, N
  concurrent tasks) → the agent → a fake OpenAI-compatible model answering each step after
  1.0 s (vision off): step 1 clicks One, step 2 Two, step 3 Three and ``done``. The same three
  clicks and the same 3 s of waiting per task.

Per round: tasks/min, the ratio to the floor at the same N, step overhead (step duration
minus the model's 1 s, steps after the first) p50/p95, CPU-seconds per task and PSS.

CPU is read from /proc, not sampled: the process tree's CPU at a moment is, over its live
processes, ``utime + stime`` plus ``cutime + cstime`` (what each has reaped), so two
snapshots give the exact CPU of the whole tree between them, short-lived renderers
included. It is split by process kind (worker Python, Playwright's node driver, Chromium's
browser, renderers, GPU, other helpers; what a process reaped is counted as the kind of
its children: a zygote's as renderers; this needs every process to be reaped inside the
tree, so the worker does not recycle its browser during a round). ``system`` is the machine's busy time from
/proc/stat (everything, including Redis, this harness and any other load: it is what the
per-task figures should be read against on a quiet machine); ``redis`` is redis-server's
own; ``harness`` is this process (producer, fake model, page server).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.fake_llm import Call, FakeLLM, Reply, step  # noqa: E402
from tests.support.http_server import LocalServer  # noqa: E402
from tests.support.procs import cmdline, descendants  # noqa: E402
from tests.support.redis_server import CommandCounts, RedisServer, command_counts  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
LLM_DELAY_S = 1.0
PAUSE_S = 1.0
BUTTONS = ("One", "Two", "Three")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>Bench form</title></head>
<body><h1>Bench form</h1><p>Press the three buttons in order.</p>
<label>Name <input name="name" placeholder="Name"></label>
<button id="b1" onclick="mark(1)">One</button><button id="b2" onclick="mark(2)">Two</button>
<button id="b3" onclick="mark(3)">Three</button><p id="out">pressed: none</p>
<script>function mark(n){document.getElementById('out').textContent='pressed: '+n;}</script>
</body></html>"""

# -- CPU accounting ------------------------------------------------------------------------------

# What a process of each kind reaps: its children's kind.
_REAPED_KIND = {
    "worker_python": "playwright_node",
    "floor_python": "playwright_node",
    "playwright_node": "chromium_browser",
    "chromium_browser": "chromium_other",
    "chromium_zygote": "chromium_renderer",
}


def _kind(pid: int, root: int, root_kind: str) -> str:
    if pid == root:
        return root_kind
    cmd = cmdline(pid)
    if not cmd.strip():  # renderers forked by a zygote may show an empty command line
        return "chromium_renderer" if "--type=zygote" in cmdline(_parent(pid)) else "other"
    if "--type=renderer" in cmd:
        return "chromium_renderer"
    if "--type=gpu-process" in cmd:
        return "chromium_gpu"
    if "--type=zygote" in cmd:
        return "chromium_zygote"
    if "--type=" in cmd:
        return "chromium_other"
    if "chrom" in cmd.split(" ")[0]:
        return "chromium_browser"
    if "node" in cmd.split(" ")[0] or "playwright" in cmd:
        return "playwright_node"
    return "worker_python" if root_kind == "worker_python" else "other"


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _stat_times(pid: int) -> tuple[float, float] | None:
    """(own, reaped children's) CPU seconds of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / TICK
    reaped = (int(fields[13]) + int(fields[14])) / TICK
    return own, reaped


def tree_cpu(root: int, root_kind: str) -> dict[str, float]:
    """CPU seconds of the tree under ``root`` so far, by kind (see the module doc)."""
    out: dict[str, float] = {}
    for pid in [root, *descendants(root)]:
        times = _stat_times(pid)
        if times is None:
            continue
        kind = _kind(pid, root, root_kind)
        out[kind] = out.get(kind, 0.0) + times[0]
        reaped_kind = _REAPED_KIND.get(kind, kind)
        out[reaped_kind] = out.get(reaped_kind, 0.0) + times[1]
    return out


def system_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot (all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK


def redis_pid() -> int | None:
    import redis

    try:
        client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        return int(client.info("server")["process_id"])
    except Exception:
        return None


def own_cpu_s(pid: int | None) -> float:
    times = _stat_times(pid) if pid else None
    return times[0] if times else 0.0


@dataclass
class Meter:
    """CPU of a process tree, of Redis, of this process and of the machine over one interval."""

    root: int
    root_kind: str

    def __post_init__(self) -> None:
        self.redis = redis_pid()
        self.peak_pss_mb = 0.0
        self._stop = threading.Event()

    def start(self) -> None:
        self._tree = tree_cpu(self.root, self.root_kind)
        self._system = system_busy_s()
        self._redis = own_cpu_s(self.redis)
        self._harness = time.process_time()
        threading.Thread(target=self._sample_pss, daemon=True).start()

    def _sample_pss(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_pss_mb = max(self.peak_pss_mb, pss_mb(self.root))

    def stop(self, tasks: int) -> dict[str, Any]:
        """CPU-seconds per task over the interval, by kind, and the peak PSS."""
        self._stop.set()
        tree = tree_cpu(self.root, self.root_kind)
        per_task = {k: (tree.get(k, 0.0) - self._tree.get(k, 0.0)) / tasks for k in sorted(tree)}
        per_task = {k: round(v, 3) for k, v in per_task.items() if abs(v) >= 0.0005}
        return {
            "cpu_s_per_task": {
                **per_task,
                "tree_total": round(sum(per_task.values()), 3),
                "redis": round((own_cpu_s(self.redis) - self._redis) / tasks, 3),
                "harness": round((time.process_time() - self._harness) / tasks, 3),
                "system": round((system_busy_s() - self._system) / tasks, 3),
            },
            "peak_pss_mb": round(self.peak_pss_mb),
        }


def pss_mb(pid: int) -> float:
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


# -- the page ------------------------------------------------------------------------------------


class PageServer:
    """Serves the three-button page on 127.0.0.1 (any path)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = LocalServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/form"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the floor: Chromium alone -------------------------------------------------------------------


async def _floor_child(concurrency: int, tasks: int, url: str, shots: bool = False) -> None:
    """In the child process: launch, say ready, wait for go, run ``tasks`` N at a time, report."""
    from playwright.async_api import async_playwright

    from workers.browser.launcher import launch_chromium

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright, os.environ.get("BROWSERFLEET_CHROMIUM_PATH"))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(tasks):
            queue.put_nowait(i)

        async def one() -> None:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            await page.goto(url)
            for name in BUTTONS:
                if shots:  # what the agent's vision path takes per step (workers.agent.state.screenshot)
                    t0 = time.perf_counter()
                    image = await page.screenshot(type="jpeg", quality=60)
                    data_url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
                    shot_ms.append((time.perf_counter() - t0) * 1000)
                    shot_bytes.append(len(data_url))
                await asyncio.sleep(PAUSE_S)
                await page.get_by_role("button", name=name, exact=True).click()
            await context.close()

        async def lane() -> None:
            while not queue.empty():
                queue.get_nowait()
                await one()

        shot_ms: list[float] = []
        shot_bytes: list[int] = []
        await one()  # warm: the first context and renderer
        shot_ms.clear()
        shot_bytes.clear()
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        print(json.dumps({"elapsed_s": time.monotonic() - started, "shot_ms": shot_ms,
                          "shot_bytes": shot_bytes}), flush=True)
        sys.stdin.readline()  # the parent's last snapshot is taken while the browser still runs
        await browser.close()


def floor_round(page: PageServer, concurrency: int, tasks: int, shots: bool = False) -> dict[str, Any]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--floor-child", f"{concurrency},{tasks},{int(shots)},{page.url}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor's browser did not start")
        meter = Meter(child.pid, "floor_python")
        meter.start()
        child.stdin.write("go\n")
        child.stdin.flush()
        report = json.loads(child.stdout.readline())
        elapsed = report["elapsed_s"]
        measured = meter.stop(tasks)
        child.stdin.write("done\n")
        child.stdin.flush()
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    return {
        "concurrency": concurrency,
        "tasks": tasks,
        "tasks_per_min": round(tasks / elapsed * 60, 1),
        **measured,
        **({"screenshot": _shot_stats(report["shot_ms"], report["shot_bytes"])} if shots else {}),
    }


def _shot_stats(ms: list[float], sizes: list[int]) -> dict[str, Any]:
    """The screenshot path (capture, JPEG q60, base64 data URL): time and bytes per image."""
    ms = sorted(ms)
    return {
        "count": len(ms),
        "ms_p50": round(statistics.median(ms), 1),
        "ms_p95": round(ms[max(0, int(len(ms) * 0.95) - 1)], 1),
        "data_url_bytes_mean": round(statistics.mean(sizes)),
    }


# -- the full path -------------------------------------------------------------------------------


def _click_script(call: Call) -> Reply:
    """Press the next button the page says is due; the third click comes with ``done``."""
    pressed = next((line for line in call.user.splitlines() if "pressed:" in line), "pressed: none")
    due = {"pressed: none": "One", "pressed: 1": "Two", "pressed: 2": "Three"}
    target = next((button for state, button in due.items() if state in pressed), None)
    if target is None:  # all three pressed already
        return Reply(content=step({"done": {"text": "pressed all three"}}), delay_s=LLM_DELAY_S)
    actions: list[dict[str, Any]] = [{"click": {"index": call.index_of(rf"<button.*\b{target}\b")}}]
    if target == "Three":
        actions.append({"done": {"text": "pressed all three"}})
    return Reply(content=step(*actions), delay_s=LLM_DELAY_S)


def _reason(view: Any) -> str:
    """Why a task did not end well, without its ids: its error, else its last step's results."""
    if view.error:
        return str(view.error)[:160]
    last = view.steps[-1].results if view.steps else []
    return ("no error; last step: " + " | ".join(last))[:160]


CREATE_SAMPLE = 20  # tasks created on a queue no worker consumes, to count what one create costs
_TERMINAL = ("finished", "failed", "stopped")


def _terminal_count(client: Any) -> int:
    """Tasks in a terminal status (one pipeline of three ``ZCARD``: the harness's only poll)."""
    from shared import keys

    pipe = client.pipeline(transaction=False)
    for status in _TERMINAL:
        pipe.zcard(keys.tasks_by(status=status))
    return int(sum(pipe.execute()))


def _wait_all(client: Any, done_before: int, tasks: int, timeout_s: float) -> int:
    """Wait until ``tasks`` more tasks are terminal; returns how many polls that took."""
    deadline, polls = time.monotonic() + timeout_s, 0
    while True:
        polls += 1
        if _terminal_count(client) - done_before >= tasks:
            return polls
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tasks} tasks not done after {timeout_s}s")
        time.sleep(0.5)


def _worker_cost(total: CommandCounts, create: CommandCounts, tasks: int, polls: int) -> CommandCounts:
    """What the worker (and Celery in it) cost: the round's total less the harness's creates and polls."""
    calls = Counter(total.calls)
    for name, n in create.calls.items():
        calls[name] -= round(n * tasks / CREATE_SAMPLE)
    calls["zcard"] -= len(_TERMINAL) * polls
    round_trips = total.round_trips - round(create.round_trips * tasks / CREATE_SAMPLE) - polls
    return CommandCounts(+calls, round_trips)


def _delete_broker_queues(env: dict[str, str], names: list[str]) -> None:
    """A RabbitMQ broker keeps a round's queues (and the parked tasks): delete them."""
    broker = env.get("BROWSERFLEET_BROKER_URL", "")
    if not broker.startswith("amqp"):
        return
    import contextlib

    from kombu import Connection

    with Connection(broker) as conn, conn.channel() as channel:
        for name in names:
            with contextlib.suppress(*conn.channel_errors):
                channel.queue_delete(name)


def full_round(
    fake: FakeLLM, page: PageServer, llm_base: str, concurrency: int, tasks: int, vision: bool = False
) -> dict[str, Any]:
    import redis

    from tests.conftest import base_env
    from tests.support.workers import WorkerProcess

    queue = f"bench-throughput-{concurrency}-{time.time_ns()}"
    env = {
        **base_env(llm_base),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "BROWSERFLEET_QUEUE": queue,
        "BROWSERFLEET_CONCURRENCY": str(concurrency),
        # No browser recycling during a round: a recycled browser's orphaned zygote would be
        # reaped outside the tree and its renderers' CPU lost to the accounting.
        "BROWSERFLEET_TASKS_PER_BROWSER": "100000",
        # The default lease, not the tests' 2 s (which makes every task renew it several times
        # a second): the bench measures a worker as users run it.
        "BROWSERFLEET_LEASE_TTL_S": "30",
        # --broker: e.g. RabbitMQ, as README "Running a fleet" recommends; Redis counts the stores alone
        **({"BROWSERFLEET_BROKER_URL": broker} if (broker := os.environ.get("BENCH_BROKER_URL")) else {}),
    }
    os.environ.update(env)
    from producer import Producer
    from shared.settings import Settings

    producer = Producer(Settings(queue=queue, max_queued_tasks=0))
    parked = Producer(Settings(queue=queue + "-parked", max_queued_tasks=0))
    client = redis.Redis.from_url(env["REDIS_URL"])
    worker = WorkerProcess(env, queue, Path(tempfile.mkdtemp()) / "worker.log", concurrency=concurrency)

    def payload(i: int) -> dict[str, Any]:
        marker = fake.script(f"t-{queue}-{i}", _click_script)
        return {"task": f"Press One, Two, Three. {marker}", "startUrl": page.url, "maxSteps": 5,
                "vision": vision}

    try:
        for i in range(min(concurrency, 4)):  # warm: browser, spare context, litellm imports
            producer.wait(producer.create_task(payload(-1 - i)).id, timeout=180)
        before = command_counts(client)
        for i in range(CREATE_SAMPLE):
            parked.create_task(payload(10_000 + i))
        create = command_counts(client) - before
        done_before = _terminal_count(client)
        meter = Meter(worker.proc.pid, "worker_python")
        meter.start()
        started = time.monotonic()
        before = command_counts(client)
        ids = [producer.create_task(payload(i)).id for i in range(tasks)]
        polls = _wait_all(client, done_before, tasks, 900)
        total = command_counts(client) - before
        elapsed = time.monotonic() - started
        measured = meter.stop(tasks)
        views = [producer.wait(task_id, timeout=60) for task_id in ids]
    finally:
        worker.stop()
        _delete_broker_queues(env, [queue, queue + "-parked", queue + "-judge"])
    steps = sum(len(v.steps) for v in views)
    cost = _worker_cost(total, create, tasks, polls)
    images = [len(part["image_url"]["url"]) for i in range(tasks) for call in fake.calls[f"t-{queue}-{i}"]
              for m in call.messages if isinstance(m.get("content"), list)
              for part in m["content"] if part.get("type") == "image_url"]
    ok = [v for v in views if v.is_success]
    failures = Counter(_reason(v) for v in views if not v.is_success)
    overheads = sorted(
        (s.duration or 0) - LLM_DELAY_S for v in views for s in v.steps[1:] if s.duration is not None
    )
    return {
        "concurrency": concurrency,
        "tasks": tasks,
        "succeeded": len(ok),
        "failures": dict(failures.most_common(5)),
        "steps_per_task": round(steps / len(views), 2),
        "tasks_per_min": round(len(ok) / elapsed * 60, 1),
        "ideal_tasks_per_min": round(concurrency * 60 / (len(BUTTONS) * LLM_DELAY_S), 1),
        "step_overhead_s_p50": round(statistics.median(overheads), 3),
        "step_overhead_s_p95": round(overheads[max(0, int(len(overheads) * 0.95) - 1)], 3),
        **measured,
        **({"images_to_model": {"count": len(images), "steps": steps,
                                "data_url_bytes_mean": round(statistics.mean(images))}} if images else {}),
        "redis": {
            "per_step": cost.per(max(1, steps)),
            "per_task": cost.per(tasks),
            "per_create": create.per(CREATE_SAMPLE),
        },
    }


# -- the run -------------------------------------------------------------------------------------


def _per_extra_task(rounds: list[dict[str, Any]]) -> None:
    """PSS per extra concurrent task, against the lowest level measured."""
    base = rounds[0]
    for r in rounds[1:]:
        extra = r["concurrency"] - base["concurrency"]
        r["pss_mb_per_extra_task"] = round((r["peak_pss_mb"] - base["peak_pss_mb"]) / extra, 1)


def run(
    levels: tuple[int, ...], tasks_for: Callable[[int], int], vision: bool = False, floor: bool = True
) -> dict[str, Any]:
    page, fake = PageServer(), FakeLLM()
    llm_base = fake.start()
    private = None
    if "BENCH_SHARED_REDIS" not in os.environ:  # Redis alone: its counts and CPU are this run's only
        private = RedisServer(Path(tempfile.mkdtemp()), appendonly=False)
        private.start()
        os.environ["REDIS_URL"] = private.url
    try:
        floors = [floor_round(page, n, tasks_for(n), vision) for n in levels] if floor else []
        full = [full_round(fake, page, llm_base, n, tasks_for(n), vision) for n in levels]
    finally:
        page.stop()
        fake.stop()
        if private is not None:
            private.stop()
    _per_extra_task(full)
    if floors:
        _per_extra_task(floors)
        for f, b in zip(full, floors, strict=True):
            f["vs_floor"] = round(f["tasks_per_min"] / b["tasks_per_min"], 3)
    return {
        "llm_delay_s": LLM_DELAY_S,
        "clicks_per_task": len(BUTTONS),
        "vision": vision,
        "redis": "private redis-server" if private is not None else "shared (REDIS_URL)",
        "broker": os.environ.get("BENCH_BROKER_URL", "the same Redis").split("@")[-1],
        "cpus": os.cpu_count(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "floor": floors,
        "full": full,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--levels", default="1,4,8,16,32")
    parser.add_argument("--quick", action="store_true", help="N = 1, 4 with a few tasks (a smoke run)")
    parser.add_argument("--tasks", type=int, help="tasks per round (default: max(8, 3N))")
    parser.add_argument("--vision", action="store_true",
                        help="the default path: a screenshot per step to the model (and in the floor)")
    parser.add_argument("--no-floor", action="store_true", help="the full path only (Redis counts)")
    parser.add_argument("--key", help="results.json key (default: throughput, or throughput_vision)")
    parser.add_argument("--broker", help="broker URL for the full path (default: the Redis)")
    parser.add_argument("--floor-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        concurrency, tasks, shots, url = args.floor_child.split(",", 3)
        asyncio.run(_floor_child(int(concurrency), int(tasks), url, shots == "1"))
        return
    floor = not args.no_floor
    if args.broker:
        os.environ["BENCH_BROKER_URL"] = args.broker
    if args.quick:
        result = run((1, 4), lambda n: 2 * n + 2, args.vision, floor)
    else:
        result = run(
            tuple(int(n) for n in args.levels.split(",")), lambda n: args.tasks or max(8, 3 * n),
            args.vision, floor,
        )
    result["quick"] = args.quick
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[args.key or ("throughput_vision" if args.vision else "throughput")] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
