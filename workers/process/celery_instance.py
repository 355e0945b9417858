"""The Celery app object of the worker fleet, configured, with nothing connected to it.

Task modules (``workers.agent_tasks``, ``workers.judge.judge_task``,
``workers.webhooks.delivery_task``) and whoever sends a task (the judge hand-off, the webhook
sweeper) take the app from here, the ground floor. What the worker process does around its tasks
(signal handlers, reaper, heartbeats) is wired by ``workers.celery_app``, the entry point
``celery -A workers.celery_app:app`` loads.
"""

from __future__ import annotations

from celery import Celery

from shared.celery_config import celery_config
from shared.settings import get_settings

app = Celery("browserfleet")
app.conf.update(celery_config(get_settings()))
app.conf.imports = ("workers.agent_tasks", "workers.judge.judge_task", "workers.webhooks.delivery_task")
