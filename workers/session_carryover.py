"""What a task inherits from its session, and what it leaves to the next one.

Tasks of one session may run on any worker process, so nothing stays in a browser
between them: at the end of each task the context's cookies and local storage
(Playwright's ``storage_state``) and the last URL are saved in Redis, and the next
task of the session opens a fresh context from them. They are credentials, so they
rest encrypted (:mod:`shared.crypto`, ``BROWSERFLEET_SECRETS_KEY``) and expire with
the session's idle timeout; without a key nothing is saved (tasks start logged out).
With ``persistMemory`` the agent also gets a short summary of the earlier tasks.
A session started from a profile (:mod:`shared.profiles`) begins with the profile's
state, and each of its tasks writes its end state back to the profile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from shared import crypto, keys
from shared.models import SessionStatus
from shared.profiles import ProfileStore, cookie_domains
from shared.session_store import SessionRecord, SessionStore
from shared.settings import Settings
from shared.task_store import TaskRecord, TaskStore
from workers.browser.tabs import BrowserTabs

log = logging.getLogger(__name__)

MEMORY_TASKS = 5  # earlier tasks summarised for the agent
_TASK_CHARS, _OUTPUT_CHARS = 300, 400

# KEYS[1] session hash, KEYS[2] state key. ARGV: token, ttl. Never revive a stopped session's state.
_SAVE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
"""


@dataclass
class CarryOver:
    """The session's gifts to a starting task, and where to leave its own state."""

    session_id: str = ""
    storage_state: dict[str, Any] | None = None
    resume_url: str | None = None
    memory: str = ""
    viewport: dict[str, int] | None = None
    keep_state: bool = False
    secrets_key: str | None = field(default=None, repr=False)
    ttl_s: int = 0
    redis: Any = field(default=None, repr=False)
    profile_id: str | None = None  # the profile this session started from, written back at the end
    record: bool = False  # enableRecording: the task's pages are recorded (workers.browser.recording)

    async def save(self, context: BrowserContext, browser: BrowserTabs) -> None:
        """Save cookies, storage and the current URL for the session's next task, and
        the cookies and storage for its profile (best effort)."""
        if not (self.keep_state or self.profile_id):
            return
        try:
            state = await context.storage_state()
            url = (await browser.page()).url
        except PlaywrightError as exc:
            log.warning("session %s: browser state not saved: %s", self.session_id, exc.message)
            return
        if self.profile_id:
            await asyncio.to_thread(self._save_profile, dict(state))
        if not self.keep_state:
            return
        data = {"storage_state": state, "url": url if url.startswith(("http://", "https://")) else None}
        token = crypto.encrypt_json(data, self.secrets_key)
        sid = self.session_id
        await asyncio.to_thread(
            self.redis.eval, _SAVE, 2, keys.session(sid), keys.session_state(sid), token, self.ttl_s
        )

    def _save_profile(self, state: dict[str, Any]) -> None:
        assert self.profile_id is not None
        token = crypto.encrypt_json(state, self.secrets_key)
        version = ProfileStore(self.redis).save_state(self.profile_id, token, cookie_domains(state))
        if version:
            log.info("session %s: profile %s saved (version %d)", self.session_id, self.profile_id, version)
        else:
            log.info("session %s: profile %s is gone; state not saved", self.session_id, self.profile_id)


def sessions(tasks: TaskStore, settings: Settings) -> SessionStore:
    return SessionStore(tasks.redis, settings.record_ttl_s, settings.session_idle_timeout_s)


def load(record: TaskRecord, tasks: TaskStore, settings: Settings) -> CarryOver:
    """What the task inherits from its session (nothing for a one-off session)."""
    sid = str(record.session_id)
    session = sessions(tasks, settings).load(sid)
    if session is None:
        return CarryOver(session_id=sid)
    if session.one_off:
        start = CarryOver(session_id=sid, record=session.enable_recording)
        return _from_profile(start, session, tasks, settings)
    start = CarryOver(
        session_id=sid,
        viewport=_viewport(session, settings),
        keep_state=session.keep_alive and session.status == SessionStatus.active,
        secrets_key=settings.secrets_key,
        ttl_s=settings.session_idle_timeout_s or settings.record_ttl_s,
        redis=tasks.redis,
        record=session.enable_recording,
    )
    if start.keep_state and not settings.secrets_key:
        log.warning("session %s: no BROWSERFLEET_SECRETS_KEY: browser state is not kept between tasks", sid)
        start.keep_state = False
    saved = _saved_state(tasks, sid, settings.secrets_key)
    start.storage_state = saved.get("storage_state")
    start.resume_url = saved.get("url") or session.start_url
    if session.persist_memory:
        start.memory = summarise(tasks, sessions(tasks, settings).task_ids(sid), str(record.id))
    return _from_profile(start, session, tasks, settings)


def _from_profile(
    start: CarryOver, session: SessionRecord, tasks: TaskStore, settings: Settings
) -> CarryOver:
    """A session's first task starts from its profile's state; every task writes it back at its end."""
    if session.profile_id is None:
        return start
    pid = str(session.profile_id)
    if not settings.secrets_key:
        log.warning("session %s: no BROWSERFLEET_SECRETS_KEY: profile %s is not used", start.session_id, pid)
        return start
    start.profile_id, start.secrets_key, start.redis = pid, settings.secrets_key, tasks.redis
    if start.storage_state is None:
        token = ProfileStore(tasks.redis).state_token(pid)
        state = _decrypt(token, settings.secrets_key, f"profile {pid}") if token else None
        start.storage_state = state if isinstance(state, dict) else None
    return start


def task_ended(tasks: TaskStore, settings: Settings, task_id: str) -> None:
    """Free the task's session for its next task; a one-off session stops here."""
    record = tasks.load(task_id)
    if record is not None:
        sessions(tasks, settings).release(str(record.session_id), task_id)


def summarise(tasks: TaskStore, task_ids: list[str], current: str) -> str:
    """A short account of the session's earlier tasks, oldest first, for the agent's prompt."""
    earlier = [t for t in tasks.load_many([i for i in task_ids if i != current]) if t.status.terminal]
    lines = []
    for number, task in enumerate(earlier[-MEMORY_TASKS:], start=max(1, len(earlier) - MEMORY_TASKS + 1)):
        outcome = task.status.value + ("" if task.is_success is None else f", success={task.is_success}")
        line = f"{number}. task: {_clip(task.task, _TASK_CHARS)}\n   outcome: {outcome}"
        if task.output:
            line += f"\n   output: {_clip(task.output, _OUTPUT_CHARS)}"
        elif task.error:
            line += f"\n   reason: {_clip(task.error, _OUTPUT_CHARS)}"
        lines.append(line)
    return "\n".join(lines)


def _saved_state(tasks: TaskStore, session_id: str, key: str | None) -> dict[str, Any]:
    token = tasks.redis.get(keys.session_state(session_id))
    if not token or not key:
        return {}
    data = _decrypt(str(token), key, f"session {session_id}")
    return data if isinstance(data, dict) else {}


def _decrypt(token: str, key: str, what: str) -> object:
    try:
        return crypto.decrypt_json(token, key)
    except crypto.SecretsKeyError as exc:
        log.warning("%s: saved browser state unreadable (%s); starting fresh", what, exc)
        return None


def _viewport(session: SessionRecord, settings: Settings) -> dict[str, int]:
    return {
        "width": session.screen_width or settings.viewport_width,
        "height": session.screen_height or settings.viewport_height,
    }


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
