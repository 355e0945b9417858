"""A Redis Sentinel cell on loopback: a master, a replica and three sentinels, each on a free
port, for the chaos benchmark's failover (append-only data nodes, as deployed).

``url`` is kombu's sentinel list (``sentinel://host:port;...``) with ``SERVICE`` as the
service name (``BROWSERFLEET_REDIS_SENTINEL_MASTER``). :meth:`kill_master` SIGKILLs the
current master; the sentinels promote the replica (``down-after`` 1 s, so within a few
seconds); :meth:`restart` brings a killed node back from its append-only file, and the
sentinels make it a replica of the new master.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support.redis_server import RedisServer, free_port

SERVICE = "chaosmaster"


class SentinelCell:
    def __init__(self, directory: Path, fsync: str = "everysec") -> None:
        self.dir = directory
        self.nodes = [RedisServer(directory / f"node{i}", fsync=fsync) for i in range(2)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports) + "/0"

    def start(self) -> None:
        master, replica = self.nodes
        for node in self.nodes:
            node.dir.mkdir(parents=True, exist_ok=True)
        master.start()
        replica.extra = ("--replicaof", "127.0.0.1", str(master.port))
        replica.start()
        link = lambda: redis.Redis(port=replica.port).info("replication").get("master_link_status")  # noqa: E731
        self._wait(lambda: link() == "up", "the replica to sync")
        for i, port in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.sentinels.append(subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.sentinel_ports:
            self._wait(lambda p=port: self._sentinel_sees_replica(p), "the sentinels to find the replica")

    def _sentinel_sees_replica(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port).sentinel_slaves(SERVICE))
        except redis.RedisError:
            return False

    def master_port(self) -> int:
        host_port = redis.Redis(port=self.sentinel_ports[0]).sentinel_get_master_addr_by_name(SERVICE)
        return int(host_port[1])

    def node_at(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def kill_master(self) -> RedisServer:
        """SIGKILL the current master; returns it (to :meth:`restart` later)."""
        node = self.node_at(self.master_port())
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        return node

    def wait_promoted(self, old_port: int, timeout: float = 30) -> float:
        """Seconds until the sentinels name another master than ``old_port``."""
        started = time.monotonic()
        self._wait(lambda: self._master_or_none() not in (None, old_port), "a new master", timeout)
        return time.monotonic() - started

    def _master_or_none(self) -> int | None:
        try:
            return self.master_port()
        except (redis.RedisError, TypeError):
            return None

    def restart(self, node: RedisServer) -> None:
        """Start a killed node again from its AOF, as a replica of the current master."""
        node.extra = ("--replicaof", "127.0.0.1", str(self.master_port()))
        node.start()

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        for node in self.nodes:
            node.stop()

    @staticmethod
    def _wait(predicate, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.1)
