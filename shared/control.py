"""Signals to a running task over Redis pub/sub, so a run learns of them without polling.

The producer, the API and other workers publish on the task's channel (``keys.control``):

- ``stop``: a stop was requested (the stop flag is set too);
- ``watch:<expiry>``: a live viewer beat, watching until ``<expiry>`` (epoch seconds);
- ``fenced``: a newer run took the task's lease; ``gone``: the task's record was deleted.

Each worker process keeps one subscriber connection: it subscribes to the channel of each
task it runs while it runs it (two commands per task) and hands messages to the run. Nothing
here is trusted alone: a lost message (Redis restarting) is caught by the step script's reply
one step later, and ``fenced``/``gone`` only make the run ask Redis before its next action.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import redis
import redis.asyncio

from shared import keys

log = logging.getLogger(__name__)

STOP, WATCH, FENCED, GONE = "stop", "watch", "fenced", "gone"

Handler = Callable[[str], None]


def publish(
    client: redis.Redis | redis.client.Pipeline | redis.asyncio.client.Pipeline, task_id: str, signal: str
) -> None:
    """Send ``signal`` to the task's run (queued on a pipeline, sync or asyncio; or sent at once)."""
    client.publish(keys.control(task_id), signal)


def watch_signal(expires_at: float) -> str:
    return f"{WATCH}:{expires_at:.3f}"


def watched_until(signal: str) -> float | None:
    """The viewer's expiry a ``watch`` signal carries (``None`` for any other signal)."""
    kind, _, value = signal.partition(":")
    if kind != WATCH:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class ControlSignals:
    """One process's subscriber: ``follow`` a task while running it, ``drop`` it at the end.

    Subscriptions change in the listener thread only (a redis-py ``PubSub`` is not
    thread-safe), batched: one ``SUBSCRIBE`` for every task that started since the last one.
    """

    def __init__(self, client: redis.Redis, poll_s: float = 0.2) -> None:
        self._client = client
        self._poll_s = poll_s
        self._handlers: dict[str, Handler] = {}
        self._changes: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def follow(self, task_id: str, handler: Handler) -> None:
        """Call ``handler(signal)`` for every signal to ``task_id`` from now on (within ``poll_s``)."""
        channel = keys.control(task_id)
        with self._lock:
            self._handlers[channel] = handler
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="control-signals", daemon=True)
                self._thread.start()
        self._changes.put((channel, True))

    def drop(self, task_id: str) -> None:
        channel = keys.control(task_id)
        with self._lock:
            self._handlers.pop(channel, None)
        self._changes.put((channel, False))

    def _listen(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        while True:
            try:
                self._apply_changes(pubsub)
                message = pubsub.get_message(timeout=self._poll_s) if pubsub.subscribed else None
                if not pubsub.subscribed:
                    time.sleep(self._poll_s)
                if message and message.get("type") == "message":
                    self._deliver(str(message["channel"]), str(message["data"]))
            except redis.RedisError as exc:  # Redis restarting: redis-py resubscribes on reconnect
                log.warning("control signals: %s", exc)
                time.sleep(1)

    def _apply_changes(self, pubsub: redis.client.PubSub) -> None:
        wanted: dict[str, bool] = {}
        while True:
            try:
                channel, on = self._changes.get_nowait()
            except queue.Empty:
                break
            wanted[channel] = on
        subscribe = [c for c, on in wanted.items() if on]  # (again, if an unsubscribe is in flight)
        unsubscribe = [c for c, on in wanted.items() if not on and c in pubsub.channels]
        if subscribe:
            pubsub.subscribe(*subscribe)
        if unsubscribe:
            pubsub.unsubscribe(*unsubscribe)

    def _deliver(self, channel: str, signal: str) -> None:
        with self._lock:
            handler = self._handlers.get(channel)
        if handler is None:
            return
        try:
            handler(signal)
        except Exception:  # a handler's bug must not stop the signals of every other task
            log.exception("control signal %r for %s not handled", signal, channel)
