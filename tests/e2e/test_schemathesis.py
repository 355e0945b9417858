"""Property-based run over the served OpenAPI document against the live server (schemathesis).

Every operation gets generated requests, valid and invalid; every answer must be
below 500 and conform to the document (status code, content type, headers, body),
and invalid requests must be refused. One check is left out: "schema-valid data is
accepted". The server validates more than JSON Schema can say (known model names and
skills, ``structuredOutput`` holding a JSON Schema, URL schemes, domain patterns,
proxy hosts), and answers those with 422; ``test_api.py`` tests each of them.
The server sends tasks to a queue nobody consumes, so nothing runs in a browser.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from shared.settings import Settings
from tests.support.api import ApiServer, api_settings, headers

FUZZ_KEY = f"bf-test-fuzz-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def fuzzed_api(settings: Settings, redis_client: redis.Redis) -> Iterator[ApiServer]:
    """A server of its own, with a scoped key, so that what the run creates can be removed after it."""
    queue = f"bf-fuzz-{uuid.uuid4().hex[:8]}"
    server = ApiServer(api_settings(settings, queue=queue, scoped_api_keys=[FUZZ_KEY])).start()
    yield server
    server.stop()
    producer = server.app.state.producer
    owner = server.app.state.api_keys.check(FUZZ_KEY).owner
    for session in producer.sessions.list(page_size=1_000_000, owner=owner).items:
        producer.sessions.delete(session.id)
    redis_client.delete(queue)


@pytest.fixture(scope="module")
def served_schema(fuzzed_api: ApiServer) -> Any:
    config = schemathesis.Config()
    # Unknown query parameters are ignored, as HTTP APIs do (newer clients send more of them).
    config.projects.default.generation.update(allow_extra_parameters=False)
    return schemathesis.openapi.from_url(fuzzed_api.base + "/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_every_answer_matches_the_document(case: Any, fuzzed_api: ApiServer) -> None:
    case.call_and_validate(
        base_url=fuzzed_api.url, headers=headers(FUZZ_KEY), excluded_checks=[positive_data_acceptance]
    )
