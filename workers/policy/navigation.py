"""What one task's browser may load: the operator's network policy plus the task's allowedDomains.

Pure: every decision here is made from the URL (and, for addresses, from what the caller
resolved). ``allowedDomains`` applies to *documents* only, that is top-level pages and
iframes, because that is what "the agent may only visit these sites" means: an allowed
page's scripts, images, fonts and API calls live on CDNs and API hosts the user cannot
be expected to list, and blocking them would break the pages the user did allow. The
network policy applies to every request of every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domains import DomainPattern, parse_pattern, url_allowed
from shared.urls import parse_url
from workers.policy.network import NetworkPolicy, Target, network_target, scheme_reason


@dataclass(frozen=True)
class BlockedRequest:
    """A request the guard refused.

    ``kind`` is ``"page"`` for a tab's own navigation (an error of the step that caused
    it), ``"frame"`` for an iframe's document and ``"request"`` for anything else (both
    reported to the agent as notes: the page it is on did load).
    """

    url: str
    reason: str
    kind: str = "request"

    @property
    def navigation(self) -> bool:
        return self.kind == "page"

    def describe(self) -> str:
        what = {"page": "navigation to", "frame": "iframe load of"}.get(self.kind, "request to")
        return f"{what} {self.url[:300]} blocked: {self.reason}"


def agent_navigation_reason(url: str) -> str | None:
    """Why the *model* may not open ``url`` itself: only http(s) pages and ``about:blank``.

    A page may embed ``data:``/``blob:`` documents, but a model that writes its own
    ``data:text/html,...`` page (say, steered by a prompt injection) writes a page that can
    send whatever is typed into it anywhere; ``javascript:`` runs the model's code.
    """
    parsed = parse_url(url)
    if parsed is None:
        return "not a valid URL"
    if parsed.web or parsed.href == "about:blank":
        return None
    if parsed.scheme in {"data", "blob", "javascript"}:
        return f"the model may open only http(s) pages, not {parsed.scheme}: URLs"
    return scheme_reason(url) or f"the model may open only http(s) pages, not {parsed.scheme}: URLs"


class NavigationGuard(Protocol):
    """A task's rule for URLs: the agent's navigation and every document a secret goes to."""

    def __call__(self, url: str) -> str | None:
        """A reason the URL may not be opened, or ``None``."""


def secret_destination_reason(url: str) -> str | None:
    """Why no secret may be typed into a document (or frame) at ``url``, whatever the task allows.

    Only http(s) documents: ``data:``, ``blob:``, ``about:``, ``javascript:``, ``file:`` and
    ``filesystem:`` documents are written by whoever made them (a page, the model) and can
    send a typed value anywhere.
    """
    parsed = parse_url(url)
    if parsed is None or not parsed.web:
        scheme = parsed.scheme if parsed else "invalid"
        return f"a {scheme}: document is not a page secrets may be typed into (http(s) only)"
    return None


@dataclass(frozen=True)
class RequestPolicy:
    """The rules of one task; ``policy(url)`` is the agent's navigation guard."""

    network: NetworkPolicy
    domains: tuple[DomainPattern, ...] | None = None

    @classmethod
    def build(cls, network: NetworkPolicy, allowed_domains: list[str] | None) -> RequestPolicy:
        """``allowed_domains`` as the producer validated them (``None`` or empty: any site)."""
        patterns = tuple(parse_pattern(raw) for raw in allowed_domains or [])
        return cls(network=network, domains=patterns or None)

    def request_reason(self, url: str) -> str | None:
        """Why any request for ``url`` is refused before DNS (scheme, metadata host, address)."""
        reason = scheme_reason(url)
        if reason:
            return reason
        target = network_target(url)
        return self.network.precheck(target) if target else None

    def domain_reason(self, url: str) -> str | None:
        """Why ``url`` may not be opened as a document under ``allowedDomains``."""
        if self.domains is None or url_allowed(url, list(self.domains)):
            return None
        return "not in allowedDomains"

    def navigation_reason(self, url: str) -> str | None:
        """Why ``url`` may not be opened as a page or frame (everything but DNS)."""
        return self.request_reason(url) or self.domain_reason(url)

    def __call__(self, url: str) -> str | None:
        return self.navigation_reason(url)

    def target(self, url: str) -> Target | None:
        return network_target(url)
