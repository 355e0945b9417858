"""Objects a worker process owns alone, and the one rule for them across ``fork``.

A Celery worker may fork its pool's children after the parent imported our modules and made
some objects (a Redis client, an event loop thread, lookup threads, a browser pool). A child
must never use its parent's: the threads did not survive the fork, and sockets, locks and
Chromium would be shared by two processes. So every such object is a :class:`PerProcess`: made
on first use in each process, forgotten in a child right after ``fork`` (``os.register_at_fork``;
the lock too, as a parent's thread may have held it at that moment), and remade if ``alive``
says the one at hand died (a loop that was stopped).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_instances: weakref.WeakSet[PerProcess[object]] = weakref.WeakSet()


class PerProcess(Generic[T]):
    """This process's ``T``, made by ``make`` on first use (thread-safe, once per process)."""

    def __init__(self, make: Callable[[], T], alive: Callable[[T], bool] | None = None) -> None:
        self._make, self._alive = make, alive
        self._value: T | None = None
        self._lock = threading.Lock()
        _instances.add(self)  # type: ignore[arg-type]

    def get(self) -> T:
        value = self._value  # the common case, without the lock: made already and alive
        if value is not None and (self._alive is None or self._alive(value)):
            return value
        with self._lock:
            if self._value is None or (self._alive is not None and not self._alive(self._value)):
                self._value = self._make()
            return self._value

    def made(self) -> T | None:
        """The object if this process made it already, else ``None`` (never makes one)."""
        return self._value

    def forget(self) -> T | None:
        """Drop this process's object (the next ``get`` makes a new one) and return it, if any."""
        with self._lock:
            value, self._value = self._value, None
            return value

    def _after_fork(self) -> None:
        self._value, self._lock = None, threading.Lock()


def _forget_all_in_child() -> None:
    for instance in list(_instances):
        instance._after_fork()


os.register_at_fork(after_in_child=_forget_all_in_child)
