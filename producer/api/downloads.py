"""Presigned download URLs served by this server (task logs, output files).

``GET /tasks/{id}/logs`` and the output-file route hand out a URL with a random,
single-purpose token that expires after ``download_url_ttl_s`` (:mod:`shared.download_tokens`);
the URL itself is the credential, so any HTTP client can fetch it, from any API replica.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response

from producer.client import Producer
from shared.models import TaskView, format_cost

PATH = "/api/v2/downloads"


def issue(request: Request, producer: Producer, target: dict[str, Any]) -> str:
    """A fresh download URL for ``target`` (``{"kind": ..., "task_id": ..., ...}``)."""
    token = producer.stores.downloads.issue(target, producer.settings.download_url_ttl_s)
    base = producer.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{PATH}/{token}"


def resolve(producer: Producer, token: str) -> dict[str, Any] | None:
    return producer.stores.downloads.resolve(token)


def render_log(view: TaskView) -> str:
    """A task's execution log as plain text: the record, then every step."""
    lines = [
        f"task {view.id} (session {view.session_id})",
        f"status: {view.status.value}  success: {view.is_success}  llm: {view.llm}",
        f"cost: {format_cost(view.cost)}",
        f"created: {view.created_at.isoformat()}",
        f"started: {view.started_at.isoformat() if view.started_at else '-'}",
        f"finished: {view.finished_at.isoformat() if view.finished_at else '-'}",
        f"instruction: {view.task}",
    ]
    if view.error:
        lines.append(f"reason: {view.error}")
    for step in view.steps:
        lines += ["", f"step {step.number}  {step.url}  ({step.duration or 0:.2f}s)"]
        for label, text in (
            ("evaluation", step.evaluation_previous_goal),
            ("memory", step.memory),
            ("next goal", step.next_goal),
        ):
            if text:
                lines.append(f"  {label}: {text}")
        lines += [f"  action: {action}" for action in step.actions]
        lines += [f"  -> {result}" for result in step.results]
    if view.output is not None:
        lines += ["", "output:", view.output]
    return "\n".join(lines) + "\n"


def browser_file(producer: Producer, target: dict[str, Any]) -> Response | None:
    """A file a browser session downloaded (``None`` once it is gone)."""
    data = producer.stores.browsers.download(target["browser_id"], target["name"])
    if data is None:
        return None
    name = str(target["name"]).replace('"', "").replace("\\", "")
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def skill_output(producer: Producer, target: dict[str, Any]) -> Response | None:
    """A skill execution's output, as JSON (``None`` once the execution is gone)."""
    record = producer.stores.skill_executions.load(target["id"])
    if record is None or record["status"] != "completed":
        return None
    return Response(json.dumps(record["output"]), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="output-{record["id"]}.json"'})


def browser_recording(producer: Producer, target: dict[str, Any]) -> Response | None:
    """A browser session's recording (WebM)."""
    data = producer.stores.browsers.recording(target["browser_id"])
    if data is None:
        return None
    return Response(data, media_type="video/webm",
                    headers={"Content-Disposition": 'attachment; filename="recording.webm"'})
