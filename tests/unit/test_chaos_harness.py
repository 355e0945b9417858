"""The chaos benchmark's instruments see what they claim: the shop counts a purchase made twice
and tells overlapping runs from runs one after the other; the model proxy delays and drops."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM, step
from tests.support.model_proxy import ModelProxy
from tests.support.shop import Shop


@pytest.fixture
def shop() -> Iterator[Shop]:
    s = Shop()
    s.start()
    yield s
    s.stop()


def _run(shop: Shop, task: str) -> str:
    """A new run: the start page's cookie."""
    with urllib.request.urlopen(shop.start_url(task)) as reply:
        return str(reply.headers["set-cookie"]).split(";")[0]


def _buy(shop: Shop, task: str, item: str, cookie: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", int(shop.url.rsplit(":", 1)[1]))
    conn.request("POST", f"/shop/{task}/buy/{item}", body=b"", headers={"cookie": cookie})
    assert conn.getresponse().status == 303
    conn.close()


def test_two_runs_at_once_are_an_overlap_and_a_purchase_twice_is_counted(shop: Shop) -> None:
    first, second = _run(shop, "t1"), _run(shop, "t1")
    _buy(shop, "t1", "widget", first)  # the first run acts after the second began
    _buy(shop, "t1", "widget", second)
    assert shop.counts(["t1"])["t1"]["widget"] == 2
    assert shop.overlaps(["t1"]) == {"t1": 1}
    assert shop.runs_of("t1") == 2


def test_a_run_after_the_first_ended_is_no_overlap(shop: Shop) -> None:
    first = _run(shop, "t2")
    _buy(shop, "t2", "widget", first)
    time.sleep(0.01)
    second = _run(shop, "t2")
    _buy(shop, "t2", "widget", second)
    assert shop.overlaps(["t2"]) == {}
    assert shop.counts(["t2"])["t2"] == {"widget": 2}


def test_the_proxy_delays_requests_and_refuses_while_down() -> None:
    fake = FakeLLM()
    fake.start()
    assert fake.server is not None
    proxy = ModelProxy(("127.0.0.1", int(fake.server.server_address[1])))
    proxy.up()
    marker = fake.script("proxy-test", lambda call: step({"done": {"text": "ok"}}))
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": marker}]}).encode()

    def call() -> float:
        started = time.monotonic()
        request = urllib.request.Request(proxy.base_url() + "/chat/completions", data=body,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200
        return time.monotonic() - started

    try:
        assert call() < 0.5
        proxy.delay_s = 0.6
        assert call() >= 0.6
        proxy.delay_s = 0.0
        proxy.down()
        with pytest.raises(urllib.error.URLError):
            call()
        proxy.up()
        assert call() < 0.5
    finally:
        proxy.stop()
        fake.stop()
