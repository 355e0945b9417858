"""Small helpers for end-to-end tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from producer import Producer
from shared.models import TaskView


def script_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def run(producer: Producer, payload: dict[str, Any], timeout: float = 90) -> TaskView:
    """Create a task and wait for its terminal view."""
    created = producer.create_task(payload)
    return producer.wait(created.id, timeout=timeout)


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Wait (bounded) for a state; fail naming it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


SHOP = """<!doctype html><html><head><title>Shop</title></head><body><h1>One item</h1>
<form method="post" action="{buy}"><button type="submit">Buy</button></form></body></html>"""
"""A page whose one button is a purchase the test site records (``Site.forms``): an action
a run must not take twice, or at all once stopped."""
