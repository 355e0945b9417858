"""Judge mode end to end: the agent runs on the main worker, the judge on its own worker.

The judge worker consumes only the judge queue (and the main test worker only the agent
queue), so every verdict here proves the hand-off between the two processes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.celery_config import RUN_TASK
from shared.models import TaskStatus, TaskView
from shared.settings import Settings
from tests.conftest import FAKE_OP_TOKEN, ROOT, WorkerProcess
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.procs import browser_pids
from tests.support.site import PASSWORD, Site

pytestmark = pytest.mark.usefixtures("worker", "judge_worker")

JUDGE_PROMPT = "You are the judge of a browser agent's run"
SECRET = "<secret>password</secret>"


@pytest.fixture(scope="module")
def judge_worker(
    settings: Settings, redis_client: Any, fake_op_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A judge-only worker: consumes ``settings.judge_queue`` and nothing else (``opVaultId``
    answered by the fake 1Password SDK, as on the strict worker)."""
    env = {"BROWSERFLEET_QUEUE": settings.queue, "BROWSERFLEET_JUDGE_QUEUE": settings.judge_queue,
           "PYTHONPROFILEIMPORTTIME": "1",  # every import is logged: the judge must need no browser
           "OP_SERVICE_ACCOUNT_TOKEN": FAKE_OP_TOKEN, "FAKE_OP_DATA": str(fake_op_data),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "support" / "fake_sdk"), str(ROOT)])}
    log_path = tmp_path_factory.mktemp("judge") / "judge.log"
    proc = WorkerProcess(env, settings.judge_queue, log_path, concurrency=2)
    yield proc
    proc.stop()


def is_judge(call: Call) -> bool:
    return call.system.startswith(JUDGE_PROMPT)


def verdict(value: bool, **extra: Any) -> str:
    return json.dumps({"reasoning": "checked the steps", "verdict": value,
                       "failure_reason": "" if value else "wrong total", **extra})


def judged_script(
    agent: Callable[[Call], str], judge: Callable[[Call], Reply | str]
) -> Callable[[Call], Reply | str]:
    """Agent requests go to ``agent``, judge requests (by their system prompt) to ``judge``."""
    return lambda call: judge(call) if is_judge(call) else agent(call)


def judge_calls(fake_llm: FakeLLM, sid: str) -> list[Call]:
    return [c for c in fake_llm.calls[sid] if is_judge(c)]


DONE = step({"done": {"text": "The total is 12", "success": True}})


def test_verdict_true_is_written_after_the_agent_and_the_task_is_terminal_only_then(
    producer, fake_llm: FakeLLM, site: Site
) -> None:
    sid = script_id("judge-true")
    long_reasoning = "r" * 40000  # a costly judge answer, to see its cost in the task's
    marker = fake_llm.script(sid, judged_script(
        lambda call: DONE,
        lambda call: Reply(content=verdict(True, reasoning=long_reasoning), delay_s=1.5),
    ))
    created = producer.create_task({"task": f"Read the total. {marker}", "startUrl": site.url + "/login",
                                    "judge": True, "vision": True})
    deadline = time.monotonic() + 60
    while producer.get_task(created.id).output is None:
        assert time.monotonic() < deadline, "agent output never written"
        time.sleep(0.05)
    pending = producer.get_task(created.id)
    assert pending.status == TaskStatus.started and pending.judge_verdict is None  # judge pending
    assert pending.is_success is True and pending.finished_at is None
    view = producer.wait(created.id, timeout=60)
    assert view.status == TaskStatus.finished and view.finished_at is not None
    assert view.judge_verdict is True and view.is_success is True and view.output == "The total is 12"
    judgement = json.loads(view.judgement or "")
    assert judgement["verdict"] is True and judgement["reasoning"] == long_reasoning
    assert {"failureReason", "impossibleTask", "reachedCaptcha"} <= set(judgement)
    assert view.cost is not None and pending.cost is not None and view.cost > pending.cost + Decimal("0.01")
    (call,) = judge_calls(fake_llm, sid)
    assert call.has_image  # the task used vision: the judge sees its last screenshots
    assert "agent's own claim: success" in call.user and "final output:\nThe total is 12" in call.user
    assert '{"done": {' in call.user and f"url: {site.url}/login" in call.user


