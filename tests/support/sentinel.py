"""A Redis Sentinel group of the test's own on loopback: a master, a replica, three sentinels.

Every process is a real ``redis-server`` (the sentinels are ``redis-server <conf> --sentinel``)
on a free port, so a failover touches nothing but the test that started it.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.redis_server import RedisServer, free_port

SERVICE = "bf-test"
DOWN_AFTER_MS = 1000  # how long a master must be silent before a sentinel calls it down
FAILOVER_TIMEOUT_MS = 5000


class SentinelProcess:
    """One ``redis-server --sentinel`` with its own (rewritable) config file."""

    def __init__(self, directory: Path, master_port: int, quorum: int = 2) -> None:
        self.port, self.dir = free_port(), directory
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = directory / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", str(self.conf), "--sentinel"],
            stdout=(self.dir / "sentinel.log").open("ab"), stderr=subprocess.STDOUT,
        )
        wait_for(lambda: _pings(self.port), 10, "a sentinel did not start")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class SentinelGroup:
    """Master + replica (append-only, as deployed) + three sentinels, quorum two."""

    def __init__(self, directory: Path) -> None:
        self.master = RedisServer(directory / "a", fsync="everysec")
        self.replica = RedisServer(directory / "b", fsync="everysec",
                                   extra=("--replicaof", "127.0.0.1", str(self.master.port)))
        for node in (self.master, self.replica):
            node.dir.mkdir(parents=True, exist_ok=True)
        self.sentinels = [SentinelProcess(directory / f"s{n}", self.master.port) for n in range(3)]

    @property
    def url(self) -> str:
        """The sentinels as kombu lists them (``sentinel://...;sentinel://.../0``)."""
        return ";".join(f"sentinel://127.0.0.1:{s.port}" for s in self.sentinels) + "/0"

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        wait_for(self.settled, 30, "the sentinels did not find the replica and each other")

    def settled(self) -> bool:
        """Every sentinel sees the master up, the replica in sync and the two other sentinels."""
        for sentinel in self.sentinels:
            try:
                client = sentinel.client()
                master = client.sentinel_master(SERVICE)
                replicas = client.sentinel_slaves(SERVICE)
            except redis.RedisError:
                return False
            if int(master["num-other-sentinels"]) < len(self.sentinels) - 1:
                return False
            if not any(r["is_slave"] and not r["is_sdown"] and r.get("master-link-status") == "ok"
                       for r in replicas):
                return False
        return True

    def master_port(self) -> int | None:
        """The master's port as a majority of the sentinels names it."""
        seen: dict[int, int] = {}
        for sentinel in self.sentinels:
            try:
                found = sentinel.client().sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                continue
            if found:
                seen[int(found[1])] = seen.get(int(found[1]), 0) + 1
        best = max(seen.items(), key=lambda kv: kv[1], default=None)
        return best[0] if best and best[1] >= 2 else None

    def kill_master(self) -> None:
        """SIGKILL the master: no shutdown, no last AOF write, its clients' sockets reset."""
        proc = self.master.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def wait_failover(self, timeout_s: float = 30) -> float:
        """Seconds until the sentinels name the replica as master."""
        started = time.monotonic()
        wait_for(lambda: self.master_port() == self.replica.port, timeout_s, "no failover")
        return time.monotonic() - started

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in (self.master, self.replica):
            if node.proc and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait(10)


def wait_for(check: Callable[[], bool], timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False
