"""What a caller may send over a browser session's CDP connection (pure: no browser, no I/O).

A browser session (``POST /browsers``) is a Chromium process of its own, run by a worker
for one caller: no other task's or tenant's context lives in it, so the caller may drive
every target of it. What must not be reachable through CDP is the *worker*: its disk,
its network position behind the egress guard, its DevTools port and its browser UI.
The relay (:mod:`workers.browser_sessions.cdp_relay`) asks this module about every command before
it reaches Chromium; a refused command is answered with a CDP error and never sent.

Refused outright:

- ``SystemInfo.*`` (the worker's hardware and process list), ``Tethering.*`` (opens
  ports on the worker), ``Extensions.*`` (loads extensions from the worker's disk),
  ``PWA.*`` (installs apps from files), ``Cast.*`` (discovers devices on the worker's
  network);
- ``Browser.*`` except the listed ones: ``crash``, ``crashGpuProcess``,
  ``getBrowserCommandLine`` (leaks the egress port and data directory),
  ``executeBrowserCommand`` and anything new are refused;
- ``Target.*`` except the listed ones: ``exposeDevToolsProtocol`` (would hand a page an
  unfiltered CDP binding), ``setRemoteLocations`` (makes the browser connect out to
  discover targets), ``sendMessageToTarget`` and non-flat sessions (their inner messages
  would skip this filter), ``openDevTools``;
- ``Target.createBrowserContext`` with ``proxyServer``/``proxyBypassList`` (a context of
  its own proxy would leave the egress guard: use ``customProxy`` on ``POST /browsers``)
  or ``originsWithUniversalNetworkAccess``.

Checked:

- URLs the browser itself opens for the caller (``Page.navigate``, ``Target.createTarget``,
  ``Network.loadNetworkResource``): http(s), ``data:``, ``blob:`` and ``about:blank`` only, as
  Chromium parses them (no ``file:``, ``chrome:``, ``devtools:``, ``view-source:`` ...);
  the network guard then checks every request the page makes;
- file paths (``DOM.setFileInputFiles``, ``Input.dispatchDragEvent``,
  ``Page.handleFileChooser``): only files uploaded to this session, named by their file
  name (any directory part is ignored); they are rewritten to where the worker keeps them;
- downloads (``Browser.setDownloadBehavior``, ``Page.setDownloadBehavior``): always into
  the session's own downloads directory (``deny`` stays ``deny``), served by
  ``GET /browsers/{id}/downloads``;
- targets: attaching to (or being auto-attached to) a target that is not a web page,
  frame or worker — Chromium's own ``chrome://`` UI, extensions — is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.upload_store import name_problem
from shared.urls import parse_url

ERROR_CODE = -32000

REFUSED_DOMAINS = frozenset({"SystemInfo", "Tethering", "Extensions", "PWA", "Cast"})
BROWSER_ALLOWED = frozenset(
    {
        "getVersion",
        "close",
        "getWindowForTarget",
        "getWindowBounds",
        "setWindowBounds",
        "setContentsSize",
        "setDownloadBehavior",
        "cancelDownload",
        "grantPermissions",
        "resetPermissions",
        "setPermission",
        "setDockTile",
        "getHistograms",
        "getHistogram",
    }
)
TARGET_ALLOWED = frozenset(
    {
        "activateTarget",
        "attachToTarget",
        "attachToBrowserTarget",
        "autoAttachRelated",
        "closeTarget",
        "createBrowserContext",
        "createTarget",
        "detachFromTarget",
        "disposeBrowserContext",
        "getBrowserContexts",
        "getTargetInfo",
        "getTargets",
        "setAutoAttach",
        "setDiscoverTargets",
    }
)
FILE_METHODS = {
    "DOM.setFileInputFiles": ("files",),
    "Page.handleFileChooser": ("files",),
    "Input.dispatchDragEvent": ("data", "files"),
}
DOWNLOAD_METHODS = frozenset({"Browser.setDownloadBehavior", "Page.setDownloadBehavior"})
# Targets a caller may drive: web content. Chromium's own UI (browser_ui, webview of
# chrome:// pages, other) and extensions are not.
TARGET_TYPES = frozenset(
    {
        "page",
        "iframe",
        "worker",
        "shared_worker",
        "service_worker",
        "worklet",
        "shared_storage_worklet",
        "auction_worklet",
        "browser",
        "tab",
        "prerender",
    }
)
_NAVIGATING = {"Page.navigate": "url", "Target.createTarget": "url"}


class Refused(Exception):
    """A command the relay answers with a CDP error; ``str`` is the reason."""


def url_reason(url: Any) -> str | None:
    """Why the browser may not open ``url`` for the caller (``None``: it may)."""
    if not isinstance(url, str):
        return "the url must be a string"
    if url == "":
        return None  # Target.createTarget's default: about:blank
    parsed = parse_url(url)
    if parsed is None:
        return "not a valid URL"
    if parsed.web or parsed.scheme in {"data", "blob"}:
        return None
    if parsed.scheme == "about" and parsed.href.lower().split("#", 1)[0] in {"about:blank", "about:srcdoc"}:
        return None
    return f"{parsed.scheme}: URLs may not be opened (http, https, data:, blob: and about:blank only)"


def target_reason(info: dict[str, Any]) -> str | None:
    """Why the caller may not attach to the target described by ``info`` (CDP ``TargetInfo``)."""
    kind = str(info.get("type", ""))
    if kind not in TARGET_TYPES:
        return f"targets of type {kind!r} belong to the browser itself"
    url = str(info.get("url", ""))
    parsed = parse_url(url) if url else None
    if parsed is not None and not (parsed.web or parsed.scheme in {"about", "data", "blob"}):
        return f"{parsed.scheme}: targets belong to the browser itself"
    return None


def file_name(path: Any) -> str:
    """The uploaded file a path names: its last component, whatever directory precedes it."""
    if not isinstance(path, str) or not path:
        raise Refused("file paths must be non-empty strings")
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    problem = name_problem(name)
    if problem:
        raise Refused(f"{path[:200]!r}: {problem}")
    return name


@dataclass(frozen=True)
class Command:
    """One parsed client command."""

    id: int
    method: str
    params: dict[str, Any]
    session_id: str | None

    @classmethod
    def parse(cls, message: Any) -> Command:
        if not isinstance(message, dict):
            raise ValueError("a CDP message is a JSON object")
        ident, method = message.get("id"), message.get("method")
        if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(method, str):
            raise ValueError("a CDP command has an integer id and a method name")
        params = message.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValueError("params must be an object")
        session = message.get("sessionId")
        if session is not None and not isinstance(session, str):
            raise ValueError("sessionId must be a string")
        return cls(ident, method, params, session)

    def message(self, ident: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The command as sent upstream, under the relay's own ``ident``."""
        out: dict[str, Any] = {
            "id": ident,
            "method": self.method,
            "params": self.params if params is None else params,
        }
        if self.session_id is not None:
            out["sessionId"] = self.session_id
        return out


