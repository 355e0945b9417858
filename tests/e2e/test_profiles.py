"""Profiles keep a login across sessions and worker processes, owned by their API key.

Driven through the official ``browser-use-sdk`` (``profiles.*``, ``sessions.create``,
task ``session_settings``), against the real API, Redis, Celery workers and Chromium.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from browser_use_sdk import BrowserUse, BrowserUseError
from browser_use_sdk.generated.v2.models import SessionSettings

from shared import crypto, keys
from shared.settings import Settings
from tests.conftest import WorkerProcess
from tests.e2e.helpers import script_id
from tests.e2e.test_api import wait_done
from tests.e2e.test_sessions import login_script, report_script
from tests.support.api import SCOPED_KEY_A, SCOPED_KEY_B, ApiServer, headers
from tests.support.fake_llm import FakeLLM
from tests.support.site import PASSWORD, Site


@pytest.fixture(scope="module")
def other_worker(
    settings: Settings, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, str]]:
    """A second worker process on a queue of its own (same Redis, same keys)."""
    queue = settings.queue + "-profiles"
    proc = WorkerProcess({"BROWSERFLEET_QUEUE": queue}, queue, tmp_path_factory.mktemp("wp") / "worker.log")
    yield proc, queue
    proc.stop()


def _wait(api: ApiServer, key: str, task_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=api.base, headers=headers(key), timeout=30) as client:
        return wait_done(client, task_id, timeout=90)


def test_a_profile_carries_a_login_to_a_new_session_in_another_worker(
    api: ApiServer,
    make_api: Callable[..., ApiServer],
    other_worker: tuple[WorkerProcess, str],
    worker: WorkerProcess,
    fake_llm: FakeLLM,
    site: Site,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    proc_b, queue_b = other_worker
    api_b = make_api(queue=queue_b)
    login = fake_llm.script(script_id("profile-login"), login_script)
    report = fake_llm.script(script_id("profile-report"), report_script)
    with BrowserUse(api_key=SCOPED_KEY_A, base_url=api.base) as sdk, \
            BrowserUse(api_key=SCOPED_KEY_A, base_url=api_b.base) as sdk_b:
        profile = sdk.profiles.create(name="ada's account", user_id="user-7")
        assert (profile.name, profile.user_id, profile.cookie_domains) == ("ada's account", "user-7", [])

        session = sdk.sessions.create(profile_id=str(profile.id))
        first = sdk.tasks.create(f"Log in as ada. {login}", session_id=str(session.id),
                                 start_url=site.url + "/login", secrets={"password": PASSWORD})
        assert _wait(api, SCOPED_KEY_A, str(first.id))["output"] == "logged in"
        sdk.sessions.stop(str(session.id))

        saved = sdk.profiles.get(str(profile.id))
        # A new session from the profile, its task run by the other worker process: logged in.
        resumed_session = sdk_b.sessions.create(profile_id=str(profile.id))
        resumed = sdk_b.tasks.create(f"Am I logged in? {report}", session_id=str(resumed_session.id),
                                     start_url=site.url + "/order")
        resumed_view = _wait(api_b, SCOPED_KEY_A, str(resumed.id))
        # A one-off session from the profile (task sessionSettings) is logged in too.
        one_off = sdk_b.tasks.create(f"Am I logged in? {report}", start_url=site.url + "/order",
                                     session_settings=SessionSettings(profileId=str(profile.id)))
        one_off_view = _wait(api_b, SCOPED_KEY_A, str(one_off.id))
        # A task without the profile is not.
        fresh = sdk_b.tasks.create(f"Am I logged in? {report}", start_url=site.url + "/order")
        fresh_view = _wait(api_b, SCOPED_KEY_A, str(fresh.id))
        renamed = sdk.profiles.update(str(profile.id), name="ada (work)")
        listed = sdk.profiles.list(query="work")

    assert saved.cookie_domains == ["127.0.0.1"] and saved.last_used_at is not None
    assert resumed_view["output"] == "logged-in", resumed_view
    assert one_off_view["output"] == "logged-in", one_off_view
    assert fresh_view["output"] == "not-logged-in"
    assert str(resumed.id) in proc_b.log() and str(resumed.id) not in worker.log()
    assert renamed.name == "ada (work)" and renamed.user_id == "user-7"
    assert [p.id for p in listed.items] == [profile.id] and listed.total_items == 1

    # At rest the state is ciphertext; each write bumped the record's version.
    token = redis_client.get(keys.profile_state(str(profile.id)))
    assert token and "ada" not in token and "cookies" not in token
    state: Any = crypto.decrypt_json(token, settings.secrets_key, purpose=crypto.PROFILE_STATE,
                                     owner=str(profile.id))
    assert {"name": "user", "value": "ada"}.items() <= state["cookies"][0].items()
    assert int(redis_client.hget(keys.profile(str(profile.id)), "state_version") or 0) == 3


def test_another_keys_profile_is_not_found_and_nothing_is_enqueued(
    api: ApiServer, make_api: Callable[..., ApiServer], redis_client: redis.Redis
) -> None:
    idle = make_api()
    with BrowserUse(api_key=SCOPED_KEY_A, base_url=idle.base) as mine, \
            BrowserUse(api_key=SCOPED_KEY_B, base_url=idle.base) as theirs:
        profile = mine.profiles.create(name="private")
        tasks_before = redis_client.zcard(keys.TASK_INDEX)
        for attempt in (
            lambda: theirs.profiles.get(str(profile.id)),
            lambda: theirs.profiles.update(str(profile.id), name="stolen"),
            lambda: theirs.profiles.delete(str(profile.id)),
            lambda: theirs.sessions.create(profile_id=str(profile.id)),
            lambda: theirs.tasks.create("go", session_settings=SessionSettings(profileId=str(profile.id))),
        ):
            with pytest.raises(BrowserUseError) as caught:
                attempt()
            assert caught.value.status_code == 404 and "Profile not found" in str(caught.value)
        assert theirs.profiles.list().total_items == 0
        assert redis_client.zcard(keys.TASK_INDEX) == tasks_before
        assert redis_client.llen(idle.settings.queue) == 0
        assert mine.profiles.get(str(profile.id)).name == "private"
        mine.profiles.delete(str(profile.id))
        with pytest.raises(BrowserUseError) as gone:
            mine.profiles.get(str(profile.id))
        assert gone.value.status_code == 404
    assert not redis_client.exists(keys.profile(str(profile.id)), keys.profile_state(str(profile.id)))
