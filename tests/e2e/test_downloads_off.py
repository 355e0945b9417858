"""A page's downloads never reach the worker's disk.

Playwright's browser contexts accept downloads by default, into one temporary directory per
browser that every task shares, with no size limit. A dedicated worker runs with its temporary
directory inside the test's, so what Chromium would save there can be seen; the agent clicks a
link to a 5 MB attachment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import WorkerProcess
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.http_server import serving

SIZE = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def tmp_worker(
    settings: Settings, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, str, Path]]:
    queue = settings.queue + "-downloads"
    tmp = tmp_path_factory.mktemp("worker-tmp")
    proc = WorkerProcess({"BROWSERFLEET_QUEUE": queue, "TMPDIR": str(tmp)}, queue,
                         tmp_path_factory.mktemp("wdl") / "worker.log")
    yield proc, queue, tmp
    proc.stop()


@pytest.fixture
def attachment_site() -> Iterator[tuple[str, list[str]]]:
    served: list[str] = []

    def route(path: str) -> tuple[bytes, dict[str, str]]:
        served.append(path)
        if path == "/report.bin":
            return b"\0" * SIZE, {"content-type": "application/octet-stream",
                                  "content-disposition": 'attachment; filename="report.bin"'}
        page = b'<title>Reports</title><a href="/report.bin">Get the report</a>'
        return page, {"content-type": "text/html"}

    with serving(route) as url:
        yield url, served


def test_a_clicked_attachment_is_not_saved(
    tmp_worker: tuple[WorkerProcess, str, Path], fake_llm: FakeLLM, settings: Settings,
    attachment_site: tuple[str, list[str]],
) -> None:
    from producer import Producer

    _, queue, tmp = tmp_worker
    url, served = attachment_site
    seen: list[Path] = []

    def script(call: Call) -> str:
        if call.index == 0:
            return step({"click": {"index": call.index_of(r"Get the report")}})
        # The task is still running (its context open: Playwright deletes a context's downloads
        # when it closes). Look for the file for a while, as the download may still be running.
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            seen.extend(p for p in tmp.rglob("*") if p.is_file() and p.stat().st_size >= 1024 * 1024)
            time.sleep(0.1)
        return step({"done": {"text": "ok"}})

    marker = fake_llm.script(script_id("download"), script)
    view = run(Producer(settings.model_copy(update={"queue": queue})),
               {"task": f"Get the report {marker}", "startUrl": url + "/"})
    assert view.status == TaskStatus.finished, view.error
    assert "/report.bin" in served  # the browser did ask for it
    assert seen == [], f"a download was written to the worker's disk: {seen}"
