"""Page capture against real Chromium: what is listed, how it is numbered, and that it clicks.

Pages come from two local HTTP servers; the second is reached as ``localhost`` while the
first is ``127.0.0.1``, so its iframe is cross-site (an out-of-process iframe in Chromium).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from workers.page.dom import (
    ElementIndex,
    PageCapture,
    UnknownElementError,
    capture_page,
    highlight,
    unhighlight,
)

FORM = """<!doctype html><html><head><title>Form page</title></head><body>
<h1>Welcome to the form</h1>
<p>Some introductory paragraph.</p>
<a href="/next">Next page</a>
<a href="javascript:void(0)" onclick="1">Script link</a>
<button id="go" onclick="this.textContent = 'Pressed'">Press me</button>
<button disabled>Cannot press</button>
<button aria-label="Close dialog">X</button>
<input name="q" placeholder="Search here" value="abc">
<input type="password" name="pw" value="hunter2">
<input type="checkbox" name="agree" checked>
<input type="submit" value="Send form">
<input type="hidden" name="csrf" value="tok">
<select name="color"><option>Red</option><option selected>Green</option></select>
<textarea name="notes">two words</textarea>
<label>Email <input name="email"></label>
<label><input type="checkbox" name="remember"> Remember me</label>
<label for="city">City</label><input id="city">
<div style="cursor:pointer" id="card"><span>Pointer card</span> <b>bold part</b></div>
<div role="button" tabindex="0">Role button</div>
<span tabindex="-1">Not focusable span</span>
<input type="checkbox" id="tos" style="display:none"><label for="tos">Accept terms</label>
<button style="display:none">Hidden by display</button>
<button style="visibility:hidden">Hidden by visibility</button>
<button style="width:0;height:0;padding:0;border:0;overflow:hidden">Zero size</button>
<div aria-hidden="true"><button>Aria hidden</button></div>
<div style="display:none"><a href="/x">In hidden parent</a></div>
<button hidden>Hidden attribute</button>
<details><summary>More options</summary><button>Inside closed details</button></details>
</body></html>"""

FRAMES = """<!doctype html><html><head><title>Frames page</title></head><body>
<p id="log"></p>
<button onclick="log.textContent += 'main;'">Main button</button>
<div id="open-host"></div>
<div id="closed-host"></div>
<iframe id="same" src="/inner?who=same" width="400" height="120"></iframe>
<iframe id="cross" src="http://localhost:{other}/inner?who=cross" width="400" height="120">
</iframe>
<iframe id="tiny" src="/inner?who=tiny" width="0" height="0" style="border:0"></iframe>
<script>
  for (const mode of ['open', 'closed']) {{
    const root = document.getElementById(mode + '-host').attachShadow({{mode}});
    const button = document.createElement('button');
    button.textContent = mode + ' shadow button';
    button.onclick = () => {{ log.textContent += mode + ';'; }};
    root.append(button);
    const note = document.createElement('span');
    note.textContent = 'text inside ' + mode + ' root';
    root.append(note);
  }}
