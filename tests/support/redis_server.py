"""A private ``redis-server`` on a free loopback port, for tests and benchmarks that restart
Redis or measure it alone (its command counts and CPU are then theirs only)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` in ``directory``; append-only (as deployed) unless ``appendonly=False``."""

    def __init__(
        self, directory: Path, appendonly: bool = True, fsync: str = "always", extra: tuple[str, ...] = ()
    ) -> None:
        self.port, self.dir = free_port(), directory
        self.appendonly, self.fsync, self.extra = appendonly, fsync, extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", self.fsync] if self.appendonly
                       else ["--appendonly", "no"])
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *persistence, "--dir", str(self.dir), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.proc.wait(10)


@dataclass
class CommandCounts:
    """What a Redis server executed between two snapshots: commands by name (script-inner
    and MULTI/EXEC-inner calls included, as ``INFO commandstats`` counts them) and round trips
    (``total_reads_processed``: one per request or pipeline read from a client socket)."""

    calls: Counter[str] = field(default_factory=Counter)
    round_trips: int = 0

    @property
    def commands(self) -> int:
        return sum(self.calls.values())

    def __sub__(self, other: CommandCounts) -> CommandCounts:
        calls = Counter(self.calls)
        calls.subtract(other.calls)
        # ``other``'s own two INFO reads lie between the snapshots
        return CommandCounts(+calls, self.round_trips - other.round_trips - 2)

    def per(self, n: float, top: int = 40) -> dict[str, object]:
        """Commands and round trips per ``n`` (a step, a task, a create), the largest by name."""
        return {
            "commands": round(self.commands / n, 2),
            "round_trips": round(self.round_trips / n, 2),
            "by_command": {k: round(v / n, 2) for k, v in self.calls.most_common(top)},
        }


def command_counts(client: redis.Redis) -> CommandCounts:
    """A snapshot of the server's counters as they were just before it (its own two ``INFO``
    calls are left out)."""
    stats = client.info("commandstats")
    reads = int(client.info("stats")["total_reads_processed"])
    calls = Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})
    calls.pop("info", None)
    return CommandCounts(calls, reads - 2)


def minus_snapshots(counts: CommandCounts, snapshots: int) -> CommandCounts:
    """``counts`` without the round trips of ``snapshots`` more snapshots taken inside it."""
    return CommandCounts(counts.calls, counts.round_trips - 2 * snapshots)
