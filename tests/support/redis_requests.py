"""Counting the requests written to Redis sockets (a script or a pipeline counts once)."""

from __future__ import annotations

from typing import Any

import pytest
import redis


def count_requests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Requests written to any Redis socket of this process from now on, in ``[0]``
    (ours and kombu's: both go through redis-py's ``send_packed_command``)."""
    counted = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(conn: Any, command: Any, check_health: bool = True) -> None:
        counted[0] += 1
        original(conn, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return counted
