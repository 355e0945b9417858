"""The real libraries, not our imitations: jQuery UI's datepicker and React 18 (Debian's
``libjs-jquery-ui`` and ``node-react``/``node-react-dom``, which ``make test`` installs),
driven through a worker by the scripted model; the assertions are on what the page's form
sent to the server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, Script, step
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")

JQUERY = Path("/usr/share/javascript/jquery/jquery.min.js")
JQUERY_UI = Path("/usr/share/javascript/jquery-ui/jquery-ui.min.js")
REACT = Path("/usr/share/nodejs/react/umd/react.production.min.js")
REACT_DOM = Path("/usr/share/nodejs/react-dom/umd/react-dom.production.min.js")


def _library(*paths: Path) -> str:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test-deps installs them)")
    return "".join(f"<script>{p.read_text()}</script>" for p in paths)


def _run(producer: Any, fake_llm: FakeLLM, site: Site, name: str, html: str,
         script: Script) -> tuple[list[list[str]], list[dict[str, str]]]:
    sid = script_id(name)
    site.pages[f"/real-{sid}"] = html
    marker = fake_llm.script(sid, script)
    before = len(site.forms)
    view = run(producer, {"task": f"Fill in the form. {marker}", "startUrl": f"{site.url}/real-{sid}",
                          "vision": False, "maxSteps": 8})
    results = [s.results for s in view.steps]
    assert view.status == TaskStatus.finished and view.is_success, (view.error, results)
    return results, [form for _, form in site.forms[before:]]


def _fill_and_submit(field: str, text: str, button: str) -> Script:
    def script(call: Call) -> str:
        if "Received" in call.page_text:
            return step({"done": {"text": "sent", "success": True}})
        if call.index == 0:
            return step({"input": {"index": call.index_of(field), "text": text}},
                        {"click": {"index": call.index_of(button)}})
        return step({"done": {"text": f"unexpected: {call.last_result}", "success": False}})

    return script


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "typable"])
def test_jquery_ui_datepicker(producer, fake_llm, site, readonly: bool) -> None:
    html = f"""<!doctype html><html><head><title>Booking</title>{_library(JQUERY, JQUERY_UI)}</head><body>
<form method="post" action="/submit/real-jqui">
<p><label>Check-in
  <input id="d" name="checkin" placeholder="mm/dd/yyyy" {"readonly" if readonly else ""}></label></p>
<p style="padding-left: 90px"><button type="submit">Book</button></p>
<input type="hidden" id="iso" name="iso">
</form>
<script>
  $('#d').datepicker({{ altField: '#iso', altFormat: 'yy-mm-dd', defaultDate: new Date(2026, 11, 1) }});
</script>
</body></html>"""
    results, forms = _run(producer, fake_llm, site, "real-jqui", html,
                          _fill_and_submit("label=Check-in", "2027-11-18", "<button type=submit>Book"))
    assert forms == [{"checkin": "11/18/2027", "iso": "2027-11-18"}], results


def test_react_controlled_inputs(producer, fake_llm, site) -> None:
    """React 18: a controlled, readonly date field whose onChange keeps a MM/DD/YYYY date, and
    one whose onChange ignores what it is given (only its own list may set it): React puts
    its state back after the event, the action says so."""
    app = """
const e = React.createElement;
function App() {
  const [date, setDate] = React.useState('');
  const [slot] = React.useState('');
  return e('form', { method: 'post', action: '/submit/real-react' },
    e('p', null, e('label', null, 'Delivery date ',
      e('input', { readOnly: true, placeholder: 'MM/DD/YYYY', value: date,
        onChange: (ev) => {
          if (/^\\d{2}\\/\\d{2}\\/\\d{4}$/.test(ev.target.value)) setDate(ev.target.value);
        } }))),
    e('p', null, e('label', null, 'Delivery slot ',
      e('input', { readOnly: true, placeholder: 'Choose a slot', value: slot, onChange: () => {} }))),
    e('input', { type: 'hidden', name: 'date', value: date }),
    e('button', { type: 'submit' }, 'Place order'));
}
ReactDOM.createRoot(document.getElementById('root')).render(e(App));
"""
    html = (f"<!doctype html><html><head><title>Order</title>{_library(REACT, REACT_DOM)}</head><body>"
            f"<div id='root'></div><script>{app}</script></body></html>")

    def script(call: Call) -> str:
        if "Received" in call.page_text:
            return step({"done": {"text": "sent", "success": True}})
        if call.index == 0:
            return step({"input": {"index": call.index_of('label="Delivery slot"'), "text": "Tue 13-17"}})
        if call.index == 1:
            date = call.index_of('label="Delivery date"')
            return step({"input": {"index": date, "text": "March 10, 2027"}},
                        {"click": {"index": call.index_of("<button type=submit>Place order")}})
        return step({"done": {"text": f"unexpected: {call.last_result}", "success": False}})

    results, forms = _run(producer, fake_llm, site, "real-react", html, script)
    assert forms == [{"date": "03/10/2027"}], results
    assert "did not keep 'Tue 13-17' (it went back to '')" in results[0][0], results
    assert re.match(r"set \[\d+\] to '03/10/2027' as its picker would", results[1][0]), results
