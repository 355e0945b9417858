"""The operator's proxy table: parsing, the v2 country rule, and URLs shown without credentials."""

from __future__ import annotations

import re

import pytest

from shared.proxies import ProxyConfigError, ProxyTable, display
from workers.egress.upstream import Upstream
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
    assert strict.upstream_reason(Target("https", "example.com", 443)) is None  # resolved by the proxy
    assert strict.upstream_reason(Target("http", "127.0.0.1", 8080)) is None  # allowed network
    assert "private" in (strict.upstream_reason(Target("http", "10.0.0.1", 80)) or "")
    assert "loopback" in (strict.upstream_reason(Target("http", "127.0.0.1", 9999)) or "")
    assert "metadata" in (strict.upstream_reason(Target("http", "169.254.169.254", 80)) or "")
    assert "metadata" in (strict.upstream_reason(Target("http", "metadata.google.internal", 80)) or "")
    assert "local machine" in (strict.upstream_reason(Target("http", "LOCALHOST.", 80)) or "")
    assert "local machine" in (strict.upstream_reason(Target("http", "app.localhost", 80)) or "")


def fullwidth(text: str) -> str:
    """``text`` in fullwidth letters (IDNA maps them back to ASCII)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


IDEOGRAPHIC_STOP = "\u3002"  # a label separator to IDNA


# Spellings of internal names that a comparison without normalising let through: a trailing
# dot (Chromium keeps it in proxy requests), case, percent-encoding, fullwidth letters and
# ideographic full stops (IDNA), numeric IPv4 forms, IPv4-mapped IPv6, empty labels.
INTERNAL_SPELLINGS = {
    "metadata.google.internal.": "metadata",
    "instance-data.ec2.internal.": "metadata",
    "Metadata.Google.Internal.": "metadata",
    "metadata%2Egoogle%2Einternal%2E": "metadata",
    fullwidth("metadata") + IDEOGRAPHIC_STOP + fullwidth("google") + IDEOGRAPHIC_STOP + fullwidth("internal"):
        "metadata",
    "METADATA.": "metadata",
    "metadata.google.internal..": "not a valid host name",
    "metadata..google.internal": "not a valid host name",
    "localhost.localdomain": "local machine",
    "LOCALHOST.LOCALDOMAIN.": "local machine",
    "ip6-localhost": "local machine",
    "ip6-loopback.": "local machine",
    "localhost6.localdomain6": "local machine",
    "x.y.localhost.": "local machine",
    fullwidth("localhost"): "local machine",
    "0x7f.1": "loopback",
    "2130706433": "loopback",
    "127.0.0.1.": "loopback",
    "0xa9.0xfe.0xa9.0xfe": "metadata",
    "2852039166": "metadata",
    "::ffff:169.254.169.254": "metadata",
    "[::ffff:a9fe:a9fe]": "metadata",
    "fd20:ce::254": "metadata",
    "[FD20:CE:0:0:0:0:0:254]": "metadata",
    "evil.test%2F@metadata.google.internal": "not a valid host name",
    "a b": "not a valid host name",
}


@pytest.mark.parametrize(("host", "why"), sorted(INTERNAL_SPELLINGS.items()))
def test_internal_names_are_refused_in_every_spelling_on_both_paths(host: str, why: str) -> None:
    strict = NetworkPolicy.from_entries(False, [])
    private_ok = NetworkPolicy.from_entries(True, [])
    assert why in (strict.upstream_reason(Target("http", host, 80)) or ""), host
    assert why in (strict.precheck(Target("http", host, 80)) or ""), host
    if why != "loopback":  # an operator who allows private networks allows loopback literals
        assert why in (private_ok.upstream_reason(Target("http", host, 80)) or ""), host
    if why not in ("local machine", "loopback"):  # the direct path lets DNS decide those then
        assert why in (private_ok.precheck(Target("http", host, 80)) or ""), host


def test_the_name_checked_is_the_name_sent_on() -> None:
    assert Target("https", "Example.COM.", 443).canonical() == Target("https", "example.com", 443)
    spelled = fullwidth("example") + IDEOGRAPHIC_STOP + "com"
    assert Target("https", spelled, 443).canonical() == Target("https", "example.com", 443)
    assert Target("https", "ex\u0430mple.com", 443).canonical() == Target("https", "xn--exmple-4nf.com", 443)
    assert Target("https", "a..b", 443).canonical() is None
    # an operator's host-name rule matches every spelling of its name, and nothing else
    policy = NetworkPolicy.from_entries(False, ["intranet.corp.example"])
    assert policy.host_allowed("INTRANET.corp.example.", 80)
    assert not policy.host_allowed("intranet.corp.example..", 80)
