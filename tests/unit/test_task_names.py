"""The Celery task names are wire names (in the broker's messages, the producer's ``send_task``):
moving a task's module must never change them. The app's ``imports`` load every task module."""

from __future__ import annotations

from shared.celery_config import BROWSER_TASK, JUDGE_TASK, RUN_TASK, SKILL_TASK, WEBHOOK_TASK
from workers.celery_app import app


def test_the_worker_registers_every_wire_name_from_its_imports() -> None:
    app.loader.import_default_modules()  # what a worker does at start: conf.imports
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == {RUN_TASK, BROWSER_TASK, SKILL_TASK, JUDGE_TASK, WEBHOOK_TASK}
    assert sorted(ours) == [  # as they were before workers/ moved into folders (issue 27)
        "browserfleet.browser_session", "browserfleet.deliver_webhooks", "browserfleet.judge_task",
        "browserfleet.run_task", "browserfleet.skill_execution"]
