"""``POST /sessions/{id}/purge``: after it, a scan of every Redis key and value finds nothing of the
session: no record, step, screenshot, recording, output or uploaded file, live link, share,
download token, task result, nor the profile state its tasks wrote.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import redis

from tests.e2e.helpers import script_id
from tests.e2e.test_custom_proxy import every_value
from tests.support.api import SCOPED_KEY_A, SCOPED_KEY_B, ApiServer
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site

UPLOADED = b"name,ssn\nada,123-45-6789\n"


def wait_done(http: httpx.Client, task_id: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 90
    while (view := http.get(f"/tasks/{task_id}").json())["status"] not in ("finished", "failed", "stopped"):
        assert time.monotonic() < deadline, view
        time.sleep(0.2)
    return dict(view)


def test_purge_leaves_no_trace(
    api: ApiServer, fake_llm: FakeLLM, site: Site, redis_client: redis.Redis
) -> None:
    with api.client(SCOPED_KEY_A) as http, api.client(SCOPED_KEY_B) as stranger:
        profile = http.post("/profiles", json={"name": "purge-me"}).json()["id"]
        sid = http.post("/sessions", json={"profileId": profile, "enableRecording": True}).json()["id"]
        grant = http.post(
            f"/files/sessions/{sid}/presigned-url",
            json={"fileName": "people.csv", "contentType": "text/csv", "sizeBytes": len(UPLOADED)},
        ).json()
        assert (
            httpx.post(grant["url"], content=UPLOADED, headers={"content-type": "text/csv"}).status_code
            == 204
        )
        unused = http.post(
            f"/files/sessions/{sid}/presigned-url",
            json={"fileName": "later.csv", "contentType": "text/csv", "sizeBytes": 5},
        ).json()
        marker = fake_llm.script(
            script_id("purge"), [step({"done": {"text": "the secret word is purgatory-7", "success": True}})]
        )
        task_ids = []
        for n in range(2):
            created = http.post(
                "/tasks",
                json={"task": f"Look {n}. {marker}", "startUrl": site.url + "/login", "sessionId": sid},
            ).json()
            view = wait_done(http, created["id"])
            assert view["status"] == "finished", view
            task_ids.append(created["id"])
        share = http.post(f"/sessions/{sid}/public-share").json()
        logs = http.get(f"/tasks/{task_ids[0]}/logs").json()["downloadUrl"]
        live = http.get(f"/tasks/{task_ids[0]}").json()["liveUrl"]
        assert http.get(f"/tasks/{task_ids[1]}").json()["outputFiles"]  # the recording
        before = every_value(redis_client)
        for trace in (sid, *task_ids, "purgatory-7", share["shareToken"], profile):
            assert trace in before, trace  # the scan sees them while they exist
        assert base64.b64encode(UPLOADED).decode() in before

        assert stranger.post(f"/sessions/{sid}/purge").status_code == 404  # another key's session
        assert http.post(f"/sessions/{sid}/purge").status_code == 204

        after = every_value(redis_client)
        for trace in (
            sid,
            *task_ids,
            "purgatory-7",
            share["shareToken"],
            unused["url"].rsplit("/", 1)[1],
            base64.b64encode(UPLOADED).decode(),
            "ssn",
        ):
            assert trace not in after, trace
        assert http.get(f"/sessions/{sid}").status_code == 404
        assert httpx.get(logs).status_code == 404 and httpx.get(live).status_code == 404
        assert httpx.get(share["shareUrl"]).status_code == 404
        assert http.get(f"/profiles/{profile}").json()["cookieDomains"] in (
            [],
            None,
        )  # the profile stays, empty
        assert http.post(f"/sessions/{sid}/purge").status_code == 404
