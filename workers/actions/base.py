"""The shape every action shares: a params model, a coroutine, a one-line doc.

Rule: the model's mistake (unknown index, bad URL, a timeout on a hidden element)
raises :class:`ActionError` and becomes an observation the model sees next step;
anything else is our bug or a broken browser and propagates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from playwright.async_api import ElementHandle
from pydantic import BaseModel, ConfigDict

from workers.browser.tabs import BrowserTabs
from workers.page.dom import ElementIndex, UnknownElementError
from workers.policy.navigation import NavigationGuard
from workers.secrets.vault import SecretVault


class ActionError(Exception):
    """A mistake the model can correct: reported back to it, the task goes on."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Extractor(Protocol):
    async def __call__(self, query: str, page_text: str) -> str: ...


@dataclass
class ActionResult:
    """What one action did: text for the model, and how the step should go on."""

    text: str = ""
    error: str | None = None
    done: bool = False
    success: bool | None = None
    output: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class ActionContext:
    """What an action may touch: the tabs, the last page's elements, secrets, helpers."""

    tabs: BrowserTabs
    elements: ElementIndex | None
    vault: SecretVault
    extract: Extractor
    guard: NavigationGuard
    output_schema: dict[str, Any] | None = None
    page_text_chars: int = 6000

    async def element(self, index: int) -> ElementHandle:
        if self.elements is None:
            raise ActionError("no page state yet; look at the page first")
        try:
            return await self.elements.handle(index)
        except UnknownElementError as exc:
            raise ActionError(str(exc)) from None

    async def tab_url(self) -> str:
        """The URL of the tab the agent looks at now."""
        return (await self.tabs.page()).url


Runner = Callable[[ActionContext, Any], Awaitable[ActionResult]]


@dataclass(frozen=True)
class Action:
    """A registered action: ``name{params}`` in the prompt, ``run`` at execution."""

    name: str
    params: type[Params]
    doc: str
    run: Runner
    changes_page: bool = False

    def signature(self) -> str:
        """Compact form for the prompt, e.g. ``click{index:int}``."""
        parts = []
        for name, info in self.params.model_fields.items():
            kind = getattr(info.annotation, "__name__", str(info.annotation)).replace("typing.", "")
            optional = "" if info.is_required() else "?"
            parts.append(f"{name}{optional}:{kind}")
        return f"{self.name}{{{','.join(parts)}}}"
