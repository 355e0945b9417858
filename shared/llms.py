"""The model table: wire model names (the spec's ``SupportedLLMs``) to litellm model ids.

One table, overridable by operators (``BROWSERFLEET_MODELS``) so that any litellm
route (``ollama/...``, ``azure/<deployment>``) is one setting away.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Names marked ``None`` resolve to the operator's default model.
SUPPORTED_LLMS: dict[str, str | None] = {
    "browser-use-llm": None,
    "browser-use-2.0": None,
    "gpt-4.1": "openai/gpt-4.1",
    "gpt-4.1-mini": "openai/gpt-4.1-mini",
    "o4-mini": "openai/o4-mini",
    "o3": "openai/o3",
    "gemini-2.5-flash": "gemini/gemini-2.5-flash",
    "gemini-2.5-pro": "gemini/gemini-2.5-pro",
    "gemini-3-pro-preview": "gemini/gemini-3-pro-preview",
    "gemini-3.1-pro-preview": "gemini/gemini-3.1-pro-preview",
    "gemini-3-flash-preview": "gemini/gemini-3-flash-preview",
    "gemini-flash-latest": "gemini/gemini-flash-latest",
    "gemini-flash-lite-latest": "gemini/gemini-flash-lite-latest",
    "claude-sonnet-4-20250514": "anthropic/claude-sonnet-4-20250514",
    "claude-sonnet-4-5-20250929": "anthropic/claude-sonnet-4-5-20250929",
    "claude-sonnet-4-6": "anthropic/claude-sonnet-4-6",
    "claude-opus-4-5-20251101": "anthropic/claude-opus-4-5-20251101",
    "claude-opus-4-7": "anthropic/claude-opus-4-7",
    "llama-4-maverick-17b-128e-instruct": "groq/meta-llama/llama-4-maverick-17b-128e-instruct",
    "claude-3-7-sonnet-20250219": "anthropic/claude-3-7-sonnet-20250219",
}


class UnknownModelError(ValueError):
    """A model name that is neither in the spec's list nor in the operator's table."""


def model_table(default_model: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """The effective wire-name → litellm-id table for these settings."""
    table = {name: (route or default_model) for name, route in SUPPORTED_LLMS.items()}
    table.update(overrides)
    return table


def resolve_model(name: str, default_model: str, overrides: Mapping[str, str]) -> str:
    """The litellm model id for ``name``; raises :class:`UnknownModelError` listing the choices."""
    table = model_table(default_model, overrides)
    try:
        return table[name]
    except KeyError:
        accepted = ", ".join(sorted(table))
        raise UnknownModelError(f"unknown model {name!r}; accepted: {accepted}") from None
