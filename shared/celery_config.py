"""Celery configuration shared by producers (which only send) and workers.

The numbers come from DESIGN.md §2: late acks with prefetch 1 so a lost worker's
task is redelivered, and a visibility timeout above the hard time limit in every
place Celery reads it, so a long task is never delivered twice while it runs.
"""

from __future__ import annotations

from typing import Any

from shared.settings import Settings

RUN_TASK = "browserfleet.run_task"
JUDGE_TASK = "browserfleet.judge_task"


def celery_config(settings: Settings) -> dict[str, Any]:
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    return {
        "broker_url": settings.broker,
        "result_backend": settings.backend,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "visibility_timeout": settings.visibility_timeout_s,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": settings.record_ttl_s,
        "task_soft_time_limit": settings.soft_time_limit_s,
        "task_time_limit": settings.hard_time_limit_s,
        "task_routes": {
            RUN_TASK: {"queue": settings.queue},
            JUDGE_TASK: {"queue": settings.judge_queue},
        },
        "task_default_queue": settings.queue,
        "worker_hijack_root_logger": False,
    }
