"""The ``browserfleet`` command, run as a user would: run (following live steps), status, stop."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from producer import Producer
from shared.live_links import Grant
from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import base_env
from tests.e2e.helpers import script_id
from tests.support.fake_llm import FakeLLM, step

pytestmark = pytest.mark.usefixtures("worker")


def cli(llm_base: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args],
        env={**os.environ, **base_env(llm_base), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_follows_steps_and_prints_structured_output(
    fake_llm: FakeLLM, site, llm_base, tmp_path: Path, worker
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"title": {"type": "string"}}}))
    sid = script_id("cli")
    marker = fake_llm.script(sid, [
        step({"scroll": {"down": True}}, goal="read the page"),
        step({"done": {"success": True, "data": {"title": "Login"}}}),
    ])
    result = cli(llm_base, "run", f"Read the title {marker}", "--start-url", site.url + "/login",
                 "--max-steps", "5", "--schema", str(schema), "--llm", "gpt-4.1-mini")
    assert result.returncode == 0, result.stdout + result.stderr + worker.log()[-3000:]
    out = result.stdout
    assert "step 1" in out and "goal: read the page" in out and "step 2" in out
    assert '{"title": "Login"}' in out.splitlines()[-1]
    task_id = re.search(r"task ([0-9a-f-]{36})", out).group(1)  # type: ignore[union-attr]
    assert fake_llm.calls[sid][0].body["model"] == "gpt-4.1-mini"
    live = re.search(r"watch live: (http\S+/live/(\S+))", out)
    assert live is not None, out
    assert Producer(Settings()).stores.live.resolve(live.group(2)) == Grant("task", task_id)

    status = cli(llm_base, "status", task_id, "--steps")
    assert status.returncode == 0 and "finished" in status.stdout and "read the page" in status.stdout


def test_run_rejects_a_bad_payload_with_exit_code_2(llm_base) -> None:
    result = cli(llm_base, "run", "x", "--max-steps", "0", "--no-follow")
    assert result.returncode == 2
    assert "maxSteps" in result.stdout


def test_stop_and_unknown_ids(producer, fake_llm: FakeLLM, site, llm_base) -> None:
    sid = script_id("cli-stop")
    marker = fake_llm.script(sid, lambda call: step({"wait": {"seconds": 1}}))
    created = producer.create_task({"task": f"Wait {marker}", "startUrl": site.url})
    result = cli(llm_base, "stop", str(created.id))
    assert result.returncode == 0 and str(created.id) in result.stdout
    assert producer.wait(created.id, timeout=60).status == TaskStatus.stopped
    missing = cli(llm_base, "status", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "not found" in missing.stdout


def test_run_prints_a_clean_cost_the_reason_alone_and_plain_text_as_text(
    fake_llm: FakeLLM, site, llm_base, worker
) -> None:
    sid = script_id("cli-plain")
    marker = fake_llm.script(sid, lambda call: step({"scroll": {"down": True}}, goal="keep reading"))
    result = cli(llm_base, "run", f"Read forever {marker}", "--start-url", site.url + "/login",
                 "--max-steps", "2")
    lines = result.stdout.splitlines()
    assert "reason: reached maxSteps=2 without finishing" in lines, result.stdout
    summary = next(line for line in lines if line.startswith("finished "))
    cost = re.search(r"cost=\$(\S+)$", summary).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"\d+(\.\d+)?", cost), summary
    assert len(cost.replace(".", "").lstrip("0")) <= 6, summary

    sid = script_id("cli-text")
    answer = "Title: {Login} -- not JSON [really]"
    marker = fake_llm.script(sid, [step({"done": {"success": True, "text": answer}})])
    result = cli(llm_base, "run", f"Read the title {marker}", "--start-url", site.url + "/login")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == answer
    assert "reason:" not in result.stdout
