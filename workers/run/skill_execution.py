"""Running one skill execution (``POST /skills/{id}/execute``) on this worker: a skill, no agent.

The Celery task ``browserfleet.skill_execution`` calls :func:`run`. The execution is claimed
(``pending`` → ``running``: a duplicate delivery does nothing), the skill's parameters are
validated by its own model, and the skill runs in a fresh browser context of the pool under
the same guard as an agent task (the egress proxy, with the session's country or custom proxy
when a ``sessionId`` was given), bounded by ``skill_execution_timeout_s``. Its return value
(JSON) is the execution's output; an ``ActionError`` or any exception its error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.settings import Settings, get_settings
from shared.stores import Stores
from workers.actions.base import ActionError
from workers.browser.pool import BrowserSetupError
from workers.browser.runtime import get_runtime
from workers.browser.tabs import BrowserTabs
from workers.egress.custom_proxy import chosen_upstream
from workers.egress.guard import BrowserGuard, NetworkSettingsError, guard_for
from workers.egress.upstream import UpstreamError
from workers.process.objects import stores
from workers.secrets.vault import SecretVault
from workers.skills.base import Skill, SkillContext
from workers.skills.registry import get_registry

log = logging.getLogger(__name__)


def run(execution_id: str) -> dict[str, Any]:
    """Run the execution to its end (called in a Celery thread)."""
    all_stores, settings = stores(), get_settings()
    executions = all_stores.skill_executions
    record = executions.load(execution_id)
    if record is None or not executions.claim(execution_id):
        return {"id": execution_id, "status": "skipped"}
    started = time.monotonic()
    try:
        output, error = get_runtime().run(_execute(record, settings, all_stores))
    except Exception as exc:  # our bug: end the execution with the reason
        log.exception("skill execution %s crashed", execution_id)
        output, error = None, f"internal error: {exc!r}"
    latency = int((time.monotonic() - started) * 1000)
    executions.finish(execution_id, error is None, output, error, latency)
    log.info(
        "skill execution %s of %s %s in %d ms",
        execution_id,
        record["skill"],
        "completed" if error is None else f"failed: {error}",
        latency,
    )
    return {"id": execution_id, "status": "completed" if error is None else "failed"}


async def _execute(record: dict[str, Any], settings: Settings, all_stores: Stores) -> tuple[Any, str | None]:
    skill: Skill | None = get_registry().get(record["skill"])
    if skill is None:
        return None, f"skill {record['skill']!r} is not installed on this worker"
    try:
        params = skill.params.model_validate(record["params"])
    except ValidationError as exc:
        return None, "invalid parameters: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
    try:
        upstream, ignore_certs = await _session_upstream(
            record.get("session_id") or None, settings, all_stores
        )
        guard = guard_for(None, settings, upstream)
    except (UpstreamError, NetworkSettingsError) as exc:
        return None, str(exc)
    certs = {"ignore_https_errors": True} if ignore_certs else {}
    viewport = {"width": settings.viewport_width, "height": settings.viewport_height}
    try:
        return await _run_in_browser(skill, params, settings, guard, viewport, certs)
    except BrowserSetupError as exc:  # no context in time, or the browser died while it opened
        return None, f"browser unusable: {exc}"


async def _run_in_browser(
    skill: Skill, params: BaseModel, settings: Settings, guard: BrowserGuard, viewport: dict[str, int],
    certs: dict[str, bool],
) -> tuple[Any, str | None]:
    async with (
        guard.running(),
        get_runtime().pool.context(viewport=viewport, **guard.context_options(), **certs) as context,
    ):
        tabs = BrowserTabs(context, settings.action_timeout_s)
        await guard.attach(context)
        ctx = SkillContext(
            tabs=tabs,
            elements=None,
            vault=SecretVault(),
            extract=_no_extract,
            guard=guard,
            skill_id=skill.id,
            files=None,
        )
        try:
            value = await asyncio.wait_for(skill.run(ctx, params), settings.skill_execution_timeout_s)
        except TimeoutError:
            return None, f"the skill ran longer than {settings.skill_execution_timeout_s:g}s"
        except ActionError as exc:
            return None, str(exc)
        except Exception as exc:  # the operator's code
            log.warning("skill %s raised", skill.id, exc_info=True)
            return None, f"{type(exc).__name__}: {str(exc).strip()[:500]}"
    blocked = guard.drain()
    if blocked and not value:
        return None, "; ".join(b.describe() for b in blocked[:5])
    return _jsonable(value), None


async def _session_upstream(
    session_id: str | None, settings: Settings, all_stores: Stores
) -> tuple[Any, bool]:
    if session_id is None:
        return None, False
    session = await asyncio.to_thread(all_stores.sessions.load, session_id)
    custom = await asyncio.to_thread(all_stores.custom_proxies.token, session_id)
    proxy_country_code = session.proxy_country_code if session else None
    return await chosen_upstream(custom, proxy_country_code, settings, session_id)


async def _no_extract(query: str, page_text: str) -> str:
    raise ActionError("extract needs the agent's model; a direct skill execution has none")


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))
