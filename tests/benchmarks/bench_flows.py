"""Steps per flow on widget pages: how many agent steps a task takes, end to end.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_flows.py [--label after] [--out FILE]``.

Each flow is a task on one fixture page (``tests/support/controls.py``, ``pickers.py``)
driven by the real agent loop, a real Chromium and the fake model over litellm's HTTP path.
The model is a *scripted policy*: it reads each step's state and the last result the way a
careful model would (type the value first; if the field is refused, open its picker and walk
it; if a click is covered, follow the advice, Escape, then click again), and never knows
which code it runs against. So the same policy, run on two versions of the code, counts the
steps each version costs. A flow counts as done only when the page's own form reached the
test server with the right values (or, for the pages without a form, the page shows the
expected result) and the model then said ``done``.

``--label before`` on an older checkout (``PYTHONPATH=<that checkout>``) gives the baseline;
both labels are kept side by side in results.json under ``flows``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.benchmarks.bench_pipeline import _Hooks  # noqa: E402
from tests.support import controls, pickers  # noqa: E402
from tests.support.fake_llm import Call, FakeLLM, step  # noqa: E402
from tests.support.site import Site  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
MAX_STEPS = 16
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def _elements(call: Call) -> list[tuple[int, int, str]]:
    return call.elements()


def _text(call: Call) -> str:
    return call.page_text


def _last(call: Call) -> str:
    return call.last_result


def _find(call: Call, pattern: str) -> int | None:
    return next((i for _, i, body in _elements(call) if re.search(pattern, body)), None)


def _done(text: str = "done") -> str:
    return step({"done": {"text": text, "success": True}})


def _walk(call: Call, year: int, month: int, day: int, then: list[dict[str, Any]]) -> str | None:
    """A calendar is open (a Next control is listed): one step towards ``year-month``, or the
    day's click followed by ``then``; ``None`` if no calendar is shown."""
    nxt, prev = _find(call, r">Next$"), _find(call, r">Prev$")
    if nxt is None:
        return None
    shown = re.search(r"(" + "|".join(MONTHS) + r") (\d{4})", _text(call))
    if shown is None:
        return None
    at = (int(shown[2]), MONTHS.index(shown[1]) + 1)
    if at < (year, month):
        return step({"click": {"index": nxt}})
    if at > (year, month) and prev is not None:
        return step({"click": {"index": prev}})
    target = _find(call, rf"^<a>{day}$")
    return step({"click": {"index": target}}, *then) if target is not None else None


# -- policies -------------------------------------------------------------------------------


def jqui(call: Call) -> str:
    """Check-in 2027-11-18 on a jQuery-UI-like readonly field whose calendar starts at Dec 2026."""
    if "Received" in _text(call):
        return _done()
    submit = {"click": {"index": _find(call, r"<button type=submit>Submit booking")}}
    walked = _walk(call, 2027, 11, 18, [submit])
    if walked:
        return walked
    last = _last(call)
    field = _find(call, r"label=Check-in")
    if call.index == 0:
        return step({"input": {"index": field, "text": "2027-11-18"}}, submit)
    if "picker" in last:
        return step({"click": {"index": field}})
    if "covered by" in last:
        return step({"send_keys": {"keys": "Escape"}}, submit)
    return step(submit)


def react(call: Call) -> str:
    """Delivery date 2027-03-10 (a readonly React field with a calendar) and slot Tue 13-17
    (a React field that reverts anything not chosen from its list)."""
    if "Received" in _text(call):
        return _done()
    submit = {"click": {"index": _find(call, r"<button type=submit>Place order")}}
    walked = _walk(call, 2027, 3, 10, [])
    if walked:
        return walked
    option = _find(call, r"<li role=option>Tue 13-17")
    if option is not None:
        return step({"click": {"index": option}}, submit)
    date, slot = _find(call, r"label=\"Delivery date\""), _find(call, r"label=\"Delivery slot\"")
    last = _last(call)
    if call.index == 0:
        return step({"input": {"index": date, "text": "2027-03-10"}},
                    {"input": {"index": slot, "text": "Tue 13-17"}}, submit)
    date_line = next(body for _, i, body in _elements(call) if i == date)
    if "value=" not in date_line:
        return step({"click": {"index": date}})
    if "picker" in last or "did not keep" in last:
        return step({"click": {"index": slot}})
    if "covered by" in last:
        return step({"send_keys": {"keys": "Escape"}}, submit)
    return step({"input": {"index": slot, "text": "Tue 13-17"}}, submit)


