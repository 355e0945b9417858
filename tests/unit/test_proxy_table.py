"""The operator's proxy table: parsing, the v2 country rule, and URLs shown without credentials."""

from __future__ import annotations

import re

import pytest

from shared.proxies import ProxyConfigError, ProxyTable, display
from workers.browser.upstream import Upstream, check_target
from workers.policy.network import NetworkPolicy, Target

MAP = '{"US": "http://user:s3cret@proxy.example:3128", "de": "socks5://u:p%40ss@10.1.2.3:1080"}'


def test_a_json_map_routes_countries_and_the_default_applies_only_when_nothing_was_asked() -> None:
    table = ProxyTable.parse(MAP, "us")
    assert table.url_for("us") == "http://user:s3cret@proxy.example:3128"
    assert table.url_for("DE") == "socks5://u:p%40ss@10.1.2.3:1080"
    assert table.url_for("fr") is None
    assert table.choose(None, explicit=False) == "us"  # no sessionSettings: the default country
    assert table.choose(None, explicit=True) is None  # null or not given in sessionSettings: direct
    assert table.choose("de", explicit=True) == "de"
    with pytest.raises(ProxyConfigError, match=r"'fr'.*configured: de, us"):
        table.choose("fr", explicit=True)
    assert ProxyTable.parse(MAP).choose(None, explicit=False) is None  # no default: direct


def test_a_template_serves_any_country() -> None:
    table = ProxyTable.parse("http://user-country-{country}:pw@gate.example:7000")
    assert table.url_for("jp") == "http://user-country-jp:pw@gate.example:7000"
    assert table.choose("jp", explicit=True) == "jp" and table.countries() == ["*"]


@pytest.mark.parametrize(("raw", "default", "message"), [
    ("{not json", None, "not valid JSON"),
    ('{"us": 5}', None, "maps country codes"),
    ('{"us": "ftp://h:21"}', None, "scheme must be one of"),
    ('{"us": "http://user:pw@host"}', None, "needs a host and a port"),
    ("http://no-placeholder:3128", None, "template with {country}"),
    (MAP, "fr", "DEFAULT_COUNTRY 'fr' has no proxy"),
])
def test_bad_settings_are_refused_without_showing_credentials(
    raw: str, default: str | None, message: str
) -> None:
    with pytest.raises(ProxyConfigError, match=re.escape(message)) as caught:
        ProxyTable.parse(raw, default)
    assert "pw" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_credentials_never_show() -> None:
    assert display("http://user:s3cret@proxy.example:3128") == "http://proxy.example:3128"
    upstream = Upstream.parse("socks5://u:p%40ss@10.1.2.3:1080", "de")
    assert (upstream.username, upstream.password) == ("u", "p@ss")
    assert "p@ss" not in repr(upstream) and "p@ss" not in str(upstream)
    assert str(upstream) == "the de proxy (socks5://10.1.2.3:1080)"
    assert "s3cret" not in repr(ProxyTable.parse(MAP))


def test_targets_behind_a_proxy_are_checked_without_resolving_them() -> None:
    strict = NetworkPolicy.from_entries(False, ["127.0.0.1:8080"])
    assert check_target(strict, Target("https", "example.com", 443)) is None  # resolved by the proxy
    assert check_target(strict, Target("http", "127.0.0.1", 8080)) is None  # allowed network
    assert "private" in (check_target(strict, Target("http", "10.0.0.1", 80)) or "")
    assert "loopback" in (check_target(strict, Target("http", "127.0.0.1", 9999)) or "")
    assert "metadata" in (check_target(strict, Target("http", "169.254.169.254", 80)) or "")
    assert "metadata" in (check_target(strict, Target("http", "metadata.google.internal", 80)) or "")
    assert "local machine" in (check_target(strict, Target("http", "LOCALHOST.", 80)) or "")
    assert "local machine" in (check_target(strict, Target("http", "app.localhost", 80)) or "")
