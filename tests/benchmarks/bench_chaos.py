"""Chaos benchmark: side-effecting tasks under load while workers, browsers, Redis and the model fail.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_chaos.py [--tasks 60] [--workers 2] [--concurrency 4]
[--faults worker_kill,browser_kill,redis_restart,redis_failover,model_outage,model_delay,all]
[--label current] [--out FILE]`` (``make chaos``). Needs ``redis-server`` and Chromium; it starts its
OWN Redis (append-only, ``appendfsync everysec`` as ``deploy/`` runs it) on a free port per scenario
and never touches another. Writes ``"chaos"`` → ``<label>`` into ``tests/benchmarks/results.json``.

Every scenario is one run of ``--tasks`` tasks through real ``celery worker`` processes (``--workers``
x ``--concurrency`` threads, real Chromium), a scripted model (the fake OpenAI-compatible server
reached through litellm, behind a TCP proxy that can delay or drop it) and a loopback shop
(:mod:`tests.support.shop`). A task buys two items: click "Buy Widget" (a POST the shop counts),
follow "Next item", click "Buy Gadget", then ``done``: four model calls of ``--llm-delay`` each.
The model reads the page it is shown, so a run restarted from scratch buys again: what a real agent
would do. The scenarios: a no-fault ``baseline``, each fault alone, then ``all`` together:

- ``worker_kill``: worker 0's whole process tree (Celery, Playwright, Chromium) SIGKILLed, then a new
  worker 0 started;
- ``browser_kill``: worker 1's Chromium (its main processes) SIGKILLed, the worker left running;
  then (``--browser-kills 2``) the browser its pool launches next, 0.5 s after it appears, while
  the tasks that were waiting open their contexts on it;
- ``redis_restart``: redis-server SIGKILLed, restarted ``--redis-down`` s later from its AOF;
- ``redis_failover``: a master, a replica and three sentinels; the master SIGKILLed, the sentinels
  promote the replica, the old master comes back from its AOF as a replica. Needs ``sentinel://``
  support in the project: detected at run time (a producer pings through the sentinels in a child
  process), else the scenario is skipped with the reason;
- ``model_outage``: the model's endpoint refuses connections (and resets open ones) for ``--outage`` s;
- ``model_delay``: every request reaches the model ``--model-delay`` s later for ``--delay-window`` s.

Faults fire once a share of the tasks has ended (so they hit a loaded fleet mid-run: ~20 % alone,
staggered in ``all``). The report, per scenario: tasks by status; failure reasons grouped (task ids
and numbers blanked); **lost** (not terminal ``--deadline`` s after the last fault ended);
**duplicated** (a task that bought one item more than once, counted by the shop); **overlapping**
(two runs of one task that the shop saw active at the same time — each run loads the start page
once, which gives it a cookie of its own — plus the workers' ``fenced out`` lines: runs fencing
stopped); **unexplained** failures (a reason that is empty or does not name one of the scenario's
faults); wall time and successful tasks/min against the baseline's. Targets: 0 lost, 0 duplicated,
0 overlapping, every failure explained.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.support.fake_llm import Call, FakeLLM, Reply, step  # noqa: E402
from tests.support.model_proxy import ModelProxy  # noqa: E402
from tests.support.procs import alive, browser_pids, descendants  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.sentinel_cell import SERVICE, SentinelCell  # noqa: E402
from tests.support.shop import ITEMS, Shop  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
FAULTS = ("worker_kill", "browser_kill", "redis_restart", "redis_failover", "model_outage", "model_delay")
# A failure is explained when its reason names the fault that caused it.
EXPLAINS = {
    "worker_kill": r"worker lost|lost its worker|worker",
    "browser_kill": r"browser",
    "redis_restart": r"redis|store|connection",
    "redis_failover": r"redis|store|connection|sentinel|master|read.?only",
    "model_outage": r"LLM|model|connect",
    "model_delay": r"LLM|model|time.?out|timed out|budget",
}
# When each fault fires: the share of tasks ended (alone: ALONE_AT; in "all": staggered).
ALONE_AT = 0.2
ALL_AT = {"worker_kill": 0.1, "browser_kill": 0.25, "redis_restart": 0.4, "redis_failover": 0.4,
          "model_outage": 0.55, "model_delay": 0.65}
FALLBACK_S = 90.0  # a fault fires by then whatever the progress (a fleet too slow to reach its share)


@dataclass
class Config:
    tasks: int = 60
    workers: int = 2
    concurrency: int = 4
    llm_delay_s: float = 1.0
    lease_ttl_s: float = 10.0
    redis_down_s: float = 2.0
    outage_s: float = 5.0
    model_delay_s: float = 3.0
    delay_window_s: float = 20.0
    deadline_s: float = 150.0
    browser_kills: int = 2
    rekill_after_s: float = 0.5
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-chaos-")))


# -- the model's script --------------------------------------------------------------------------


UNKNOWN_PAGE_TRIES = 3  # a page the model does not recognise: it waits and looks again this often


def shop_script(delay_s: float) -> Callable[[Call], Reply]:
    """One task's model: buy the widget, follow "Next item", buy the gadget, done; decided from the
    page shown. A page it does not recognise (empty, mid-navigation) gets a ``wait`` and another
    look, as a careful model would; after a few it gives up, saying which page it saw."""
    unknown = 0

    def script(call: Call) -> Reply:
        nonlocal unknown
        text = call.page_text if "\npage text:\n" in call.user else call.user
        actions: list[dict[str, Any]]
        if "Bought gadget" in text:
            actions = [{"done": {"text": "bought widget and gadget", "success": True}}]
        else:
            target = ("Next item" if "Bought widget" in text else
                      "Buy Gadget" if "Buy Gadget" in call.user else "Buy Widget")
            try:
                actions = [{"click": {"index": call.index_of(rf"\b{target}\b")}}]
                unknown = 0
            except AssertionError:
                unknown += 1
                url = next((ln for ln in call.user.splitlines() if ln.startswith("url: ")), "url: ?")
                actions = ([{"wait": {"seconds": 1}}] if unknown < UNKNOWN_PAGE_TRIES else
                           [{"done": {"text": f"unexpected page ({url[:100]})", "success": False}}])
        return Reply(content=step(*actions), delay_s=delay_s)

    return script


# -- worker processes ----------------------------------------------------------------------------


class Fleet:
    """The scenario's worker processes (restartable), their logs kept after a kill."""

    def __init__(self, env: dict[str, str], queue: str, cfg: Config, logs: Path) -> None:
        self.env, self.queue, self.cfg, self.logs = env, queue, cfg, logs
        self.workers: list[Any] = [None] * cfg.workers
        self.generation = [0] * cfg.workers
        self.log_paths: list[Path] = []
        self.seen: set[int] = set()  # every pid ever under a worker (none may outlive the run)
        threads = [threading.Thread(target=self.start, args=(i,)) for i in range(cfg.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if any(w is None for w in self.workers):
            self.stop()
            raise RuntimeError("a worker did not start: see " + str(logs))

    def start(self, i: int) -> None:
        from tests.support.workers import WorkerProcess

        self.generation[i] += 1
        path = self.logs / f"worker{i}-{self.generation[i]}.log"
        self.log_paths.append(path)
        self.workers[i] = WorkerProcess(self.env, self.queue, path, concurrency=self.cfg.concurrency)

    def note_pids(self) -> None:
        for w in self.workers:
            if w is not None and w.proc.poll() is None:
                self.seen.update([w.proc.pid, *descendants(w.proc.pid)])

    def kill_tree(self, i: int) -> int:
        """SIGKILL worker ``i`` and everything under it (frozen first: nothing new spawns)."""
        root = self.workers[i].proc.pid
        os.kill(root, signal.SIGSTOP)
        tree = [root, *descendants(root)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.workers[i].proc.wait(10)
        self.workers[i].log_file.close()
        return len(tree)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.log_paths if p.exists())

    def stop(self) -> list[int]:
        """Stop every worker; returns the pids that outlived their worker (then SIGKILLed)."""
        self.note_pids()
        for w in self.workers:
            if w is not None:
                w.stop()
        left = [p for p in self.seen if alive(p)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


# -- the scenario --------------------------------------------------------------------------------


@dataclass
class Stage:
    """Where a scenario's Redis is and how to hurt it."""

    url: str
    env: dict[str, str]
    server: RedisServer | None = None
    cell: SentinelCell | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.cell is not None:
            self.cell.stop()


def sentinel_probe(cell: SentinelCell, timeout_s: float = 60) -> str | None:
    """None when the project reaches Redis through the sentinels; else why not (its last error line).
    A child process: a failed probe leaves nothing behind in this one."""
    env = {**os.environ, "REDIS_URL": cell.url, "BROWSERFLEET_REDIS_URL": cell.url,
           "BROWSERFLEET_REDIS_SENTINEL_MASTER": SERVICE}
    code = ("from producer import Producer; from shared.settings import Settings\n"
            "p = Producer(Settings()); assert p.ping(), 'no answer'; p.create_task({'task': 'probe'})\n"
            "print('ok')")
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"the probe did not answer in {timeout_s:.0f}s"
    if out.returncode == 0 and out.stdout.strip().endswith("ok"):
        return None
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else f"exit {out.returncode}"


def stage_for(faults: list[str], directory: Path) -> Stage:
    if "redis_failover" in faults:
        cell = SentinelCell(directory / "cell")
        cell.start()
        return Stage(cell.url, {"BROWSERFLEET_REDIS_SENTINEL_MASTER": SERVICE}, cell=cell)
    server = RedisServer(directory, appendonly=True, fsync="everysec")
    server.start()
    return Stage(server.url, {}, server=server)


class Scenario:
    def __init__(self, name: str, faults: list[str], cfg: Config, fake: FakeLLM, shop: Shop) -> None:
        self.name, self.faults, self.cfg, self.fake, self.shop = name, faults, cfg, fake, shop
        self.events: list[dict[str, Any]] = []
        self.started = 0.0
        self.threads: list[threading.Thread] = []
        self.busy_until = 0.0  # monotonic: when the last fault's effect ends

    def event(self, fault: str, detail: str) -> None:
        at = round(time.monotonic() - self.started, 1)
        self.events.append({"t_s": at, "fault": fault, "detail": detail})
        print(f"  [{self.name} +{time.monotonic() - self.started:5.1f}s] {fault}: {detail}", flush=True)

    # -- faults (each in a thread of its own) --

    def _worker_kill(self) -> None:
        killed = self.fleet.kill_tree(0)
        self.event("worker_kill", f"worker 0 and {killed - 1} processes under it SIGKILLed")
        t0 = time.monotonic()
        self.fleet.start(0)
        self.event("worker_kill", f"a new worker 0 ready after {time.monotonic() - t0:.1f}s")

    def _browser_kill(self) -> None:
        """Kill worker 1's Chromium; then, ``browser_kills - 1`` times, the browser its pool launches
        next, just after it appears: while the waiting tasks open their contexts on it (where a
        task could hang for good before bounded browser setup)."""
        w = self.fleet.workers[min(1, len(self.fleet.workers) - 1)]
        killed: set[int] = set()
        for n in range(self.cfg.browser_kills):
            pids = [p for p in browser_pids(w.proc.pid) if p not in killed]
            deadline = time.monotonic() + 20
            while not pids and n and time.monotonic() < deadline:  # wait for the relaunch
                time.sleep(0.05)
                pids = [p for p in browser_pids(w.proc.pid) if p not in killed]
            if not pids:
                self.event("browser_kill", "no new Chromium under worker 1 within 20s")
                return
            if n:
                time.sleep(self.cfg.rekill_after_s)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed.update(pids)
            self.event("browser_kill", f"{len(pids)} Chromium browser process(es) of worker 1 SIGKILLed"
                       + (f" ({self.cfg.rekill_after_s:g}s after the pool relaunched it)" if n else ""))

    def _redis_restart(self) -> None:
        server = self.stage.server
        assert server is not None and server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        self.event("redis_restart", f"redis-server SIGKILLed; down for {self.cfg.redis_down_s:g}s")
        time.sleep(self.cfg.redis_down_s)
        server.start()
        self.event("redis_restart", "redis-server restarted from its AOF")

    def _redis_failover(self) -> None:
        cell = self.stage.cell
        assert cell is not None
        old = cell.kill_master()
        self.event("redis_failover", f"master :{old.port} SIGKILLed")
        took = cell.wait_promoted(old.port)
        self.event("redis_failover", f"replica promoted after {took:.1f}s")
        time.sleep(10)
        cell.restart(old)
        self.event("redis_failover", "old master restarted from its AOF as a replica")

    def _model_outage(self) -> None:
        self.proxy.down()
        self.event("model_outage", f"model endpoint down (connections refused) for {self.cfg.outage_s:g}s")
        time.sleep(self.cfg.outage_s)
        self.proxy.up()
        self.event("model_outage", "model endpoint back")

    def _model_delay(self) -> None:
        self.proxy.delay_s = self.cfg.model_delay_s
        self.event("model_delay", f"+{self.cfg.model_delay_s:g}s to every model request "
                                  f"for {self.cfg.delay_window_s:g}s")
        time.sleep(self.cfg.delay_window_s)
        self.proxy.delay_s = 0.0
        self.event("model_delay", "delay removed")

    def fire(self, fault: str) -> None:
        action = getattr(self, "_" + fault)

        def run() -> None:
            try:
                action()
            except Exception as exc:  # a fault the harness failed to inject is reported, not hidden
                self.event(fault, f"HARNESS ERROR: {type(exc).__name__}: {exc}")

        thread = threading.Thread(target=run, name=fault, daemon=True)
        thread.start()
        self.threads.append(thread)

    # -- the run --

    def run(self) -> dict[str, Any]:
        from producer import Producer
        from shared.settings import Settings
        from tests.conftest import base_env

        cfg, directory = self.cfg, cfg_dir(self.cfg, self.name)
        self.stage = stage_for(self.faults, directory)
        self.proxy = ModelProxy(self.fake_upstream())
        self.proxy.up()
        queue = f"chaos-{self.name}-{time.time_ns()}"
        env = {
            **base_env(self.proxy.base_url()),
            **self.stage.env,
            "REDIS_URL": self.stage.url,
            "BROWSERFLEET_REDIS_URL": self.stage.url,
            "BROWSERFLEET_QUEUE": queue,
            "BROWSERFLEET_JUDGE_QUEUE": queue + "-judge",
            "BROWSERFLEET_CONCURRENCY": str(cfg.concurrency),
            "BROWSERFLEET_LEASE_TTL_S": str(cfg.lease_ttl_s),
        }
        # the model's retries and timeouts as users run them, not the tests' short ones
        for key in ("LLM_BACKOFF_S", "LLM_TIMEOUT_S", "LLM_MAX_RETRIES", "STEP_TIMEOUT_S"):
            env.pop("BROWSERFLEET_" + key, None)
        os.environ.update(env)
        self.fleet: Fleet | None = None
        try:
            self.fleet = Fleet(env, queue, cfg, directory)
            producer = Producer(Settings(queue=queue, max_queued_tasks=0))
            return self._drive(producer, queue)
        finally:
            left = self.fleet.stop() if self.fleet is not None else []
            if left:
                print(f"  [{self.name}] {len(left)} process(es) outlived their worker: SIGKILLed", flush=True)
            self.proxy.stop()
            self.stage.stop()
            for key in (*self.stage.env, "BROWSERFLEET_REDIS_URL"):
                os.environ.pop(key, None)

    def fake_upstream(self) -> tuple[str, int]:
        assert self.fake.server is not None
        return ("127.0.0.1", int(self.fake.server.server_address[1]))

    def _drive(self, producer: Any, queue: str) -> dict[str, Any]:
        cfg = self.cfg
        assert self.fleet is not None
        shop_ids = [f"{self.name}-{i}" for i in range(cfg.tasks)]
        self.started = time.monotonic()
        ids: dict[str, str] = {}
        for sid in shop_ids:
            marker = self.fake.script(f"chaos-{queue}-{sid}", shop_script(cfg.llm_delay_s))
            created = producer.create_task({
                "task": f"Buy the widget, then the next item. {marker}",
                "startUrl": self.shop.start_url(sid), "maxSteps": 10, "vision": False,
            })
            ids[sid] = str(created.id)
        created_s = time.monotonic() - self.started
        schedule = {f: (ALONE_AT if len(self.faults) == 1 else ALL_AT[f]) for f in self.faults}
        ended: dict[str, float] = {}
        deadline = None
        while True:
            self.fleet.note_pids()
            with contextlib.suppress(Exception):  # Redis down: ask again next round
                for sid, task_id in ids.items():
                    if sid not in ended and producer.get_status(task_id).status.terminal:
                        ended[sid] = time.monotonic() - self.started
            share = len(ended) / cfg.tasks
            for fault, at in list(schedule.items()):
                if share >= at or time.monotonic() - self.started > FALLBACK_S:
                    del schedule[fault]
                    self.fire(fault)
            if not schedule and deadline is None and not any(t.is_alive() for t in self.threads):
                deadline = time.monotonic() + cfg.deadline_s
            if len(ended) == cfg.tasks and not schedule and deadline is not None:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(2)  # let the workers finish their bookkeeping (leftover messages, leases)
        return self._report(producer, queue, ids, ended, created_s)

    def _report(self, producer: Any, queue: str, ids: dict[str, str], ended: dict[str, float],
                created_s: float) -> dict[str, Any]:
        cfg = self.cfg
        assert self.fleet is not None
        by_status: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        unexplained: list[str] = []
        incomplete = 0
        lost_ids = [ids[sid] for sid in ids if sid not in ended]
        counts = self.shop.counts(list(ids))
        pattern = re.compile("|".join(EXPLAINS[f] for f in self.faults) or r"(?!)", re.IGNORECASE)
        for sid, task_id in ids.items():
            if sid not in ended:
                by_status["lost"] += 1
                continue
            view = producer.get_task(task_id)
            status = view.status.value
            if view.status.value == "finished" and view.is_success:
                by_status["succeeded"] += 1
                if any(counts[sid][item] < 1 for item in ITEMS):
                    incomplete += 1
                continue
            status = "unsuccessful" if status == "finished" else status
            by_status[status] += 1
            reason = _reason(view)
            reasons[f"{status}: {reason}"] += 1
            if not reason or not pattern.search(reason):
                unexplained.append(f"{status}: {reason or '(no reason)'}")
        duplicated = {sid: dict(c) for sid, c in counts.items() if any(n > 1 for n in c.values())}
        overlaps = self.shop.overlaps(list(ids))
        log = self.fleet.log_text()
        wall = max(ended.values()) if ended else time.monotonic() - self.started
        ok = by_status["succeeded"]
        result = {
            "faults": self.faults,
            "tasks": cfg.tasks,
            "by_status": dict(sorted(by_status.items())),
            "reasons": dict(reasons.most_common()),
            "lost": len(lost_ids),
            "lost_ids": lost_ids[:5],
            "duplicated": len(duplicated),
            "duplicated_examples": dict(list(duplicated.items())[:3]),
            "purchases": sum(sum(c.values()) for c in counts.values()),
            "overlapping": len(overlaps),
            "fenced_out_lines": log.count(" fenced out: "),
            "may_overlap_lines": log.count("two runs may overlap"),
            "reenqueued_lines": log.count("lost its worker"),
            "runs_per_task_max": max((self.shop.runs_of(sid) for sid in ids), default=0),
            "unexplained": len(unexplained),
            "unexplained_examples": sorted(set(unexplained))[:5],
            "succeeded_without_both_purchases": incomplete,
            "broker_leftovers": _leftovers(self.stage, queue),
            "create_s": round(created_s, 1),
            "wall_s": round(wall, 1),
            "succeeded_per_min": round(ok / wall * 60, 1) if wall else 0.0,
            "events": self.events,
            "logs": str(self.fleet.logs),
        }
        result["targets"] = {
            "no_lost": result["lost"] == 0,
            "no_duplicated": result["duplicated"] == 0,
            "no_overlapping": result["overlapping"] == 0,
            "failures_explained": result["unexplained"] == 0,
        }
        result["targets_met"] = all(result["targets"].values())
        return result


def cfg_dir(cfg: Config, name: str) -> Path:
    path = cfg.logs / name
    path.mkdir(parents=True, exist_ok=True)
    return path


_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|chaos-[\w-]+|\d+(\.\d+)?")


def _reason(view: Any) -> str:
    """Why a task did not succeed (its error, else its output), ids and numbers blanked to group."""
    text = str(view.error or view.output or "").splitlines()[0] if (view.error or view.output) else ""
    return _ID.sub("N", text)[:160]


def _leftovers(stage: Stage, queue: str) -> dict[str, int] | str:
    """Broker messages still held once every task ended: queued, and unacked (Kombu's Redis
    transport keeps a delivered, unacknowledged message in the ``unacked`` hash until acked or
    restored after the visibility timeout)."""
    import redis

    try:
        if stage.cell is not None:
            client = redis.Redis(port=stage.cell.master_port())
        else:
            client = redis.Redis.from_url(stage.url)
        return {"queued": int(client.llen(queue)), "unacked": int(client.hlen("unacked"))}
    except Exception as exc:
        return f"unread: {type(exc).__name__}"


# -- the run -------------------------------------------------------------------------------------


def plan(faults: list[str]) -> list[tuple[str, list[str]]]:
    """baseline, each fault alone, then all together (each as asked)."""
    out: list[tuple[str, list[str]]] = [("baseline", [])]
    out += [(f, [f]) for f in faults if f != "all"]
    if "all" in faults:
        out.append(("all", list(FAULTS)))
    return out


def run(cfg: Config, faults: list[str]) -> dict[str, Any]:
    fake, shop = FakeLLM(), Shop()
    fake.start()
    shop.start()
    for server in (fake.server, shop.server):
        _quiet_resets(server)
    scenarios: dict[str, dict[str, Any]] = {}
    sentinel_missing: str | None = None
    started = time.monotonic()
    try:
        for name, chosen in plan(faults):
            if "redis_failover" in chosen and sentinel_missing is None:
                sentinel_missing = _probe_once(cfg)
            if "redis_failover" in chosen and sentinel_missing:
                if name == "redis_failover":
                    why = f"needs sentinel support (sentinel:// URLs): {sentinel_missing}"
                    scenarios[name] = {"faults": chosen, "skipped": why}
                    print(f"== {name}: SKIPPED, {why}", flush=True)
                    continue
                chosen = [f if f != "redis_failover" else "redis_restart" for f in chosen]
                chosen = list(dict.fromkeys(chosen))
            elif "redis_failover" in chosen and "redis_restart" in chosen:
                # the cell's old master restarts from its AOF: the restart is part of the failover
                chosen = [f for f in chosen if f != "redis_restart"]
            print(f"== {name}: faults {chosen or 'none'}", flush=True)
            t0 = time.monotonic()
            scenarios[name] = Scenario(name, chosen, cfg, fake, shop).run()
            scenarios[name]["scenario_s"] = round(time.monotonic() - t0, 1)
            print_row(name, scenarios[name], scenarios.get("baseline"))
    finally:
        fake.stop()
        shop.stop()
    base = scenarios.get("baseline", {})
    for s in scenarios.values():
        if "succeeded_per_min" in s and base.get("succeeded_per_min"):
            s["throughput_vs_baseline"] = round(s["succeeded_per_min"] / base["succeeded_per_min"], 2)
    ran = [s for s in scenarios.values() if "targets" in s]
    return {
        "code": _code_version(),
        "config": {"tasks": cfg.tasks, "workers": cfg.workers, "concurrency": cfg.concurrency,
                   "llm_delay_s": cfg.llm_delay_s, "model_calls_per_task": 4,
                   "unknown_page_tries": UNKNOWN_PAGE_TRIES, "lease_ttl_s": cfg.lease_ttl_s,
                   "redis_down_s": cfg.redis_down_s, "outage_s": cfg.outage_s,
                   "model_delay_s": cfg.model_delay_s, "delay_window_s": cfg.delay_window_s,
                   "deadline_s": cfg.deadline_s, "browser_kills": cfg.browser_kills,
                   "redis": "private redis-server, appendonly, appendfsync everysec"},
        "cpus": os.cpu_count(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "total_s": round(time.monotonic() - started, 1),
        "scenarios": scenarios,
        "all_targets_met": bool(ran) and all(s["targets_met"] for s in ran),
        "skipped": [n for n, s in scenarios.items() if "skipped" in s],
    }


def _quiet_resets(server: Any) -> None:
    """A reply to a connection the proxy reset (the outage) or a killed browser is expected here:
    no traceback for it; any other error still prints one."""
    original = server.handle_error

    def handle_error(request: Any, address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            original(request, address)

    server.handle_error = handle_error


_probe_cache: dict[str, str | None] = {}


def _probe_once(cfg: Config) -> str | None:
    """Whether the project supports Redis Sentinel (``sentinel://``): "" when it does."""
    if "r" not in _probe_cache:
        cell = SentinelCell(cfg_dir(cfg, "sentinel-probe"))
        try:
            cell.start()
            _probe_cache["r"] = sentinel_probe(cell) or ""
        finally:
            cell.stop()
    return _probe_cache["r"]


def _code_version() -> str:
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
        branch = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10)
        return f"{branch.stdout.strip()} {out.stdout.strip()[:100]}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


HEADER = (f"{'scenario':<15}{'ok':>4}{'unsucc':>7}{'failed':>7}{'lost':>5}{'dup':>5}{'overlap':>8}"
          f"{'fenced':>7}{'unexpl':>7}{'leftover':>9}{'wall s':>8}{'ok/min':>7}{'ratio':>6}  targets")


def print_row(name: str, s: dict[str, Any], base: dict[str, Any] | None) -> None:
    print(HEADER)
    print(_row(name, s, base), flush=True)


def _row(name: str, s: dict[str, Any], base: dict[str, Any] | None) -> str:
    if "skipped" in s:
        return f"{name:<15}skipped: {s['skipped']}"
    b = s["by_status"]
    left = s["broker_leftovers"]
    leftover = sum(left.values()) if isinstance(left, dict) else "?"
    per_min = base.get("succeeded_per_min") if base else 0
    ratio = s["succeeded_per_min"] / per_min if per_min else 0
    missed = [k for k, v in s["targets"].items() if not v]
    return (f"{name:<15}{b.get('succeeded', 0):>4}{b.get('unsuccessful', 0):>7}{b.get('failed', 0):>7}"
            f"{s['lost']:>5}{s['duplicated']:>5}{s['overlapping']:>8}{s['fenced_out_lines']:>7}"
            f"{s['unexplained']:>7}{leftover:>9}{s['wall_s']:>8}{s['succeeded_per_min']:>7}{ratio:>6.2f}  "
            + ("met" if not missed else "MISSED " + ",".join(missed)))


def print_report(result: dict[str, Any]) -> None:
    scenarios = result["scenarios"]
    base = scenarios.get("baseline")
    print()
    cfg = result["config"]
    print(f"chaos: {result['code']}; {cfg['tasks']} tasks, {cfg['workers']} workers x {cfg['concurrency']}; "
          f"total {result['total_s']}s")
    print(HEADER)
    for name, s in scenarios.items():
        print(_row(name, s, base))
    for name, s in scenarios.items():
        for reason, n in s.get("reasons", {}).items():
            print(f"  {name}: {n} x {reason}")
        for example in s.get("unexplained_examples", []):
            print(f"  {name}: UNEXPLAINED {example}")
    print("all targets met" if result["all_targets_met"] else "targets NOT all met")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--label", default="current", help='key under "chaos" in results.json')
    parser.add_argument("--tasks", type=int, default=Config.tasks)
    parser.add_argument("--workers", type=int, default=Config.workers)
    parser.add_argument("--concurrency", type=int, default=Config.concurrency)
    parser.add_argument("--faults", default=",".join((*FAULTS, "all")),
                        help="comma-separated: " + ",".join(FAULTS) + ",all (a baseline always runs)")
    parser.add_argument("--llm-delay", type=float, default=Config.llm_delay_s)
    parser.add_argument("--lease-ttl", type=float, default=Config.lease_ttl_s)
    parser.add_argument("--redis-down", type=float, default=Config.redis_down_s)
    parser.add_argument("--outage", type=float, default=Config.outage_s)
    parser.add_argument("--model-delay", type=float, default=Config.model_delay_s)
    parser.add_argument("--delay-window", type=float, default=Config.delay_window_s)
    parser.add_argument("--deadline", type=float, default=Config.deadline_s,
                        help="seconds after the last fault ended by which every task must have ended")
    parser.add_argument("--browser-kills", type=int, default=Config.browser_kills,
                        help="the first kill, then the relaunched browser's, each just after it appears")
    parser.add_argument("--logs", type=Path, help="keep the workers' logs here (default: a temp dir)")
    args = parser.parse_args()
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in (*FAULTS, "all")]
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}")
    if args.workers < 2 and "browser_kill" in faults:
        print("note: one worker: the browser kill hits the worker that is also killed", flush=True)
    cfg = Config(args.tasks, args.workers, args.concurrency, args.llm_delay, args.lease_ttl, args.redis_down,
                 args.outage, args.model_delay, args.delay_window, args.deadline, args.browser_kills)
    if args.logs:
        cfg.logs = args.logs
    print(f"logs: {cfg.logs}", flush=True)
    result = run(cfg, faults)
    print_report(result)
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    chaos = existing.get("chaos") if isinstance(existing.get("chaos"), dict) else {}
    chaos[args.label] = result
    existing["chaos"] = chaos
    args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
