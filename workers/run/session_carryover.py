"""What a task inherits from its session, and what it leaves to the next one.

Tasks of one session may run on any worker process, so nothing stays in a browser
between them: at the end of each task the context's cookies and local storage
(Playwright's ``storage_state``) and the last URL are saved in Redis, and the next
task of the session opens a fresh context from them. They are credentials, so they
rest encrypted (:mod:`shared.crypto`, ``BROWSERFLEET_SECRETS_KEY``) and expire with
the session's idle timeout; without a key nothing is saved (tasks start logged out).
With ``persistMemory`` the agent also gets a short summary of the earlier tasks.
A session started from a profile (:mod:`shared.profile_store`) begins with the profile's
state, and each of its tasks writes its end state back to the profile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from shared import crypto
from shared.models import SessionStatus
from shared.profile_store import cookie_domains
from shared.session_store import SessionRecord
from shared.settings import Settings
from shared.stores import Stores
from shared.task_store import TaskRecord, TaskStore
from workers.browser.tabs import BrowserTabs

log = logging.getLogger(__name__)

MEMORY_TASKS = 5  # earlier tasks summarised for the agent
_TASK_CHARS, _OUTPUT_CHARS = 300, 400

@dataclass
class CarryOver:
    """The session's gifts to a starting task, and where to leave its own state."""

    session_id: str = ""
    storage_state: dict[str, Any] | None = None
    resume_url: str | None = None
    memory: str = ""
    viewport: dict[str, int] | None = None
    keep_state: bool = False
    secrets_key: crypto.KeySetting = field(default=None, repr=False)
    ttl_s: int = 0
    stores: Stores | None = field(default=None, repr=False)
    profile_id: str | None = None  # the profile this session started from, written back at the end
    record: bool = False  # enableRecording: the task's pages are recorded (workers.watch.task_recording)

    async def save(self, context: BrowserContext, tabs: BrowserTabs) -> None:
        """Save cookies, storage and the current URL for the session's next task, and
        the cookies and storage for its profile (best effort)."""
        if not (self.keep_state or self.profile_id):
            return
        try:
            state = await context.storage_state()
            url = (await tabs.page()).url
        except PlaywrightError as exc:
            log.warning("session %s: browser state not saved: %s", self.session_id, exc.message)
            return
        if self.profile_id:
            await asyncio.to_thread(self._save_profile, dict(state))
        if not self.keep_state:
            return
        data = {"storage_state": state, "url": url if url.startswith(("http://", "https://")) else None}
        token = crypto.encrypt_json(data, self.secrets_key, purpose=crypto.SESSION_STATE,
                                    owner=self.session_id)
        assert self.stores is not None
        await asyncio.to_thread(self.stores.sessions.save_state, self.session_id, token, self.ttl_s)

    def _save_profile(self, state: dict[str, Any]) -> None:
        assert self.profile_id is not None and self.stores is not None
        token = crypto.encrypt_json(state, self.secrets_key, purpose=crypto.PROFILE_STATE,
                                    owner=self.profile_id)
        version = self.stores.profiles.save_state(self.profile_id, token, cookie_domains(state))
        if version:
            log.info("session %s: profile %s saved (version %d)", self.session_id, self.profile_id, version)
        else:
            log.info("session %s: profile %s is gone; state not saved", self.session_id, self.profile_id)


def load(record: TaskRecord, stores: Stores, settings: Settings) -> CarryOver:
    """What the task inherits from its session (nothing for a one-off session)."""
    sid = str(record.session_id)
    session = stores.sessions.load(sid)
    if session is None:
        return CarryOver(session_id=sid)
    if session.one_off:
        start = CarryOver(session_id=sid, record=session.enable_recording)
        return _from_profile(start, session, stores, settings)
    start = CarryOver(
        session_id=sid,
        viewport=_viewport(session, settings),
        keep_state=session.keep_alive and session.status == SessionStatus.active,
        secrets_key=settings.secrets_key,
        ttl_s=settings.session_idle_timeout_s or settings.record_ttl_s,
        stores=stores,
        record=session.enable_recording,
    )
    if start.keep_state and not crypto.key_list(settings.secrets_key):
        log.warning("session %s: no BROWSERFLEET_SECRETS_KEY: browser state is not kept between tasks", sid)
        start.keep_state = False
    saved = _saved_state(stores, sid, settings.secrets_key)
    start.storage_state = saved.get("storage_state")
    start.resume_url = saved.get("url") or session.start_url
    if session.persist_memory:
        start.memory = summarise(stores.tasks, stores.sessions.task_ids(sid), str(record.id))
    return _from_profile(start, session, stores, settings)


def _from_profile(
    start: CarryOver, session: SessionRecord, stores: Stores, settings: Settings
) -> CarryOver:
    """A session's first task starts from its profile's state; every task writes it back at its end."""
    if session.profile_id is None:
        return start
    pid = str(session.profile_id)
    if not crypto.key_list(settings.secrets_key):
        log.warning("session %s: no BROWSERFLEET_SECRETS_KEY: profile %s is not used", start.session_id, pid)
        return start
    start.profile_id, start.secrets_key, start.stores = pid, settings.secrets_key, stores
    if start.storage_state is None:
        token = stores.profiles.state_token(pid)
        state = _decrypt(token, settings.secrets_key, crypto.PROFILE_STATE, pid) if token else None
        start.storage_state = state if isinstance(state, dict) else None
    return start


def task_ended(stores: Stores, task_id: str, session_id: str | None = None) -> None:
    """Free the task's session for its next task; a one-off session stops here."""
    if session_id is None:
        record = stores.tasks.load(task_id)
        if record is None:
            return
        session_id = str(record.session_id)
    stores.sessions.release(session_id, task_id)


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


def _saved_state(stores: Stores, session_id: str, key: crypto.KeySetting) -> dict[str, Any]:
    token = stores.sessions.state_token(session_id)
    if not token or not crypto.key_list(key):
        return {}
    data = _decrypt(token, key, crypto.SESSION_STATE, session_id)
    return data if isinstance(data, dict) else {}


def _decrypt(token: str, key: crypto.KeySetting, purpose: str, owner: str) -> object:
    """A saved state, only for the record it was saved for (else: start fresh, and say why)."""
    try:
        return crypto.decrypt_json(token, key, purpose=purpose, owner=owner)
    except crypto.SecretsKeyError as exc:
        log.warning("%s %s: saved browser state unreadable (%s); starting fresh", purpose, owner, exc)
        return None


def _viewport(session: SessionRecord, settings: Settings) -> dict[str, int]:
    return {
        "width": session.screen_width or settings.viewport_width,
        "height": session.screen_height or settings.viewport_height,
    }


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
