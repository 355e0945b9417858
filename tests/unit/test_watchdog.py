"""The watchdog ends a run without progress or past its budget, and never a healthy one."""

from __future__ import annotations

import time
from concurrent.futures import CancelledError, Future

import pytest

from shared.settings import Settings
from workers.process.watchdog import OVERRUN, STALLED, Progress, Watchdog


def _watch(dog: Watchdog, progress: Progress, budget_s: float = 100.0) -> tuple[Future[str], object]:
    future: Future[str] = Future()
    return future, dog.watch("t-1", progress, future, budget_s)


def test_a_run_without_progress_is_ended_and_its_waiter_freed() -> None:
    dog = Watchdog(stall_s=5, interval_s=3600)  # rounds driven by the test
    progress = Progress()
    progress.beat("opening its browser context")
    future, watch = _watch(dog, progress)
    assert dog.check(now=progress.last + 4.9) == []
    assert not future.cancelled()
    assert dog.check(now=progress.last + 5.1) == [watch]
    assert future.cancelled()
    with pytest.raises(CancelledError):
        future.result(timeout=0)
    assert watch.verdict == STALLED  # type: ignore[attr-defined]
    assert "no progress for 5s while opening its browser context" in watch.reason  # type: ignore[attr-defined]


def test_each_beat_restarts_the_clock() -> None:
    dog = Watchdog(stall_s=5, interval_s=3600)
    progress = Progress()
    future, _ = _watch(dog, progress)
    for _ in range(3):
        time.sleep(0.01)
        progress.beat()
        assert dog.check(now=progress.last + 4) == []
    assert not future.cancelled()


def test_a_model_call_in_flight_is_not_a_stall() -> None:
    """The model call has its own timeout: a slow model is not a stuck browser."""
    dog = Watchdog(stall_s=5, interval_s=3600)
    progress = Progress()
    future, _ = _watch(dog, progress)
    with progress.model_call():
        assert dog.check(now=progress.last + 60) == []
    assert not future.cancelled()
    assert progress.calls == 0
    assert dog.check(now=progress.last + 6) != []  # after the call, the clock runs again


def test_a_run_past_its_budget_is_ended_even_while_busy() -> None:
    dog = Watchdog(stall_s=5, interval_s=3600)
    progress = Progress()
    future, watch = _watch(dog, progress, budget_s=10)
    with progress.model_call():
        assert dog.check(now=time.monotonic() + 11) == [watch]
    assert watch.verdict == OVERRUN  # type: ignore[attr-defined]
    assert future.cancelled()


def test_a_run_that_finished_meanwhile_keeps_its_outcome() -> None:
    """The race between the verdict and the run's own end: the end wins, nothing is cancelled."""
    dog = Watchdog(stall_s=5, interval_s=3600)
    progress = Progress()
    future, watch = _watch(dog, progress)
    future.set_result("finished")
    assert dog.check(now=progress.last + 60) == []
    assert watch.verdict is None  # type: ignore[attr-defined]
    assert future.result() == "finished"


def test_the_stall_hook_runs_before_the_cancel() -> None:
    """The stalled run's browser is distrusted before the retry can be enqueued."""
    dog = Watchdog(stall_s=5, interval_s=3600)
    progress = Progress()
    seen: list[bool] = []
    future, _ = _watch(dog, progress)
    progress.on_stall = lambda: seen.append(future.cancelled())
    dog.check(now=progress.last + 6)
    assert seen == [False] and future.cancelled()


def test_unwatched_runs_are_left_alone() -> None:
    dog = Watchdog(stall_s=5, interval_s=3600)
    progress = Progress()
    future, watch = _watch(dog, progress)
    dog.unwatch(watch)  # type: ignore[arg-type]
    assert dog.check(now=progress.last + 60) == [] and not future.cancelled()


def test_the_thread_ends_a_stalled_run_by_itself() -> None:
    dog = Watchdog(stall_s=0.3, interval_s=0.05)
    future, watch = _watch(dog, Progress())
    with pytest.raises(CancelledError):
        future.result(timeout=5)
    assert watch.verdict == STALLED  # type: ignore[attr-defined]


@pytest.mark.parametrize("update, bad", [
    ({"stall_timeout_s": 20, "browser_setup_timeout_s": 30}, "browser_setup_timeout_s"),
    ({"stall_timeout_s": 20, "browser_setup_timeout_s": 10, "action_timeout_s": 15}, "action_timeout_s"),
    ({"stall_timeout_s": 8, "screenshot_timeout_s": 5, "browser_setup_timeout_s": 5,
      "action_timeout_s": 3}, "screenshot_timeout_s"),
])
def test_the_stall_timeout_must_outwait_every_bounded_browser_call(
    update: dict[str, float], bad: str
) -> None:
    with pytest.raises(ValueError, match=bad):
        Settings(**update)  # type: ignore[arg-type]


def test_the_defaults_nest() -> None:
    s = Settings()
    bounded = (s.browser_setup_timeout_s, 2 * s.action_timeout_s, 2 * s.screenshot_timeout_s)
    assert s.stall_timeout_s > max(bounded)
