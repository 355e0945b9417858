"""The producer masks a secret pasted elsewhere in a task in every form the worker would.

Before, the producer replaced only the value as typed: a percent-encoded secret in ``startUrl``
or a base64 one in ``metadata`` was stored in clear (and shown to the model). Now both sides use
one masker (``shared/masking.py``); this checks what reaches Redis through ``POST /tasks``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import redis

from shared import keys
from tests.support.api import ApiServer

VALUE = "Tr0ub4dor&3 x/y"


def test_every_form_of_a_secret_is_masked_before_it_is_stored(
    make_api: Callable[..., ApiServer], redis_client: redis.Redis
) -> None:
    forms = {
        "percent": quote(VALUE, safe=""),
        "form": quote_plus(VALUE),
        "html": VALUE.replace("&", "&amp;"),
        "upper": VALUE.upper(),
        "base64": base64.b64encode(VALUE.encode()).decode(),
        "basic_auth": base64.b64encode(f"ada:{VALUE}".encode()).decode(),
    }
    api = make_api()
    with api.client() as client:
        created = client.post("/tasks", json={
            "task": f"Log in with {forms['html']} and check the order",
            "startUrl": f"https://shop.example.com/login?next=%2F&p={forms['percent']}",
            "secrets": {"pw": VALUE},
            "metadata": {"auth": f"Basic {forms['basic_auth']}", "b64": forms["base64"]},
            "judgeGroundTruth": f"the form posted p={forms['form']}",
            "systemPromptExtension": f"The password looks like {forms['upper']}",
        })
        assert created.status_code == 202, created.text
        view = client.get(f"/tasks/{created.json()['id']}").json()
    record = redis_client.hgetall(keys.task(created.json()["id"]))
    stored = json.dumps(record) + json.dumps(view)
    for name, form in {**forms, "raw": VALUE}.items():
        assert form not in stored and json.dumps(form)[1:-1] not in stored, f"the {name} form was stored"
    request = json.loads(record["request"])
    assert "<secret>pw</secret>" in request["start_url"] and "<secret>pw</secret>" in request["task"]
    for field in (request["metadata"]["b64"], request["metadata"]["auth"], request["judge_ground_truth"],
                  request["system_prompt_extension"]):
        assert "<secret>pw</secret>" in field
    assert request["start_url"].startswith("https://shop.example.com/login?next=%2F&p=")
