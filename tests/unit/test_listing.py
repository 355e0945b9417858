"""Task listing reads one page of an index, whatever the number of tasks in Redis.

Indexes per owner, per status and per both are written with the record and moved with
every status change; a page is the same as filtering every record by hand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from redis.client import Pipeline

from producer import Producer
from shared import keys
from shared.models import SessionStatus, TaskStatus
from shared.task_store import utcnow
from tests.support.redis_server import RedisServer

OWNERS = ("owner-a", "owner-b")


@pytest.fixture(scope="module")
def own_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A ``redis-server`` of this module's own: listings here see only this test's tasks, and
    emptying it touches no other test's (or engineer's) database."""
    server = RedisServer(tmp_path_factory.mktemp("listing-redis"))
    server.start()
    client = redis.Redis(port=server.port, decode_responses=True)
    yield client
    client.close()
    server.stop()


@pytest.fixture(autouse=True)
def _empty(own_db: redis.Redis) -> None:
    own_db.flushdb()


@pytest.fixture
def lister(settings: Any, own_db: redis.Redis) -> Producer:
    """A producer over that database, on a queue no worker consumes."""
    url = own_db.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/{url['db']}"
    return Producer(settings.model_copy(update={
        "redis_url": redis_url, "broker_url": None, "result_backend": None,
        "queue": f"bf-list-{uuid.uuid4().hex[:8]}", "max_queued_tasks": 0,
    }))


def _fill(producer: Producer) -> list[tuple[str, str, TaskStatus]]:
    """30 tasks over two owners and three statuses; returns (id, owner, status), oldest first."""
    made = []
    for i in range(30):
        owner = OWNERS[i % 2]
        created = producer.create_task({"task": f"task {i}"}, owner=owner)
        status = TaskStatus.created
        if i % 3 == 1:
            producer.store.transition(str(created.id), TaskStatus.started, [TaskStatus.created])
            status = TaskStatus.started
        elif i % 3 == 2:
            producer.store.transition(str(created.id), TaskStatus.started, [TaskStatus.created])
            producer.store.transition(str(created.id), TaskStatus.finished, [TaskStatus.started])
            status = TaskStatus.finished
        made.append((str(created.id), owner, status))
        time.sleep(0.001)  # distinct creation times
    return made


@pytest.mark.parametrize("owner", [None, *OWNERS])
@pytest.mark.parametrize("status", [None, TaskStatus.created, TaskStatus.started, TaskStatus.finished])
def test_pages_equal_filtering_every_record(
    lister: Producer, owner: str | None, status: TaskStatus | None
) -> None:
    made = _fill(lister)
    expected = [tid for tid, o, s in reversed(made)
                if (owner is None or o == owner) and (status is None or s == status)]
    got: list[str] = []
    for page in (1, 2, 3, 4):
        listed = lister.list_tasks(4, page, filter_by=status, owner=owner)
        assert listed.total_items == len(expected)
        got += [str(item.id) for item in listed.items]
    assert got == expected[:16]
    assert all(item.status == status for item in lister.list_tasks(50, 1, filter_by=status).items
               if status is not None)


def test_a_time_window_bounds_the_page_and_the_total(lister: Producer) -> None:
    made = _fill(lister)
    middle = lister.get_task(made[10][0]).created_at
    after = lister.list_tasks(100, 1, after=middle)
    before = lister.list_tasks(100, 1, before=middle - timedelta(microseconds=1))
    assert after.total_items == 20 and before.total_items == 10
    assert {str(i.id) for i in after.items} | {str(i.id) for i in before.items} == {m[0] for m in made}


def test_a_page_costs_two_round_trips_and_reads_only_its_records(
    lister: Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(lister)
    trips, loaded = [], []
    monkeypatch.setattr(Pipeline, "execute", _counted(Pipeline.execute, trips))
    monkeypatch.setattr(type(lister.store), "load_many", _spied(type(lister.store).load_many, loaded))
    for page in (1, 3):
        trips.clear(), loaded.clear()
        listed = lister.list_tasks(5, page, filter_by=TaskStatus.created, owner="owner-a")
        assert len(trips) == 2 and loaded == [[str(i.id) for i in listed.items]]


def test_status_changes_and_deletes_move_the_indexes(lister: Producer, own_db: redis.Redis) -> None:
    created = lister.create_task({"task": "one"}, owner="owner-a")
    tid = str(created.id)
    assert own_db.zscore(keys.tasks_by(owner="owner-a", status="created"), tid) is not None
    lister.store.transition(tid, TaskStatus.started, [TaskStatus.created])
    assert own_db.zscore(keys.tasks_by(status="created"), tid) is None
    assert own_db.zscore(keys.tasks_by(owner="owner-a", status="created"), tid) is None
    assert own_db.zscore(keys.tasks_by(owner="owner-a", status="started"), tid) is not None
    assert not lister.store.transition(tid, TaskStatus.started, [TaskStatus.created])  # refused: unchanged
    assert own_db.zscore(keys.tasks_by(status="started"), tid) is not None
    lister.store.delete(tid, str(created.session_id))
    for index in (keys.TASK_INDEX, keys.tasks_by(owner="owner-a"), keys.tasks_by(status="started"),
                  keys.tasks_by(owner="owner-a", status="started")):
        assert own_db.zscore(index, tid) is None, index


def test_entries_past_the_record_ttl_are_trimmed_not_counted(lister: Producer, own_db: redis.Redis) -> None:
    lister.create_task({"task": "fresh"})
    stale = (utcnow() - timedelta(seconds=lister.settings.record_ttl_s + 60)).timestamp()
    own_db.zadd(keys.TASK_INDEX, {"expired-task": stale})
    listed = lister.list_tasks(10, 1)
    assert listed.total_items == 1 and own_db.zscore(keys.TASK_INDEX, "expired-task") is None


def _counted(original: Any, calls: list[int]) -> Any:
    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)
    return execute


