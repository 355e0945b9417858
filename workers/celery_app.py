"""The worker's entry point (``celery -A workers.celery_app:app worker``): the Celery app
(:mod:`workers.process.celery_instance`) with what a worker process does around its tasks connected to
Celery's signals (masked logs, the reaper, skill manifests, heartbeats, metrics, shutdown).

The task modules are listed in the app's ``imports``; Celery loads them by name, so no module
below this one imports it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading

from celery.signals import (
    after_setup_logger,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from shared.celery_config import RUN_TASK
from shared.consumers import HEARTBEAT_S
from shared.settings import get_settings
from workers.process.celery_instance import app

settings = get_settings()

log = logging.getLogger(__name__)


@after_setup_logger.connect
def _mask_logs(logger: logging.Logger | None = None, **_: object) -> None:
    """No log line shows a running task's secret (see :mod:`workers.secrets.log_masking`)."""
    from workers.secrets import log_masking

    log_masking.install(logger)
    log_masking.install()


@worker_ready.connect
def _start_reaper(**_: object) -> None:
    """Every worker watches for tasks whose worker died, and re-enqueues them."""
    from workers.process.lease import Reaper
    from workers.process.objects import stores

    def requeue(task_id: str) -> None:
        app.send_task(RUN_TASK, args=[task_id], task_id=task_id, queue=settings.queue)

    Reaper(stores().leases, stores().tasks, requeue, settings.lease_ttl_s).start()


def _consumed_queues() -> list[str]:
    consumed = app.amqp.queues.consume_from
    return sorted(consumed) if consumed else [settings.queue]


@worker_ready.connect
def _publish_skills(sender: object = None, **_: object) -> None:
    """Publish this worker's skill manifest, so producers validate ``skillIds`` without worker code.

    Agent workers only: skills are agent actions, and a judge worker loads no browser code.
    """
    if settings.queue not in _consumed_queues():
        return
    from workers.process.objects import stores
    from workers.skills.registry import get_registry, publish_manifest

    try:
        publish_manifest(stores().skills, get_registry(), str(getattr(sender, "hostname", "worker")))
    except Exception:  # Redis down at start: tasks still run; producers just see no new skills
        log.exception("skill manifest not published")


class _Heartbeat(threading.Thread):
    """Tells readers which queues this node consumes (``shared.consumers``), every few seconds."""

    def __init__(self, node: str, queues: list[str]) -> None:
        super().__init__(name="consumer-heartbeat", daemon=True)
        self.node, self.queues = node, queues
        self.stopped = threading.Event()

    def run(self) -> None:
        from workers.process.objects import stores

        registry = stores().consumers
        while True:
            try:
                registry.beat(self.node, self.queues)
            except Exception as exc:  # Redis restarting: beat again next round
                log.warning("consumer heartbeat failed: %s", exc)
            if self.stopped.wait(HEARTBEAT_S):
                break
        with contextlib.suppress(Exception):
            registry.leave(self.node, self.queues)


_heartbeats: list[_Heartbeat] = []


@worker_ready.connect
def _load_litellm(**_: object) -> None:
    """Import litellm now (seconds), with its closed-network setting, and run its first-call
    set-up offline: not inside the first task."""
    from workers.agent.llm import configure, warm_up
    from workers.process.event_loop_thread import get_loop

    configure()
    get_loop().run(warm_up(settings.default_model), timeout=30)


@worker_ready.connect
def _serve_metrics(**_: object) -> None:
    if settings.metrics_port:
        from workers.process import worker_metrics

        worker_metrics.serve(settings.metrics_port)


@worker_ready.connect
def _start_webhook_sweeper(**_: object) -> None:
    """A webhook worker sends due deliveries to its queue (see :mod:`workers.webhooks.sweeper`)."""
    if settings.webhook_queue in _consumed_queues():
        from workers.webhooks.worker_state import start_sweeper

        start_sweeper()


@worker_shutdown.connect
def _stop_webhook_sweeper(**_: object) -> None:
    runtime = sys.modules.get("workers.webhooks.worker_state")
    if runtime is not None:
        runtime.stop_sweepers()


@worker_ready.connect
def _start_heartbeat(sender: object = None, **_: object) -> None:
    queues = _consumed_queues()
    beat = _Heartbeat(str(getattr(sender, "hostname", "worker")), queues)
    beat.start()
    _heartbeats.append(beat)


@worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    for beat in _heartbeats:
        beat.stopped.set()
        beat.join(timeout=5)


@worker_shutting_down.connect
def _end_browser_sessions(**_: object) -> None:
    """A warm shutdown lets agent tasks finish, but ends browser sessions (hours long) at once."""
    module = sys.modules.get("workers.browser_sessions.serve")
    if module is not None:
        module.shutting_down.set()


@worker_shutdown.connect
@worker_process_shutdown.connect
def _close_browsers(**_: object) -> None:
    """No Chromium outlives its worker: close the pool on (warm) shutdown.

    Only where a task loaded the runtime: a judge worker never imports the browser stack.
    """
    runtime = sys.modules.get("workers.browser.runtime")
    if runtime is not None:
        runtime.shutdown_runtime()
