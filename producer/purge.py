"""Purging a session (``POST /sessions/{id}/purge``): its delete, then every trace the delete keeps.

For operators who promise zero data retention. The session's own delete runs first (it
stops the running agent, removes the session and its tasks' records with their live links;
see :meth:`producer.sessions.Sessions.delete`); then :class:`shared.purge_traces.Traces` removes what
lives outside those records, and the Celery result backend forgets the session's task
results (their output and error) wherever it is. What it cannot reach: worker log lines.
"""

from __future__ import annotations

import contextlib
import uuid

from celery import Celery

from shared.stores import Stores

from .sessions import Sessions


def purge_session(
    sessions: Sessions, stores: Stores, celery: Celery, session_id: str | uuid.UUID, owner: str | None
) -> None:
    record = sessions.record(session_id, owner)
    sid = str(record.id)
    task_ids = stores.sessions.task_ids(sid)
    sessions.delete(sid, owner=owner)
    stores.traces.purge(sid, task_ids, str(record.profile_id) if record.profile_id else None)
    for task_id in task_ids:
        for result_id in (task_id, f"{task_id}-judge"):
            with contextlib.suppress(Exception):  # a backend without stored results
                celery.AsyncResult(result_id).forget()
