"""Leases: which worker runs a task right now, and recovery when that worker dies.

A worker holds a short-lived Redis key per running task and renews it while the
task runs. If the process is killed (SIGKILL, OOM, node lost), the lease expires
within ``lease_ttl_s``; the reaper in any live worker then re-enqueues the task
(its delivery count caps how often). Without this, Redis would hold the dead
worker's unacked message until the visibility timeout (40 minutes by default).
A second delivery of a task whose lease is alive is dropped: it runs elsewhere.

Each run holds its lease under a fencing token (a lease epoch incremented at every take,
see :mod:`shared.lease_store`): when a frozen process wakes up after the reaper gave its
task to a newer run, every step record of the old run is refused atomically by Redis,
and before every action the run checks it still holds the lease (locally while a recent
renewal vouches for it, in Redis otherwise): the newer run wins, the old one stops.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from shared import control
from shared.control import ControlSignals
from shared.lease_store import LeaseStore, Reply, RunStatus
from shared.models import TaskStatus, TaskStepView
from shared.redis_client import StoreError
from shared.task_store import TaskStore
from workers.process.per_process import PerProcess

log = logging.getLogger(__name__)

# Who holds a lease: this process (a forked child is another holder, never its parent).
_owner: PerProcess[str] = PerProcess(lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")


def owner() -> str:
    """This process's name as a lease holder."""
    return _owner.get()

VIEWER_GRACE_S = 6.0  # a viewer counted by a step is assumed to watch this long (3 heartbeats)


@dataclass
class Run:
    """One run's hold on its task: its fencing token, and what the store last told it.

    ``valid_until`` (monotonic) is when the lease surely still holds: the send time of the
    last renewal the store accepted plus the lease TTL. A process frozen past it (SIGSTOP,
    swap, a long GC) must ask the store again before it acts: by then a newer run may own
    the task.
    """

    task_id: str
    token: str
    epoch: int
    valid_until: float
    deliveries: int = 1
    stop_requested: bool = False
    viewers: int = 0
    lost: RunStatus | None = None  # fenced or gone: the run may not act or write any more
    holder_epoch: int = 0  # the epoch that fenced this run out
    watched_until: float = 0.0  # (epoch s) a live viewer's heartbeat is unexpired until then
    released: bool = False
    announced: bool = False  # the one log line saying the run was fenced out is written
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def heard(self, reply: Reply, sent: float, ttl_s: float) -> Reply:
        """Take in the store's answer to a call sent at ``sent`` (monotonic)."""
        if reply.status in (RunStatus.fenced, RunStatus.gone):
            if self.lost is None:
                self.lost, self.holder_epoch = reply.status, reply.value
        else:
            self.valid_until = max(self.valid_until, sent + ttl_s)
            if reply.status == RunStatus.stop:
                self.stop_requested = True
        return reply

    def saw_viewers(self, count: int) -> None:
        """The lease take counted ``count`` viewers with an unexpired heartbeat (a viewer beats
        every couple of seconds; each beat's signal extends ``watched_until`` further)."""
        self.viewers = count
        if count > 0:
            self.watched_until = max(self.watched_until, time.time() + VIEWER_GRACE_S)

    def signal(self, signal: str) -> None:
        """A signal on the task's control channel (:mod:`shared.control`)."""
        until = control.watched_until(signal)
        if until is not None:
            self.watched_until = max(self.watched_until, until)
        elif signal == control.STOP:
            self.stop_requested = True
        elif signal in (control.FENCED, control.GONE):
            self.valid_until = 0.0  # not trusted alone: the run asks Redis before its next move

    @property
    def watched(self) -> bool:
        return time.time() < self.watched_until

    def announce(self) -> None:
        """Say once, in the log, that this run lost its task and stopped (operators and the chaos
        benchmark count these lines)."""
        if not self.announced:
            self.announced = True
            log.warning("%s", self.why_lost())

    def why_lost(self) -> str:
        if self.lost == RunStatus.gone:
            return (f"task {self.task_id} stopped: its record was deleted (run of lease epoch "
                    f"{self.epoch}); nothing more recorded")
        return (f"task {self.task_id} fenced out: lease epoch {self.epoch} lost to epoch "
                f"{self.holder_epoch}; this run stopped before its next action and records nothing more")


