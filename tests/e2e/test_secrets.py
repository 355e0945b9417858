"""Secrets end to end: the login works, and no secret value is anywhere it should not be.

Anywhere means: every request the (fake) LLM received, every Redis key and value of the
test database (Celery's messages and results included, base64 bodies decoded), the
worker's log, the Celery event stream, and the task view.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import redis
from celery import Celery

from producer import TaskValidationError
from shared import keys
from shared.celery_config import celery_config
from shared.models import TaskStatus
from tests.conftest import FAKE_OP_TOKEN, TEST_REDIS_URL, WorkerProcess
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.site import PASSWORD, Site

_B64 = re.compile(rb"[A-Za-z0-9+/=_-]{16,}")


# -- where a secret could hide ------------------------------------------------
def _texts(value: bytes) -> Iterator[bytes]:
    """``value`` and every base64 run inside it, decoded (Celery message bodies are base64)."""
    yield value
    for run_ in _B64.findall(value):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                yield decode(run_ + b"=" * (-len(run_) % 4))


def redis_dump(url: str) -> list[tuple[bytes, bytes]]:
    """Every key of the database and all its content, whatever its type."""
    client = redis.Redis.from_url(url)
    rows: list[tuple[bytes, bytes]] = []
    for key in client.scan_iter(count=500):
        raw_kind = client.type(key)
        kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = f"<{kind}>"
        rows.append((key, repr(value).encode() if not isinstance(value, bytes) else value))
    return rows


def assert_absent(needles: list[str], haystack: bytes | str, where: str) -> None:
    data = haystack.encode() if isinstance(haystack, str) else haystack
    for text in _texts(data):
        for needle in needles:
            assert needle.encode() not in text, f"secret found in {where}"


def assert_redis_clean(needles: list[str]) -> int:
    rows = redis_dump(TEST_REDIS_URL)
    for key, value in rows:
        assert_absent(needles, key + b" " + value, f"Redis key {key!r}")
    return len(rows)


class EventTap:
    """Every Celery event (task-sent ... task-progress ... task-succeeded) while it runs."""

    def __init__(self, settings: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.app = Celery("secrets-tap")
        self.app.conf.update(celery_config(settings))
        ready = threading.Event()

        def listen() -> None:
            with self.app.connection() as conn:
                receiver = self.app.events.Receiver(conn, handlers={"*": self.events.append})
                ready.set()
                with contextlib.suppress(Exception):  # ends by timing out
                    receiver.capture(limit=None, timeout=60, wakeup=False)

        threading.Thread(target=listen, daemon=True).start()
        ready.wait(5)
        time.sleep(0.5)

    def of(self, task_id: str, types: set[str], timeout: float = 10) -> list[dict[str, Any]]:
        """The task's events once every one of ``types`` has arrived (or ``timeout`` passed):
        the worker publishes ``task-succeeded`` after the result is stored, so a caller that
        saw the task finish may still be ahead of it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [e for e in self.events if e.get("uuid") == task_id]
            if types <= {e["type"] for e in mine}:
                return mine
            time.sleep(0.1)
        return [e for e in self.events if e.get("uuid") == task_id]


# -- the login task -------------------------------------------------------------
PROFILE = """<!doctype html><html><head><title>Profile</title></head><body>
<h1>Your account</h1><p>Saved password: {pw}</p>
<label>API key <input name="key" value="{pw}{pw}{pw}{pw}{pw}"></label>
<form action="/search-{sid}" method="get"><input name="q" placeholder="Search">
<button type="submit">Search</button></form></body></html>"""


def _type(call: Call, where: str, text: str) -> dict[str, Any]:
    return {"input": {"index": call.index_of(where), "text": text}}


def _login_script(sid: str, base: str) -> Any:
    seen: dict[str, int] = {}

    def script(call: Call) -> Reply | str:
        if call.is_extract:  # a model that repeats what it read must still not leak it
            return Reply(content=f"The saved password is {PASSWORD}.")
        if "title: Login" in call.user:
            return step(
                _type(call, "placeholder=Username", "ada"),
                _type(call, "placeholder=Password", "<secret>password</secret>"),
                {"click": {"index": call.index_of("Log in")}},
            )
        if "title: Order" in call.user:
            return step({"navigate": {"url": f"{base}/profile-{sid}"}})
        if "title: Profile" in call.user:
            seen["profile"] = seen.get("profile", 0) + 1
            if seen["profile"] == 1:
                # The extract request has no task text: the query carries the script marker.
                return step({"extract": {"query": f"What is the saved password? [[script:{sid}]]"}})
            return step(
                _type(call, "placeholder=Search", "<secret>password</secret>"),
                {"click": {"index": call.index_of("<button.*Search")}},
            )
        if "title: Results" in call.user:
            return step({"done": {"text": f"Logged in; the password was {PASSWORD}", "success": True}})
        raise AssertionError(call.user[-1500:])

    return script


