"""Fleet-wide LLM rate limits: one sliding-window bucket per model and provider credentials.

Provider limits are "N requests (and M tokens) per minute", and a fleet of many workers must
stay under them together, which Celery's per-worker ``rate_limit`` cannot do. Each bucket
keeps in Redis the times (and token amounts) of the calls it admitted, including calls
admitted for a moment still to come. One Lua script per call *reserves* the earliest moment
``t`` at which the call fits: no earlier than now (Redis's clock, shared by every worker),
than the bucket's last reservation (first come, first served), than the end of a provider's
cooldown, and late enough that the window ``(t - W, t]`` holds fewer than ``rpm`` calls and
at most ``tpm`` tokens with it. The caller sleeps until ``t``; nobody polls. Because
reservation times never decrease and each keeps its window within the limits, *every* window
of length ``W`` holds at most ``rpm`` calls and ``tpm`` tokens, fleet-wide (a token bucket or
GCRA with a burst lets up to twice the rate through some windows). A reservation more than
``max_wait`` away is refused instead (the caller's step fails with the reason).

Consecutive reservations are at least a quarter of the even spacing apart (``W / rpm / 4``):
a burst still goes out at four times the average rate, but not all in one instant (providers
enforce per-minute limits over shorter periods too, and a worker that sends many calls at
once sends the last ones late).

Tokens are reserved as an estimate and corrected with the provider's count in the caller's
next reservation (the same script call). A provider's 429 sets a cooldown (its
``Retry-After``) that every later reservation starts after: the limiter learns from it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from shared import keys

# KEYS: [1] calls zset (member "id:tokens", score = reserved time, ms), [2] token sum, [3] cooldown.
# ARGV: [1] window (ms), [2] rpm (0: none), [3] tpm (0: none), [4] tokens to reserve, [5] new member
# id, [6] a member to correct ('' = none), [7] its real token count, [8] longest wait (ms).
# Returns {1, ms until the reserved moment} or {0, ms it would have been} (refused: too far).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local function tokens_of(member) return tonumber(string.match(member, ':(%d+)$')) end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #gone > 0 then
  local freed = 0
  for _, m in ipairs(gone) do freed = freed + tokens_of(m) end
  redis.call('DECRBY', KEYS[2], freed)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
end
if ARGV[6] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[6])
  if score then
    local id = string.match(ARGV[6], '^(.*):%d+$')
    redis.call('ZREM', KEYS[1], ARGV[6])
    redis.call('ZADD', KEYS[1], score, id .. ':' .. ARGV[7])
    redis.call('INCRBY', KEYS[2], tonumber(ARGV[7]) - tokens_of(ARGV[6]))
  end
end
local at = math.max(now, tonumber(redis.call('GET', KEYS[3]) or '0'))
if rpm == 0 and tpm == 0 then
  if at - now > tonumber(ARGV[8]) then return {0, at - now} end
  return {1, at - now}
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then
  local gap = 0
  if rpm > 0 then gap = math.floor(window / rpm / PACING) end
  at = math.max(at, tonumber(last[2]) + gap)
end
if rpm > 0 then
  local nth = redis.call('ZRANGE', KEYS[1], -rpm, -rpm, 'WITHSCORES')
  if #nth > 0 then at = math.max(at, tonumber(nth[2]) + window) end
end
if tpm > 0 then
  if want > tpm then want = tpm end
  local need = tonumber(redis.call('GET', KEYS[2]) or '0') + want - tpm
  local from = 0
  while need > 0 do
    local batch = redis.call('ZRANGE', KEYS[1], from, from + 31, 'WITHSCORES')
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      need = need - tokens_of(batch[i])
      at = math.max(at, tonumber(batch[i + 1]) + window)
      if need <= 0 then break end
    end
    from = from + 32
  end
else
  want = 0
end
if at - now > tonumber(ARGV[8]) then return {0, at - now} end
redis.call('ZADD', KEYS[1], at, ARGV[5] .. ':' .. want)
redis.call('INCRBY', KEYS[2], want)
local ttl = at - now + window * 2
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, at - now}
""".replace("PACING", "4")

# KEYS[1] cooldown. ARGV: seconds. Only ever pushes the cooldown later (Redis's clock).
_COOLDOWN = """
local t = redis.call('TIME')
local untl = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < untl then
  redis.call('SET', KEYS[1], untl, 'PX', tonumber(ARGV[1]) + 1000)
end
return 1
"""


@dataclass(frozen=True)
class Reservation:
    """A reserved call: when it may go, and its reservation (to correct with the real token count)."""

    wait_s: float
    member: str  # "id:tokens" as recorded


class WaitTooLongError(Exception):
    """The bucket's next free moment is further away than the caller may wait."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(f"the next free slot is {wait_s:.1f}s away")


class LlmLimitStore:
    """The buckets; thread-safe, one per process."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._reserve = client.register_script(_RESERVE)
        self._cooldown = client.register_script(_COOLDOWN)

    def reserve(
        self,
        bucket: str,
        *,
        rpm: int | None,
        tpm: int | None,
        tokens: int,
        window_s: float,
        max_wait_s: float,
        correct: tuple[str, int] | None = None,
    ) -> Reservation:
        """Reserve the earliest moment one call fits (see the module doc); raises
        :class:`WaitTooLongError` past ``max_wait_s``. ``correct`` is an earlier reservation's
        member and its real token count, applied first."""
        member = uuid.uuid4().hex
        old, real = correct if correct else ("", 0)
        admitted, wait_ms = self._reserve(
            keys=[keys.llm_bucket(bucket, part) for part in ("calls", "token-sum", "cooldown")],
            args=[int(window_s * 1000), rpm or 0, tpm or 0, max(1, tokens), member, old, max(0, real),
                  int(max_wait_s * 1000)],
        )
        if not int(admitted):
            raise WaitTooLongError(int(wait_ms) / 1000)
        want = min(max(1, tokens), tpm) if tpm else 0
        return Reservation(int(wait_ms) / 1000, f"{member}:{want}")

    def cool_down(self, bucket: str, seconds: float) -> None:
        """Every reservation of ``bucket`` starts ``seconds`` from now or later (a provider asked)."""
        self._cooldown(keys=[keys.llm_bucket(bucket, "cooldown")], args=[int(seconds * 1000)])

    def reserved(self, bucket: str) -> list[tuple[str, float]]:
        """The bucket's reservations (member, epoch seconds), oldest first: for tests and inspection."""
        raw: Any = self._redis.zrange(keys.llm_bucket(bucket, "calls"), 0, -1, withscores=True)
        return [(str(entry[0]), float(entry[1]) / 1000) for entry in raw]