def test_verdict_false_keeps_the_agents_own_success(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("judge-false")
    marker = fake_llm.script(sid, judged_script(
        lambda call: DONE, lambda call: verdict(False, impossible_task=True)
    ))
    view = run(producer, {"task": f"Read the total. {marker}", "startUrl": site.url, "judge": True,
                          "vision": False})
    assert view.status == TaskStatus.finished
    assert view.is_success is True and view.judge_verdict is False
    judgement = json.loads(view.judgement or "")
    assert judgement["failureReason"] == "wrong total" and judgement["impossibleTask"] is True
    (call,) = judge_calls(fake_llm, sid)
    assert not call.has_image


def test_ground_truth_is_in_the_judge_prompt(producer, fake_llm: FakeLLM) -> None:
    sid = script_id("judge-truth")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: verdict(False)))
    view = run(producer, {"task": f"Read the total. {marker}", "judge": True,
                          "judgeGroundTruth": "The total is 13 euros."})
    assert view.judge_verdict is False
    (call,) = judge_calls(fake_llm, sid)
    assert "<ground_truth>\nThe total is 13 euros.\n</ground_truth>" in call.user
    assert "it takes precedence over your own opinion" in call.system


def test_judge_llm_failing_finishes_the_task_without_a_verdict(producer, fake_llm: FakeLLM) -> None:
    sid = script_id("judge-down")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: Reply(status=503)))
    view = run(producer, {"task": f"Read the total. {marker}", "judge": True})
    assert view.status == TaskStatus.finished
    assert view.judge_verdict is None and view.is_success is True and view.output == "The total is 12"
    judgement = json.loads(view.judgement or "")
    assert judgement["verdict"] is None and "judge LLM failed" in judgement["error"]
    assert len(judge_calls(fake_llm, sid)) == 3  # 1 try + 2 retries (test setting)


def test_invalid_verdict_is_corrected_once_then_recorded_as_an_error(producer, fake_llm: FakeLLM) -> None:
    sid = script_id("judge-garbage")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: "I think it went well"))
    view = run(producer, {"task": f"Read the total. {marker}", "judge": True})
    assert view.status == TaskStatus.finished and view.judge_verdict is None
    assert "judge output invalid after 2 attempts" in json.loads(view.judgement or "")["error"]
    calls = judge_calls(fake_llm, sid)
    assert len(calls) == 2 and "Invalid verdict" in calls[1].messages[-1]["content"]


def test_judge_off_makes_no_judge_call(producer, fake_llm: FakeLLM, judge_worker: WorkerProcess) -> None:
    sid = script_id("judge-off")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: verdict(True)))
    view = run(producer, {"task": f"Read the total. {marker}"})
    assert view.status == TaskStatus.finished and view.judgement is None and view.judge_verdict is None
    assert len(fake_llm.calls[sid]) == 1 and judge_calls(fake_llm, sid) == []
    assert str(view.id) not in judge_worker.log()