@pytest.mark.usefixtures("worker")
def test_a_login_with_secrets_leaks_nothing(
    producer, fake_llm: FakeLLM, site: Site, settings, worker: WorkerProcess
) -> None:
    sid = script_id("leak")
    site.pages[f"/profile-{sid}"] = PROFILE.format(pw=PASSWORD, sid=sid)
    site.pages[f"/search-{sid}"] = "<!doctype html><title>Results</title><h1>Search results</h1>"
    marker = fake_llm.script(sid, _login_script(sid, site.url))
    tap = EventTap(settings)
    view = run(producer, {
        "task": f"Log in as ada, then look at the profile. {marker}",
        "startUrl": site.url + "/login",
        "secrets": {"password": PASSWORD},
        "vision": True,
    })
    assert view.status == TaskStatus.finished and view.is_success, view.error

    # The login really happened: the password reached the site, and the next page was served.
    host = site.url.split("//")[1]
    login_at = site.log.index(("POST", "/login", host))
    assert ("GET", "/order", host) in site.log[login_at:]
    assert any(path == "/login" and form.get("password") == PASSWORD for path, form in site.forms)

    needles = [PASSWORD]
    calls = fake_llm.calls[sid]
    for call in calls:
        assert_absent(needles, json.dumps(call.body), "an LLM request")
    login_call, profile_call = calls[0], next(c for c in calls if "title: Profile" in c.user)
    assert login_call.has_image  # nothing secret on screen yet
    assert not profile_call.has_image and "screenshot withheld" in profile_call.user
    assert "Saved password: <secret>password</secret>" in profile_call.user
    extract = next(c for c in calls if c.is_extract)
    assert "<secret>password</secret>" in extract.user
    assert "<secret>password</secret>" in (view.output or "")
    results = " ".join(r for s in view.steps for r in s.results)
    assert "The saved password is <secret>password</secret>." in results
    assert view.steps[-1].url.endswith("?q=<secret>password</secret>")  # a GET form put it in the URL

    assert_absent(needles, view.model_dump_json(), "the task view")
    assert_absent(needles, producer.get_task(view.id).model_dump_json(), "the stored task view")
    expected = {"task-received", "task-started", "task-progress", "task-succeeded"}
    events = tap.of(str(view.id), expected)
    assert expected <= {e["type"] for e in events}
    assert_absent(needles, json.dumps(tap.events, default=str), "the Celery event stream")
    assert_absent(needles, worker.log(), "the worker log")
    assert assert_redis_clean(needles) > 0
    assert producer.store._redis.hget(keys.task(str(view.id)), "secrets_token")  # kept, encrypted


