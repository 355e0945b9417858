"""Hard controls end to end: a real worker and Chromium, the scripted model choosing every
element by what the prompt shows (its line text, its nesting, the last step's result).

Pages: tests/support/controls.py. Each test is one cause of failure on real sites: controls
nested in a clickable container, icon-only controls, a suggestion list, a tree, a readonly
picker field and a native date input, a late menu over a button, a multi-select, a box that
must be scrolled to its end. (More pickers and popups: test_pickers.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from shared.models import TaskStatus, TaskView
from tests.e2e.helpers import run, script_id
from tests.support.controls import PAGES
from tests.support.fake_llm import Call, FakeLLM, Script, step
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")

@pytest.fixture(autouse=True)
def _pages(site: Site) -> Iterator[None]:
    site.pages.update(PAGES)
    yield


def done(text: str, success: bool = True) -> str:
    return step({"done": {"text": text, "success": success}})


def elements(call: Call) -> list[tuple[int, int, str]]:
    return call.elements()


def page_text(call: Call) -> str:
    return call.page_text


def last_result(call: Call) -> str:
    return call.last_result


def _run(producer, fake_llm: FakeLLM, site: Site, name: str, path: str, script: Script) -> TaskView:  # type: ignore[no-untyped-def]
    sid = script_id(name)
    marker = fake_llm.script(sid, script)
    view = run(producer, {"task": f"Operate the page. {marker}", "startUrl": site.url + path, "vision": False,
                          "maxSteps": 10})
    assert view.status == TaskStatus.finished, view.error
    return view


def results(view: TaskView) -> list[list[str]]:
    return [s.results for s in view.steps]


def test_controls_inside_a_clickable_container_and_icon_controls(producer, fake_llm, site) -> None:
    def script(call: Call) -> str:
        text = page_text(call)
        if "No action yet." in text:
            return step({"click": {"index": call.index_of(r"<span class=icon-star>$")}})
        if "Starred: Quarterly report" in text:
            return step({"click": {"index": call.index_of(r"<span>Forward$")}})
        return done(next(line for line in text.splitlines() if "Quarterly report" in line and ":" in line
                         and not line.startswith(("From", "Subject"))))

    view = _run(producer, fake_llm, site, "mail", "/controls/mail", script)
    assert view.output == "Forward started: Quarterly report"
    first = fake_llm.calls[_sid(fake_llm, view)][0]
    lines = elements(first)
    container = next(line for line in lines if line[2].startswith("<div"))
    assert container[0] == 0 and "Forward" not in container[2] and "Quarterly report" in container[2]
    nested = {body: depth for depth, _, body in lines}
    assert nested["<span>Reply"] == nested["<span>Forward"] == 1
    assert nested["<span class=icon-star>"] == 1 and nested["<span id=trash>"] == 1
    assert not any("x9f3k2q7z" in body for body in nested)  # generated ids are noise


def _sid(fake_llm: FakeLLM, view: TaskView) -> str:
    """The script id whose calls produced ``view`` (matched by the task text)."""
    marker = re.search(r"\[\[script:([\w-]+)\]\]", view.task or "")
    assert marker, view.task
    return marker.group(1)


def test_pick_the_second_suggestion_of_an_autocomplete(producer, fake_llm, site) -> None:
    def script(call: Call) -> str:
        text = page_text(call)
        if "Flights to" in text:
            return done(next(line for line in text.splitlines() if line.startswith("Flights to")))
        lines = elements(call)
        field = next(body for _, _, body in lines if "label=Destination" in body)
        if "value=" not in field:
            return step({"input": {"index": call.index_of("label=Destination"), "text": "An"}})
        suggestions = [index for depth, index, body in lines if depth == 1 and body.startswith("<li>")]
        if suggestions:
            return step({"click": {"index": suggestions[1]}})
        if "value=An " in field or field.endswith("value=An>"):
            return done("the suggestions were not listed", success=False)
        return step({"click": {"index": call.index_of(r"<button>Search flights")}})

    view = _run(producer, fake_llm, site, "suggest", "/controls/suggest", script)
    assert view.output == "Flights to Angola", results(view)
    second = fake_llm.calls[_sid(fake_llm, view)][1]
    bodies = [(depth, body) for depth, _, body in elements(second)]
    ul = next(i for i, (_, body) in enumerate(bodies) if body.startswith("<ul"))
    assert bodies[ul + 1 : ul + 5] == [(1, "<li>Andorra"), (1, "<li>Angola"), (1, "<li>Anguilla"),
                                        (1, "<li>Antigua")]


def test_expand_a_folder_of_a_tree_and_open_a_file(producer, fake_llm, site) -> None:
    def toggle_of(call: Call, name: str) -> int | None:
        """The toggle listed inside the collapsed tree node called ``name``."""
        lines = elements(call)
        for pos, (depth, _, body) in enumerate(lines):
            if body.endswith(f">{name}") and " collapsed" in body:
                inside = [line for line in lines[pos + 1 :] if line[0] > depth]
                return inside[0][1] if inside else None
        return None

    def script(call: Call) -> str:
        text = page_text(call)
        if "Contents of report.txt" in text:
            return done(next(line for line in text.splitlines() if line.startswith("Contents of")))
        if "report.txt" in "".join(body for _, _, body in elements(call)):
            return step({"click": {"index": call.index_of(r"<span>report\.txt$")}})
        toggle = toggle_of(call, "Documents")
        if toggle is None:
            return done("no toggle listed for Documents", success=False)
        return step({"click": {"index": toggle}})

    view = _run(producer, fake_llm, site, "tree", "/controls/tree", script)
    assert view.output == "Contents of report.txt: Q3 revenue: 42", results(view)
    first, second = fake_llm.calls[_sid(fake_llm, view)][:2]
    assert "<li role=treeitem collapsed>Documents" in first.user
    assert "<li role=treeitem expanded>Documents" in second.user
    assert "report.txt" not in first.user.split("page text:")[0]  # hidden until expanded


def test_readonly_picker_field_and_native_date_input(producer, fake_llm, site) -> None:
    def script(call: Call) -> str:
        text = page_text(call)
        if "Booked" in text:
            return done(next(line for line in text.splitlines() if line.startswith("Booked")))
        if call.index == 0:
            return step(
                {"input": {"index": call.index_of("label=Check-in"), "text": "2026-12-15"}},
                {"input": {"index": call.index_of("label=Check-out"), "text": "12/20/2026"}},
                {"click": {"index": call.index_of(r"<button>Book$")}},
            )
        return done(f"unexpected state after: {last_result(call)}", success=False)

    view = _run(producer, fake_llm, site, "dates", "/controls/dates", script)
    assert view.output == "Booked 2026-12-15 to 2026-12-20 (input,change)", results(view)
    checkin, checkout, _ = results(view)[0]
    # The readonly field is set as its picker sets it, at once (not refused, not a 15 s fill
    # timeout); the native date input reads the US format the browser shows it in.
    assert checkin == "set [0] to '2026-12-15' as its picker would (readonly field)", checkin
    assert checkout == "set [1] (date) to '2026-12-20' from '12/20/2026'; it now holds '2026-12-20'", checkout
    assert len(view.steps) == 2


def test_a_late_menu_over_a_button_is_closed_by_the_click(producer, fake_llm, site) -> None:
    def script(call: Call) -> str:
        text = page_text(call)
        if "Saved city" in text:
            return done(next(line for line in text.splitlines() if line.startswith("Saved city")))
        if call.index == 0:
            return step(
                {"input": {"index": call.index_of("label=City"), "text": "Par"}},
                {"click": {"index": call.index_of("<button>Save profile")}},
            )
        return done(f"unexpected: {last_result(call)}", success=False)

    view = _run(producer, fake_llm, site, "late", "/controls/late", script)
    assert view.output == "Saved city Par", results(view)
    typed, clicked = results(view)[0]
    assert typed.startswith("typed 'Par' into [")
    # The menu opened after the typing settled, over the button; the click closed it as a
    # person would (Escape, which the page listens for) and named the menu, not one option.
    assert re.fullmatch(
        r"closed <ul id=menu>Paris Parma Paramaribo that covered it \(Escape\), then clicked \[\d+\]", clicked
    ), clicked
    assert len(view.steps) == 2


def test_select_three_options_of_a_multi_select(producer, fake_llm, site) -> None:
    def script(call: Call) -> str:
        text = page_text(call)
        if "Toppings:" in text:
            return done(next(line for line in text.splitlines() if line.startswith("Toppings:")))
        select = call.index_of("<select")
        if 'selected="Cheese | Ham | Pineapple"' in call.user:
            return step(
                {"select_dropdown": {"index": select, "text": "Pineapple", "remove": True}},
                {"select_dropdown": {"index": select, "text": "Olives"}},
                {"click": {"index": call.index_of("<button>Order pizza")}},
            )
        return step(*({"select_dropdown": {"index": select, "text": t}}
                      for t in ("Cheese", "Ham", "Pineapple")))

    view = _run(producer, fake_llm, site, "multi", "/controls/multi", script)
    assert view.output == "Toppings: Cheese, Ham, Olives", results(view)
    steps = results(view)
    assert steps[0][-1].endswith("now selected: Cheese, Ham, Pineapple")
    assert steps[1][0].endswith("now selected: Cheese, Ham")
    assert steps[1][1].endswith("now selected: Cheese, Ham, Olives")


def test_scroll_a_text_box_to_its_end(producer, fake_llm, site) -> None:
    def script(call: Call) -> str:
        text = page_text(call)
        if "Accepted" in text:
            return done("Accepted")
        if call.index and "reached the bottom of it" in last_result(call):
            return step(
                {"click": {"index": call.index_of(r'type=checkbox.*label="I have read the terms"')}},
                {"click": {"index": call.index_of("<button>Continue")}},
            )
        return step({"scroll": {"down": True, "pages": 1, "index": call.index_of(r"<div>Clause 1:")}})

    view = _run(producer, fake_llm, site, "terms", "/controls/terms", script)
    assert view.output == "Accepted", results(view)
    scrolls = [s.results[0] for s in view.steps if "scroll" in json.loads(s.actions[0])]
    assert len(scrolls) >= 3, scrolls
    above = [int(m.group(1)) for r in scrolls if (m := re.search(r"now (\d+)px above", r))]
    assert len(above) == len(scrolls) and above == sorted(above) and above[0] > 0, scrolls
    assert "reached the bottom of it" in scrolls[-1] and " 0px below" in scrolls[-1]
    assert all("reached" not in r for r in scrolls[:-1])
