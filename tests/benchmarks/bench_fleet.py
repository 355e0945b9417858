"""The fleet's Redis traffic at scale, without browsers: how many running tasks one Redis core serves.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_fleet.py [--levels 1000,2000,3000] [--steps 10]
[--drivers 3] [--window 15] [--out FILE]`` (needs ``redis-server``). Writes ``"fleet"`` into
``tests/benchmarks/results.json``.

Starts its own ``redis-server`` on a free port (persistence as deployed: AOF, ``everysec``), so
what is measured is that one core alone. Driver processes play worker processes: each runs its
share of simulated tasks through the real stores and the worker's own lease code
(``workers.process.lease.Leases``, its control-signal subscriber and step script), with a fake page and
model (nothing but the Redis calls): every task is created (``TaskQueue.write``: record, indexes,
one-off session; the broker is elsewhere, RabbitMQ as README "Running a fleet" recommends), taken
(lease, delivery count, stop check), started (fenced transition, session load), runs ``--steps``
steps at one step every 3 s (the step script: fence, lease renewal, step record, stop check,
viewer count), and ends (fenced transition, session release, result read, lease given back),
then the next task starts in its place: ``N`` tasks stay running.

Per level: Redis's main-thread CPU (``INFO cpu`` deltas) over a steady window, the latency of
the step script as a separate idle probe process sees it (p50/p99: Redis's queueing included,
the drivers' Python overhead not), commands and round trips per step and per task, and what one
core would serve at 70 % busy (the measured Redis CPU per running task, extrapolated). Then the
breaking points: memory per finished task record, listing indexes, pub/sub fan-out of live frames.
"""

from __future__ import annotations

import argparse
import heapq
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.redis_server import RedisServer, command_counts  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
STEP_EVERY_S = 3.0
BUSY_TARGET = 0.7  # the share of one core Redis may use and keep p99 latency low
STEP_TEXT = "The page lists the order; the Buy button is at index 12 and the price is shown. " * 3


def _settings(url: str) -> Any:
    from shared.settings import Settings

    return Settings(redis_url=url, broker_url="amqp://unused", lease_ttl_s=30.0)


def _step(number: int) -> Any:
    """A step as an agent records it (~600 bytes of JSON)."""
    from shared.models import TaskStepView

    return TaskStepView(
        number=number, memory=STEP_TEXT[:200], evaluation_previous_goal="Success: the page opened",
        next_goal="Click Buy", url="https://shop.example/items/42?ref=list",
        actions=['{"click": {"index": 12}}'], duration=3.1, results=["clicked <button> Buy"],
        input_tokens=5200, output_tokens=180,
    )


@dataclass(order=True)
class _Sim:
    due: float
    task_id: str = field(compare=False)
    session_id: str = field(compare=False)
    step: int = field(default=0, compare=False)
    run: Any = field(default=None, compare=False)
    record: Any = field(default=None, compare=False)


