"""The webhook worker process's deliverer and sweeper (built once, after fork)."""

from __future__ import annotations

from shared.celery_config import WEBHOOK_TASK
from shared.settings import get_settings
from workers.process.objects import controls, stores
from workers.process.per_process import PerProcess
from workers.webhooks.delivery import Deliverer
from workers.webhooks.sweeper import Sweeper

_deliverer: PerProcess[Deliverer] = PerProcess(
    lambda: Deliverer(get_settings(), stores().webhooks, controls())
)
_sweepers: list[Sweeper] = []


def deliverer() -> Deliverer:
    """This process's deliverer."""
    return _deliverer.get()


def start_sweeper() -> None:
    """Start this process's sweeper (a webhook worker's, once it is ready)."""
    from workers.process.celery_instance import app

    queue = get_settings().webhook_queue

    def send(stream: str) -> None:
        app.send_task(WEBHOOK_TASK, args=[stream], queue=queue, ignore_result=True)

    sweeper = Sweeper(stores().webhooks, send)
    sweeper.start()
    _sweepers.append(sweeper)


def stop_sweepers() -> None:
    for sweeper in _sweepers:
        sweeper.stop()
