"""Keep secret values out of the rest of a task, before anything is stored.

A user may paste a secret's value into the task text, the ground truth, the metadata or the
start URL as well as into ``secrets``, as typed or encoded (a percent-encoded value in a
``startUrl``, a base64 one in metadata). The producer replaces every such occurrence by the
``<secret>name</secret>`` placeholder with the worker's own masker (:mod:`shared.masking`), so
the value is stored only encrypted, and the model is given the placeholder (the worker types the
value when it is used; a placeholder is never put back into a URL).
"""

from __future__ import annotations

from collections.abc import Callable

from shared.masking import Masker, placeholder
from shared.models import MIN_SECRET_CHARS, CreateTaskRequest


def mask_values(text: str, secrets: dict[str, str]) -> str:
    """``text`` with every secret value, in every form, replaced by its placeholder."""
    return _masker(secrets)(text)


def _masker(secrets: dict[str, str]) -> Callable[[str], str]:
    """One automaton for all of a request's secrets (built once, used on every field)."""
    values = {n: v for n, v in secrets.items() if len(v) >= MIN_SECRET_CHARS}
    masker, names = Masker(values), {n: placeholder(n) for n in values}
    return lambda text: masker.mask(text, names)


def redact_request(request: CreateTaskRequest) -> CreateTaskRequest:
    """A copy of ``request`` whose free-text fields hold placeholders instead of secret values."""
    secrets = request.secrets or {}
    if not secrets:
        return request
    mask = _masker(secrets)

    def maybe(text: str | None) -> str | None:
        return None if text is None else mask(text)

    return request.model_copy(update={
        "task": mask(request.task),
        "start_url": maybe(request.start_url),
        "judge_ground_truth": maybe(request.judge_ground_truth),
        "system_prompt_extension": mask(request.system_prompt_extension),
        "metadata": {k: mask(v) for k, v in request.metadata.items()}
        if request.metadata else request.metadata,
    })
