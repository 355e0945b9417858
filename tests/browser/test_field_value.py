"""Page-side pieces of pickers and popups against real Chromium, without a worker: setting a
value as a picker does, what covers a target and whether a click may close it, where Escape
goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from tests.support.pickers import HOSTILE, REACT, STAYS_OPEN
from workers.page import field_value
from workers.page.controls import click_target
from workers.page.dom import capture_page
from workers.page.overlays import close_cover, covering, escape_target


def _page(run: Callable[[Awaitable[Any]], Any], context: BrowserContext, html: str) -> Page:
    page: Page = run(context.new_page())
    run(page.set_content(html))
    return page


def _submitted(run: Callable[[Awaitable[Any]], Any], page: Page) -> dict[str, str]:
    """What the React-like form would post: its submit handler copies the app state."""
    return dict(run(page.evaluate("""() => {
      const form = document.getElementById('form');
      form.dispatchEvent(new Event('submit'));
      return Object.fromEntries(new FormData(form));
    }""")))


def test_react_hears_a_value_set_through_the_elements_own_setter(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, REACT)
    field = run(page.query_selector("#date"))
    # What a naive script does: React's tracker swallows it, the app state stays empty.
    run(field.evaluate("el => { el.value = '03/10/2027'; "
                       "el.dispatchEvent(new Event('input', {bubbles: true})); }"))
    assert _submitted(run, page)["date"] == ""
    written = run(field_value.set_value(field, "03/10/2027", focus=False))
    assert written.error == "" and written.before == "03/10/2027"
    assert _submitted(run, page)["date"] == "2027-03-10"
    # The slot field reverts anything but a choice from its list: read back, it is empty again.
    slot = run(page.query_selector("#slot"))
    assert run(field_value.set_value(slot, "Tue 13-17", focus=False)).error == ""
    shown = run(field_value.read(slot))
    assert shown is not None and shown.value == ""


def test_a_page_that_makes_value_throw_is_set_with_the_setter_it_had_before(
    context: BrowserContext, browser: Browser, run: Any
) -> None:
    page = _page(run, context, HOSTILE)
    field = run(page.query_selector("#arrival"))
    written = run(field_value.set_value(field, "2027-01-02", focus=True))  # focus() throws too
    assert written.error == ""
    assert run(page.evaluate("new FormData(document.querySelector('form')).get('arrival')")) == "2027-01-02"
    # Without our init script (a frame that missed it) the page's own setter is all there is:
    # it throws, and that is reported, not raised.
    bare = run(browser.new_context())
    try:
        other = _page(run, bare, HOSTILE)
        field = run(other.query_selector("#arrival"))
        written = run(field_value.set_value(field, "2027-01-02", focus=False))
        assert written.error.startswith("the page threw Error: value is read-only here"), written
    finally:
        run(bare.close())


def test_a_browser_rejected_value_leaves_a_native_field_as_it_was(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, "<input type=date value=2026-12-20><script>window.heard=0;"
                 "document.querySelector('input').addEventListener('input', () => heard++)</script>")
    field = run(page.query_selector("input"))
    written = run(field_value.set_value(field, "12/20/2026"))
    assert written.error == "rejected" and written.before == "2026-12-20"
    assert run(field.input_value()) == "2026-12-20" and run(page.evaluate("heard")) == 0


COVERS = """<!doctype html><html><body style="margin:0">
<p><label>City <input id="city"></label></p>
<button id="under-popup" style="margin-top:4px">Save</button>
<div id="pop" class="suggestions" style="position:absolute;top:40px;left:0;width:300px;background:#fff">
  <table><tr><td><span style="cursor:pointer">Paris</span></td></tr>
  <tr><td><span style="cursor:pointer">Parma</span></td></tr></table></div>
<button id="under-banner" style="position:absolute;top:650px;left:10px">Accept terms</button>
<div id="cookies" style="position:fixed;bottom:0;left:0;right:0;height:120px;background:#eee">
  We use cookies</div>
<button id="under-dialog" style="position:absolute;top:300px;left:10px">Pay</button>
<dialog id="dlg"><p>Are you sure?</p><button>Yes</button></dialog>
<script>document.getElementById('city').focus();</script>
</body></html>"""


def test_what_covers_a_target_is_named_by_its_root_and_only_a_popup_may_be_closed(
    context: BrowserContext, run: Any
) -> None:
    page = _page(run, context, COVERS)
    _, index = run(capture_page(page))

    def target(selector: str) -> Any:
        look = run(click_target(run(page.query_selector(selector))))
        return run(covering(page.main_frame, look)) if look.kind == "covered" else look

    popup = target("#under-popup")
    assert popup.kind == "covered" and popup.transient
    assert popup.cover_what.startswith("<div id=pop>Paris"), popup  # the widget, not a cell
    assert popup.owner_local >= 0 and index.describe(popup.owner_local).endswith("<input label=City>")
    banner = target("#under-banner")
    assert banner.kind == "covered" and not banner.transient, banner  # a page-wide bar: no owner, no popup
    assert banner.cover_what == "<div id=cookies>We use cookies"
    run(page.evaluate("document.getElementById('dlg').showModal()"))
    dialog = target("#under-dialog")
    assert dialog.kind == "covered" and not dialog.transient, dialog  # modal: the page wants an answer


def test_escape_goes_to_the_field_a_popup_listens_on(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, STAYS_OPEN)
    run(capture_page(page))  # (set_content's document.open() dropped the focus listener until then)
    run(page.click("#topics"))
    run(page.click("#topics-list li:nth-child(2)"))  # focus moves to the option
    run(capture_page(page))
    assert run(page.evaluate("document.activeElement.textContent")) == "Travel"
    assert run(escape_target(page.main_frame)) == 0  # the field, listed first
    run(page.keyboard.press("Escape"))
    assert run(page.evaluate("document.getElementById('topics-list').hidden")) is True
    # Nothing open any more: keys go where focus is.
    assert run(escape_target(page.main_frame)) is None


SHADOW = """<!doctype html><html><body style="margin:0">
<x-select></x-select>
<button id="go" style="position:absolute;top:60px;left:10px">Go</button>
<script>
customElements.define('x-select', class extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = '<input id="f" placeholder="Fruit"><ul role="listbox" style="position:absolute;' +
      'top:30px;left:0;width:240px;margin:0;background:#fff;z-index:3"><li role="option">Apple</li>' +
      '<li role="option">Pear</li><li role="option">Plum</li><li role="option">Fig</li></ul>';
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') root.querySelector('ul').hidden = true;
    });
  }
});
</script></body></html>"""


def test_a_popup_inside_a_web_component_is_named_and_closed(context: BrowserContext, run: Any) -> None:
    page = _page(run, context, SHADOW)
    run(capture_page(page))
    covered = run(covering(page.main_frame, run(click_target(run(page.query_selector("#go"))))))
    assert covered.kind == "covered" and covered.transient, covered
    assert covered.cover_what.startswith("<ul role=listbox>Apple"), covered
    assert run(close_cover(page, page.main_frame)) == "Escape"
    assert run(click_target(run(page.query_selector("#go")))).kind == "point"
