"""One API process's live viewers: a share link posted publicly must survive its crowd.

Every viewer (an open ``/live/{token}/events`` stream) costs this process a queue and a few
bytes of bookkeeping, not a Redis connection or a poll:

- **One subscription per watched task per process.** The first viewer of a task subscribes
  the process's single pub/sub connection to the task's channel; later viewers join the
  same :class:`TaskWatch`, which fans every message out in process. Frames, steps, status
  changes and the deletion of the task are *pushed* by whoever makes them
  (:mod:`shared.live_events`); nothing is polled per viewer.
- **Once per heartbeat, per process** (not per viewer): one round trip renews the heartbeats
  of all viewers of all watched tasks (the worker casts only while one is fresh), one
  checks that every held token is still valid (expiry is not pushed; revocation is, on the
  control channel, and closes viewers at once), and one re-reads every watched task's
  status and step count, in case a pub/sub message was lost. A session viewer waiting for
  the session's next task shares one check per session.
- **Caps**, counted per process: viewers per link, per client address and overall; one more
  is refused with 429 and ``Retry-After`` before its stream opens.

A slow viewer does not hold up the others: each has its own queue; frames beyond
``MAX_QUEUED_FRAMES`` waiting for it are dropped (the newest frame wins), events never.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from producer.client import Producer
from producer.errors import TaskNotFoundError
from shared import live_events
from shared.live_feed import LiveFeed
from shared.live_links import Grant
from shared.models import SessionStatus, TaskStatus, TaskView

log = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 8
MESSAGE_WAIT_S = 1.0

# What a viewer of a *public share* is shown of a task: what the page needs to show the
# session's work, not the tenant's configuration (metadata, error texts that may name an
# upstream proxy or a vault, the judge's verdict, cost and model, files, session id).
SHARE_TASK_FIELDS = ("id", "status", "task", "createdAt", "startedAt", "finishedAt", "isSuccess",
                     "output", "steps", "screenshotSteps")
SHARE_STEP_FIELDS = ("number", "url", "nextGoal", "actions", "results", "duration")


def share_task(task: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: task[k] for k in SHARE_TASK_FIELDS if k in task}
    trimmed["steps"] = [share_step(s) for s in task.get("steps") or []]
    return trimmed


def share_step(step: dict[str, Any]) -> dict[str, Any]:
    return {k: step[k] for k in SHARE_STEP_FIELDS if k in step}


def sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n"


class ViewerLimitError(Exception):
    """One viewer too many (per link, per client address or overall)."""


class _Ended:
    """A sentinel in a viewer's queue: the watched task ended (or was deleted)."""


TASK_ENDED = _Ended()


