"""Skill executions (``POST /skills/{id}/execute``): one operator skill run directly, no agent.

The producer writes the execution (``pending``, with its validated parameters) and sends
``browserfleet.skill_execution``; the worker that takes it claims it (``pending`` →
``running``, a compare-and-set: a duplicate delivery does nothing), runs the skill in a
fresh browser context and writes the outcome (``completed`` or ``failed``, its JSON
output, error and latency). Executions are listed per skill, newest first, per owner.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from shared import keys

_CLAIM = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
return 1
"""
_GIVE_UP = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'failed', 'success', '0', 'finished_at', ARGV[1], 'error', ARGV[2])
return 1
"""
_FINISH = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


def execution_key(execution_id: str) -> str:
    return f"{keys.PREFIX}:skill-exec:{execution_id}"


def executions_of(slug: str, owner: str | None) -> str:
    """Zset: execution ids of one skill (of one owner) by creation time."""
    return f"{keys.PREFIX}:skill-execs:{slug}" + (f":owner:{owner}" if owner else "")


class SkillExecutions:
    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._give_up = client.register_script(_GIVE_UP)

    def create(self, slug: str, params: dict[str, Any], owner: str | None, session_id: str | None) -> str:
        execution_id = str(uuid.uuid4())
        now = time.time()
        fields = {
            "id": execution_id,
            "skill": slug,
            "owner": owner or "",
            "session_id": session_id or "",
            "status": "pending",
            "created_at": repr(now),
            "params": json.dumps(params),
        }
        pipe = self._redis.pipeline()
        pipe.hset(execution_key(execution_id), mapping=fields)  # type: ignore[arg-type]
        pipe.expire(execution_key(execution_id), self.ttl_s)
        for index in {executions_of(slug, None), executions_of(slug, owner)}:
            pipe.zadd(index, {execution_id: now})
            pipe.expire(index, self.ttl_s)
        pipe.execute()
        return execution_id

    def claim(self, execution_id: str) -> bool:
        return bool(self._claim(keys=[execution_key(execution_id)], args=[repr(time.time())]))

    def finish(
        self, execution_id: str, success: bool, output: Any, error: str | None, latency_ms: int
    ) -> bool:
        args = [
            "status",
            "completed" if success else "failed",
            "success",
            "1" if success else "0",
            "finished_at",
            repr(time.time()),
            "latency_ms",
            str(latency_ms),
            "output",
            json.dumps(output, default=str),
            "error",
            error or "",
        ]
        return bool(self._finish(keys=[execution_key(execution_id)], args=args))

    def give_up(self, execution_id: str, reason: str) -> bool:
        """An execution no worker started in time fails now (a late delivery then does nothing)."""
        return bool(self._give_up(keys=[execution_key(execution_id)], args=[repr(time.time()), reason]))

    def load(self, execution_id: str) -> dict[str, Any] | None:
        raw = self._redis.hgetall(execution_key(execution_id))
        if not raw:
            return None
        data: dict[str, Any] = {str(k): v for k, v in raw.items()}
        data["params"] = json.loads(data.get("params") or "{}")
        data["output"] = json.loads(data["output"]) if data.get("output") else None
        return data

    def page(self, slug: str, owner: str | None, page_size: int, page_number: int) -> tuple[list[str], int]:
        index = executions_of(slug, owner)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(index, "-inf", f"({time.time() - self.ttl_s}")
        pipe.zcard(index)
        start = max(page_number - 1, 0) * page_size
        pipe.zrevrange(index, start, start + page_size - 1)
        _, total, ids = pipe.execute()
        return [str(i) for i in ids], int(total)