@pytest.mark.usefixtures("worker")
def test_a_totp_secret_types_a_fresh_code(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("totp")
    seed = pyotp.random_base32()
    site.pages[f"/2fa-{sid}"] = (
        "<!doctype html><title>Two-factor</title><form method=post action=/verify-" + sid + ">"
        "<input name=code placeholder=Code><button type=submit>Verify</button></form>"
    )
    marker = fake_llm.script(sid, [
        step({"input": {"index": 0, "text": "<secret>login_totp</secret>"}}, {"click": {"index": 1}}),
        step({"done": {"text": "verified", "success": True}}),
    ])
    started = time.time()
    view = run(producer, {
        "task": f"Enter the code. {marker}",
        "startUrl": f"{site.url}/2fa-{sid}",
        "secrets": {"login_totp": seed},
    })
    assert view.status == TaskStatus.finished, view.error
    codes = [form["code"] for path, form in site.forms if path == f"/verify-{sid}"]
    totp = pyotp.TOTP(seed)
    assert codes and codes[0] in {totp.at(started - 30), totp.at(started), totp.at(time.time())}
    assert all(codes[0] not in json.dumps(c.body) for c in fake_llm.calls[sid])
    assert "<secret>login_totp</secret>" in view.steps[0].actions[0]


def test_secrets_without_a_key_are_refused_before_anything_is_stored(
    producer, settings, redis_client
) -> None:
    from producer import Producer

    keyless = Producer(settings.model_copy(update={"secrets_key": None}))
    before = (redis_client.llen(settings.queue), redis_client.zcard(keys.TASK_INDEX))
    with pytest.raises(TaskValidationError) as info:
        keyless.create_task({"task": "log in", "secrets": {"password": PASSWORD}})
    assert "BROWSERFLEET_SECRETS_KEY" in str(info.value) and PASSWORD not in str(info.value)
    assert (redis_client.llen(settings.queue), redis_client.zcard(keys.TASK_INDEX)) == before


# -- 1Password (opVaultId), through the fake SDK on the strict worker ------------------
def _vault(site: Site) -> list[dict[str, Any]]:
    def field(fid: str, kind: str, value: str) -> dict[str, str]:
        return {"id": fid, "title": fid, "field_type": kind, "value": value}

    return [
        {
            "id": "i1",
            "title": "Test Site",
            "websites": [{"url": site.url, "autofill_behavior": "ExactDomain"}],
            "fields": [field("username", "Text", "ada.lovelace"), field("password", "Concealed", PASSWORD)],
        },
        {
            "id": "i2",
            "title": "Elsewhere",
            "websites": [{"url": "https://example.com", "autofill_behavior": "AnywhereOnWebsite"}],
            "fields": [field("password", "Concealed", "elsewhere-pw-7781")],
        },
    ]


def test_op_vault_credentials_log_in_only_on_their_site(
    strict_producer, strict_worker: WorkerProcess, fake_llm: FakeLLM, site: Site, fake_op_data: Path
) -> None:
    fake_op_data.write_text(json.dumps({"token": FAKE_OP_TOKEN, "vaults": {"vault-e2e": _vault(site)}}))
    sid = script_id("op")

    def script(call: Call) -> str:
        if "title: Login" in call.user and call.index == 0:  # the wrong site's password first
            return step(_type(call, "placeholder=Password", "<secret>elsewhere_password</secret>"))
        if "title: Login" in call.user:
            return step(
                _type(call, "placeholder=Username", "<secret>test_site_username</secret>"),
                _type(call, "placeholder=Password", "<secret>test_site_password</secret>"),
                {"click": {"index": call.index_of("Log in")}},
            )
        return step({"done": {"text": "logged in", "success": True}})

    marker = fake_llm.script(sid, script)
    view = run(strict_producer, {
        "task": f"Log in with the vault's credentials. {marker}",
        "startUrl": site.url + "/login",
        "opVaultId": "vault-e2e",
    })
    assert view.status == TaskStatus.finished and view.is_success, view.error
    first = fake_llm.calls[sid][0].user
    assert "<secret>test_site_password</secret>" in first and "<secret>elsewhere_password</secret>" in first
    refusal = view.steps[0].results[0]
    assert "elsewhere_password" in refusal and "may not be used on" in refusal and "example.com" in refusal
    assert ("/login", {"user": "ada.lovelace", "password": PASSWORD}) in site.forms
    assert "elsewhere-pw-7781" not in json.dumps(site.forms)
    needles = [PASSWORD, "elsewhere-pw-7781", FAKE_OP_TOKEN]
    for call in fake_llm.calls[sid]:
        assert_absent(needles, json.dumps(call.body), "an LLM request")
    assert_absent(needles, view.model_dump_json(), "the task view")
    assert_absent(needles, strict_worker.log(), "the worker log")
    assert_redis_clean(needles)


@pytest.mark.parametrize(
    ("vault_id", "reason"),
    [
        ("no-such-vault", "1Password could not read vault 'no-such-vault': error resolving vault"),
        ("rate-limited", "1Password rate limit exceeded while reading vault 'rate-limited'"),
    ],
)
def test_op_vault_errors_end_the_task_with_the_reason(
    strict_producer, fake_llm: FakeLLM, site: Site, fake_op_data: Path, vault_id: str, reason: str
) -> None:
    fake_op_data.write_text(json.dumps({"token": FAKE_OP_TOKEN, "vaults": {"vault-e2e": _vault(site)}}))
    sid = script_id("operr")
    marker = fake_llm.script(sid, [step({"done": {"text": "should not run"}})])
    view = run(strict_producer, {"task": f"Anything. {marker}", "opVaultId": vault_id})
    assert view.status == TaskStatus.failed
    assert (view.error or "").startswith(reason)
    assert fake_llm.calls[sid] == []  # resolved before any step
