"""The Celery app of the worker fleet (``celery -A workers.celery_app:app worker``)."""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_process_shutdown, worker_shutdown

from shared.celery_config import celery_config
from shared.settings import get_settings

app = Celery("browserfleet")
app.conf.update(celery_config(get_settings()))
app.conf.imports = ("workers.tasks",)

log = logging.getLogger(__name__)


@worker_shutdown.connect
@worker_process_shutdown.connect
def _close_browsers(**_: object) -> None:
    """No Chromium outlives its worker: close the pool on (warm) shutdown."""
    from workers.runtime import shutdown_runtime

    shutdown_runtime()