def native(call: Call) -> str:
    """Five native inputs on a British page, each given as a person would write it; an error
    is answered by writing that value as the error says."""
    if "Received" in _text(call):
        return _done()
    ids = {name: _find(call, rf"name={name}\b") for name in ("depart", "return", "pickup", "expiry", "week")}
    submit = {"click": {"index": _find(call, r"<button type=submit>Save trip")}}
    first = {"depart": "05/03/2027", "return": "04/05/2027", "pickup": "3:45 pm", "expiry": "March 2027",
             "week": "2027-03-05"}
    fixed = {"depart": "2027-03-05", "return": "2027-05-04", "pickup": "15:45", "expiry": "2027-03",
             "week": "2027-W09"}
    lines = {i: body for _, i, body in _elements(call)}
    plan = []
    for name, index in ids.items():
        if index is None or "value=" in lines.get(index, ""):
            continue
        use = fixed[name] if f"[{index}]" in _last(call) and "error" in _last(call) else first[name]
        plan.append({"input": {"index": index, "text": use}})
    return step(*plan, submit)


def alt(call: Call) -> str:
    """A flatpickr-like field whose form sends a hidden ISO input only its calendar fills."""
    if "Received" in _text(call):
        return _done()
    submit = {"click": {"index": _find(call, r"<button type=submit>Book")}}
    day = _find(call, r'aria-label="December 20, 2026"')
    if day is not None:
        return step({"click": {"index": day}}, submit)
    field = _find(call, r"label=Day")
    if call.index == 0:
        return step({"input": {"index": field, "text": "2026-12-20"}}, submit)
    return step({"click": {"index": field}})


def stays_open(call: Call) -> str:
    """Two topics from a list that stays open over Subscribe after each choice."""
    if "Received" in _text(call):
        return _done()
    submit = {"click": {"index": _find(call, r"<button type=submit>Subscribe")}}
    science = _find(call, r"<li role=option>Science")
    last = _last(call)
    if "covered by" in last:
        return step({"send_keys": {"keys": "Escape"}}, submit)
    if science is not None and "Science" not in (_find_value(call, "Topics") or ""):
        travel = _find(call, r"<li role=option>Travel")
        return step({"click": {"index": science}}, {"click": {"index": travel}}, submit)
    if science is None:
        return step({"click": {"index": _find(call, r"label=Topics")}})
    return step(submit)


def _find_value(call: Call, label: str) -> str | None:
    for _, _, body in _elements(call):
        if f"label={label}" in body:
            match = re.search(r'value=("[^"]*"|\S+)', body)
            return match[1] if match else ""
    return None


def late(call: Call) -> str:
    """Type a city, then Save, under a suggestion menu that opens late over the button."""
    text = _text(call)
    if "Saved city" in text:
        return _done()
    save = {"click": {"index": _find(call, r"<button>Save profile")}}
    if call.index == 0:
        return step({"input": {"index": _find(call, r"label=City"), "text": "Par"}}, save)
    if "covered by" in _last(call):
        return step({"send_keys": {"keys": "Escape"}}, save)
    return step(save)


def dates(call: Call) -> str:
    """The controls page's check-in (readonly, a day picker) and check-out (native date)."""
    if "Booked" in _text(call):
        return _done()
    book = {"click": {"index": _find(call, r"<button>Book$")}}
    day = _find(call, r'aria-label="December 15, 2026"')
    if day is not None:
        return step({"click": {"index": day}}, book)
    checkin, checkout = _find(call, r"label=Check-in"), _find(call, r"label=Check-out")
    last = _last(call)
    if call.index == 0:
        return step({"input": {"index": checkout, "text": "12/20/2026"}},
                    {"input": {"index": checkin, "text": "2026-12-15"}}, book)
    if "YYYY-MM-DD" in last:
        return step({"input": {"index": checkout, "text": "2026-12-20"}},
                    {"input": {"index": checkin, "text": "2026-12-15"}}, book)
    return step({"click": {"index": checkin}})


def suggest(call: Call) -> str:
    """An autocomplete: type, pick the second suggestion, search."""
    text = _text(call)
    if "Flights to" in text:
        return _done()
    lines = _elements(call)
    field = next(body for _, _, body in lines if "label=Destination" in body)
    if "value=" not in field:
        return step({"input": {"index": _find(call, "label=Destination"), "text": "An"}})
    items = [i for depth, i, body in lines if depth == 1 and body.startswith("<li>")]
    if items:
        return step({"click": {"index": items[1]}})
    return step({"click": {"index": _find(call, r"<button>Search flights")}})


def tree(call: Call) -> str:
    """Expand a folder of a tree by its bare toggle, open a file."""
    if "Contents of report.txt" in _text(call):
        return _done()
    report = _find(call, r"<span>report\.txt$")
    if report is not None:
        return step({"click": {"index": report}})
    lines = _elements(call)
    for pos, (_, _, body) in enumerate(lines):
        if body.endswith(">Documents") and " collapsed" in body:
            return step({"click": {"index": lines[pos + 1][1]}})
    return step({"wait": {"seconds": 0.2}})


def multi(call: Call) -> str:
    """Three options of a multi-select, one taken off again, then order."""
    if "Toppings:" in _text(call):
        return _done()
    select = _find(call, "<select")
    if 'selected="Cheese | Ham | Pineapple"' in call.user:
        return step({"select_dropdown": {"index": select, "text": "Pineapple", "remove": True}},
                    {"click": {"index": _find(call, "<button>Order pizza")}})
    return step(*({"select_dropdown": {"index": select, "text": t}} for t in ("Cheese", "Ham", "Pineapple")))


