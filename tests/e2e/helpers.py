"""Small helpers for end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

from producer import Producer
from shared.models import TaskView


def script_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def run(producer: Producer, payload: dict[str, Any], timeout: float = 90) -> TaskView:
    """Create a task and wait for its terminal view."""
    created = producer.create_task(payload)
    return producer.wait(created.id, timeout=timeout)
