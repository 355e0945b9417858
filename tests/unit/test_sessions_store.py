"""The session claim script's edge cases, API-key parsing and hashing (real Redis, no worker)."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest
import redis
from fastapi import HTTPException

from producer.api.auth import ApiKeyConfigError, ApiKeys
from shared import keys
from shared.models import CreateSessionRequest, SessionStatus
from shared.session_store import CLAIM_GRACE_S, Claim, SessionRecord, SessionStore
from shared.settings import Settings


@pytest.fixture
def store(redis_client: redis.Redis) -> SessionStore:
    return SessionStore(redis_client, ttl_s=600, idle_timeout_s=600)


def new_session(store: SessionStore, **options: object) -> str:
    record = SessionRecord.new(CreateSessionRequest.model_validate(options), owner="key:a")
    store.create(record)
    return str(record.id)


def set_task_status(redis_client: redis.Redis, task_id: str, status: str) -> None:
    redis_client.hset(keys.task(task_id), "status", f'"{status}"')
    redis_client.expire(keys.task(task_id), 60)


def test_a_claim_waits_for_the_claimed_task_record_only_for_the_grace_period(
    store: SessionStore, redis_client: redis.Redis
) -> None:
    sid = new_session(store)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert store.claim(sid, first) == Claim.ok
    assert store.claim(sid, second) == Claim.busy  # first's record is not written yet
    redis_client.hset(keys.session(sid), "claimed_at", repr(time.time() - CLAIM_GRACE_S - 1))
    assert store.claim(sid, second) == Claim.ok  # its producer died: the claim lapsed


def test_a_claim_is_free_once_the_task_is_terminal(store: SessionStore, redis_client: redis.Redis) -> None:
    sid, task = new_session(store), str(uuid.uuid4())
    assert store.claim(sid, task) == Claim.ok
    set_task_status(redis_client, task, "started")
    assert store.claim(sid, str(uuid.uuid4())) == Claim.busy
    set_task_status(redis_client, task, "failed")  # ended without a release (e.g. a crash)
    assert store.claim(sid, str(uuid.uuid4())) == Claim.ok


def test_a_keep_alive_false_session_takes_one_task(store: SessionStore, redis_client: redis.Redis) -> None:
    sid, task = new_session(store, keepAlive=False), str(uuid.uuid4())
    assert store.claim(sid, task) == Claim.ok
    set_task_status(redis_client, task, "finished")
    assert store.claim(sid, str(uuid.uuid4())) == Claim.stopped
    record = store.load(sid)
    assert record is not None and record.status == SessionStatus.stopped


def test_release_stops_a_keep_alive_false_session_but_an_undo_does_not(store: SessionStore) -> None:
    sid, task = new_session(store, keepAlive=False), str(uuid.uuid4())
    store.claim(sid, task)
    store.release(sid, task, ended=False)
    assert store.claim(sid, task) == Claim.ok
    store.release(sid, task)
    record = store.load(sid)
    assert record is not None and record.status == SessionStatus.stopped and record.finished_at


def test_another_owner_sees_no_session(store: SessionStore) -> None:
    sid = new_session(store)
    assert store.claim(sid, str(uuid.uuid4()), owner="key:b") == Claim.missing
    assert store.load(sid, owner="key:b") is None
    assert store.claim(sid, str(uuid.uuid4()), owner="key:a") == Claim.ok


def test_api_keys_come_comma_separated_and_may_be_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERFLEET_API_KEYS", " one, two ,,")
    monkeypatch.setenv("BROWSERFLEET_SCOPED_API_KEYS", "sha256:" + hashlib.sha256(b"three").hexdigest())
    settings = Settings()
    assert settings.api_keys == ["one", "two"]
    api_keys = ApiKeys(settings.api_keys, settings.scoped_api_keys)
    assert api_keys.check("one").owner is None
    scoped = api_keys.check("three")
    assert scoped.owner is not None and scoped.owner.startswith("key:")
    for bad in (None, "", "four"):
        with pytest.raises(HTTPException) as denied:
            api_keys.check(bad)
        assert denied.value.status_code == 401
    with pytest.raises(ApiKeyConfigError):
        ApiKeys([], [])
    with pytest.raises(ApiKeyConfigError):
        ApiKeys(["sha256:not-hex"])


def test_profiles_written_before_the_owner_indexes_join_them(redis_client) -> None:  # type: ignore[no-untyped-def]
    """The migration path: profiles stored by the previous release (global index only) are
    found by their owner's listing and count toward its quota."""
    import uuid as _uuid

    from shared import keys as _keys
    from shared.models import ProfileCreateRequest
    from shared.profile_store import ProfileLimitError, ProfileRecord, ProfileStore

    owner = f"key:{_uuid.uuid4().hex[:16]}"
    old = [ProfileRecord.new(ProfileCreateRequest(name=f"old-{i}"), owner) for i in range(2)]
    for record in old:  # as the previous release wrote them
        redis_client.hset(_keys.profile(str(record.id)), mapping=record.fields())
        redis_client.zadd(_keys.PROFILE_INDEX, {str(record.id): record.created_at.timestamp()})
    redis_client.delete(_keys.PROFILES_INDEXED)
    store = ProfileStore(redis_client, max_per_owner=3)
    assert set(store.list_ids(owner)) == {str(r.id) for r in old}
    store.create(ProfileRecord.new(ProfileCreateRequest(name="new"), owner))
    with pytest.raises(ProfileLimitError):  # the old profiles count toward the quota
        store.create(ProfileRecord.new(ProfileCreateRequest(name="over"), owner))


def test_records_written_under_the_old_proxy_field_name_keep_their_proxy(
    producer, redis_client: redis.Redis  # type: ignore[no-untyped-def]
) -> None:
    """Session and browser records stored the proxy country as ``proxy_country`` before it had the
    wire's name everywhere; such records live until their TTL, and their tasks must still go out
    through that country's proxy (the task record's ``proxy_country_code``, read by the worker)."""
    from shared.browser_store import BrowserRecord

    old = SessionRecord.new(CreateSessionRequest(), proxy_country_code="de").fields()
    old["proxy_country"] = old.pop("proxy_country_code")
    sid = old["id"]
    redis_client.hset(keys.session(sid), mapping=old)
    created = producer.create_task({"task": "in an old session", "sessionId": sid})
    assert producer.get_task(created.id).proxy_country_code == "de"
    assert redis_client.hget(keys.task(str(created.id)), "proxy_country_code") == '"de"'

    browser = BrowserRecord.new(owner=None, timeout_min=5, proxy_country_code="fr").fields()
    browser["proxy_country"] = browser.pop("proxy_country_code")
    redis_client.hset(keys.browser(browser["id"]), mapping=browser)
    record = producer.browsers.get(browser["id"])
    assert record.proxy_country_code == "fr" and record.item().proxy_country_code == "fr"

    written = SessionRecord.new(CreateSessionRequest(), proxy_country_code="us").fields()
    assert written["proxy_country_code"] == "us" and "proxy_country" not in written
