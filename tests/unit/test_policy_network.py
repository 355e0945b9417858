"""The network guard's rules (pure): address classes, operator entries, schemes, metadata hosts."""

from __future__ import annotations

import ipaddress

import pytest

from shared.domains import parse_pattern, url_allowed
from workers.policy.navigation import RequestPolicy
from workers.policy.network import NetworkPolicy, Target, classify, parse_rule, scheme_reason

ip = ipaddress.ip_address
DEFAULT = NetworkPolicy()
PRIVATE_OK = NetworkPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12::1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("198.18.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata endpoint"),
        ("fd00:ec2::254", "a cloud metadata endpoint"),
        ("168.63.129.16", "a cloud metadata endpoint"),
        ("100.100.100.200", "a cloud metadata endpoint"),
        # IPv6 forms of IPv4 addresses are judged as the IPv4 address they carry.
        ("::ffff:10.0.0.1", "a private address"),
        ("::ffff:169.254.169.254", "a cloud metadata endpoint"),
        ("64:ff9b::a00:1", "a private address"),
        ("2002:a00:1::", "a private address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_classes(address: str, kind: str | None) -> None:
    assert classify(ip(address)) == kind


def test_private_addresses_are_refused_by_default_and_allowed_by_the_switch() -> None:
    assert "10.0.0.1 is a private address" in (DEFAULT.address_reason(ip("10.0.0.1"), 80) or "")
    assert "BROWSERFLEET_ALLOWED_NETWORKS" in (DEFAULT.address_reason(ip("127.0.0.1"), 80) or "")
    assert DEFAULT.address_reason(ip("93.184.216.34"), 443) is None
    assert PRIVATE_OK.address_reason(ip("10.0.0.1"), 80) is None
    assert PRIVATE_OK.address_reason(ip("127.0.0.1"), 8080) is None


def test_metadata_stays_blocked_when_private_networks_are_allowed() -> None:
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "168.63.129.16"):
        reason = PRIVATE_OK.address_reason(ip(address), 80)
        assert reason is not None and "cloud metadata endpoint" in reason
    assert PRIVATE_OK.precheck(Target("http", "metadata.google.internal", 80)) == (
        "metadata.google.internal is a cloud metadata host"
    )
    explicit = NetworkPolicy.from_entries(True, ["169.254.169.254/32"])
    assert explicit.address_reason(ip("169.254.169.254"), 80) is None


@pytest.mark.parametrize(
    ("entry", "address", "port", "allowed"),
    [
        ("10.0.0.0/8", "10.9.8.7", 443, True),
        ("10.0.0.0/8", "11.0.0.1", 443, True),  # public anyway
        ("10.0.0.0/8", "192.168.0.1", 443, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8081, False),
        ("[::1]:8080", "::1", 8080, True),
        ("::1", "::1", 1234, True),
        ("fd00::/8", "fd12::5", 80, True),
        ("10.0.0.0/8", "::ffff:10.1.1.1", 80, True),
    ],
)
def test_allowed_network_entries(entry: str, address: str, port: int, allowed: bool) -> None:
    policy = NetworkPolicy.from_entries(False, [entry])
    assert (policy.address_reason(ip(address), port) is None) is allowed


def test_host_name_entries_allow_the_name_whatever_it_resolves_to() -> None:
    policy = NetworkPolicy.from_entries(False, ["intranet.example.com", "*.corp.example:8443"])
    assert policy.host_allowed("intranet.example.com", 80)
    assert policy.host_allowed("INTRANET.example.com.", 443)
    assert policy.host_allowed("a.b.corp.example", 8443) and policy.host_allowed("corp.example", 8443)
    assert not policy.host_allowed("a.corp.example", 443)
    assert not policy.host_allowed("evil-intranet.example.com", 80)
    allowed, reason = policy.filter_addresses(Target("http", "intranet.example.com", 80), [ip("10.0.0.5")])
    assert allowed == [ip("10.0.0.5")] and reason is None


def test_only_checked_addresses_of_a_mixed_answer_are_used() -> None:
    """A name that resolves to a public and a private address is only connected to publicly."""
    allowed, reason = DEFAULT.filter_addresses(
        Target("https", "rebind.example", 443), [ip("10.0.0.1"), ip("93.184.216.34")]
    )
    assert allowed == [ip("93.184.216.34")]
    assert reason is not None and "10.0.0.1" in reason
    none, why = DEFAULT.filter_addresses(Target("https", "x.example", 443), [ip("127.0.0.1")])
    assert none == [] and why is not None and "loopback" in why


@pytest.mark.parametrize(
    "bad", ["", "10.0.0.0/33", "10.0.0.1:99999", "host:port", "[::1", "a..b", "ex ample.com", "*"]
)
def test_bad_entries_are_rejected_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rule(bad)
    with pytest.raises(ValueError, match="BROWSERFLEET_ALLOWED_NETWORKS"):
        NetworkPolicy.from_entries(False, ["10.0.0.0/8", bad])


@pytest.mark.parametrize(
    ("url", "blocked"),
    [
        ("https://example.com/", False),
        ("http://example.com/", False),
        ("wss://example.com/socket", False),
        ("data:text/html,hi", False),
        ("blob:https://example.com/uuid", False),
        ("about:blank", False),
        ("about:srcdoc", False),
        ("file:///etc/passwd", True),
        ("chrome://settings", True),
        ("chrome-extension://abc/x.html", True),
        ("devtools://devtools/bundled/inspector.html", True),
        ("view-source:https://example.com", True),
        ("javascript:alert(1)", True),
        ("ftp://example.com/", True),
        ("about:version", True),
    ],
)
def test_schemes(url: str, blocked: bool) -> None:
    assert (scheme_reason(url) is not None) is blocked


def test_request_policy_prechecks_literals_and_names_before_dns() -> None:
    policy = RequestPolicy.build(DEFAULT, None)
    assert "private address" in (policy("http://10.0.0.1/admin") or "")
    assert "cloud metadata endpoint" in (policy("http://169.254.169.254/latest/meta-data/") or "")
    assert "cloud metadata host" in (policy("http://metadata.google.internal/computeMetadata/v1/") or "")
    assert "loopback" in (policy("http://[::ffff:127.0.0.1]:8080/") or "")
    assert "scheme is not allowed" in (policy("file:///etc/passwd") or "")
    assert policy("https://example.com/") is None  # a name: decided after DNS, by the proxy


def test_allowed_domains_apply_to_navigation_on_top_of_the_network_policy() -> None:
    policy = RequestPolicy.build(PRIVATE_OK, ["localhost", "*.example.com"])
    assert policy("http://localhost:8000/login") is None
    assert policy("https://shop.example.com/") is None
    assert policy("http://127.0.0.1:8000/") == "not in allowedDomains"
    assert policy.request_reason("http://127.0.0.1:8000/app.js") is None  # sub-resources: network only
    assert "cloud metadata" in (policy("http://169.254.169.254/") or "")
    assert policy("about:blank") is None


def test_domain_patterns_may_pin_a_port() -> None:
    pattern = parse_pattern("localhost:8080")
    assert url_allowed("http://localhost:8080/x", [pattern])
    assert not url_allowed("http://localhost:8081/x", [pattern])
    assert url_allowed("https://example.com/", [parse_pattern("example.com:443")])
    with pytest.raises(ValueError, match="invalid port"):
        parse_pattern("example.com:0")
