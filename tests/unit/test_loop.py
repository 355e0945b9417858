"""The worker's event loop thread: results back to the caller, store calls not queued."""

from __future__ import annotations

import asyncio
import threading

from workers.process.event_loop_thread import EventLoopThread, io_threads_for


def test_coroutines_run_on_the_loop_thread_and_their_results_come_back() -> None:
    loop = EventLoopThread(io_threads=4)
    try:

        async def where() -> str:
            return threading.current_thread().name

        assert loop.run(where(), timeout=10) == "browserfleet-loop"
    finally:
        loop.stop()


def test_as_many_blocking_calls_run_at_once_as_the_executor_has_threads() -> None:
    """32 tasks' stop checks must not queue behind asyncio's default six threads: with
    ``io_threads`` threads, that many blocking calls are in flight together."""
    threads = io_threads_for(32)
    assert threads >= 64 and io_threads_for(1) >= 16
    loop = EventLoopThread(io_threads=threads)
    barrier = threading.Barrier(threads, timeout=20)
    try:

        async def all_at_once() -> list[int]:
            return await asyncio.gather(*(asyncio.to_thread(barrier.wait) for _ in range(threads)))

        assert sorted(loop.run(all_at_once(), timeout=30)) == list(range(threads))
    finally:
        loop.stop()
