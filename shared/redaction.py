"""Keep secret values out of the rest of a task, before anything is stored.

A user may paste a secret's value into the task text, the ground truth or the
metadata as well as into ``secrets``. The producer replaces every such occurrence by
the ``<secret>name</secret>`` placeholder, so the value is stored only encrypted, and
the model is given the placeholder (the worker types the value when it is used).
"""

from __future__ import annotations

from shared.models import MIN_SECRET_CHARS, CreateTaskRequest


def placeholder(name: str) -> str:
    return f"<secret>{name}</secret>"


def mask_values(text: str, secrets: dict[str, str]) -> str:
    """``text`` with every secret value (longest first) replaced by its placeholder."""
    for name, value in sorted(secrets.items(), key=lambda item: -len(item[1])):
        if len(value) >= MIN_SECRET_CHARS and value in text:
            text = text.replace(value, placeholder(name))
    return text


def redact_request(request: CreateTaskRequest) -> CreateTaskRequest:
    """A copy of ``request`` whose free-text fields hold placeholders instead of secret values."""
    secrets = request.secrets or {}
    if not secrets:
        return request

    def mask(text: str | None) -> str | None:
        return None if text is None else mask_values(text, secrets)

    return request.model_copy(update={
        "task": mask_values(request.task, secrets),
        "start_url": mask(request.start_url),
        "judge_ground_truth": mask(request.judge_ground_truth),
        "system_prompt_extension": mask_values(request.system_prompt_extension, secrets),
        "metadata": {k: mask_values(v, secrets) for k, v in request.metadata.items()}
        if request.metadata else request.metadata,
    })
