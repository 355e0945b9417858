"""Rotating ``BROWSERFLEET_SECRETS_KEY``, and ciphertexts bound to their record, end to end.

A producer (the HTTP API) and a worker configured with ``NEW,OLD`` (newest first), where
``OLD`` is the key the rest of the suite uses:

- a profile state the previous release wrote (plain Fernet under ``OLD``, unbound) still opens;
- new writes (task secrets, the profile state written back) are sealed with ``NEW``, bound
  to their purpose and record;
- a state copied from one profile to another is refused by the worker (the task starts logged
  out, and the worker says why).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from cryptography.fernet import Fernet
from pydantic import SecretStr

from shared import crypto, keys
from shared.profile_store import ProfileStore
from shared.settings import Settings
from tests.conftest import SECRETS_KEY, WorkerProcess
from tests.e2e.helpers import script_id
from tests.e2e.test_api import wait_done
from tests.e2e.test_sessions import report_script
from tests.support.api import SCOPED_KEY_A, ApiServer, headers
from tests.support.fake_llm import FakeLLM
from tests.support.site import Site

NEW = crypto.new_key()
ROTATED = f"{NEW},{SECRETS_KEY}"


@pytest.fixture(scope="module")
def rotated(
    settings: Settings, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, str]]:
    queue = settings.queue + "-rotated"
    proc = WorkerProcess({"BROWSERFLEET_QUEUE": queue, "BROWSERFLEET_SECRETS_KEY": ROTATED}, queue,
                         tmp_path_factory.mktemp("rotated") / "worker.log")
    yield proc, queue
    proc.stop()


def _legacy_state(site: Site) -> str:
    """A logged-in storage state as the previous release sealed it: Fernet under the old key."""
    state = {"cookies": [{"name": "user", "value": "ada", "domain": "127.0.0.1", "path": "/", "expires": -1,
                          "httpOnly": False, "secure": False, "sameSite": "Lax"}], "origins": []}
    return Fernet(SECRETS_KEY.encode()).encrypt(json.dumps(state).encode()).decode()


def test_old_keys_open_new_writes_use_the_newest_and_a_copied_state_is_refused(
    rotated: tuple[WorkerProcess, str], make_api: Callable[..., ApiServer], fake_llm: FakeLLM, site: Site,
    redis_client: redis.Redis,
) -> None:
    proc, queue = rotated
    api = make_api(queue=queue, secrets_key=SecretStr(ROTATED))

    def run_in(client: httpx.Client, profile_id: str, **extra: Any) -> dict[str, Any]:
        marker = fake_llm.script(script_id("rotation"), report_script)
        session_id = client.post("/sessions", json={"profileId": profile_id}).json()["id"]
        task_id = client.post("/tasks", json={"task": f"Am I logged in? {marker}", "sessionId": session_id,
                                              "startUrl": site.url + "/order", **extra}).json()["id"]
        return wait_done(client, task_id, timeout=90)

    with httpx.Client(base_url=api.base, headers=headers(SCOPED_KEY_A), timeout=30) as client:
        profile = client.post("/profiles", json={"name": "from before the upgrade"}).json()["id"]
        other = client.post("/profiles", json={"name": "another"}).json()["id"]
        # What the previous release's worker wrote:
        ProfileStore(redis_client).save_state(profile, _legacy_state(site), ["127.0.0.1"])

        view = run_in(client, profile, secrets={"pin": "4711-rotated"})
        assert (view["status"], view["output"]) == ("finished", "logged-in"), view
        # The task's secrets were sealed with the newest key, for that task only.
        sealed = redis_client.hget(keys.task(view["id"]), "secrets_token")
        token = json.loads(sealed)
        assert token.startswith("bf2.")
        assert crypto.decrypt_json(token, NEW, purpose=crypto.TASK_SECRETS, owner=view["id"]) == {
            "pin": "4711-rotated"}
        # The state written back is sealed with the newest key and bound to its profile.
        state = redis_client.get(keys.profile_state(profile))
        assert state and state.startswith("bf2.")
        assert crypto.decrypt_json(state, NEW, purpose=crypto.PROFILE_STATE, owner=profile)

        # Someone copies that state to another profile: the worker will not use it there.
        ProfileStore(redis_client).save_state(other, state, ["127.0.0.1"])
        copied = run_in(client, other)
        assert copied["output"] == "not-logged-in", copied
    log = proc.log_once("does not belong")
    assert f"profile-state {other}: saved browser state unreadable" in log and "does not belong" in log
