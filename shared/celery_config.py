"""Celery configuration shared by producers (which only send) and workers.

Late acks with prefetch 1 so a lost worker's task is redelivered. With Redis as the
broker, a visibility timeout above the hard time limit in every place Celery reads it,
so a long task is never delivered twice while it runs; with RabbitMQ, its consumer
timeout plays that part, and quorum queues cap redeliveries in the broker itself.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from shared.redis_client import sentinel_options
from shared.redis_url import RedisTarget, is_sentinel_url
from shared.settings import Settings

RUN_TASK = "browserfleet.run_task"
JUDGE_TASK = "browserfleet.judge_task"
WEBHOOK_TASK = "browserfleet.deliver_webhooks"
BROWSER_TASK = "browserfleet.browser_session"
SKILL_TASK = "browserfleet.skill_execution"


def celery_config(settings: Settings) -> dict[str, Any]:
    config = _redis_broker(settings) if not settings.amqp else _rabbitmq_broker(settings)
    if is_sentinel_url(settings.backend):
        config["result_backend_transport_options"].update(_sentinel(settings.backend_target))
    return {**_common(settings), **config}


def _sentinel(target: RedisTarget) -> dict[str, Any]:
    """kombu's and Celery's transport options for a Redis behind Sentinel (none for a direct URL):
    the service name, and how to reach the sentinels (their password, short timeouts)."""
    if not target.is_sentinel:
        return {}
    return {"master_name": target.master, "sentinel_kwargs": sentinel_options(target)}


def _redis_broker(settings: Settings) -> dict[str, Any]:
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    return {
        "broker_transport_options": {**transport, **_sentinel(settings.broker_target)},
        "result_backend_transport_options": dict(transport),
        "visibility_timeout": settings.visibility_timeout_s,
    }


def _rabbitmq_broker(settings: Settings) -> dict[str, Any]:
    """Quorum queues (replicated, poison-message safe), the redelivery cap enforced by the broker
    (``x-delivery-limit``), publisher confirms (a create returns only once RabbitMQ has the task)."""
    # One more than our own cap: the worker sees the last delivery and fails the task with a
    # reason; the broker's limit is the backstop for a task that kills every worker it meets.
    arguments = {"x-queue-type": "quorum", "x-delivery-limit": settings.max_deliveries + 1}
    return {
        "broker_transport_options": {"confirm_publish": True},
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        "task_queues": [
            Queue(name, Exchange(name, "direct"), routing_key=name, queue_arguments=arguments)
            for name in (settings.queue, settings.judge_queue, settings.webhook_queue)
        ],
        "task_create_missing_queue_type": "quorum",
        "worker_detect_quorum_queues": True,
    }


def _common(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker,
        "result_backend": settings.backend,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # No STARTED state in the result backend: the task record says ``started`` already, and
        # that write cost ~5 Redis commands per task (GET, MULTI, SETEX, PUBLISH, EXEC).
        "task_track_started": False,
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
            BROWSER_TASK: {"queue": settings.queue},
            SKILL_TASK: {"queue": settings.queue},
            JUDGE_TASK: {"queue": settings.judge_queue},
            WEBHOOK_TASK: {"queue": settings.webhook_queue},
        },
        "task_default_queue": settings.queue,
        "worker_hijack_root_logger": False,
    }