class _Worker:
    """One driver process: plays a worker process running ``tasks`` tasks at once."""

    def __init__(self, url: str, tasks: int, steps: int) -> None:
        from shared.stores import Stores
        from workers.process.lease import Leases

        self.settings = _settings(url)
        self.stores = Stores(self.settings)
        self.leases = Leases(self.stores.leases, self.stores.control)
        self.tasks, self.steps = tasks, steps
        self.done_tasks = 0
        self.done_steps = 0

    def create(self) -> _Sim:
        from shared.models import CreateTaskRequest
        from shared.task_queue import NewTask, OneOffSession

        task_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())
        request = CreateTaskRequest.model_validate(
            {"task": "Find the cheapest red kettle and put it in the basket. " * 4,
             "startUrl": "https://shop.example/", "maxSteps": 30})
        new = NewTask(task_id, session_id, request, owner="team-7", one_off=OneOffSession())
        self.stores.task_queue.write([new], None, push=False, limit=0)  # type: ignore[arg-type]
        return _Sim(0.0, task_id, session_id)

    def start(self, sim: _Sim) -> None:
        from shared.models import TaskStatus
        from shared.task_store import utcnow
        from workers.run import session_carryover

        sim.record = self.stores.tasks.load(sim.task_id)
        sim.run = self.leases.acquire(sim.task_id)
        active = [TaskStatus.created, TaskStatus.started]
        self.stores.tasks.transition(sim.task_id, TaskStatus.started, active, fence=sim.run.token,
                                     started_at=utcnow())
        session_carryover.load(sim.record, self.stores, self.settings)

    def step(self, sim: _Sim) -> None:
        sim.step += 1
        self.leases.holds(sim.run, ask=True)  # before the step's first action (RecordHooks.before_acting)
        self.leases.step(sim.run, _step(sim.step))
        self.done_steps += 1

    def end(self, sim: _Sim) -> None:
        from decimal import Decimal

        from shared.models import TaskStatus
        from shared.task_store import utcnow
        from workers.run import session_carryover

        self.stores.tasks.transition(
            sim.task_id, TaskStatus.finished, [TaskStatus.created, TaskStatus.started], fence=sim.run.token,
            finished_at=utcnow(), output="done", is_success=True, error=None, cost=Decimal("0.01"))
        session_carryover.task_ended(self.stores, sim.task_id, sim.session_id)
        self.stores.tasks.load(sim.task_id)  # what the worker hands Celery's result backend
        self.leases.release(sim.run)
        self.done_tasks += 1

    def tick(self, sim: _Sim) -> _Sim:
        """Advance one task by one move; returns what runs in its slot next."""
        if sim.run is None:
            self.start(sim)
        elif sim.step < self.steps:
            self.step(sim)
        else:
            self.end(sim)
            sim = self.create()
            self.start(sim)
        return sim


def _poll(worker: _Worker, heap: list[_Sim], rate: float, end: float) -> None:
    """Clients polling their tasks' status (the API's ``GET /tasks/{id}/status``: one HMGET each)."""
    while time.monotonic() < end:
        ids = [sim.task_id for sim in heap[: max(1, int(rate / 10))]]
        for task_id in ids:
            worker.stores.tasks.load_status(task_id)
        time.sleep(0.1)


def _drive(
    url: str, tasks: int, steps: int, seconds: float, threads: int, report: Any, poll_s: float = 0.0
) -> None:
    """A driver process: keeps ``tasks`` tasks running for ``seconds``, one step per 3 s each
    (and, with ``poll_s``, each task's status polled every ``poll_s``)."""
    worker = _Worker(url, tasks, steps)
    now = time.monotonic()
    heap: list[_Sim] = []
    for i in range(tasks):  # ramp up over one step period, phases spread evenly
        sim = worker.create()
        sim.due = now + STEP_EVERY_S * i / tasks
        sim.step = (i * steps) // tasks  # tasks at every stage of their life
        heap.append(sim)
    heapq.heapify(heap)
    lock = threading.Lock()
    late: list[float] = []
    end = now + seconds
    if poll_s > 0:
        threading.Thread(target=_poll, args=(worker, heap, tasks / poll_s, end), daemon=True).start()

    def move(sim: _Sim) -> None:
        started = time.monotonic()
        late.append(started - sim.due)
        nxt = worker.tick(sim)
        nxt.due = sim.due + STEP_EVERY_S
        with lock:
            heapq.heappush(heap, nxt)

    with ThreadPoolExecutor(threads) as pool:
        while time.monotonic() < end:
            with lock:
                sim = heapq.heappop(heap) if heap and heap[0].due <= time.monotonic() else None
            if sim is None:
                time.sleep(0.002)
                continue
            pool.submit(move, sim)
    late.sort()
    report.put({"tasks": worker.done_tasks, "steps": worker.done_steps,
                "late_p99_s": late[int(len(late) * 0.99)] if late else 0.0})


PROBE_COMMANDS = {"evalsha": 1, "get": 1, "pexpire": 1, "exists": 1}  # a check-only step