</script>
</body></html>"""

INNER = """<!doctype html><html><body>
<span id="count">0</span>
<button onclick="count.textContent = +count.textContent + 1">Frame button {who}</button>
</body></html>"""

LONG = (
    "<!doctype html><html><body><button>Top</button>"
    + "".join(f"<p>Paragraph number {i} with some filler words.</p>" for i in range(300))
    + "</body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    other_port = 0

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/slow":
            time.sleep(1.0)
        pages = {
            "/form": FORM,
            "/frames": FRAMES.format(other=self.other_port),
            "/inner": INNER.format(who=query.removeprefix("who=")),
            "/long": LONG,
            "/slow": "<!doctype html><title>Slow</title><button>Slow button</button>",
            "/next": "<!doctype html><title>Next</title><p>next</p>",
        }
        body = pages.get(path, "<!doctype html><p>not found</p>").encode()
        self.send_response(200 if path in pages else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    """Two servers: the main origin, and a second one the frames page embeds cross-site."""
    first = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    second = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.other_port = second.server_address[1]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (first, second)]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{first.server_address[1]}", f"http://localhost:{_Handler.other_port}"
    for server in (first, second):
        server.shutdown()
        server.server_close()




async def _open(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    return page


def _index_of(capture: PageCapture, pattern: str) -> int:
    """The index of the only element line matching ``pattern``."""
    found = [
        int(m.group(1))
        for line in capture.elements_text.splitlines()
        if re.search(pattern, line) and (m := re.match(r"\[(\d+)\]", line))
    ]
    assert len(found) == 1, f"{pattern!r} matched {found} in:\n{capture.elements_text}"
    return found[0]


def _element_lines(capture: PageCapture) -> list[str]:
    return [line for line in capture.elements_text.splitlines() if line.startswith("[")]


def test_lists_controls_with_their_attributes(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/form"))
    capture, index = run(capture_page(page))
    lines = [re.sub(r"^\[\d+\]", "", line) for line in _element_lines(capture)]

    assert capture.title == "Form page"
    assert capture.url == f"{servers[0]}/form"
    assert lines == [
        "<a href=/next>Next page",
        "<a>Script link",
        "<button>Press me",
        "<button disabled>Cannot press",
        '<button aria-label="Close dialog">X',
        '<input name=q placeholder="Search here" value=abc>',
        "<input type=password name=pw value=•••••••>",
        "<input type=checkbox name=agree checked>",
        "<input type=submit>Send form",
        "<select name=color value=Green>Red | Green",
        '<textarea name=notes value="two words">',
        "<input name=email label=Email>",
        '<input type=checkbox name=remember label="Remember me">',
        "<input label=City>",
        "<div>Pointer card bold part",
        "<div role=button>Role button",
        "<label>Accept terms",
        "<summary collapsed>More options",
    ]
    assert capture.element_count == len(index) == len(lines)
    assert "hunter2" not in capture.elements_text + capture.page_text
    assert "Welcome to the form\nSome introductory paragraph." in capture.page_text
    for hidden in ("Hidden by", "In hidden parent", "Hidden attribute", "Inside closed"):
        assert hidden not in capture.page_text
    assert "Zero size" not in capture.elements_text  # clipped text still counts as page text
    assert capture.scroll.viewport_height == 720
    assert capture.reused is False


def test_shadow_roots_and_iframes_are_listed_and_clickable(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/frames"))
    capture, index = run(capture_page(page))

    assert "Frame button tiny" not in capture.elements_text  # zero-size iframe skipped
    assert f"--- iframe {servers[1]}/inner?who=cross ---" in capture.elements_text
    cdp = run(context.new_cdp_session(page))
    targets = run(cdp.send("Target.getTargets"))["targetInfos"]
    assert [t["url"] for t in targets if t["type"] == "iframe"] == [
        f"{servers[1]}/inner?who=cross"
    ]  # the cross-site frame really runs out of process
    assert "text inside closed root" in capture.page_text
    assert "text inside open root" in capture.page_text

    for name in ("main", "open", "closed"):
        label = "Main button" if name == "main" else f"{name} shadow button"
        handle = run(index.handle(_index_of(capture, f"<button>{label}$")))
        run(handle.click())
    assert run(page.locator("#log").text_content()) == "main;open;closed;"

    for who in ("same", "cross"):
        handle = run(index.handle(_index_of(capture, f"<button>Frame button {who}$")))
        run(handle.click())
        run(handle.click())
        frame = next(f for f in page.frames if f.url.endswith(f"who={who}"))
        assert run(frame.evaluate("document.getElementById('count').textContent")) == "2"

    # the cross-site frame counts as changed, the rest of the page is reused frame by frame
    again, _ = run(capture_page(page, previous=(capture, index)))
    assert again.reused is False
    assert "--- iframe" in again.elements_text
    assert again.element_count == capture.element_count


def test_unknown_and_detached_elements_raise(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/form"))
    capture, index = run(capture_page(page))
    last = len(index) - 1

    for bad in (len(index), 9999, -1):
        assert bad not in index
        with pytest.raises(UnknownElementError, match=rf"index {bad} does not exist.*0\.\.{last}"):
            run(index.handle(bad))
        with pytest.raises(UnknownElementError):
            index.describe(bad)

    go = _index_of(capture, "<button>Press me")
    assert go in index
    assert index.describe(go) == f"[{go}]<button>Press me"
    run(page.evaluate("document.getElementById('go').remove()"))
    with pytest.raises(UnknownElementError, match=r"no longer on the page"):
        run(index.handle(go))

    empty = ElementIndex([])
    with pytest.raises(UnknownElementError, match="the page has none"):
        run(empty.handle(0))


def test_unchanged_page_is_reused_and_changes_are_noticed(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/form"))
    first = run(capture_page(page))
    second = run(capture_page(page, previous=first))
    assert second[0].reused is True
    assert second[1] is first[1]
    assert second[0].elements_text == first[0].elements_text

    run(page.evaluate("document.querySelector('h1').textContent = 'Changed heading'"))
    third = run(capture_page(page, previous=second))
    assert third[0].reused is False
    assert "Changed heading" in third[0].page_text

    # typing changes .value without any DOM mutation
    run(page.fill("input[name=q]", "typed text"))
    fourth = run(capture_page(page, previous=third))
    assert fourth[0].reused is False
    assert '<input name=q placeholder="Search here" value="typed text">' in fourth[0].elements_text

    # scrolling alone keeps the capture but refreshes the scroll position
    run(page.set_viewport_size({"width": 800, "height": 200}))
    run(page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r)))"))  # resize
    fifth = run(capture_page(page, previous=fourth))
    run(page.evaluate("window.scrollTo(0, 50)"))
    sixth = run(capture_page(page, previous=fifth))
    assert sixth[0].reused is True
    assert sixth[0].scroll.pixels_above == 50
    assert sixth[0].scroll.pixels_below == fifth[0].scroll.pixels_below - 50
    assert sixth[0].scroll.viewport_height == 200

    # a reload brings a new document: never reused, and old handles are gone
    run(page.reload())
    seventh = run(capture_page(page, previous=sixth))
    assert seventh[0].reused is False
    with pytest.raises(UnknownElementError):
        run(sixth[1].handle(0))
    assert run(seventh[1].handle(0)) is not None


def test_highlight_overlay_is_drawn_removed_and_never_captured(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/frames"))
    run(unhighlight(page))  # nothing drawn yet: harmless
    capture, index = run(capture_page(page))
    overlay_boxes = """() => {
        const s = window[Symbol.for('browserfleet')];
        if (!s.overlay) return null;
        return [s.overlay.isConnected, [...s.overlayRoot.children].map(b => b.textContent)];
    }"""

    run(highlight(page, index))
    connected, labels = run(page.main_frame.evaluate(overlay_boxes))
    assert connected is True
    main_count = len(_element_lines(capture)) - sum(
        1 for line in _element_lines(capture) if "Frame button" in line
    )
    assert labels == [str(i) for i in range(main_count)]
    cross = next(f for f in page.frames if f.url.endswith("who=cross"))
    cross_index = _index_of(capture, "<button>Frame button cross")
    assert run(cross.evaluate(overlay_boxes)) == [True, [str(cross_index)]]

    reused, _ = run(capture_page(page, previous=(capture, index)))
    assert reused.reused is True  # drawing the overlay is not a page change
    fresh, _ = run(capture_page(page))
    assert fresh.elements_text == capture.elements_text
    assert fresh.page_text == capture.page_text

    run(unhighlight(page))
    assert run(page.main_frame.evaluate(overlay_boxes)) is None
    assert run(cross.evaluate(overlay_boxes)) is None
    assert run(page.evaluate("document.documentElement.children.length")) == 2
    run(unhighlight(page))


def test_page_text_is_truncated_with_a_marker(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/long"))
    full, _ = run(capture_page(page, text_chars=100_000))
    assert "…[truncated" not in full.page_text
    short, _ = run(capture_page(page, text_chars=200))
    head, marker = short.page_text.split("…[truncated, ")
    assert head == full.page_text[:200].strip()
    assert marker == f"{len(full.page_text) - 200} more chars]"
    assert short.scroll.pixels_below > 0
    assert short.scroll.pixels_above == 0


def test_frames_without_the_init_script_still_work(
    browser: Browser, servers: tuple[str, str], run: Any
) -> None:
    async def scenario() -> PageCapture:
        ctx = await browser.new_context()  # no INIT_SCRIPT: installed lazily by the capture
        try:
            page = await _open(ctx, f"{servers[0]}/frames")
            capture, index = await capture_page(page)
            await (await index.handle(_index_of(capture, "<button>open shadow button"))).click()
            assert await page.locator("#log").text_content() == "open;"
            again, _ = await capture_page(page, previous=(capture, index))
            assert again.reused is False  # the click counted as a change
            return capture
        finally:
            await ctx.close()

    capture = run(scenario())
    assert "open shadow button" in capture.elements_text
    assert "closed shadow button" not in capture.elements_text  # needs the init script


def test_capture_during_navigation_does_not_fail(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    async def scenario() -> PageCapture:
        page = await _open(context, f"{servers[0]}/form")
        navigation = asyncio.ensure_future(page.goto(f"{servers[0]}/slow"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        capture, _ = await capture_page(page)
        assert time.monotonic() - started < 12
        await navigation
        after, _ = await capture_page(page)
        assert after.title == "Slow"
        assert "<button>Slow button" in after.elements_text
        return capture

    capture = run(scenario())
    assert capture.title in {"Form page", "Slow", ""}


def test_init_script_is_invisible_to_the_page(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/form"))
    run(capture_page(page))
    leaked = run(
        page.evaluate(
            """() => [Object.keys(window).filter(k => /fleet/i.test(k)),
                      Element.prototype.attachShadow.name,
                      Element.prototype.attachShadow.length,
                      String(Element.prototype.attachShadow).includes("[native code]"),
                      Object.getOwnPropertyNames(window).some(k => /fleet/i.test(k))]"""
        )
    )
    assert leaked == [[], "attachShadow", 1, True, False]


def test_modal_dialog_limits_elements_to_the_dialog(context: BrowserContext, run: Any) -> None:
    async def scenario() -> None:
        page = await context.new_page()
        # set_content goes through document.open(), which drops window listeners: the capture
        # must put them back or typing would go unnoticed
        await page.set_content(
            """<p>Background text</p><button>Behind</button><input id="i">
            <dialog><p>Are you sure?</p><button id="ok">OK</button></dialog>"""
        )
        before = await capture_page(page)
        assert [line[3:] for line in _element_lines(before[0])] == ["<button>Behind", "<input>"]

        await page.evaluate("document.querySelector('dialog').showModal()")
        modal = await capture_page(page, previous=before)
        assert modal[0].reused is False
        assert _element_lines(modal[0]) == ["[0]<button>OK"]
        assert "Background text" in modal[0].page_text
        assert "Are you sure?" in modal[0].page_text

        await (await modal[1].handle(0)).evaluate("b => b.closest('dialog').close()")
        after = await capture_page(page, previous=modal)
        assert [line[3:] for line in _element_lines(after[0])] == ["<button>Behind", "<input>"]

        await page.fill("#i", "hello")
        typed = await capture_page(page, previous=after)
        assert typed[0].reused is False
        assert "[1]<input value=hello>" in typed[0].elements_text

        # a different text budget cannot reuse a capture cut to the old one
        shorter = await capture_page(page, previous=typed, text_chars=5)
        assert shorter[0].reused is False
        assert shorter[0].page_text.startswith("Backg…[truncated, ")

    run(scenario())


def test_closed_page_raises_instead_of_returning_an_empty_capture(
    context: BrowserContext, servers: tuple[str, str], run: Any
) -> None:
    page = run(_open(context, f"{servers[0]}/form"))
    run(page.close())
    with pytest.raises(PlaywrightError):
        run(capture_page(page))


def test_slotted_content_is_read_where_it_renders(context: BrowserContext, run: Any) -> None:
    async def scenario() -> PageCapture:
        page = await context.new_page()
        await page.set_content(
            """<my-button>Slotted label</my-button>
            <my-nav><a href="/a">Light link</a><span slot="missing">Unslotted text</span></my-nav>
            <script>
              customElements.define('my-button', class extends HTMLElement {
                constructor() {
                  super();
                  this.attachShadow({mode: 'closed'}).innerHTML =
                    '<button part="b"><slot></slot></button>';
                }
              });
              customElements.define('my-nav', class extends HTMLElement {
                constructor() {
                  super();
                  this.attachShadow({mode: 'open'}).innerHTML = '<nav>Menu: <slot></slot></nav>';
                }
              });
            </script>"""
        )
        capture, _ = await capture_page(page)
        return capture

    capture = run(scenario())
    assert capture.elements_text == "[0]<button>Slotted label\n[1]<a href=/a>Light link"
    assert capture.page_text == "Slotted label\nMenu: Light link"


def test_long_pages_list_only_elements_near_the_viewport(context: BrowserContext, run: Any) -> None:
    page = run(context.new_page())
    buttons = "".join(f'<button style="display:block;height:90px">b{i}</button>' for i in range(200))
    run(page.set_content(f"<title>tall</title>{buttons}"))
    full, _ = run(capture_page(page))
    assert full.elements_text.count("<button") == 200
    windowed, index = run(capture_page(page, window_pages=1.0))
    shown = windowed.elements_text.count("<button")
    assert 0 < shown < 60 and windowed.element_count == 200
    assert "[0]<button>b0" in windowed.elements_text
    assert f"… {200 - shown} more elements below" in windowed.elements_text
    # Scrolling (no DOM change: the capture is reused) moves the window; indices stay global.
    run(page.evaluate("window.scrollTo(0, document.body.scrollHeight)"))
    bottom, same_index = run(capture_page(page, previous=(windowed, index), window_pages=1.0))
    assert bottom.reused and same_index is index
    assert "[199]<button>b199" in bottom.elements_text and "[0]<button>" not in bottom.elements_text
    assert "more elements above" in bottom.elements_text
    run(run(index.handle(0)).scroll_into_view_if_needed())  # off-window elements still resolve
