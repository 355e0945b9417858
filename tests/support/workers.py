"""A real ``celery worker`` subprocess for tests, its output captured to a file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUNNING_WORKERS: list[WorkerProcess] = []


def stop_all_workers() -> None:
    """Stop every worker a test started and did not stop (called when the run ends)."""
    for proc in RUNNING_WORKERS:
        proc.stop()


class WorkerProcess:
    """A real ``celery worker`` subprocess, its output captured to a file."""

    def __init__(self, env: dict[str, str], queues: str, log_path: Path, concurrency: int = 4) -> None:
        self.log_path = log_path
        self.log_file = log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "workers.celery_app:app", "worker",
                "--pool=threads", f"--concurrency={concurrency}", f"--queues={queues}",
                "--loglevel=INFO", "--events", "--without-gossip", "--without-mingle",
                f"--hostname=test-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        RUNNING_WORKERS.append(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if " ready." in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_once(self, text: str, timeout: float = 15) -> str:
        """The log once it holds ``text`` (or after ``timeout``): a line written just after the
        state a test waited for (a result stored, a verdict written) may not be there yet."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return log

    def stop(self) -> None:
        if self.log_file.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