def _probe(url: str, seconds: float, report: Any) -> None:
    """An idle process timing the step script (fence, renewal, stop and viewer check; no record,
    so it adds no step) of its own task every 10 ms: Redis's latency, queueing included."""
    worker = _Worker(url, 1, 10**9)
    sim = worker.create()
    worker.start(sim)
    times: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        worker.leases.step(sim.run)
        times.append(time.perf_counter() - t0)
        time.sleep(0.01)
    worker.leases.release(sim.run)
    times.sort()
    report.put({"p50_ms": round(times[len(times) // 2] * 1000, 3),
                "p99_ms": round(times[int(len(times) * 0.99)] * 1000, 3),
                "max_ms": round(times[-1] * 1000, 3), "samples": len(times)})


def _cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys_main_thread"]) + float(info["used_cpu_user_main_thread"])


def level(
    url: str, tasks: int, steps: int, drivers: int, window: float, poll_s: float = 0.0
) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    ctx = mp.get_context("spawn")
    report = ctx.Queue()
    warm = STEP_EVERY_S * 2
    args = (url, tasks // drivers, steps, warm + window, 16, report, poll_s)
    procs = [ctx.Process(target=_drive, args=args) for _ in range(drivers)]
    for p in procs:
        p.start()
    time.sleep(warm)  # every driver has created its tasks and runs steady
    probe = ctx.Process(target=_probe, args=(url, window - 1, report))
    before, cpu0, t0 = command_counts(client), _cpu(client), time.monotonic()
    probe.start()
    probe.join()
    counts, cpu, elapsed = command_counts(client) - before, _cpu(client) - cpu0, time.monotonic() - t0
    results = [report.get() for _ in range(drivers + 1)]
    for p in procs:
        p.join()
    latency = next(r for r in results if "p99_ms" in r)
    drives = [r for r in results if "late_p99_s" in r]
    for name, n in PROBE_COMMANDS.items():  # the probe's own calls are not the fleet's
        counts.calls[name] -= n * latency["samples"]
    counts.round_trips -= latency["samples"]
    done_steps = counts.calls["rpush"]  # one per step recorded (the probe records none)
    started = counts.calls["hincrby"]  # one lease epoch per task started
    busy = cpu / elapsed
    usec = {k.removeprefix("cmdstat_"): v["usec_per_call"] for k, v in client.info("commandstats").items()}
    return {
        "running_tasks": tasks,
        "status_polls_per_s": round(tasks / poll_s) if poll_s else 0,
        "steps_per_s": round(done_steps / elapsed),
        "tasks_started_per_s": round(started / elapsed, 1),
        "redis_main_thread_busy": round(busy, 3),
        "redis_cpu_us_per_step_all_in": round(cpu / max(1, done_steps) * 1e6, 1),
        "step_script_latency_ms": latency,
        "drivers_late_p99_s": round(max(d["late_p99_s"] for d in drives), 3),
        "commands_per_step_all_in": round(counts.commands / max(1, done_steps), 2),
        "round_trips_per_step_all_in": round(counts.round_trips / max(1, done_steps), 2),
        "commands_per_task": round(counts.commands / max(1, started), 1),
        "by_command_per_step": {k: round(v / max(1, done_steps), 2) for k, v in counts.calls.most_common(14)},
        "usec_per_call": {k: usec.get(k) for k in ("evalsha", "hgetall", "get", "zadd", "publish")},
        "tasks_per_core_at_70pct": round(tasks * BUSY_TARGET / busy) if busy else None,
    }


def _capacity(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """Running tasks one Redis core serves at 70 % busy: from the busiest level (Redis's idle
    work counted against the tasks: conservative) and from the slope between the lowest and the
    highest level (the marginal cost of a running task)."""
    lo, hi = levels[0], levels[-1]
    out: dict[str, Any] = {"tasks_per_core_at_70pct": hi["tasks_per_core_at_70pct"]}
    if hi["running_tasks"] > lo["running_tasks"]:
        slope = (hi["redis_main_thread_busy"] - lo["redis_main_thread_busy"]) / (
            hi["running_tasks"] - lo["running_tasks"])
        base = lo["redis_main_thread_busy"] - slope * lo["running_tasks"]
        if slope > 0:
            out["tasks_per_core_at_70pct_marginal"] = round((BUSY_TARGET - base) / slope)
            out["redis_cpu_us_per_running_task_s"] = round(slope * 1e6, 2)
    return out


def memory_per_record(url: str, steps: int, count: int = 2000) -> dict[str, Any]:
    """Bytes a finished task leaves in Redis (record, steps, one-off session, index entries)."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    base = int(client.info("memory")["used_memory"])
    worker = _Worker(url, count, steps)
    for _ in range(count):
        sim = worker.create()
        worker.start(sim)
        for _ in range(steps):
            worker.step(sim)
        worker.end(sim)
    used = int(client.info("memory")["used_memory"]) - base
    from shared import keys

    index = keys.tasks_by(status="finished")
    return {
        "steps_per_task": steps,
        "bytes_per_finished_task": round(used / count),
        "bytes_per_index_entry": round(int(client.memory_usage(index) or 0) / max(1, client.zcard(index))),
        "finished_tasks_per_gb": round(2**30 / (used / count)),
    }


def _read_all(subs: list[Any], drain: threading.Event) -> None:
    """Keep the subscribers' sockets drained (as API processes relaying frames do)."""
    import redis

    while not drain.is_set():
        for sub in subs:
            try:
                while sub.get_message(timeout=0.001):
                    pass
            except redis.TimeoutError:  # a frame half read: the rest comes next round
                pass


def fanout(url: str, frame_bytes: int = 40_000) -> dict[str, Any]:
    """Redis CPU per live frame published to k viewers (API processes subscribed to the task)."""
    import redis

    client = redis.Redis.from_url(url)
    out = {}
    frame = "x" * frame_bytes
    for k in (0, 1, 10, 100):
        subs = [redis.Redis.from_url(url).pubsub() for _ in range(k)]
        for s in subs:
            s.subscribe("bf:task:fanout:live")
        drain = threading.Event()
        reader = threading.Thread(target=_read_all, args=(subs, drain), daemon=True)
        reader.start()
        cpu0, n = _cpu(client), 300
        for _ in range(n):
            client.publish("bf:task:fanout:live", frame)
        out[f"viewers_{k}"] = round((_cpu(client) - cpu0) / n * 1e6, 1)
        drain.set()
        reader.join()
        for s in subs:
            s.close()
    return {"frame_bytes": frame_bytes, "redis_cpu_us_per_frame": out}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--levels", default="1000,2000,3000")
    parser.add_argument("--steps", type=int, default=10, help="steps per task (its life: 3 s per step)")
    parser.add_argument("--drivers", type=int, default=3, help="driver processes (as worker processes)")
    parser.add_argument("--io-threads", type=int, default=1, help="redis-server io-threads (1: none)")
    parser.add_argument("--key", default="fleet", help="results.json key")
    parser.add_argument("--poll-s", type=float, default=2.0,
                        help="a last level: the highest, each task's status polled this often (0: none)")
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per level")
    args = parser.parse_args()
    threads = ("--io-threads", str(args.io_threads), "--io-threads-do-reads", "yes")
    threads = threads if args.io_threads > 1 else ()
    server = RedisServer(Path(tempfile.mkdtemp()), appendonly=True, fsync="everysec", extra=threads)
    server.start()
    try:
        levels = [level(server.url, int(n), args.steps, args.drivers, args.window)
                  for n in args.levels.split(",")]
        if args.poll_s > 0:
            top = max(int(n) for n in args.levels.split(","))
            levels.append(level(server.url, top, args.steps, args.drivers, args.window, args.poll_s))
        result = {
            "steps_per_task": args.steps,
            "step_every_s": STEP_EVERY_S,
            "redis_io_threads": args.io_threads,
            "cpus": os.cpu_count(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
            "levels": levels,
            **_capacity([lv for lv in levels if not lv["status_polls_per_s"]]),
            "memory": memory_per_record(server.url, args.steps),
            "fanout": fanout(server.url),
        }
    finally:
        server.stop()
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[args.key] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
