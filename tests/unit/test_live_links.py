"""Live links, shares and viewer heartbeats against a real Redis (no browser, no worker)."""

from __future__ import annotations

import uuid

import redis

from shared import keys
from shared.live_links import Grant, LiveLinks, live_url


def _links(redis_client: redis.Redis) -> LiveLinks:
    return LiveLinks(redis_client, 3600)


def _record(redis_client: redis.Redis, key: str) -> str:
    """A stand-in record (links are only made for records that exist); returns its id."""
    redis_client.hset(key, "id", key.rsplit(":", 1)[1])
    redis_client.expire(key, 600)
    return key.rsplit(":", 1)[1]


def _task(redis_client: redis.Redis) -> str:
    return _record(redis_client, keys.task(str(uuid.uuid4())))


def _session(redis_client: redis.Redis) -> str:
    return _record(redis_client, keys.session(str(uuid.uuid4())))


def test_a_task_token_is_stable_unguessable_and_grants_that_task(redis_client: redis.Redis) -> None:
    links = _links(redis_client)
    task_id = _task(redis_client)
    token = links.task_token(task_id)
    assert token is not None and links.task_token(task_id) == token and len(token) >= 40
    assert links.task_token(_task(redis_client)) != token
    assert links.task_token(str(uuid.uuid4())) is None  # no record, no link
    assert links.resolve(token) == Grant("task", task_id)
    assert links.resolve("x" * 43) is None and links.resolve("") is None and links.resolve("a" * 500) is None
    assert live_url("http://h:8000/", token) == f"http://h:8000/live/{token}"


def test_share_is_reused_while_valid_and_revoked_at_once(redis_client: redis.Redis) -> None:
    links = _links(redis_client)
    session_id = _session(redis_client)
    assert links.get_share(session_id) is None
    share = links.create_share(session_id, 600)
    assert share is not None and links.create_share(session_id, 600) == share
    assert links.create_share(str(uuid.uuid4()), 600) is None
    assert links.resolve(share.token) == Grant("share", session_id)
    links.count_view(session_id)
    counted = links.get_share(session_id)
    assert counted is not None and counted.view_count == 1 and counted.last_viewed is not None
    assert links.delete_share(session_id) is True
    assert links.resolve(share.token) is None and links.get_share(session_id) is None
    assert links.delete_share(session_id) is False


def test_an_expired_share_is_gone_and_a_new_one_gets_a_new_token(redis_client: redis.Redis) -> None:
    links = _links(redis_client)
    session_id = _session(redis_client)
    old = links.create_share(session_id, 600)
    assert old is not None
    redis_client.hset(keys.public_share(session_id), "expires_at", "1")  # as if its time had passed
    assert links.get_share(session_id) is None
    new = links.create_share(session_id, 600)
    assert new is not None and new.token != old.token and links.resolve(old.token) is None


def test_viewers_count_only_fresh_heartbeats(redis_client: redis.Redis) -> None:
    links = _links(redis_client)
    task_id = str(uuid.uuid4())
    assert links.viewers(task_id) == 0
    links.beat(task_id, "a", 30)
    links.beat(task_id, "b", 30)
    links.beat(task_id, "a", 30)  # renewing is not a new viewer
    assert links.viewers(task_id) == 2
    links.leave(task_id, "a")
    assert links.viewers(task_id) == 1
    links.beat(task_id, "c", -1)  # a heartbeat already past its expiry
    assert links.viewers(task_id) == 1
    assert links.stats(task_id) == {"sent": 0, "withheld": 0, "dropped": 0, "bytes": 0}


def test_revoking_a_live_url_ends_it_and_the_next_read_makes_another(redis_client: redis.Redis) -> None:
    links = _links(redis_client)
    task_id, session_id = _task(redis_client), _session(redis_client)
    task_token, session_token = links.task_token(task_id), links.session_token(session_id)
    assert task_token and session_token
    assert links.revoke_task_url(task_id) and links.revoke_session_url(session_id)
    assert links.resolve(task_token) is None and links.resolve(session_token) is None
    assert links.task_token(task_id) not in (None, task_token)
    assert links.revoke_task_url(str(uuid.uuid4())) is False
