"""The fleet-wide LLM limiter's script, against a real Redis (``shared/llm_limits.py``).

Many threads reserve at once, as many workers would: no window of the configured length
ever holds more than ``rpm`` calls or ``tpm`` tokens, reservations are first come first
served, a reservation too far away is refused without being recorded, a provider's
cooldown pushes every later reservation, and a call's real token count replaces its
estimate.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from shared.llm_limits import LlmLimitStore, WaitTooLongError
from shared.redis_client import connect
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
def store(redis_client: redis.Redis) -> LlmLimitStore:
    return LlmLimitStore(connect(TEST_REDIS_URL))


def bucket() -> str:
    return f"test-model@{uuid.uuid4().hex[:8]}"


def max_in_any_window(times: list[float], window: float, weights: list[int] | None = None) -> int:
    """The most calls (or tokens) any half-open window ``(t - window, t]`` holds."""
    points = sorted(zip(times, weights or [1] * len(times), strict=True))
    best = 0
    for end, _ in points:
        best = max(best, sum(w for t, w in points if end - window < t <= end))
    return best


def reserve_in_threads(store: LlmLimitStore, name: str, count: int, **kwargs: Any) -> list[float]:
    """``count`` threads reserve at once; returns each call's reserved moment (epoch seconds)."""
    moments: list[float] = []
    lock, barrier = threading.Lock(), threading.Barrier(count)

    def one() -> None:
        barrier.wait()
        asked = time.time()
        reservation = store.reserve(name, **kwargs)
        with lock:
            moments.append(asked + reservation.wait_s)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return moments


def test_no_window_ever_holds_more_than_rpm_calls(store: LlmLimitStore) -> None:
    name = bucket()
    moments = reserve_in_threads(store, name, 40, rpm=10, tpm=None, tokens=100, window_s=2.0, max_wait_s=60)
    assert len(moments) == 40
    recorded = [t for _, t in store.reserved(name)]
    assert len(recorded) == 40
    assert max_in_any_window(recorded, 2.0) == 10  # a full first window, never more
    # 4 windows' worth, and each burst paced at a quarter of the even spacing (2 s / 10 / 4)
    assert max(recorded) - min(recorded) == pytest.approx(6.45, abs=0.05)
    assert min(b - a for a, b in itertools.pairwise(recorded)) >= 0.05 - 0.001


def test_no_window_ever_holds_more_than_tpm_tokens(store: LlmLimitStore) -> None:
    name = bucket()
    sizes = [300, 700, 100, 900, 500, 400, 200, 800]
    for size in sizes:
        store.reserve(name, rpm=None, tpm=1000, tokens=size, window_s=5.0, max_wait_s=60)
    recorded = store.reserved(name)
    times = [t for _, t in recorded]
    tokens = [int(member.rsplit(":", 1)[1]) for member, _ in recorded]
    assert sorted(tokens) == sorted(sizes)  # (calls reserved for one moment are listed by id)
    assert max_in_any_window(times, 5.0, tokens) <= 1000


def test_a_reservation_too_far_away_is_refused_and_not_recorded(store: LlmLimitStore) -> None:
    name = bucket()
    for _ in range(3):  # paced 5 s apart (60 s / 3 / 4)
        store.reserve(name, rpm=3, tpm=None, tokens=1, window_s=60, max_wait_s=20)
    with pytest.raises(WaitTooLongError) as refused:
        store.reserve(name, rpm=3, tpm=None, tokens=1, window_s=60, max_wait_s=20)
    assert refused.value.wait_s == pytest.approx(60, abs=1)
    assert len(store.reserved(name)) == 3


def test_a_providers_cooldown_delays_every_later_reservation(store: LlmLimitStore) -> None:
    limited, unlimited = bucket(), bucket()
    for name in (limited, unlimited):
        store.cool_down(name, 3.0)
        store.cool_down(name, 1.0)  # never shortens it
    assert store.reserve(limited, rpm=100, tpm=None, tokens=1, window_s=60,
                         max_wait_s=10).wait_s == pytest.approx(3.0, abs=0.2)
    assert store.reserve(unlimited, rpm=None, tpm=None, tokens=1, window_s=60,
                         max_wait_s=10).wait_s == pytest.approx(3.0, abs=0.2)
    with pytest.raises(WaitTooLongError):
        store.reserve(unlimited, rpm=None, tpm=None, tokens=1, window_s=60, max_wait_s=1)


def test_the_real_token_count_replaces_the_estimate(store: LlmLimitStore) -> None:
    name = bucket()
    first = store.reserve(name, rpm=None, tpm=1000, tokens=900, window_s=30, max_wait_s=60)
    assert first.wait_s == 0
    corrected = store.reserve(name, rpm=None, tpm=1000, tokens=500, window_s=30, max_wait_s=60,
                              correct=(first.member, 100))
    assert corrected.wait_s == 0  # 100 + 500 fit; with the estimate (900 + 500) it would have waited
    assert sorted(int(m.rsplit(":", 1)[1]) for m, _ in store.reserved(name)) == [100, 500]
