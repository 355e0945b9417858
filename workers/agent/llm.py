"""The one place that talks to LLM providers (through litellm), with bounded retries.

Transient faults (timeouts, 429, 5xx, connection errors) are retried with
exponential backoff; permanent ones (bad key, unknown model, bad request) are not.
A provider's 429 is retried no sooner than its ``Retry-After``, and with a fleet-wide
limiter (:mod:`workers.agent.limiter`) every worker's calls to that model wait it out too;
each attempt first waits for its slot in the model's fleet-wide rate limit.
Either way, what escapes is :class:`LLMUnavailableError` with a readable reason.
Cost and tokens of every call are summed on the client.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType
from typing import Any

from workers.agent.limiter import ModelLimiter, RateLimitWaitError
from workers.process import worker_metrics
from workers.process.per_process import PerProcess
from workers.process.watchdog import Progress

log = logging.getLogger(__name__)

def _import_litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    return litellm


_litellm: PerProcess[ModuleType] = PerProcess(_import_litellm)


def configure() -> ModuleType:
    """Import and set up litellm once per process (workers call it at start; importing this
    module changes nothing). On a closed network litellm must read its bundled price map:
    it fetches one at import time unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is set first."""
    return _litellm.get()


async def warm_up(model: str) -> None:
    """One offline completion (litellm's ``mock_response``: no request leaves the process), so a
    worker's first real call does not pay litellm's first-call set-up (~0.2 s, seconds on a busy
    machine): a call sent late could land outside the fleet-wide limiter's slot."""
    try:
        await configure().acompletion(model=model, messages=[{"role": "user", "content": "warm-up"}],
                                      mock_response="ok")
    except Exception as exc:  # only a warm-up: the first real call pays instead
        log.info("litellm warm-up skipped: %s", exc)


def _transient() -> tuple[type[BaseException], ...]:
    """Faults worth a retry: timeouts, 429, 5xx, connection errors."""
    lib = configure()
    return (lib.Timeout, lib.RateLimitError, lib.APIConnectionError, lib.InternalServerError,
            lib.ServiceUnavailableError, lib.BadGatewayError, asyncio.TimeoutError)


class LLMUnavailableError(RuntimeError):
    """The provider could not answer, even after retries."""


@dataclass
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    cost: Decimal


@dataclass
class LLMClient:
    """litellm ``acompletion`` for one model, with retries and cost accounting."""

    model: str
    timeout_s: float = 90.0
    max_retries: int = 3
    backoff_s: float = 1.0
    reasoning_effort: str | None = None
    limiter: ModelLimiter | None = None  # the model's fleet-wide rate limit (None: none at all)
    max_retry_after_s: float = 300.0  # a provider's Retry-After longer than this is capped
    cost: Decimal = field(default=Decimal(0))
    progress: Progress | None = None  # the run's watchdog beat: a model call in flight is progress

    @property
    def supports_vision(self) -> bool:
        try:
            return bool(configure().supports_vision(self.model))
        except Exception:  # litellm raises for models it does not know
            return False

    @property
    def supports_json_mode(self) -> bool:
        try:
            params = configure().get_supported_openai_params(model=self.model) or []
        except Exception:
            return False
        return "response_format" in params

    async def complete(self, messages: list[dict[str, Any]], json_mode: bool = True) -> Reply:
        """One completion; retried on transient faults, else :class:`LLMUnavailableError`."""
        kwargs: dict[str, Any] = {"timeout": self.timeout_s, "num_retries": 0}
        if json_mode and self.supports_json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if self.reasoning_effort:
            kwargs["reasoning_effort"] = self.reasoning_effort
        delay = self.backoff_s
        started = time.monotonic()
        try:
            with self.progress.model_call() if self.progress is not None else nullcontext():
                reply = await self._with_retries(messages, kwargs, delay)
        except LLMUnavailableError:
            worker_metrics.LLM_FAILURES.labels(model=self.model).inc()
            raise
        worker_metrics.LLM_LATENCY.labels(model=self.model).observe(time.monotonic() - started)
        return reply

    async def _with_retries(
        self, messages: list[dict[str, Any]], kwargs: dict[str, Any], delay: float
    ) -> Reply:
        transient = _transient()
        for attempt in range(self.max_retries + 1):
            try:
                if self.limiter is not None:
                    await self.limiter.acquire(messages)
                response = await asyncio.wait_for(
                    configure().acompletion(model=self.model, messages=messages, **kwargs),
                    timeout=self.timeout_s + 5,
                )
                return self._account(response)
            except RateLimitWaitError as exc:
                raise LLMUnavailableError(f"LLM {self.model}: {exc}") from exc
            except transient as exc:
                if attempt == self.max_retries:
                    raise LLMUnavailableError(
                        f"LLM {self.model} failed {attempt + 1} times: {_describe(exc)}"
                    ) from exc
                wait = delay
                if isinstance(exc, configure().RateLimitError):
                    asked = retry_after_s(exc)
                    wait = min(self.max_retry_after_s, max(delay, asked or 0.0))
                    if self.limiter is not None:  # every worker's next call to this model waits too
                        await self.limiter.provider_limited(wait)
                        wait = 0.0  # the next acquire waits for the cooldown
                log.warning("LLM %s attempt %d failed (%s); retry in %.1fs",
                            self.model, attempt + 1, _describe(exc), wait or delay)
                await asyncio.sleep(wait)
                delay *= 2
            except Exception as exc:  # the provider boundary: every other fault is permanent
                raise LLMUnavailableError(f"LLM {self.model} refused the request: {_describe(exc)}") from exc
        raise AssertionError("unreachable")

    def _account(self, response: Any) -> Reply:
        usage = getattr(response, "usage", None)
        cost = Decimal(0)
        try:
            raw = (getattr(response, "_hidden_params", {}) or {}).get("response_cost")
            if raw is None:
                raw = configure().completion_cost(completion_response=response)
            cost = Decimal(str(raw or 0))
        except Exception:  # unknown price: count tokens, not money
            cost = Decimal(0)
        self.cost += cost
        reply = Reply(
            text=response.choices[0].message.content or "",
            input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost=cost,
        )
        if self.limiter is not None:
            self.limiter.used(reply.input_tokens + reply.output_tokens)
        worker_metrics.LLM_TOKENS.labels(model=self.model, direction="input").inc(reply.input_tokens)
        worker_metrics.LLM_TOKENS.labels(model=self.model, direction="output").inc(reply.output_tokens)
        worker_metrics.LLM_COST.labels(model=self.model).inc(float(cost))
        return reply


def retry_after_s(exc: BaseException) -> float | None:
    """The wait a provider's 429 asked for (``retry-after-ms``, ``retry-after`` in seconds or as an
    HTTP date), from the response headers litellm keeps on the error; None when it gave none."""
    headers: Mapping[str, str] | None = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        raw = lowered.get("retry-after")
        if raw is None:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            when = email.utils.parsedate_to_datetime(raw)
            return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
