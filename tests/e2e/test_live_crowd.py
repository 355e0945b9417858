"""A live link posted publicly: many viewers cost one subscription, no polls, and are capped.

The API runs against a Redis of its own (a free port), so connections, subscriptions and
commands can be counted exactly. The task stays queued (no worker consumes its queue); what a
worker would do while it runs (record a step, publish a frame, change the status) is done
here through the same stores the worker uses.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import redis

from shared import live_events
from shared.live_frames import LiveFrames
from shared.models import TaskStatus, TaskStepView
from shared.task_store import TaskStore, utcnow
from tests.support.api import ApiServer
from tests.support.redis_server import RedisServer

VIEWERS = 30


class Stream(threading.Thread):
    """One viewer's event stream, from a client address of its own (127.0.0.x)."""

    def __init__(self, url: str, source: str = "127.0.0.1") -> None:
        super().__init__(daemon=True)
        self.url, self.source = url, source
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.answered = threading.Event()
        self.response: httpx.Response | None = None

    def run(self) -> None:
        transport = httpx.HTTPTransport(local_address=self.source)
        with httpx.Client(transport=transport, timeout=httpx.Timeout(60, read=120)) as client:
            try:
                with client.stream("GET", self.url) as response:
                    self.response = response
                    self.status, self.headers = response.status_code, dict(response.headers)
                    if response.status_code != 200:
                        self.body = response.read()
                        return
                    self.answered.set()
                    for line in response.iter_lines():
                        if line.startswith("data: "):
                            self.events.put(json.loads(line[6:]))
            except (httpx.HTTPError, RuntimeError):  # (closed from the test's thread)
                pass
            finally:
                self.answered.set()

    def close(self) -> None:
        """Hang up (the viewer closed its tab)."""
        if self.response is not None:  # shutdown wakes the reading thread (close() alone would not)
            with contextlib.suppress(OSError):  # (hung up already)
                self.response.extensions["network_stream"].get_extra_info("socket").shutdown(socket.SHUT_RDWR)

    def next(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        """The next event of type ``kind`` (others before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["type"] == kind:
                return event


def _open(url: str, source: str = "127.0.0.1") -> Stream:
    stream = Stream(url, source)
    stream.start()
    assert stream.answered.wait(30)
    return stream


def _queued_task(server: ApiServer, **extra: Any) -> tuple[str, str]:
    with server.client() as client:
        task_id = client.post("/tasks", json={"task": "watch me", **extra}).json()["id"]
        live_url = client.get(f"/tasks/{task_id}").json()["liveUrl"]
    return task_id, live_url.rsplit("/", 1)[1]


def test_a_crowd_costs_one_subscription_and_no_polls(
    own_api: Callable[..., ApiServer], own_redis: RedisServer
) -> None:
    server = own_api(live_heartbeat_s=0.5, live_max_viewers_per_client=0)
    client = redis.Redis(port=own_redis.port, decode_responses=True)
    task_id, token = _queued_task(server)
    connections_before = len(client.client_list())
    viewers = [_open(f"{server.url}/live/{token}/events") for _ in range(VIEWERS)]
    try:
        for viewer in viewers:
            assert viewer.status == 200 and viewer.next("task")["task"]["id"] == task_id
        # One subscription for the task, however many watch it, and a few connections in all
        # (each viewer used to hold a pub/sub connection of its own and poll twice per 0.25 s).
        assert client.pubsub_numsub(f"bf:task:{task_id}:live") == [(f"bf:task:{task_id}:live", 1)]
        assert len(client.client_list()) - connections_before <= 6
        # Every viewer's heartbeat is renewed, in one command per beat for all of them.
        deadline = time.monotonic() + 10
        while client.zcard(f"bf:task:{task_id}:viewers") < VIEWERS:
            assert time.monotonic() < deadline, "heartbeats not registered"
            time.sleep(0.05)

        before = _reads(client)
        time.sleep(2.0)  # four heartbeats of this API: what does watching cost while nothing happens?
        reads = _reads(client) - before
        assert reads <= 40, f"{reads} reads in 4 heartbeats for {VIEWERS} viewers: polling per viewer?"

        # What a running task's worker does reaches every viewer, pushed: a step, a frame, a status.
        store = TaskStore(client, 3600)
        step = TaskStepView(number=1, url="https://example.com/", actions=["{}"], memory="",
                            evaluation_previous_goal="", next_goal="look around")
        store.append_step(task_id, step)
        LiveFrames(client).frame(task_id, live_events.frame("AAAA", time.time()), 3)
        assert store.transition(task_id, TaskStatus.started, [TaskStatus.created], started_at=utcnow())
        for viewer in viewers:
            assert viewer.next("step")["step"]["nextGoal"] == "look around"
            assert viewer.next("frame")["data"] == "AAAA"
            assert viewer.next("task")["task"]["status"] == "started"
        assert store.transition(task_id, TaskStatus.finished, [TaskStatus.started], finished_at=utcnow())
        for viewer in viewers:
            assert viewer.next("end")["status"] == "finished"
        # Nobody watches a finished task: the process lets go of its subscription.
        deadline = time.monotonic() + 10
        while client.pubsub_numsub(f"bf:task:{task_id}:live")[0][1] != 0:
            assert time.monotonic() < deadline, "the subscription outlived its viewers"
            time.sleep(0.05)
    finally:
        for viewer in viewers:
            viewer.close()


def _reads(client: redis.Redis) -> int:
    """Read commands the server has run so far (every connection, this test's included)."""
    stats = client.info("commandstats")
    names = ("lrange", "hmget", "hget", "hgetall", "llen", "exists", "get", "mget", "hexists", "zrange")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names)


def test_viewers_are_capped_per_link_per_address_and_overall(own_api: Callable[..., ApiServer]) -> None:
    server = own_api(live_max_viewers=5, live_max_viewers_per_link=3, live_max_viewers_per_client=2,
                       retry_after_s=7)
    _, link_a = _queued_task(server)
    _, link_b = _queued_task(server)
    url_a, url_b = (f"{server.url}/live/{t}/events" for t in (link_a, link_b))
    open_streams: list[Stream] = []

    def admitted(url: str, source: str) -> Stream:
        stream = _open(url, source)
        assert stream.status == 200, (source, stream.status, stream.body)
        open_streams.append(stream)
        return stream

    def refused(url: str, source: str, why: str) -> None:
        stream = _open(url, source)
        assert stream.status == 429, (source, stream.status)
        assert stream.headers["retry-after"] == "7" and why in json.loads(stream.body)["detail"]

    try:
        first = admitted(url_a, "127.0.0.1")
        admitted(url_a, "127.0.0.1")
        refused(url_a, "127.0.0.1", "your address")  # per client address
        admitted(url_a, "127.0.0.2")
        refused(url_a, "127.0.0.3", "This live link")  # per link
        admitted(url_b, "127.0.0.3")
        admitted(url_b, "127.0.0.4")
        refused(url_b, "127.0.0.5", "This server")  # overall
        # A viewer that leaves frees its place (bounded wait: the server notices the disconnect).
        first.close()
        deadline = time.monotonic() + 15
        while True:
            stream = _open(url_a, "127.0.0.6")
            if stream.status == 200:
                open_streams.append(stream)
                break
            assert time.monotonic() < deadline, "a closed viewer never freed its place"
            time.sleep(0.2)
    finally:
        for stream in open_streams:
            stream.close()


def test_a_public_share_shows_the_work_not_the_tenants_configuration(
    own_api: Callable[..., ApiServer],
) -> None:
    server = own_api()
    with server.client() as client:
        session_id = client.post("/sessions", json={}).json()["id"]
        task_id = client.post("/tasks", json={
            "task": "show the invoice", "sessionId": session_id, "metadata": {"customer": "acme-internal-7"},
        }).json()["id"]
        client.patch(f"/tasks/{task_id}", json={"action": "stop"})  # stopped, with an error text
        share = client.post(f"/sessions/{session_id}/public-share").json()["shareUrl"]
        session_url = client.get(f"/sessions/{session_id}").json()["liveUrl"]
    shared = _open(share + f"/events?task={task_id}")
    owner = _open(session_url + f"/events?task={task_id}")
    try:
        seen_by_public = shared.next("task")["task"]
        seen_by_owner = owner.next("task")["task"]
    finally:
        shared.close()
        owner.close()
    assert seen_by_owner["metadata"] == {"customer": "acme-internal-7"} and seen_by_owner["error"]
    assert seen_by_public["id"] == task_id and seen_by_public["status"] == "stopped"
    assert seen_by_public["task"] == "show the invoice"
    for private in ("metadata", "error", "judgement", "judgeVerdict", "llm", "cost", "sessionId",
                    "outputFiles", "proxyCountryCode", "liveUrl"):
        assert private not in seen_by_public, private
    assert "acme-internal-7" not in json.dumps(seen_by_public)


def test_a_task_live_url_is_revoked_at_once_and_replaced(own_api: Callable[..., ApiServer]) -> None:
    server = own_api(live_heartbeat_s=30)  # a revocation is pushed, not found at the next heartbeat
    task_id, token = _queued_task(server)
    viewer = _open(f"{server.url}/live/{token}/events")
    try:
        assert viewer.next("task")["task"]["id"] == task_id
        with server.client() as client:
            assert client.delete(f"/tasks/{task_id}/live-url").status_code == 204
            assert client.delete(f"/tasks/{uuid.uuid4()}/live-url").status_code == 404
            fresh = client.get(f"/tasks/{task_id}").json()["liveUrl"]
        assert viewer.next("revoked", timeout=10)
        assert httpx.get(f"{server.url}/live/{token}").status_code == 404
        assert fresh.rsplit("/", 1)[1] != token and httpx.get(fresh).status_code == 200
        with server.client("bf-test-scoped-key-a") as other:  # another tenant may not revoke it
            assert other.delete(f"/tasks/{task_id}/live-url").status_code == 404
        assert httpx.get(fresh).status_code == 200
    finally:
        viewer.close()
