"""Waiting for a model's fleet-wide rate limit before each LLM call (see ``shared.llm_limits``).

Every LLM call of the fleet (agent steps, ``extract``, judges) reserves its moment in its
model's bucket: one script call, then a sleep until the reserved moment (counted in
``browserfleet_llm_limiter_waits_total`` / ``_wait_seconds``). Buckets are per litellm model
and per provider credentials (a fingerprint of the provider's key and base URL variables),
so two fleets or two accounts with their own keys never share one. Models without a
configured limit still get a bucket: a provider's 429 pauses every worker's calls to it for
its ``Retry-After``.

A call leaves a worker a little after its reserved moment, and the provider counts arrivals:
so the bucket's window is the configured one plus a margin (5%, at least 1 s), and a call that
wakes up later than its moment plus that margin (a starved process, a slow thread hop) does not
go: it reserves again (``browserfleet_llm_limiter_late_total``). Calls then reach the provider
within the margin after their reserved moments, and no window of the configured length at the
provider holds more than the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.limits import LlmLimit
from shared.llm_limits import LlmLimitStore, Reservation, WaitTooLongError
from shared.llms import model_table
from shared.settings import get_settings
from workers.process import worker_metrics
from workers.process.objects import stores
from workers.process.per_process import PerProcess

OUTPUT_TOKENS_GUESS = 500  # reserved for the answer until the provider says what it used
IMAGE_TOKENS_GUESS = 1000
MARGIN = 0.05
MIN_MARGIN_S = 1.0


class RateLimitWaitError(RuntimeError):
    """The model's fleet-wide limit would have made the call wait longer than allowed."""


def credentials_fingerprint(model: str, environ: Mapping[str, str] = os.environ) -> str:
    """Which provider credentials ``model`` is called with (a hash: the key itself never leaves)."""
    provider = (model.split("/", 1)[0] if "/" in model else "openai").upper().replace("-", "_")
    names = (f"{provider}_API_KEY", f"{provider}_API_BASE", f"{provider}_BASE_URL")
    material = "\n".join(environ.get(name, "") for name in names)
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A call's tokens before the provider counts them: ~4 characters a token, images flat."""
    chars, images = 0, 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    chars += len(str(part.get("text", "")))
                else:
                    images += 1
    return chars // 4 + images * IMAGE_TOKENS_GUESS + OUTPUT_TOKENS_GUESS


def limits_by_model(
    configured: Mapping[str, LlmLimit], default_model: str, models: Mapping[str, str]
) -> dict[str, LlmLimit]:
    """``BROWSERFLEET_LLM_LIMITS`` keyed by litellm id (a key is a wire name or a litellm id;
    two names of one model keep the stricter of each limit)."""
    table = model_table(default_model, models)
    out: dict[str, LlmLimit] = {}
    for name, limit in configured.items():
        model = table.get(name, name)
        seen = out.get(model)
        if seen is not None:
            limit = LlmLimit(rpm=_min(seen.rpm, limit.rpm), tpm=_min(seen.tpm, limit.tpm))
        out[model] = limit
    return out


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


@dataclass
class ModelLimiter:
    """One client's view of its model's bucket (keeps its last reservation to correct)."""

    store: LlmLimitStore
    model: str
    bucket: str
    limit: LlmLimit
    window_s: float
    margin_s: float
    max_wait_s: float
    _last: str | None = field(default=None, repr=False)  # the last reservation (tpm buckets)
    _real: int | None = field(default=None, repr=False)  # its tokens as the provider counted them

    async def acquire(self, messages: list[dict[str, Any]]) -> None:
        """Reserve this call's moment and sleep until it; :class:`RateLimitWaitError` past the bound.

        Woken later than the moment plus the margin, it reserves again rather than send late.
        """
        tokens, waited = estimate_tokens(messages), 0.0
        started = time.monotonic()
        while True:
            asked = time.monotonic()
            reservation = await self._reserve(tokens, started)
            if reservation.wait_s > 0:
                await asyncio.sleep(reservation.wait_s)
            # the moment was at the latest ``asked + wait_s`` (Redis ran the script after ``asked``)
            late = time.monotonic() - (asked + reservation.wait_s)
            waited = time.monotonic() - started
            if late <= self.margin_s or not self.limited:
                break
            worker_metrics.LLM_LIMIT_LATE.labels(model=self.model).inc()
        if waited > 0.05:
            worker_metrics.LLM_LIMIT_WAITS.labels(model=self.model).inc()
            worker_metrics.LLM_LIMIT_WAIT_SECONDS.labels(model=self.model).observe(waited)

    @property
    def limited(self) -> bool:
        return bool(self.limit.rpm or self.limit.tpm)

    async def _reserve(self, tokens: int, started: float) -> Reservation:
        correct = (self._last, self._real) if self._last and self._real is not None else None
        self._last = self._real = None
        budget = max(0.0, self.max_wait_s - (time.monotonic() - started))
        try:
            reservation = await asyncio.to_thread(
                self.store.reserve, self.bucket, rpm=self.limit.rpm, tpm=self.limit.tpm, tokens=tokens,
                window_s=self.window_s + self.margin_s, max_wait_s=budget, correct=correct,
            )
        except WaitTooLongError as exc:
            worker_metrics.LLM_LIMIT_REFUSALS.labels(model=self.model).inc()
            raise RateLimitWaitError(
                f"the fleet-wide rate limit of {self.model} has no free slot for {exc.wait_s:.0f}s "
                f"(BROWSERFLEET_LLM_LIMIT_MAX_WAIT_S={self.max_wait_s:g})"
            ) from None
        self._last = reservation.member if self.limit.tpm else None
        return reservation

    def used(self, tokens: int) -> None:
        """The provider's count for the last call: corrects its reservation at the next acquire."""
        self._real = tokens

    async def provider_limited(self, seconds: float) -> None:
        """A provider's 429: every worker's calls to this bucket wait ``seconds`` from now."""
        worker_metrics.LLM_PROVIDER_LIMITED.labels(model=self.model).inc()
        await asyncio.to_thread(self.store.cool_down, self.bucket, seconds)


class FleetLimits:
    """The process's configured limits; makes a :class:`ModelLimiter` per LLM client."""

    def __init__(
        self,
        store: LlmLimitStore,
        limits: Mapping[str, LlmLimit],
        window_s: float,
        max_wait_s: float,
    ) -> None:
        self.store = store
        self.limits = dict(limits)
        self.window_s = window_s
        self.margin_s = max(MIN_MARGIN_S, MARGIN * window_s)
        self.max_wait_s = max_wait_s

    def for_model(self, model: str) -> ModelLimiter:
        bucket = f"{model}@{credentials_fingerprint(model)}"
        return ModelLimiter(self.store, model, bucket, self.limits.get(model, LlmLimit()), self.window_s,
                            self.margin_s, self.max_wait_s)


def _fleet_limits() -> FleetLimits:
    s = get_settings()
    configured = limits_by_model(s.llm_limits, s.default_model, s.models)
    return FleetLimits(stores().llm_limits, configured, s.llm_limit_window_s, s.llm_limit_max_wait_s)


_limits: PerProcess[FleetLimits] = PerProcess(_fleet_limits)


def limiter_for(model: str) -> ModelLimiter:
    """A client's view of ``model``'s fleet-wide rate limit (``BROWSERFLEET_LLM_LIMITS``)."""
    return _limits.get().for_model(model)