class Leases:
    """This process's runs and their leases, renewed by one background thread.

    A run's steps renew its lease as they are recorded (:meth:`step`); the thread renews
    only the leases no step renewed lately (a slow model call), so a busy task costs no
    extra Redis command for its lease.
    """

    def __init__(self, store: LeaseStore, signals: ControlSignals | None = None) -> None:
        self.store = store
        self.signals = signals
        self.ttl_s = store.ttl_ms / 1000
        self._held: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def acquire(self, task_id: str, tag: str = "") -> Run | None:
        """A new run of ``task_id`` (the next lease epoch) from the broker delivery ``tag``; None
        when another run holds it."""
        sent = time.monotonic()
        taken = self.store.take(task_id, owner(), tag)
        if taken is None:
            return None
        run = Run(task_id, taken.token, taken.epoch, sent + self.ttl_s, taken.deliveries,
                  taken.stop_requested)
        run.saw_viewers(taken.viewers)
        if self.signals is not None:
            self.signals.follow(task_id, run.signal)
        with self._lock:
            self._held[task_id] = run
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._renew_forever, name="lease-renew", daemon=True)
                self._thread.start()
        return run

    def release(self, run: Run) -> None:
        """End the run: its lease is given back (if it still holds it) and never renewed again."""
        with self._lock:
            if self._held.get(run.task_id) is run:
                del self._held[run.task_id]
                if self.signals is not None:
                    self.signals.drop(run.task_id)
        with run.lock:  # waits for a renewal in flight: none starts after this
            run.released = True
            if run.lost is None:
                self.store.give_back(run.task_id, run.token)

    def hand_back(self, run: Run) -> bool:
        """End the run for a retry: its lease is given up under a new epoch, so nothing the old
        run may still do (a coroutine that ignored its cancellation) is recorded or acted on;
        False when it had lost the lease already (a newer run owns the task)."""
        with run.lock:
            if run.released or run.lost is not None:
                return False
            run.released = True  # first: from now on the run may not act (it checks before each move)
            run.lost, run.holder_epoch = RunStatus.fenced, run.epoch + 1
            handed = self.store.hand_back(run.task_id, run.token)
        with self._lock:
            if self._held.get(run.task_id) is run:
                del self._held[run.task_id]
                if self.signals is not None:
                    self.signals.drop(run.task_id)
        return handed

    def step(self, run: Run, step: TaskStepView | None = None, screenshot: str = "") -> Reply:
        """Record a step (fenced) and renew the lease in one round trip."""
        sent = time.monotonic()
        return run.heard(self.store.step(run.task_id, run.token, step, screenshot), sent, self.ttl_s)

    def vouched(self, run: Run) -> bool:
        """Whether a recent renewal vouches for the run's lease (more than half its TTL left):
        then it may act without asking the store."""
        return run.lost is None and run.valid_until - time.monotonic() >= self.ttl_s / 2

    def holds(self, run: Run, ask: bool = False) -> bool:
        """Before an action: does the run surely hold its lease? Asks the store when ``ask`` or
        when no recent renewal vouches for it (the process was frozen or starved past half the TTL)."""
        if run.lost is None and (ask or not self.vouched(run)):
            self._keep(run)
        return run.lost is None and not run.released

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.ttl_s / 3)
            with self._lock:
                held = list(self._held.values())
            for run in held:
                if run.valid_until - time.monotonic() > self.ttl_s * 5 / 6:
                    continue  # a step renewed it lately (a renewal here keeps >= 2/3 TTL vouched)
                try:
                    self._keep(run)
                except StoreError as exc:  # Redis restarting: try again next round
                    log.warning("lease renewal for %s failed: %s", run.task_id, exc)

    def _keep(self, run: Run) -> None:
        """Renew one run's lease. One that expired while this process was too starved to renew
        it is taken back if no newer run took it meanwhile (the epoch is unchanged), so the copy
        a reaper may have re-enqueued is dropped as a duplicate instead of running beside this
        one; if a newer run did take it, this run is fenced out."""
        with run.lock:
            if run.released or run.lost is not None:
                return
            sent = time.monotonic()
            reply = run.heard(self.store.renew(run.task_id, run.token), sent, self.ttl_s)
        if reply.status == RunStatus.taken_back:
            log.warning("task %s: its lease had expired (renewal came too late); taken back", run.task_id)


def reap(
    leases: LeaseStore, tasks: TaskStore, requeue: Callable[[str], None], grace_s: float
) -> list[str]:
    """Re-enqueue started tasks whose lease has expired (their worker died); returns their ids."""
    revived = []
    for task_id in leases.orphans(time.time() - grace_s):
        if tasks.status(task_id) != TaskStatus.started:
            leases.forget(task_id)
            continue
        if not leases.claim_reaping(task_id, owner(), max(5, int(grace_s * 2))):
            continue
        log.warning("task %s lost its worker (lease expired); re-enqueueing", task_id)
        leases.forget(task_id)
        requeue(task_id)
        revived.append(task_id)
    return revived


class Reaper(threading.Thread):
    """Runs :func:`reap` every ``interval_s`` in a worker process."""

    def __init__(
        self, leases: LeaseStore, tasks: TaskStore, requeue: Callable[[str], None], interval_s: float
    ) -> None:
        super().__init__(name="lease-reaper", daemon=True)
        self.leases, self.tasks, self.requeue, self.interval_s = leases, tasks, requeue, interval_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                reap(self.leases, self.tasks, self.requeue, self.interval_s)
            except StoreError as exc:
                log.warning("reaper: Redis unavailable: %s", exc)
            except Exception:  # the broker's errors vary by transport: the reaper must outlive them
                log.exception("reaper: round failed; trying again in %gs", self.interval_s)

    def stop(self) -> None:
        self._stop.set()
