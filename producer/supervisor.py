"""Child processes that live and die together (``browserfleet worker`` with its judge worker).

One foreground command, several processes: SIGTERM and SIGINT go to every child (each
Celery worker then shuts down warm, finishing its running tasks); when one child exits on
its own, the others are stopped too, so a half-dead group never lingers. On Linux each child
also gets SIGTERM if the supervisor itself is killed (``PR_SET_PDEATHSIG``): no orphans.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the parent dies (Linux only)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Starts named child processes and runs until the group ends; returns the exit code."""

    def __init__(self, stop_grace_s: float = 60.0) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_grace_s = stop_grace_s
        self._stopping = False

    def start(self, name: str, argv: Sequence[str]) -> None:
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        self.children[name] = subprocess.Popen(list(argv), preexec_fn=preexec)

    def run(self) -> int:
        """Wait for the group: a signal stops every child; one child's exit stops the rest."""
        previous = {sig: signal.signal(sig, self._forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            first = self._wait_for_first_exit()
            if not self._stopping:
                log.warning("%s exited with code %s; stopping the others", *first)
                self._signal_all(signal.SIGTERM)
            codes = self._wait_all(None if self._stopping else self.stop_grace_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return first[1] if first[1] else max(codes, default=0)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        self._signal_all(signum)

    def _signal_all(self, signum: int) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    def _wait_for_first_exit(self) -> tuple[str, int]:
        while True:
            for name, proc in self.children.items():
                code = proc.poll()
                if code is not None:
                    return name, code
            time.sleep(0.2)

    def _wait_all(self, timeout_s: float | None) -> list[int]:
        """Every child's exit code; past ``timeout_s`` the stragglers are killed."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        codes = []
        for proc in self.children.values():
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                codes.append(proc.wait(remaining))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes
