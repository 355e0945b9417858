"""The judge's Celery task, on its own queue (``judge_queue``): judge workers need no browser."""

from __future__ import annotations

from typing import Any

from shared.celery_config import JUDGE_TASK
from workers.judge.run import judge
from workers.process.celery_instance import app


@app.task(name=JUDGE_TASK)
def judge_task(task_id: str) -> dict[str, Any]:
    """Judge one finished run; the message carries only its id (safe for Flower to show)."""
    return judge(task_id)