@dataclass(eq=False)
class Viewer:
    """One open event stream."""

    token: str
    grant: Grant
    client: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    inbox: asyncio.Queue[tuple[str, bool] | _Ended] = field(default_factory=asyncio.Queue)
    frames_queued: int = 0
    frames_dropped: int = 0
    closed: str | None = None  # "revoked" or "deleted" once the hub cut it off
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    released: bool = False

    @property
    def trimmed(self) -> bool:
        return self.grant.kind == "share"

    def push(self, text: str, *, frame: bool = False) -> None:
        if frame:
            if self.frames_queued >= MAX_QUEUED_FRAMES:
                self.frames_dropped += 1
                return
            self.frames_queued += 1
        self.inbox.put_nowait((text, frame))

    def end(self) -> None:
        """The watched task ended: the stream moves on (or closes)."""
        self.inbox.put_nowait(TASK_ENDED)

    def cut_off(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            self.inbox.put_nowait(TASK_ENDED)
            self.wake.set()


class TaskWatch:
    """One watched task in this process: its subscription, its latest snapshot, its viewers."""

    def __init__(self, hub: LiveHub, task_id: str) -> None:
        self.hub = hub
        self.task_id = task_id
        self.viewers: set[Viewer] = set()
        self.ready = asyncio.Event()
        self.view: dict[str, Any] | None = None  # the full snapshot (wire), None: no such task
        self.last_frame: str | None = None
        self.pending: list[dict[str, Any]] = []  # messages that came before the snapshot
        self.refreshing = False

    @property
    def status(self) -> str | None:
        return None if self.view is None else str(self.view["status"])

    @property
    def terminal(self) -> bool:
        return self.status is None or TaskStatus(self.status).terminal

    async def start(self) -> None:
        try:
            await self.hub.subscribe(self.hub.feed.task_channel(self.task_id))
            self.view = await self.hub.snapshot(self.task_id)
            if self.view is not None and not self.terminal:
                self.last_frame = await self.hub.feed.last_frame(self.task_id)
        finally:
            self.ready.set()
        pending, self.pending = self.pending, []
        for message in pending:
            await self.on_message(message)

    # -- viewers --------------------------------------------------------------
    def join(self, viewer: Viewer) -> None:
        """The snapshot, then every message from now on (no await in between: no gap, no repeat)."""
        if self.view is None:
            viewer.push(sse({"type": live_events.DELETED}))
            viewer.end()
            return
        viewer.push(sse({"type": "task", "task": self._task(viewer.trimmed)}))
        if self.terminal:
            viewer.push(sse({"type": "end", "status": self.status}))
            viewer.end()
            return
        if self.last_frame:
            viewer.push(sse(self.last_frame), frame=True)
        self.viewers.add(viewer)

    def leave(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def _task(self, trimmed: bool) -> dict[str, Any]:
        assert self.view is not None
        return share_task(self.view) if trimmed else self.view

    def _to_all(self, text: str, *, frame: bool = False) -> None:
        for viewer in self.viewers:
            viewer.push(text, frame=frame)

    def _end_all(self) -> None:
        for viewer in self.viewers:
            viewer.end()
        self.viewers.clear()

    # -- what the task's channel says -----------------------------------------
    async def on_message(self, message: dict[str, Any], raw: str | None = None) -> None:
        if not self.ready.is_set():
            self.pending.append(message)
            return
        kind = message["type"]
        if kind == live_events.FRAME:
            self.last_frame = raw or json.dumps(message)
            self._to_all(sse(self.last_frame), frame=True)
        elif kind == live_events.SEALED:
            self.last_frame = None
            self._to_all(sse(raw or message))
        elif kind == live_events.STEP:
            await self._step(message.get("step") or {})
        elif kind == live_events.STATUS:
            await self.refresh()
        elif kind == live_events.DELETED:
            self.deleted()

    async def _step(self, step: dict[str, Any]) -> None:
        if self.view is None:
            return
        steps = self.view.setdefault("steps", [])
        number = step.get("number")
        if not isinstance(number, int) or any(s.get("number") == number for s in steps[-5:]):
            return  # already in the snapshot
        steps.append(step)
        shot = await self.hub.feed.has_screenshot(self.task_id, number)
        if shot:
            self.view.setdefault("screenshotSteps", []).append(number)
        full = sse({"type": "step", "step": step, "screenshot": shot})
        trimmed = sse({"type": "step", "step": share_step(step), "screenshot": shot})
        for viewer in self.viewers:
            viewer.push(trimmed if viewer.trimmed else full)

    async def refresh(self) -> None:
        """Read the task again (a status change, or the backstop saw one); tell the viewers."""
        if self.refreshing:
            return
        self.refreshing = True
        try:
            view = await self.hub.snapshot(self.task_id)
        finally:
            self.refreshing = False
        if view is None:
            self.deleted()
            return
        self.view = view
        self._to_all_task()
        if self.terminal:
            self._to_all(sse({"type": "end", "status": self.status}))
            self._end_all()

    def _to_all_task(self) -> None:
        full = sse({"type": "task", "task": self._task(False)})
        trimmed = sse({"type": "task", "task": self._task(True)})
        for viewer in self.viewers:
            viewer.push(trimmed if viewer.trimmed else full)

    def deleted(self) -> None:
        self.view = None
        for viewer in self.viewers:
            viewer.push(sse({"type": live_events.DELETED}))
            viewer.closed = viewer.closed or "deleted"
        self._end_all()


class SessionWatch:
    """The running (else latest) task of one session, checked once per heartbeat for all of
    this process's viewers that follow the session."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.active = True
        self.followers = 0
        self.changed = asyncio.Event()
        self.checked = asyncio.Event()

    def update(self, current: str | None, active: bool) -> None:
        if (current, active) != (self.current, self.active):
            self.current, self.active = current, active
            self.changed.set()
            self.changed = asyncio.Event()
        self.checked.set()


@dataclass(frozen=True)
class Caps:
    total: int
    per_link: int
    per_client: int
    retry_after_s: int


class LiveHub:
    """The live viewers of one API process (one per app, made on the first viewer)."""

    def __init__(
        self,
        producer: Producer,
        feed: LiveFeed,
        caps: Caps,
        session_task: Callable[[Producer, str], str | None],
    ) -> None:
        self.producer = producer
        self.caps = caps
        self._session_task = session_task
        self.heartbeat_s = max(0.2, producer.settings.live_heartbeat_s)
        self.feed = feed
        self.tasks: dict[str, TaskWatch] = {}
        self.sessions: dict[str, SessionWatch] = {}
        self.viewers: set[Viewer] = set()
        self.by_token: dict[str, set[Viewer]] = {}
        self.by_client: Counter[str] = Counter()
        self._started: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._subscribed: Counter[str] = Counter()  # channel -> watches that asked for it

    # -- admission --------------------------------------------------------------
    def admit(self, token: str, grant: Grant, client: str) -> Viewer:
        """Count one more viewer, or refuse it (:class:`ViewerLimitError`)."""
        caps = self.caps
        link = live_events.token_id(token)
        if caps.total and len(self.viewers) >= caps.total:
            raise ViewerLimitError("This server has as many live viewers as it serves; try again later")
        if caps.per_link and len(self.by_token.get(link, ())) >= caps.per_link:
            raise ViewerLimitError("This live link has as many viewers as it may have; try again later")
        if caps.per_client and self.by_client[client] >= caps.per_client:
            raise ViewerLimitError("Too many live viewers from your address; close one and try again")
        viewer = Viewer(token, grant, client)
        self.viewers.add(viewer)
        self.by_token.setdefault(link, set()).add(viewer)
        self.by_client[client] += 1
        return viewer

    def release(self, viewer: Viewer) -> None:
        """Forget a viewer (idempotent: the stream's end and the response's end both call it)."""
        if viewer.released:
            return
        viewer.released = True
        self.viewers.discard(viewer)
        link = live_events.token_id(viewer.token)
        holders = self.by_token.get(link)
        if holders is not None:
            holders.discard(viewer)
            if not holders:
                del self.by_token[link]
        self.by_client[viewer.client] -= 1
        if self.by_client[viewer.client] <= 0:
            del self.by_client[viewer.client]

    # -- the streams ------------------------------------------------------------
    async def stream(
        self, viewer: Viewer, task_id: str | None, *, follow_session: bool
    ) -> AsyncIterator[str]:
        """A viewer's events: ``hello``, then the task (or the session's tasks one after another)."""
        try:
            await self.start()
            yield sse({"type": "hello", "kind": viewer.grant.kind, "heartbeatS": self.heartbeat_s})
            if task_id is None:
                yield sse({"type": "waiting"})
                task_id = await self._next_task(viewer, None)
            while task_id is not None and viewer.closed is None:
                async for text in self._follow(viewer, task_id):
                    yield text
                if not follow_session or viewer.closed is not None:
                    break
                task_id = await self._next_task(viewer, task_id)
            if viewer.closed == "revoked":
                yield sse({"type": live_events.REVOKED})
            elif viewer.closed is None:
                yield sse({"type": "closed"})  # nothing more will come: the page stops reconnecting
        finally:
            self.release(viewer)

    async def _follow(self, viewer: Viewer, task_id: str) -> AsyncIterator[str]:
        watch = self.tasks.get(task_id)
        if watch is None:
            watch = self.tasks[task_id] = TaskWatch(self, task_id)
            self._spawn(watch.start())
        try:
            await watch.ready.wait()
            watch.join(viewer)
            if len(watch.viewers) == 1:  # the first here: the worker starts casting now, not at the next beat
                await self.feed.beat({task_id: [viewer.id]}, self.heartbeat_s * 3)
            while True:
                item = await viewer.inbox.get()
                if isinstance(item, _Ended):
                    return
                text, frame = item
                if frame:
                    viewer.frames_queued -= 1
                yield text
        finally:
            watch.leave(viewer)
            viewer.inbox = asyncio.Queue()
            viewer.frames_queued = 0
            with contextlib.suppress(Exception):
                await asyncio.shield(self.feed.leave(task_id, viewer.id))
            if not watch.viewers and self.tasks.get(task_id) is watch:
                del self.tasks[task_id]
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._drop(watch))

    async def subscribe(self, channel: str) -> None:
        """Subscribe the process's connection to ``channel`` (counted: a watch dropped while a
        new one for the same task starts must not unsubscribe the new one)."""
        self._subscribed[channel] += 1
        if self._subscribed[channel] == 1:
            await self.feed.subscribe(channel)

    async def _drop(self, watch: TaskWatch) -> None:
        """Unsubscribe a watch nobody watches any more, once its own subscribe has happened."""
        await asyncio.wait_for(watch.ready.wait(), 30)
        channel = self.feed.task_channel(watch.task_id)
        self._subscribed[channel] -= 1
        if self._subscribed[channel] <= 0:
            del self._subscribed[channel]
            await self.feed.unsubscribe(channel)

    async def _next_task(self, viewer: Viewer, after: str | None) -> str | None:
        """Wait for the session's next task (running or latest, not ``after``); ``None``: it stopped."""
        sid = viewer.grant.id
        watch = self.sessions.setdefault(sid, SessionWatch())
        watch.followers += 1
        try:
            if not watch.checked.is_set():
                await self._check_session(sid, watch)
            while viewer.closed is None:
                if watch.current is not None and watch.current != after:
                    return watch.current
                if not watch.active:
                    return None
                changed = asyncio.ensure_future(watch.changed.wait())
                woken = asyncio.ensure_future(viewer.wake.wait())
                try:
                    await asyncio.wait({changed, woken}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                    woken.cancel()
            return None
        finally:
            watch.followers -= 1
            if watch.followers <= 0 and self.sessions.get(sid) is watch:
                del self.sessions[sid]

    async def _check_session(self, sid: str, watch: SessionWatch) -> None:
        try:
            current = await asyncio.to_thread(self._session_task, self.producer, sid)
            session = await asyncio.to_thread(self.producer.stores.sessions.load, sid)
        except Exception as exc:
            log.debug("live: session %s not readable: %s", sid, exc)
            current, session = None, None
        watch.update(current, session is not None and session.status == SessionStatus.active)

    # -- the process's loops --------------------------------------------------
    async def start(self) -> None:
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.feed.subscribe(self.feed.CONTROL)
        self._loops = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._tick())]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)

    async def _read(self) -> None:
        """The one reader of the process's pub/sub connection: fan each message out."""
        while True:
            try:
                found = await self.feed.next_message(MESSAGE_WAIT_S)
            except Exception as exc:
                log.warning("live: pub/sub read failed: %s", exc)
                await asyncio.sleep(MESSAGE_WAIT_S)
                continue
            if found is None:
                continue
            channel, raw = found
            message = live_events.parse(raw)
            if message is None:
                continue
            if channel == self.feed.CONTROL:
                if message["type"] == live_events.REVOKED:
                    self._revoke(set(message.get("tokens") or []))
                continue
            task_id = self.feed.task_of(channel)
            watch = self.tasks.get(task_id)
            if watch is not None:
                try:
                    await watch.on_message(message, raw)
                except Exception:
                    log.exception("live: message for task %s not passed on", task_id)

    def _revoke(self, token_ids: set[str]) -> None:
        for link in token_ids:
            for viewer in list(self.by_token.get(link, ())):
                viewer.cut_off("revoked")

    async def _tick(self) -> None:
        """Once per heartbeat, for the whole process: heartbeats, tokens, the backstop."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._tick_once()
            except Exception as exc:
                log.warning("live: heartbeat failed: %s", exc)

    async def _tick_once(self) -> None:
        watches = {tid: w for tid, w in self.tasks.items() if w.ready.is_set() and w.viewers}
        await self.feed.beat({tid: [v.id for v in w.viewers] for tid, w in watches.items()},
                                 self.heartbeat_s * 3)
        holders = {live_events.token_id(v.token): v.token for v in self.viewers}
        grants = await self.feed.grants(list(holders.values()))
        self._revoke({link for link, grant in zip(holders, grants, strict=True) if grant is None})
        if watches:
            progress = await self.feed.progress(list(watches))
            for tid, (status, steps) in progress.items():
                watch = watches[tid]
                if status is None:
                    watch.deleted()
                elif status != watch.status:
                    await watch.refresh()
                elif watch.view is not None and steps > len(watch.view.get("steps") or []):
                    for step in await self.feed.steps(tid, len(watch.view.get("steps") or [])):
                        await watch.on_message({"type": live_events.STEP, "step": step})
        for sid, session in list(self.sessions.items()):
            await self._check_session(sid, session)

    async def snapshot(self, task_id: str) -> dict[str, Any] | None:
        """The task's full view as the page shows it (``None``: no such task)."""
        try:
            view: TaskView = await asyncio.to_thread(self.producer.get_task, task_id)
        except TaskNotFoundError:
            return None
        data = view.wire()
        data["screenshotSteps"] = await asyncio.to_thread(
            self.producer.store.step_screenshot_numbers, task_id
        )
        return data


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live: %s", task.exception())