def check(command: Command) -> None:
    """Raise :class:`Refused` for a command the relay must not send (see the module doc).

    Commands that need more than a look (file paths, downloads, attaching to a target)
    pass here and are completed by the relay with :func:`file_names`, :func:`with_files`,
    :func:`confined_downloads` and :func:`target_reason`.
    """
    domain, _, name = command.method.partition(".")
    params = command.params
    if domain in REFUSED_DOMAINS:
        raise Refused(f"the {domain} domain is not available on browserfleet browsers")
    if domain == "Browser" and name not in BROWSER_ALLOWED:
        raise Refused(f"{command.method} is not available on browserfleet browsers")
    if domain == "Target" and name not in TARGET_ALLOWED:
        raise Refused(f"{command.method} is not available on browserfleet browsers (flat sessions only)")
    if command.method in {"Target.attachToTarget", "Target.setAutoAttach"} and params.get("flatten") is False:
        raise Refused("only flat sessions are served (flatten: true)")
    if command.method == "Target.createBrowserContext":
        for field in ("proxyServer", "proxyBypassList", "originsWithUniversalNetworkAccess"):
            if params.get(field):
                raise Refused(
                    f"Target.createBrowserContext {field} is refused: every context goes "
                    "through the session's egress guard (use customProxy on POST /browsers)"
                )
    if command.method in _NAVIGATING:
        reason = url_reason(params.get(_NAVIGATING[command.method], ""))
        if reason:
            raise Refused(f"{command.method}: {reason}")
    if command.method == "Network.loadNetworkResource":
        parsed = parse_url(str(params.get("url", "")))
        if parsed is None or not parsed.web:
            raise Refused("Network.loadNetworkResource: http(s) URLs only")


def file_names(command: Command) -> list[str]:
    """The uploaded files a file-setting command names (empty for other commands)."""
    path = FILE_METHODS.get(command.method)
    if path is None:
        return []
    value: Any = command.params
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise Refused(f"{command.method}: files must be a list")
    return [file_name(p) for p in value]


def with_files(command: Command, paths: list[str]) -> dict[str, Any]:
    """The command's params with its file paths replaced by ``paths`` (same order)."""
    keys = FILE_METHODS[command.method]
    params = dict(command.params)
    if len(keys) == 1:
        params[keys[0]] = paths
    else:
        inner = dict(params[keys[0]])
        inner[keys[1]] = paths
        params[keys[0]] = inner
    return params


def confined_downloads(command: Command, directory: str) -> dict[str, Any]:
    """A download-behaviour command's params with every download kept in ``directory``.

    ``deny`` stays ``deny``; anything else saves files under their own names there (``allow``).
    """
    params = dict(command.params)
    if params.get("behavior") != "deny":
        params["behavior"] = "allow"
        params["downloadPath"] = directory
    else:
        params.pop("downloadPath", None)
    return params


def error_reply(command_id: int, session_id: str | None, reason: str) -> dict[str, Any]:
    """The CDP error answering a refused command."""
    reply: dict[str, Any] = {
        "id": command_id,
        "error": {"code": ERROR_CODE, "message": f"browserfleet: {reason}"},
    }
    if session_id is not None:
        reply["sessionId"] = session_id
    return reply