@dataclass(frozen=True)
class Flow:
    name: str
    path: str
    policy: Callable[[Call], str]
    check: Callable[[list[tuple[str, dict[str, str]]], str], bool]  # (forms posted, final page text)


def _posted(path: str, **want: str) -> Callable[[list[tuple[str, dict[str, str]]], str], bool]:
    def check(forms: list[tuple[str, dict[str, str]]], page_text: str) -> bool:
        got = [form for p, form in forms if p == path]
        return bool(got) and all(got[-1].get(k) == v for k, v in want.items())

    return check


def _shows(text: str) -> Callable[[list[tuple[str, dict[str, str]]], str], bool]:
    return lambda forms, page_text: text in page_text


FLOWS = [
    Flow("jqui_readonly_date_a_year_away", "/pickers/jqui", jqui,
         _posted("/submit/jqui", checkin="11/18/2027", checkin_iso="2027-11-18")),
    Flow("react_date_and_reverting_slot", "/pickers/react", react,
         _posted("/submit/react", date="2027-03-10", slot="tue-pm")),
    Flow("native_inputs_british_page", "/pickers/native", native,
         _posted("/submit/native", depart="2027-03-05", pickup="15:45", expiry="2027-03", week="2027-W09",
                 **{"return": "2027-05-04"})),
    Flow("alt_input_hidden_value", "/pickers/alt", alt, _posted("/submit/alt", date="2026-12-20")),
    Flow("popup_stays_open_over_submit", "/pickers/stays-open", stays_open,
         _posted("/submit/stays-open", topics="Science,Travel")),
    Flow("late_menu_over_button", "/controls/late", late, _shows("Saved city Par")),
    Flow("readonly_and_native_dates", "/controls/dates", dates, _shows("Booked 2026-12-15 to 2026-12-20")),
    # pages this change does not touch: the steps must not change
    Flow("autocomplete", "/controls/suggest", suggest, _shows("Flights to Angola")),
    Flow("tree", "/controls/tree", tree, _shows("Contents of report.txt: Q3 revenue: 42")),
    Flow("multi_select", "/controls/multi", multi, _shows("Toppings: Cheese, Ham")),
]


async def _run_flow(site: Site, fake: FakeLLM, flow: Flow) -> dict[str, Any]:
    from workers.agent.llm import LLMClient
    from workers.agent.runner import Agent, AgentConfig
    from workers.browser.pool import BrowserPool
    from workers.browser.tabs import BrowserTabs
    from workers.page.dom import INIT_SCRIPT

    sid = f"flow-{flow.name}-{time.time_ns()}"
    marker = fake.script(sid, flow.policy)
    before = len(site.forms)
    hooks = _Hooks()
    page_text = ""
    pool = BrowserPool()
    try:
        async with pool.context(viewport={"width": 1280, "height": 800}) as context:
            await context.add_init_script(script=INIT_SCRIPT)
            tabs = BrowserTabs(context)
            agent = Agent(
                AgentConfig(task=f"Complete the form. {marker}", max_steps=MAX_STEPS,
                            start_url=site.url + flow.path, vision=False, element_window_pages=2.0),
                tabs, LLMClient("openai/gpt-4.1-mini", max_retries=0), hooks,
            )
            outcome = await agent.run()
            page = await tabs.page()
            page_text = await page.inner_text("body")
    finally:
        await pool.close()
    submitted = flow.check(site.forms[before:], page_text)
    done = bool(outcome.is_success) and submitted
    return {
        "steps": outcome.steps if done else None,
        "done": done,
        "steps_taken": outcome.steps,
        "results": [r for s in hooks.steps for r in s.results][:40],
    }


def run(only: str | None = None) -> dict[str, Any]:
    site, fake = Site(), FakeLLM()
    site.pages.update(controls.PAGES)
    site.pages.update(pickers.PAGES)
    site.start()
    llm_base = fake.start()
    os.environ.update({"OPENAI_API_BASE": llm_base, "OPENAI_API_KEY": "sk-bench"})
    out: dict[str, Any] = {}
    try:
        for flow in FLOWS:
            if only and only not in flow.name:
                continue
            out[flow.name] = asyncio.run(_run_flow(site, fake, flow))
    finally:
        site.stop()
        fake.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--label", default="after", help="before | after (the code being measured)")
    parser.add_argument("--only", default=None, help="run the flows whose name contains this")
    parser.add_argument("--verbose", action="store_true", help="print every action result")
    args = parser.parse_args()
    result = run(args.only)
    summary = {name: {k: v for k, v in r.items() if k != "results"} for name, r in result.items()}
    if args.verbose:
        print(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))
    if args.only:
        return
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    flows = existing.setdefault("flows", {})
    flows[args.label] = {**summary, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
