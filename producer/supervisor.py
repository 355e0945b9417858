"""Child processes that live and die together (``browserfleet worker``, ``browserfleet up``).

One foreground command, several processes. Children run in sessions of their own, so a
terminal's Ctrl-C reaches only the supervisor, which then stops them in order: first the
processes that do work (each Celery worker shuts down warm, finishing its running tasks),
then the services they need (``stop_last``: Redis). When one child exits on its own, the
others are stopped too, so a half-dead group never lingers. On Linux each child also gets
SIGTERM if the supervisor itself is killed (``PR_SET_PDEATHSIG``): no orphans.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the parent dies (Linux only)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_last: bool


class Supervisor:
    """Starts named child processes and runs until the group ends; returns the exit code."""

    def __init__(self, stop_grace_s: float = 60.0) -> None:
        self.children: list[Child] = []
        self.stop_grace_s = stop_grace_s
        self._stop_signal: int | None = None

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stop_last: bool = False,
        output: IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        proc = subprocess.Popen(
            list(argv), env=env, preexec_fn=preexec, start_new_session=True,
            stdout=output, stderr=subprocess.STDOUT if output else None,
        )
        self.children.append(Child(name, proc, stop_last))
        return proc

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT ask the group to stop (call before :meth:`start` to miss none)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._request_stop)

    def run(self) -> int:
        """Wait for the group: a signal stops every child; one child's exit stops the rest.

        Returns 0 after a requested stop that every child honoured, else the exit status of
        the child that ended the group (128 + signal number when a signal killed it).
        """
        self.install_signal_handlers()
        first = self._wait_for_first_exit()
        if first is None:  # SIGTERM whatever the signal: Celery warm-shuts down on it, exit code 0
            self.stop(signal.SIGTERM)
            return max((c.proc.returncode or 0 for c in self.children), default=0)
        log.warning("%s exited with code %s; stopping the others", first.name, first.proc.returncode)
        self.stop(signal.SIGTERM, timeout_s=self.stop_grace_s)
        code = first.proc.returncode or 1
        return code if code > 0 else 128 - code

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float | None = None) -> None:
        """Workers first (warm shutdown), then the services they use; stragglers are killed."""
        for last in (False, True):
            group = [c for c in self.children if c.stop_last is last]
            for child in group:
                if child.proc.poll() is None:
                    child.proc.send_signal(signum)
            self._wait(group, timeout_s)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: stop now
            for child in self.children:
                if child.proc.poll() is None:
                    child.proc.kill()
        self._stop_signal = signum

    def _wait_for_first_exit(self) -> Child | None:
        """The first child to exit by itself, or None once a stop was requested."""
        while self._stop_signal is None:
            for child in self.children:
                if child.proc.poll() is not None:
                    return child
            time.sleep(0.2)
        return None

    def _wait(self, group: list[Child], timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for child in group:
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                child.proc.wait(remaining)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.proc.kill()
                child.proc.wait()
