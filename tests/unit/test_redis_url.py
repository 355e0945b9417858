"""Redis URLs (direct and Sentinel), the settings that name them, and what kombu and Celery are given."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
from pydantic import ValidationError

from shared.celery_config import celery_config
from shared.redis_client import Replicas, run_script
from shared.redis_url import parse_redis_url, redact
from shared.settings import Settings

SENTINELS = "sentinel://:node-pass@10.0.0.1:26380;sentinel://10.0.0.2;sentinel://10.0.0.3:26381/3"


def test_a_sentinel_list_is_taken_apart_as_kombu_reads_it() -> None:
    target = parse_redis_url(SENTINELS, master="bf", sentinel_password="sentinel-pass")
    assert target.is_sentinel
    assert target.sentinels == (("10.0.0.1", 26380), ("10.0.0.2", 26379), ("10.0.0.3", 26381))
    assert (target.master, target.db, target.password) == ("bf", 0, "node-pass")
    assert target.sentinel_password == "sentinel-pass"
    assert "pass" not in repr(target) and "pass" not in target.describe()


def test_the_database_of_the_first_entry_counts() -> None:
    assert parse_redis_url("sentinel://a:1/4;sentinel://b:2", master="m").db == 4


def test_a_direct_url_is_passed_through() -> None:
    target = parse_redis_url("redis://:pw@127.0.0.1:6380/2")
    assert not target.is_sentinel and target.url == "redis://:pw@127.0.0.1:6380/2"
    assert target.describe() == "redis://:***@127.0.0.1:6380/2"


@pytest.mark.parametrize(("url", "message"), [
    ("", "is empty"),
    ("http://127.0.0.1:6379", "unknown scheme"),
    ("redis://a:1;redis://b:2", "only sentinel://"),
    ("redis://127.0.0.1:notaport/0", "bad port"),
    ("redis://127.0.0.1:6379/zero", "must be a number"),
    ("sentinel://a:26379;redis://b:6379", "only sentinel:// entries"),
    ("sentinel://:26379", "names no sentinel host"),
    ("sentinel://a:26379;b:26379", "not a URL"),
])
def test_bad_urls_are_refused_naming_the_setting(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_redis_url(url, master="m", setting="BROWSERFLEET_BROKER_URL")
    assert str(caught.value).startswith("BROWSERFLEET_BROKER_URL")


def test_sentinels_need_a_service_name_and_errors_never_show_a_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(redis_url="sentinel://:secret-pw@a:26379")
    assert "BROWSERFLEET_REDIS_SENTINEL_MASTER" in str(caught.value)
    assert "secret-pw" not in str(caught.value)
    with pytest.raises(ValidationError, match="BROWSERFLEET_RESULT_BACKEND"):
        Settings(redis_sentinel_master="m", result_backend="sentinel://a:1;redis://b:2")
    assert "secret" not in redact("redis://:secret@h:1/0;sentinel://u:secret@h:2")


def test_kombu_and_celery_get_the_service_name_and_the_sentinels_password() -> None:
    settings = Settings(redis_url=SENTINELS, redis_sentinel_master="bf", redis_sentinel_password="s-pass")
    config = celery_config(settings)
    assert config["broker_url"] == SENTINELS and config["result_backend"] == SENTINELS
    for options in (config["broker_transport_options"], config["result_backend_transport_options"]):
        assert options["master_name"] == "bf"
        assert options["sentinel_kwargs"]["password"] == "s-pass"
        assert options["visibility_timeout"] == settings.visibility_timeout_s
    assert settings.wait_replicas == 1
    direct = celery_config(Settings(redis_url="redis://127.0.0.1:6379/0"))
    assert "master_name" not in direct["broker_transport_options"]
    assert Settings(redis_url="redis://127.0.0.1:6379/0").wait_replicas == 0


def test_rabbitmq_broker_with_a_sentinel_store() -> None:
    settings = Settings(redis_url=SENTINELS, redis_sentinel_master="bf", broker_url="amqp://guest@rabbit//")
    config = celery_config(settings)
    assert "master_name" not in config["broker_transport_options"]
    assert config["result_backend_transport_options"]["master_name"] == "bf"


def test_a_durable_write_without_a_replica_stands_and_warns(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """``WAIT 1`` on a Redis with no replica: it answers 0 after the timeout, the write is kept,
    one warning says a failover could lose it; the script is loaded when the server lacks it."""
    # a script body of its own: the shared server has never seen it (SCRIPT FLUSH would hit everyone)
    script = redis_client.register_script(f"-- {uuid.uuid4()}\nreturn redis.call('INCR', KEYS[1])")
    redis_client.delete("bf-test-durable")
    with caplog.at_level(logging.WARNING, logger="shared.redis_client"):
        assert run_script(redis_client, script, ["bf-test-durable"], [], Replicas(1, 20)) == 1
    assert redis_client.get("bf-test-durable") == "1"
    assert "confirmed by 0 of 1 replicas" in caplog.text
    assert run_script(redis_client, script, ["bf-test-durable"], [], Replicas()) == 2
    redis_client.delete("bf-test-durable")
