"""The live view's pub/sub messages: every channel and message format, in one place.

Viewers (the HTTP API's ``/live/{token}/events``) are pushed what happens to a task; nothing
is polled per viewer. Two kinds of channel:

- **the task's channel** (:func:`shared.keys.live_frames`, ``bf:task:<id>:live``), one per task:

  ======================================================  ====================================
  message (JSON)                                          published by
  ======================================================  ====================================
  ``{"type": "frame", "data": <base64 JPEG>, "at": t}``   the worker, only while watched
                                                          (``at``: publish time, epoch s)
  ``{"type": "sealed"}``                                  the worker: a frame was withheld
                                                          (a secret on screen)
  ``{"type": "step", "step": <TaskStepView JSON>}``       the task store, as a step is recorded
  ``{"type": "status", "status": "<task status>"}``       the task store's status script, on
                                                          every status change
  ``{"type": "deleted"}``                                 the task store's delete script
  ======================================================  ====================================

- **the control channel** (:data:`shared.keys.LIVE_CONTROL`), one for the fleet:
  ``{"type": "revoked", "tokens": [<token id>, ...]}`` when live links stop working (a share
  deleted, a ``liveUrl`` revoked, a task or session deleted). A token id is
  :func:`token_id` of the token (Lua: ``redis.sha1hex(token)``), so the tokens themselves
  never travel.

Each API process subscribes once per watched task and once to the control channel, and fans
the messages out to its own viewers (``producer/api/live_hub.py``). Frames and steps are
passed on as published; a viewer may miss messages (Redis pub/sub is at most once), so the
hub also re-reads a watched task's status and step count now and then, once per process.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FRAME = "frame"
SEALED = "sealed"
STEP = "step"
STATUS = "status"
DELETED = "deleted"
REVOKED = "revoked"


def token_id(token: str) -> str:
    """How a token is named on the control channel (``redis.sha1hex`` in Lua gives the same)."""
    return hashlib.sha1(token.encode()).hexdigest()


def frame(data_b64: str, at: float) -> str:
    return json.dumps({"type": FRAME, "data": data_b64, "at": at})


def sealed() -> str:
    return json.dumps({"type": SEALED})


def step(step_json: str) -> str:
    """A recorded step (``step_json``: the step's wire JSON, as stored) as a message."""
    return '{"type": "step", "step": ' + step_json + "}"


def revoked(token_ids: list[str]) -> str:
    return json.dumps({"type": REVOKED, "tokens": token_ids})


def parse(raw: str) -> dict[str, Any] | None:
    """A message as a dict; ``None`` for anything that is not a JSON object with a ``type``."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None


# -- for the stores' Lua scripts (the same formats, built inside Redis) -------------------
# ``status_json`` is the status as the task hash stores it (already JSON: '"started"').
LUA_STATUS = """'{"type": "status", "status": ' .. status_json .. '}'"""
LUA_DELETED = """'{"type": "deleted"}'"""
# ``ids`` is a Lua table of token ids.
LUA_REVOKED = """'{"type": "revoked", "tokens": ' .. cjson.encode(ids) .. '}'"""
