"""Kombu's leftovers of a task's earlier deliveries, removed when the task's last run ends
(``workers.run.execution``).

With Redis as the broker, a delivered message waits in Kombu's ``unacked`` hash (payload by
delivery tag) and ``unacked_index`` zset (delivery time by tag) until its worker acks it. A
worker killed mid-task never acks: its message stays there until the visibility timeout
(40 minutes here), when Kombu puts it back in the queue, a worker takes it and drops it as
finished. Meanwhile the reaper (:mod:`workers.process.lease`) re-enqueued the task as a new message
long ago. So each run notes its delivery tag when it takes its lease (``shared.lease_store``),
and the run that ends
the task removes the entries of every other tag: nothing of the task lingers in the broker.

Removing the entry of a run that is still alive somewhere (frozen, fenced out) is harmless:
its ack later deletes nothing. With RabbitMQ there is nothing to clean: the broker requeues a
dead consumer's unacked messages at once, and the copy is dropped as a duplicate (or finished).
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from kombu.transport.redis import Channel

# Kombu's names ("unacked", "unacked_index"): browserfleet sets no ``global_keyprefix`` nor others.
UNACKED = Channel.unacked_key
UNACKED_INDEX = Channel.unacked_index_key

# KEYS: [1] unacked hash, [2] unacked index. ARGV: the delivery tags. Returns the entries removed.
_CLEAR = """
local removed = 0
for _, tag in ipairs(ARGV) do
  removed = removed + redis.call('HDEL', KEYS[1], tag)
  redis.call('ZREM', KEYS[2], tag)
end
return removed
"""


class BrokerLeftovers:
    """Kombu's unacked store in the broker's Redis."""

    def __init__(self, broker: redis.Redis) -> None:
        self._redis = broker
        self._clear = broker.register_script(_CLEAR)

    def clear(self, tags: Iterable[str]) -> int:
        """Remove these delivery tags' messages from the unacked store; how many there were."""
        tags = sorted(set(tags))
        if not tags:
            return 0
        return int(self._clear(keys=[UNACKED, UNACKED_INDEX], args=tags))
