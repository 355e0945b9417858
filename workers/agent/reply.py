"""The JSON object in a model's reply, for the agent and the judge alike (no browser code)."""

from __future__ import annotations

import json
from typing import Any


class OutputError(ValueError):
    """The model's reply is not what was asked for; the message is for the model."""


def json_object(text: str) -> dict[str, Any]:
    """The one JSON object in a model reply (code fences and prose around it tolerated)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.split("\n", 1)[1] if "\n" in text else text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise OutputError("reply must be one JSON object")
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise OutputError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise OutputError("reply must be one JSON object")
    return value