def test_secrets_never_reach_the_judge(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("judge-secret")

    def agent(call: Call) -> str:
        if "title: Login" in call.user:
            return step(
                {"input": {"index": call.index_of("placeholder=Username"), "text": "ada"}},
                {"input": {"index": call.index_of("placeholder=Password"), "text": SECRET}},
                {"click": {"index": call.index_of("Log in")}},
            )
        return step({"done": {"text": f"logged in with {PASSWORD}", "success": True}})

    marker = fake_llm.script(sid, judged_script(agent, lambda call: verdict(True)))
    view = run(producer, {
        "task": f"Log in as ada with password {PASSWORD}. {marker}",
        "startUrl": site.url + "/login",
        "secrets": {"password": PASSWORD},
        "judge": True,
        "judgeGroundTruth": f"The agent logged in using {PASSWORD}.",
        "vision": True,
    })
    assert view.status == TaskStatus.finished and view.judge_verdict is True, view.judgement
    (call,) = judge_calls(fake_llm, sid)
    assert PASSWORD not in json.dumps(call.body)
    assert "<secret>password</secret>" in call.user
    assert "logged in with <secret>password</secret>" in call.user
    assert "The agent logged in using <secret>password</secret>." in call.user


def test_the_judge_masks_with_the_runs_vault_1password_included(
    strict_producer, strict_worker: WorkerProcess, fake_llm: FakeLLM, fake_op_data: Path
) -> None:
    """One vault builder for the run and the judge: a 1Password value written into the ground
    truth is masked in the judge's request as the run would mask it (the judge used to mask with
    the task's own secrets only, and sent this value as written)."""
    value = "op-judge-secret-4417"
    item = {"id": "j1", "title": "Judge Item", "websites": [],
            "fields": [{"id": "password", "title": "password", "field_type": "Concealed", "value": value}]}
    fake_op_data.write_text(json.dumps({"token": FAKE_OP_TOKEN, "vaults": {"vault-judge": [item]}}))
    sid = script_id("judge-op")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: verdict(True)))
    view = run(strict_producer, {
        "task": f"Say the total. {marker}",
        "opVaultId": "vault-judge",
        "judge": True,
        "judgeGroundTruth": f"The agent used {value}.",
    })
    assert view.status == TaskStatus.finished and view.judge_verdict is True, view.judgement
    (call,) = judge_calls(fake_llm, sid)
    assert value not in json.dumps(call.body)
    assert "The agent used <secret>judge_item_password</secret>." in call.user


def test_the_judge_runs_on_its_own_worker_without_a_browser(
    producer, fake_llm: FakeLLM, worker: WorkerProcess, judge_worker: WorkerProcess
) -> None:
    sid = script_id("judge-where")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: verdict(True)))
    view = run(producer, {"task": f"Read the total. {marker}", "judge": True})
    assert view.judge_verdict is True
    assert f"task {view.id} judged: verdict=True" in judge_worker.log_once(f"task {view.id} judged")
    assert f"task {view.id} ran (success=True" in worker.log_once(f"task {view.id} ran")
    assert f"task {view.id} judged" not in worker.log()
    assert browser_pids(judge_worker.proc.pid) == []


def test_a_redelivered_run_whose_judge_is_pending_is_not_run_again(
    producer, fake_llm: FakeLLM, settings: Settings, worker: WorkerProcess
) -> None:
    sid = script_id("judge-redeliver")
    marker = fake_llm.script(sid, judged_script(
        lambda call: DONE, lambda call: Reply(content=verdict(True), delay_s=2)
    ))
    created = producer.create_task({"task": f"Read the total. {marker}", "judge": True})
    deadline = time.monotonic() + 60
    while not judge_calls(fake_llm, sid):
        assert time.monotonic() < deadline, "judge never called"
        time.sleep(0.05)
    producer.celery.send_task(RUN_TASK, args=[str(created.id)], task_id=str(created.id), queue=settings.queue)
    view: TaskView = producer.wait(created.id, timeout=60)
    assert view.judge_verdict is True
    deadline = time.monotonic() + 20
    while f"task {created.id} already ran and awaits its judge" not in worker.log():
        assert time.monotonic() < deadline, "redelivery not seen"
        time.sleep(0.1)
    assert len([c for c in fake_llm.calls[sid] if not is_judge(c)]) == 1


def test_the_judge_worker_never_imports_the_browser_stack(
    producer, fake_llm: FakeLLM, site: Site, judge_worker: WorkerProcess
) -> None:
    sid = script_id("judge-imports")
    marker = fake_llm.script(sid, judged_script(lambda call: DONE, lambda call: verdict(True)))
    view = run(producer, {"task": f"Read the total. {marker}", "startUrl": site.url, "judge": True})
    assert view.judge_verdict is True
    imports = [line for line in judge_worker.log().splitlines() if line.startswith("import time:")]
    assert any("workers.judge.run" in line for line in imports), "import profiling is not on"
    assert not [line for line in imports if "playwright" in line or "workers.browser" in line]
