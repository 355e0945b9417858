"""URL decisions follow WHATWG parsing (what Chromium does), not ``urlsplit``.

Every vector here was judged one way by Python and loaded another way by the browser.
"""

from __future__ import annotations

import pytest

from shared.domains import parse_pattern, url_allowed
from shared.urls import parse_url, resolve, with_scheme
from workers.policy.navigation import RequestPolicy, agent_navigation_reason, secret_destination_reason
from workers.policy.network import NetworkPolicy

EXAMPLE = [parse_pattern("example.com")]
BASE = "https://example.com/login"

# (Location header, where the browser goes)
REDIRECTS = [
    ("/\\evil.test/", "evil.test"),
    ("\\\\evil.test/x", "evil.test"),
    ("https:\\\\evil.test", "evil.test"),
    ("https://evil.test\\@example.com/", "evil.test"),
    ("https://example.com%2F@evil.test", "evil.test"),
    ("https://example.com:443@evil.test/", "evil.test"),
    ("https://evil.test#@example.com/", "evil.test"),
    ("https://evil.test?@example.com/", "evil.test"),
    ("http://evil.test\t/", "evil.test"),
    ("ht\ttps://evil.test/", "evil.test"),
    ("https://evil.te\nst/", "evil.test"),
    ("  https://evil.test/  ", "evil.test"),
    ("https://ex\u0430mple.com/", "xn--exmple-4nf.com"),  # Cyrillic a: an IDN homograph
    ("https://evil.test\u3002example.com/", "evil.test.example.com"),  # ideographic full stop
]


@pytest.mark.parametrize(("location", "host"), REDIRECTS)
def test_redirects_are_resolved_as_the_browser_does(location: str, host: str) -> None:
    target = resolve(location, BASE)
    assert target is not None
    parsed = parse_url(target)
    assert parsed is not None and parsed.host == host
    assert not url_allowed(target, EXAMPLE)


@pytest.mark.parametrize(
    "url",
    ["https://EXAMPLE.com./a", "https://ex%61mple.com/", "https://www.example.com/", "HTTPS://example.com"],
)
def test_what_the_browser_reads_as_example_com_is_allowed(url: str) -> None:
    assert url_allowed(url, EXAMPLE)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://0x7f.1/", "loopback"),  # 127.0.0.1 in hex: Chromium's reading
        ("http://2130706433/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "metadata"),
        ("http://169.254.169.254./", "metadata"),
        ("java\tscript:alert(1)", "javascript: scheme"),
        ("https://exa mple.com/", "not a valid URL"),
    ],
)
def test_network_rules_see_the_address_the_browser_connects_to(url: str, reason: str) -> None:
    policy = RequestPolicy.build(NetworkPolicy(), None)
    assert reason in (policy.navigation_reason(url) or "")


@pytest.mark.parametrize(
    "url",
    ["data:text/html,<input>", "blob:https://example.com/1", "javascript:alert(1)", "JavaScript:1",
     " data:text/html,x", "file:///etc/passwd", "filesystem:https://example.com/temporary/x"],
)
def test_the_model_opens_only_web_pages_and_secrets_go_only_there(url: str) -> None:
    assert agent_navigation_reason(url) is not None
    assert secret_destination_reason(url) is not None


def test_scheme_defaulting_follows_the_browser() -> None:
    assert with_scheme("example.com/a") == "https://example.com/a"
    assert with_scheme("localhost:8080") == "https://localhost:8080"
    assert parse_url(with_scheme("https:\\\\evil.test")).host == "evil.test"  # type: ignore[union-attr]


@pytest.mark.parametrize("start", ["https://evil.test\\@example.com/", "https:\\\\evil.test",
                                   "https://example.com%2F@evil.test"])
def test_the_producer_judges_start_url_as_the_browser(producer, start: str) -> None:
    from producer import TaskValidationError

    with pytest.raises(TaskValidationError) as info:
        producer.validate({"task": "t", "startUrl": start, "allowedDomains": ["example.com"]})
    assert [e["loc"] for e in info.value.errors] == [["startUrl"]]
