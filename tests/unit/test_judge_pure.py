"""The judge without workers: verdict parsing, the masked prompt, and the overdue-judge rule."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.models import TaskStatus, TaskStepView
from shared.task_store import OutputFileTooLargeError, TaskRecord, utcnow
from workers.judge.prompt import SYSTEM_PROMPT, JudgeInput, judge_messages, render_trajectory
from workers.judge.verdict import VerdictError, parse_verdict
from workers.secrets.vault import SecretVault


def _step(number: int, result: str = "ok") -> TaskStepView:
    return TaskStepView(
        number=number, memory=f"m{number}", evaluation_previous_goal="", next_goal=f"g{number}",
        url=f"https://shop.test/{number}", actions=['{"click": {"index": 1}}'], results=[result],
    )


def test_verdict_accepts_snake_and_camel_case_and_prose_around() -> None:
    snake = parse_verdict('Here: {"verdict": false, "reasoning": "r", "failure_reason": "f",'
                          ' "impossible_task": true} thanks')
    assert (snake.verdict, snake.failure_reason, snake.impossible_task, snake.reached_captcha) == (
        False, "f", True, False)
    camel = parse_verdict('{"verdict": true, "failureReason": "", "reachedCaptcha": true}')
    stored = json.loads(camel.judgement("openai/x"))
    assert stored == {"verdict": True, "reasoning": "", "failureReason": None, "impossibleTask": False,
                      "reachedCaptcha": True, "model": "openai/x"}


@pytest.mark.parametrize(
    "reply", ["", "no json", "[1]", '{"reasoning": "no verdict"}', '{"verdict": "maybe"}']
)
def test_invalid_verdicts_are_refused(reply: str) -> None:
    with pytest.raises(VerdictError):
        parse_verdict(reply)


def test_prompt_holds_ground_truth_claim_trajectory_and_masks_secrets() -> None:
    judged = JudgeInput(
        task="Log in with pw s3cr3t-value and read the total",
        output="total is 12",
        is_success=True,
        ground_truth="The total is 12 (password s3cr3t-value)",
        output_schema='{"type":"object"}',
        steps=[_step(1, "typed s3cr3t-value"), _step(2)],
        screenshots=["data:image/jpeg;base64,AAAA"],
    )
    messages = judge_messages(judged, SecretVault({"pw": "s3cr3t-value"}), images=True)
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    text, image = messages[1]["content"]
    assert image == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
    body = text["text"]
    assert "s3cr3t-value" not in json.dumps(messages)
    assert "<ground_truth>\nThe total is 12 (password <secret>pw</secret>)\n</ground_truth>" in body
    assert "agent's own claim: success" in body and "final output:\ntotal is 12" in body
    assert "step 2 | url: https://shop.test/2" in body and '{"click": {"index": 1}} -> ok' in body
    assert "<output_schema>" in body and "the last 1 screenshots follow" in body


def test_no_images_when_not_asked() -> None:
    judged = JudgeInput(task="t", output=None, is_success=None, screenshots=["data:image/jpeg;base64,AAAA"])
    messages = judge_messages(judged, SecretVault(), images=False)
    content = messages[1]["content"]
    assert isinstance(content, str)
    assert "screenshots" not in content and "agent's own claim: no claim" in content


def test_long_trajectories_keep_the_start_and_the_end() -> None:
    steps = [_step(n, "r" * 1000) for n in range(1, 101)]
    text = render_trajectory(steps, limit=20000)
    assert len(text) <= 20000
    assert text.startswith("step 1 |") and "step 2 |" in text and "steps omitted)" in text
    assert text.rstrip().endswith("r") and "step 100 |" in text and "step 50 |" not in text


# -- the store's side: overdue judges, output files ---------------------------
def _record(producer, **fields) -> TaskRecord:  # type: ignore[no-untyped-def]
    record = TaskRecord(id=uuid.uuid4(), session_id=uuid.uuid4(), llm="browser-use-2.0", task="t",
                        status=TaskStatus.created, created_at=utcnow(), request={"task": "t"}, **fields)
    producer.store.create(record)
    return record


def test_an_overdue_judge_finishes_the_task_for_every_reader(producer) -> None:  # type: ignore[no-untyped-def]
    record = _record(producer)
    tid = str(record.id)
    producer.store.transition(tid, TaskStatus.started, [TaskStatus.created], started_at=utcnow())
    producer.store.update(tid, output="agent says hi", is_success=True, cost=Decimal("0.5"),
                          judge_deadline=utcnow() + timedelta(seconds=30))
    assert producer.get_status(tid).status == TaskStatus.started  # pending, not overdue
    producer.store.update(tid, judge_deadline=utcnow() - timedelta(seconds=1))
    # The store's reads never write: only the producer's readers settle the overdue judge.
    assert producer.store.load(tid).status == TaskStatus.started
    assert producer.store.load_many([tid])[0].status == TaskStatus.started
    assert producer.store.load_status(tid).judge_overdue
    view = producer.wait(tid, timeout=5)
    assert view.status == TaskStatus.finished and view.finished_at is not None
    assert view.output == "agent says hi" and view.is_success is True and view.cost == Decimal("0.5")
    assert view.judge_verdict is None
    judgement = json.loads(view.judgement or "")
    assert judgement["verdict"] is None and "deadline" in judgement["error"]
    assert set(judgement) >= {"verdict", "reasoning", "failureReason", "impossibleTask", "reachedCaptcha"}


def test_output_files_are_kept_listed_and_bounded(producer) -> None:  # type: ignore[no-untyped-def]
    tid = str(_record(producer).id)
    first = producer.store.add_output_file(tid, "a.csv", b"x,y\n1,2\n", "text/csv", 100)
    second = producer.store.add_output_file(tid, "b.bin", bytes(range(256)), "application/octet-stream", 1000)
    view = producer.get_task(tid)
    assert [(f.id, f.file_name) for f in view.output_files] == [(first.id, "a.csv"), (second.id, "b.bin")]
    assert view.wire()["outputFiles"][0] == {"id": str(first.id), "fileName": "a.csv"}
    meta, data = producer.store.output_file(tid, str(second.id))
    assert data == bytes(range(256))
    assert meta["contentType"] == "application/octet-stream" and meta["size"] == 256
    assert producer.store.output_file(tid, str(uuid.uuid4())) is None
    with pytest.raises(OutputFileTooLargeError):
        producer.store.add_output_file(tid, "big", b"x" * 101, "text/plain", 100)
