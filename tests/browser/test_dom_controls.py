"""Hard controls against real Chromium, without a worker: how they are listed, where a click
lands, what covers an element, when a page has settled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import BrowserContext, Page

from tests.support.controls import MAIL, SUGGEST, TREE
from workers.page.controls import click_target, scroll, settle
from workers.page.dom import capture_page
from workers.page.overlays import covering


def _page(run: Callable[[Awaitable[Any]], Any], context: BrowserContext, html: str) -> Page:
    page: Page = run(context.new_page())
    run(page.set_content(html))
    return page


def test_controls_inside_a_clickable_container_are_listed_indented(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, MAIL)
    capture, _ = run(capture_page(page))
    assert capture.elements_text.splitlines() == [
        "[0]<div>From: Grace Hopper Subject: Quarterly report",
        "\t[1]<span>Reply",
        "\t[2]<span>Forward",
        "\t[3]<span class=icon-star>",
        "\t[4]<span id=trash>",
        "\t[5]<span>",  # a generated id is no hint
    ]


def test_a_list_that_handles_its_items_clicks_lists_each_item(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, SUGGEST)
    run(page.fill("#country", "Ang"))
    run(page.wait_for_selector("#list li"))
    capture, _ = run(capture_page(page))
    assert capture.elements_text.splitlines() == [
        "[0]<input value=Ang label=Destination>",
        "[1]<ul id=list>",
        "\t[2]<li>Angola",
        "\t[3]<li>Anguilla",
        "[4]<button>Search flights",
    ]


def test_tree_nodes_show_their_state_and_their_toggles(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, TREE)
    capture, index = run(capture_page(page))
    lines = capture.elements_text.splitlines()
    assert lines[:4] == [
        "[0]<li role=treeitem collapsed>Pictures",
        "\t[1]<span>▸",
        "[2]<li role=treeitem collapsed>Documents",
        "\t[3]<span>▸",
    ]
    run(run(index.handle(3)).click())
    after, _ = run(capture_page(page, previous=(capture, index)))
    assert after.elements_text.splitlines()[2:8] == [
        "[2]<li role=treeitem expanded>Documents",
        "\t[3]<span>▾",
        "\t[4]<li role=treeitem>",
        "\t\t[5]<span>notes.txt",
        "\t[6]<li role=treeitem>",
        "\t\t[7]<span>report.txt",
    ]


def test_names_for_icon_only_controls(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, """
        <style>span, button { display: inline-block; min-width: 10px; min-height: 10px; }</style>
        <div role="toolbar" tabindex="0">
          <span id="send-message"></span><span id="ember412"></span><span id=":r3:"></span>
          <span id="k8f3qz"></span><span id="btnXq9z7Kd"></span>
          <button><i class="fa fa-trash"></i></button>
          <button><svg width="10" height="10"><use href="#icon-close"></use></svg></button>
          <button class="btn icon-button" title="Archive"></button>
          <span class="ico material-icons">delete</span>
          <button><svg class="svg-inline--fa fa-solid fa-pen" width="10" height="10"></svg></button>
          <button><i class="Icon_root__3xYz"></i></button>
        </div>
        <script>
          for (const s of document.querySelectorAll('span')) s.addEventListener('click', () => {});
        </script>""")
    capture, _ = run(capture_page(page))
    assert capture.elements_text.splitlines() == [
        "[0]<div>",
        "\t[1]<span id=send-message>",
        "\t[2]<span>",
        "\t[3]<span>",
        "\t[4]<span>",
        "\t[5]<span>",
        "\t[6]<button class=fa-trash>",
        "\t[7]<button class=icon-close>",
        "\t[8]<button title=Archive>",
        "\t[9]<span>delete",
        "\t[10]<button class=fa-pen>",
        "\t[11]<button>",  # a generated class name is no hint either
    ]


def test_script_and_framework_handlers_make_elements_listed(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, """
        <div id="root"><div tabindex="0">Card
          <span id="a">Via listener</span> <span id="b">Via React props</span>
          <span id="c">Plain text</span></div></div>
        <script>
          document.getElementById('a').addEventListener('mousedown', () => {});
          const root = document.getElementById('root');
          root['__reactContainer$x1'] = {};
          document.getElementById('b')['__reactProps$x1'] = { onClick() {} };
        </script>""")
    capture, _ = run(capture_page(page))
    assert capture.elements_text.splitlines() == [
        "[0]<div>Card Plain text",
        "\t[1]<span>Via listener",
        "\t[2]<span>Via React props",
    ]


def test_a_container_is_clicked_at_a_point_of_its_own(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, MAIL)
    _, index = run(capture_page(page))
    target = run(click_target(run(index.handle(0))))
    assert target.kind == "point" and target.position is not None
    run(run(index.handle(0)).click(position=target.position, timeout=2000))
    assert run(page.text_content("#status")) == "Opened: Quarterly report"
    # A bar filling the container's middle: the point found is still on the container.
    run(page.evaluate("document.querySelector('.bar').style.cssText = 'width:100%;height:60px'"))
    run(run(index.handle(0)).click(position=run(click_target(run(index.handle(0)))).position, timeout=2000))
    assert run(page.text_content("#status")) == "Opened: Quarterly report"


def test_covered_and_disabled_elements_are_told_at_once(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, """
        <button id="save" style="margin:40px">Save</button> <button disabled>Send</button>
        <div role="menu" style="position:fixed;top:0;left:0;width:400px;height:200px;background:#eee">
          <div role="menuitem" style="height:200px">Open recent</div></div>
        <label><input type="checkbox" id="c" style="opacity:0;position:absolute">
          <span style="display:inline-block;width:20px;height:20px;background:#333"></span> Agree</label>""")
    capture, index = run(capture_page(page))
    lines = capture.elements_text.splitlines()
    save = next(i for i, line in enumerate(lines) if "Save" in line)
    target = run(click_target(run(index.handle(save))))
    assert target.kind == "covered"
    assert index.describe_near(save, target.cover_local) == "[2]<div role=menuitem>Open recent"
    # asked more, the page names the covering widget (the menu), not the item that happens
    # to be on top, and says it is a popup a click may close first
    target = run(covering(page.main_frame, target))
    assert target.cover_local == -1 and target.cover_what == "<div role=menu>Open recent", target
    assert target.transient
    send = next(i for i, line in enumerate(lines) if "Send" in line)
    assert run(click_target(run(index.handle(send)))).kind == "disabled"
    # a checkbox under its own styled label is not "covered"
    box = next(i for i, line in enumerate(lines) if "checkbox" in line)
    assert run(click_target(run(index.handle(box)))).kind == "point"


def test_settle_waits_for_pending_timers_and_is_bounded(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, SUGGEST)
    run(page.fill("#country", "An"))
    handle = run(page.query_selector("#country"))
    assert run(settle(handle)) is True
    assert run(page.locator("#list li").count()) == 4  # rendered by the debounced timers
    # a page that re-arms a short timer forever never settles: the wait ends at its bound
    run(page.evaluate("(() => { const again = () => setTimeout(again, 50); again(); })()"))
    assert run(settle(handle, max_ms=300)) is False


def test_wrapped_page_functions_still_look_native(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, "<p>x</p>")
    names = ["setTimeout", "clearTimeout", "fetch", "EventTarget.prototype.addEventListener",
             "XMLHttpRequest.prototype.send"]
    looks = run(page.evaluate(
        """(names) => names.map((n) => { const f = n.split('.').reduce((o, k) => o[k], window);
             return [f.name, String(f).includes('[native code]')]; })""", names))
    assert looks == [[n.split(".")[-1], True] for n in names]
    assert run(page.evaluate("new Promise(r => setTimeout(() => r(42), 1))")) == 42


def test_delegation_roots_and_items_holding_controls_add_no_lines(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, """
        <div id="app" style="min-height:700px"><p>Welcome</p>
          <span class="item" style="cursor:pointer">Item A</span>
          <ul role="menu" tabindex="0"><li><a href="/home">Home</a></li><li>Settings</li><li></li></ul>
        </div>
        <script>document.getElementById('app').addEventListener('click', () => {});</script>""")
    capture, _ = run(capture_page(page))
    assert capture.elements_text.splitlines() == [
        "[0]<span>Item A",
        "[1]<ul>",
        "\t[2]<a href=/home>Home",
        "\t[3]<li>Settings",
    ]


def test_wrapped_links_and_pass_through_elements_are_clicked(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, """
        <p style="width:220px;font:16px monospace">Some words then <a href="#" id="l"
          onclick="document.title = 'link'; return false">a link that wraps</a> and more.</p>
        <div onclick="document.title += '+div'" style="padding:10px">
          <span style="pointer-events:none;cursor:pointer">Ghost label</span></div>""")
    capture, index = run(capture_page(page))
    lines = capture.elements_text.splitlines()
    link = next(i for i, line in enumerate(lines) if "a link that wraps" in line)
    assert run(page.evaluate("document.getElementById('l').getClientRects().length")) == 2
    target = run(click_target(run(index.handle(link))))
    assert target.kind == "point" and not target.force
    run(run(index.handle(link)).click(position=target.position, timeout=2000))
    assert run(page.title()) == "link"
    ghost = next(i for i, line in enumerate(lines) if "Ghost label" in line)
    target = run(click_target(run(index.handle(ghost))))
    assert target.kind == "point" and target.force  # the click reaches the div under it
    run(run(index.handle(ghost)).click(position=target.position, force=True, timeout=2000))
    assert run(page.title()) == "link+div"


def test_scrolling_reports_where_it_ended(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, """
        <div id="box" style="height:100px;overflow:auto"><p style="height:250px">tall</p></div>
        <p id="plain">not scrollable</p><div style="height:3000px"></div>""")
    box = run(page.query_selector("#box"))
    first = run(scroll(box, 1.0))
    assert first.box is not None and first.box_is_element
    assert (first.moved, first.box.above, first.box.height) == (100, 100, 100)
    assert first.box.below == run(page.evaluate("box.scrollHeight")) - 200
    last = run(scroll(box, 5.0))
    assert last.box is not None and last.box.below == 0 and last.moved > 0
    inner = run(page.query_selector("#box p"))
    up = run(scroll(inner, -10.0))  # an element inside the box scrolls the box
    assert up.box is not None and not up.box_is_element and up.box.above == 0
    # outside any scrollable box: the page scrolls, and says how far it is from its ends
    plain = run(scroll(run(page.query_selector("#plain")), 1.0))
    assert plain.box is None and plain.page.above == plain.page.height == 720
    end = run(scroll(page, 10.0))
    assert end.page.below == 0 and end.page.above > 720
