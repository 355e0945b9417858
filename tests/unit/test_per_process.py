"""The one fork rule for per-process objects: made once per process, never a parent's in a child.

Checked with a real ``os.fork`` (what Celery's prefork pool does), on the process's own objects:
the event loop thread and the lease holder's name.
"""

from __future__ import annotations

import os
import threading

import pytest

from workers.process import lease
from workers.process.event_loop_thread import get_loop
from workers.process.per_process import PerProcess


def in_child(check: object) -> int:
    """Run ``check`` (returns True when it holds) in a forked child; its exit code: 0 = held."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = 0 if check() else 2  # type: ignore[operator]
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_one_object_per_process_made_on_first_use() -> None:
    made: list[int] = []
    counter = PerProcess(lambda: made.append(1) or len(made))
    assert counter.made() is None and made == []
    assert counter.get() == counter.get() == 1
    assert counter.made() == 1


def test_a_forked_child_makes_its_own_and_the_parent_keeps_its_own() -> None:
    parent = PerProcess(lambda: (os.getpid(), object()))
    mine = parent.get()

    def child_check() -> bool:
        theirs = parent.made()
        fresh = parent.get()
        return theirs is None and fresh is not mine and fresh[0] == os.getpid()

    assert in_child(child_check) == 0
    assert parent.get() is mine


def test_a_lock_held_at_fork_does_not_hang_the_child() -> None:
    """A parent's thread inside ``get`` when the fork happens: the child's lock is a new one."""
    entered, release = threading.Event(), threading.Event()

    def slow() -> int:
        entered.set()
        release.wait(10)
        return os.getpid()

    value = PerProcess(slow)
    holder = threading.Thread(target=value.get)
    holder.start()
    assert entered.wait(10)
    try:
        assert in_child(lambda: _within(5, value.forget)) == 0  # forget() takes the lock
    finally:
        release.set()
        holder.join(10)


def test_a_dead_object_is_made_again() -> None:
    alive = {"ok": True}
    value = PerProcess(lambda: object(), alive=lambda _: alive["ok"])
    first = value.get()
    assert value.get() is first
    alive["ok"] = False
    assert value.get() is not first


@pytest.mark.timeout(60)
def test_the_event_loop_thread_and_the_lease_holder_are_per_process() -> None:
    loop, owner = get_loop(), lease.owner()
    assert loop.alive and owner.split(":")[1] == str(os.getpid())

    def child_check() -> bool:
        child_loop = get_loop()
        ran = child_loop.run(_pid(), timeout=10) == os.getpid()
        return child_loop is not loop and ran and lease.owner() != owner \
            and lease.owner().split(":")[1] == str(os.getpid())

    assert in_child(child_check) == 0
    assert get_loop() is loop and lease.owner() == owner


def _within(seconds: float, call: object) -> bool:
    """Whether ``call`` returns within ``seconds`` (in a thread: a hang fails, never blocks)."""
    done = threading.Event()

    def target() -> None:
        call()  # type: ignore[operator]
        done.set()

    threading.Thread(target=target, daemon=True).start()
    return done.wait(seconds)


async def _pid() -> int:
    return os.getpid()
