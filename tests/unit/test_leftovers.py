"""A task's earlier deliveries are removed from Kombu's unacked store (real Kombu, real Redis)."""

from __future__ import annotations

import json
import uuid

import redis
from kombu import Connection

from shared import broker_leftovers as leftovers
from shared.broker_leftovers import BrokerLeftovers
from tests.conftest import TEST_REDIS_URL


def test_an_unacked_delivery_is_removed_and_only_it(redis_client: redis.Redis) -> None:
    queue = f"leftovers-{uuid.uuid4().hex[:6]}"
    with Connection(TEST_REDIS_URL) as conn:
        inbox = conn.SimpleQueue(queue)
        try:
            inbox.put({"task": "killed"}, headers={"id": "task-a"})
            inbox.put({"task": "alive"}, headers={"id": "task-b"})
            killed, alive = inbox.get(timeout=5), inbox.get(timeout=5)  # delivered, never acked
            tags = {m.headers["id"]: m.delivery_tag for m in (killed, alive)}
            stored = redis_client.hgetall(leftovers.UNACKED)
            assert json.loads(stored[tags["task-a"]])[0]["headers"]["id"] == "task-a"
            assert redis_client.zscore(leftovers.UNACKED_INDEX, tags["task-a"]) is not None

            unacked = BrokerLeftovers(redis_client)
            assert unacked.clear([tags["task-a"], "no-such-tag"]) == 1
            assert not redis_client.hexists(leftovers.UNACKED, tags["task-a"])
            assert redis_client.zscore(leftovers.UNACKED_INDEX, tags["task-a"]) is None
            assert redis_client.hexists(leftovers.UNACKED, tags["task-b"])  # another task's stays
            killed.ack()  # a run that was only frozen acks later: nothing breaks
            alive.ack()
            assert not redis_client.hexists(leftovers.UNACKED, tags["task-b"])
            assert unacked.clear([]) == 0
        finally:
            inbox.clear()
            inbox.close()
