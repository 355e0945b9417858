"""The CDP filter of browser sessions (pure): what is refused, what is rewritten, what passes."""

from __future__ import annotations

from typing import Any

import pytest

from workers.policy import cdp
from workers.policy.cdp import Command, Refused


def command(method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Command:
    message: dict[str, Any] = {"id": 1, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    return Command.parse(message)


@pytest.mark.parametrize(
    "method, params",
    [
        ("SystemInfo.getInfo", {}),
        ("SystemInfo.getProcessInfo", {}),
        ("Tethering.bind", {"port": 9222}),
        ("Extensions.loadUnpacked", {"path": "/tmp/x"}),
        ("PWA.install", {"manifestId": "x", "installUrlOrBundleUrl": "file:///x"}),
        ("Cast.enable", {}),
        ("Browser.crash", {}),
        ("Browser.getBrowserCommandLine", {}),
        ("Browser.executeBrowserCommand", {"commandId": "openTabSearch"}),
        ("Browser.someFutureMethod", {}),
        ("Target.exposeDevToolsProtocol", {"targetId": "x"}),
        ("Target.setRemoteLocations", {"locations": [{"host": "10.0.0.1", "port": 9222}]}),
        ("Target.sendMessageToTarget", {"message": "{}", "sessionId": "s"}),
        ("Target.attachToTarget", {"targetId": "x", "flatten": False}),
        ("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": False}),
        ("Target.createBrowserContext", {"proxyServer": "http://10.0.0.1:3128"}),
        ("Target.createBrowserContext", {"proxyBypassList": "<-loopback>"}),
        ("Target.createBrowserContext", {"originsWithUniversalNetworkAccess": ["http://a.test"]}),
        ("Target.createTarget", {"url": "file:///etc/passwd"}),
        ("Target.createTarget", {"url": "FILE:///etc/passwd"}),
        ("Target.createTarget", {"url": " file:///etc/passwd"}),
        ("Target.createTarget", {"url": "chrome://settings"}),
        ("Page.navigate", {"url": "view-source:file:///etc/passwd"}),
        ("Page.navigate", {"url": "devtools://devtools/bundled/inspector.html"}),
        ("Page.navigate", {"url": "chrome-extension://abc/x.html"}),
        ("Page.navigate", {"url": "filesystem:http://a.test/temporary/x"}),
        ("Page.navigate", {"url": 5}),
        ("Page.navigate", {"url": "about:settings"}),
        ("Network.loadNetworkResource", {"url": "file:///etc/passwd", "frameId": "f", "options": {}}),
    ],
    ids=lambda value: str(value)[:60],
)
def test_refused(method: str, params: dict[str, Any]) -> None:
    with pytest.raises(Refused):
        cdp.check(command(method, params))


@pytest.mark.parametrize(
    "method, params",
    [
        ("Browser.getVersion", {}),
        ("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}),
        ("Target.createBrowserContext", {"disposeOnDetach": True}),
        ("Target.createTarget", {"url": "about:blank"}),
        ("Target.createTarget", {"url": ""}),
        ("Page.navigate", {"url": "https://example.com/"}),
        ("Page.navigate", {"url": "data:text/html,<h1>x</h1>"}),
        ("Runtime.evaluate", {"expression": "1+1"}),
        ("Input.dispatchMouseEvent", {"type": "mousePressed", "x": 1, "y": 1}),
        ("Fetch.enable", {}),
        ("Storage.getCookies", {}),
    ],
)
def test_passes(method: str, params: dict[str, Any]) -> None:
    cdp.check(command(method, params, session="S1"))


def test_file_paths_name_uploaded_files_only() -> None:
    set_files = command(
        "DOM.setFileInputFiles", {"files": ["/home/me/report.pdf", "C:\\Users\\me\\a.csv"], "nodeId": 3}
    )
    assert cdp.file_names(set_files) == ["report.pdf", "a.csv"]
    assert cdp.with_files(set_files, ["/w/u/report.pdf", "/w/u/a.csv"])["files"] == [
        "/w/u/report.pdf",
        "/w/u/a.csv",
    ]
    drag = command(
        "Input.dispatchDragEvent",
        {"type": "drop", "x": 1, "y": 1, "data": {"items": [], "files": ["/etc/passwd"]}},
    )
    assert cdp.file_names(drag) == ["passwd"]
    assert cdp.with_files(drag, ["/w/u/passwd"])["data"]["files"] == ["/w/u/passwd"]
    for bad in ([".."], ["/etc/"], ["a\x00b"], [5], "notalist"):
        with pytest.raises(Refused):
            cdp.file_names(command("DOM.setFileInputFiles", {"files": bad, "nodeId": 1}))


def test_downloads_stay_in_the_sessions_directory() -> None:
    for behavior in ("allow", "allowAndName", "default"):
        params = cdp.confined_downloads(
            command(
                "Browser.setDownloadBehavior",
                {"behavior": behavior, "downloadPath": "/etc", "eventsEnabled": True},
            ),
            "/s/downloads",
        )
        assert params == {"behavior": "allow", "downloadPath": "/s/downloads", "eventsEnabled": True}
    assert cdp.confined_downloads(
        command("Page.setDownloadBehavior", {"behavior": "deny", "downloadPath": "/x"}), "/s"
    ) == {"behavior": "deny"}


def test_browser_ui_targets_are_not_drivable() -> None:
    assert cdp.target_reason({"type": "page", "url": "https://a.test/"}) is None
    assert cdp.target_reason({"type": "page", "url": "about:blank"}) is None
    assert cdp.target_reason({"type": "browser_ui", "url": "chrome://omnibox-popup.top-chrome/"})
    assert cdp.target_reason({"type": "page", "url": "chrome://settings/"})
    assert cdp.target_reason({"type": "other", "url": ""})


def test_malformed_commands() -> None:
    for bad in (
        [],
        {"id": "1", "method": "x"},
        {"id": True, "method": "x"},
        {"id": 1},
        {"id": 1, "method": "x", "params": []},
    ):
        with pytest.raises(ValueError):
            Command.parse(bad)
    reply = cdp.error_reply(7, "S", "no")
    assert reply == {"id": 7, "sessionId": "S", "error": {"code": -32000, "message": "browserfleet: no"}}