def _spied(original: Any, seen: list[list[str]]) -> Any:
    def load_many(self: Any, task_ids: list[str]) -> Any:
        seen.append(list(task_ids))
        return original(self, task_ids)
    return load_many


def test_session_pages_follow_owner_and_status_through_stops(lister: Producer, own_db: redis.Redis) -> None:
    made = []
    for i in range(12):
        owner = OWNERS[i % 2]
        session = lister.sessions.create({"keepAlive": True}, owner=owner)
        made.append((str(session.id), owner))
        time.sleep(0.001)
    one_off = lister.create_task({"task": "alone"}, owner="owner-a")  # its one-off session is listed too
    made.append((str(one_off.session_id), "owner-a"))
    stopped = {sid for sid, _ in made[:12:3]}
    for sid in stopped:
        lister.sessions.stop(sid)
    newest_first = list(reversed(made))
    for owner in (None, *OWNERS):
        for status in (None, SessionStatus.active, SessionStatus.stopped):
            expected = [sid for sid, o in newest_first if (owner is None or o == owner) and (
                status is None or (sid in stopped) == (status == SessionStatus.stopped))]
            listed = lister.sessions.list(3, 1, status, owner=owner)
            assert listed.total_items == len(expected), (owner, status)
            assert [str(s.id) for s in listed.items] == expected[:3], (owner, status)
    assert lister.sessions.count_active("owner-a") == sum(
        1 for sid, o in made if o == "owner-a" and sid not in stopped)
    lister.sessions.delete(made[0][0])
    assert own_db.zscore(keys.sessions_by(owner=made[0][1]), made[0][0]) is None


def test_a_page_number_past_any_redis_offset_is_an_empty_page(lister: Producer) -> None:
    lister.create_task({"task": "one"}, owner="owner-a")
    huge = 280658684509127318948148980365698007040
    tasks = lister.list_tasks(10, huge)
    sessions = lister.sessions.list(33, huge, SessionStatus.active)
    assert (tasks.items, tasks.total_items) == ([], 1)
    assert (sessions.items, sessions.total_items) == ([], 1)


def test_a_page_number_below_one_reads_as_the_first_page(lister: Producer) -> None:
    """Library callers are not validated by the API's ``ge=1``: no negative Redis offsets."""
    lister.create_task({"task": "one"}, owner="owner-a")
    assert [i.id for i in lister.list_tasks(10, 0).items] == [i.id for i in lister.list_tasks(10, 1).items]
    assert len(lister.sessions.list(10, -3).items) == 1


@pytest.mark.parametrize("prefix", [keys.TASKS_BY, keys.SESSIONS_BY, keys.BROWSERS_BY])
def test_the_scripts_spell_every_index_name_as_keys_does(prefix: str, own_db: redis.Redis) -> None:
    """The index names are built in two languages (Python for reads and creates, Lua for the
    status scripts); one drifting from the other would leave pages silently wrong."""
    from shared import lua

    probe = lua.script("return listing_index(ARGV[1], ARGV[2], ARGV[3])", lua.LISTING_INDEX)
    for owner, status in [("k1", None), (None, "stopped"), ("k1", "created"), ("", "active"), ("a:b", "x")]:
        in_lua = own_db.eval(probe, 0, prefix, owner or "", status or "")
        assert in_lua == keys.listing_index(prefix, owner=owner, status=status), (owner, status)
    assert keys.tasks_by(owner="k1", status="created") == keys.listing_index(keys.TASKS_BY, owner="k1",
                                                                              status="created")


def test_lua_snippets_come_once_and_before_their_callers() -> None:
    from shared import lua
    from shared.task_events import STATUS_EVENT

    text = lua.script("return 1", lua.LISTINGS, STATUS_EVENT, lua.LISTING_INDEX, lua.ACCOUNT_TASKS)
    assert text.count("local function listing_index") == 1 and text.count("local function account_tasks") == 1
    assert text.index("function listing_index") < text.index("function relisted")
    assert text.index("function account_tasks") < text.index("function status_changed")
    assert text.endswith("return 1")
