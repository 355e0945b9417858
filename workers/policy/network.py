"""The network guard's rules: which schemes, hosts and addresses a task's browser may reach.

Pure and synchronous: DNS resolution happens elsewhere (the egress proxy, the route
guard) and hands the resolved addresses in. By default the browser may reach only
public addresses over http(s)/ws(s): loopback, private, link-local, CGNAT and other
non-global ranges are refused, and cloud metadata endpoints are refused even when an
operator allows private networks, because a browser agent on a cloud VM that can read
169.254.169.254 can steal the node's credentials. Operators open exactly what they
need with ``BROWSERFLEET_ALLOWED_NETWORKS`` (CIDRs, addresses or host names, each with
an optional ``:port``) or, for local testing, ``BROWSERFLEET_ALLOW_PRIVATE_NETWORKS``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.urls import DEFAULT_PORTS, host_name, parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Schemes a page or the agent may load. Everything else (file:, chrome:, devtools:,
# view-source:, chrome-extension:, javascript:, ftp: ...) is refused.
NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss"})
LOCAL_SCHEMES = frozenset({"data", "blob"})
# Chromium rewrites most about: URLs to chrome: pages; only these two are plain documents.
ABOUT_URLS = frozenset({"about:blank", "about:srcdoc"})

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, Oracle, OpenStack IMDS
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS pod identity agent
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd20:ce::254",  # GCP metadata server over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity agent over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address)
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
# Names that mean "this machine" (and its IPv6 friends) in the usual /etc/hosts of Debian,
# Ubuntu, RHEL and macOS; any name under ``localhost`` (RFC 6761) or ``localdomain`` too.
LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "ip6-mcastprefix",
        "broadcasthost",
    }
)
LOCAL_SUFFIXES = (".localhost", ".localdomain")

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

HINT = "an operator can allow it with BROWSERFLEET_ALLOWED_NETWORKS"


def names_local_machine(name: str) -> bool:
    """Whether the (canonical, see :func:`shared.urls.host_name`) name means the machine that
    resolves it."""
    return name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES)


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (IPv6 in brackets or not), else ``None``."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any.

    Without this, ``[::ffff:10.0.0.1]`` or ``[64:ff9b::a00:1]`` would walk past a check
    that only looks at IPv6 ranges.
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    for prefix in _NAT64:
        if ip in prefix:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is (for messages), or ``None`` if public."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return classify(inner)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata endpoint"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class NetworkRule:
    """One ``allowed_networks`` entry: a network or a host name, optionally one port."""

    network: IPNetwork | None = None
    host: str | None = None  # lower-case; a leading "*." also matches subdomains
    port: int | None = None

    def matches_host(self, host: str, port: int) -> bool:
        if self.host is None or (self.port is not None and port != self.port):
            return False
        host = host_name(host) or ""
        if not host:
            return False
        if self.host.startswith("*."):
            apex = self.host[2:]
            return host == apex or host.endswith("." + apex)
        return host == self.host

    def matches_address(self, ip: IPAddress, port: int) -> bool:
        if self.network is None or (self.port is not None and port != self.port):
            return False
        return ip in self.network or (embedded_ipv4(ip) or ip) in self.network


def parse_rule(raw: str) -> NetworkRule:
    """Parse one entry: ``10.0.0.0/8``, ``192.168.1.5``, ``[::1]:8080``, ``127.0.0.1:8080``,
    ``intranet.example.com``, ``*.corp.example:443``. Raises ``ValueError`` saying why."""
    text = raw.strip().lower()
    if not text:
        raise ValueError("empty network entry")
    if "/" in text:
        try:
            return NetworkRule(network=ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{raw!r}: not a CIDR network") from None
    host, port = _split_port(raw, text)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return NetworkRule(network=ipaddress.ip_network(ip), port=port)
    labels = host.removeprefix("*.").split(".")
    if not all(label and label.replace("-", "").isalnum() for label in labels):
        raise ValueError(f"{raw!r}: not an address, CIDR network or host name")
    return NetworkRule(host=host, port=port)


def _split_port(raw: str, text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{raw!r}: expected [address]:port")
        port = rest[1:] or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:  # a bare IPv6 address, or no port at all
        host, port = text, None
    if port is None:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{raw!r}: invalid port {port!r}")
    return host, int(port)


@dataclass(frozen=True)
class Target:
    """Where a URL points: what the guard needs to know before any connection."""

    scheme: str
    host: str
    port: int

    def canonical(self) -> Target | None:
        """The same target with its host as :func:`shared.urls.host_name` spells it (the name
        every decision is made on, and the name sent on); ``None`` if the host is no host."""
        name = host_name(self.host)
        return None if name is None else Target(self.scheme, name, self.port)


def scheme_reason(url: str) -> str | None:
    """Why ``url``'s scheme (as the browser parses it) may not be loaded, or ``None``."""
    parsed = parse_url(url)
    if parsed is None:
        return "not a valid URL"
    if parsed.scheme in NETWORK_SCHEMES or parsed.scheme in LOCAL_SCHEMES:
        return None
    if parsed.scheme == "about" and parsed.href.lower().split("#", 1)[0] in ABOUT_URLS:
        return None
    return f"the {parsed.scheme}: scheme is not allowed (only http, https, ws, wss)"


def network_target(url: str) -> Target | None:
    """The host and port ``url`` connects to, as the browser parses it (``None`` for data:, blob:, about:)."""
    parsed = parse_url(url)
    if parsed is None or parsed.scheme not in NETWORK_SCHEMES:
        return None
    return Target(parsed.scheme, parsed.host, parsed.port or DEFAULT_PORTS[parsed.scheme])


@dataclass(frozen=True)
class NetworkPolicy:
    """The operator's network policy, shared by every task of a worker."""

    allow_private: bool = False
    rules: tuple[NetworkRule, ...] = ()

    @classmethod
    def from_entries(cls, allow_private: bool, entries: Iterable[str]) -> NetworkPolicy:
        """Build from settings; raises ``ValueError`` naming every bad entry."""
        rules, errors = [], []
        for entry in entries:
            try:
                rules.append(parse_rule(entry))
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("invalid BROWSERFLEET_ALLOWED_NETWORKS: " + "; ".join(errors))
        return cls(allow_private=allow_private, rules=tuple(rules))

    def host_allowed(self, host: str, port: int) -> bool:
        """Whether a host-name rule lets ``host:port`` through without looking at addresses."""
        return any(rule.matches_host(host, port) for rule in self.rules)

    def precheck(self, target: Target) -> str | None:
        """What can be decided without DNS: bad ports, host names that are no names, metadata
        names, names of the local machine (unless private networks are allowed), address
        literals. Every decision is made on the canonical name (:meth:`Target.canonical`)."""
        canonical = target.canonical()
        if canonical is None:
            return f"{target.host[:100]!r} is not a valid host name"
        if not 0 < target.port < 65536:
            return "not a valid host and port"
        if self.host_allowed(canonical.host, target.port):
            return None
        host = canonical.host
        if host in METADATA_HOSTS:
            return f"{host} is a cloud metadata host"
        ip = literal_address(host)
        if ip is not None:
            return self.address_reason(ip, target.port)
        if names_local_machine(host) and not self.allow_private:
            return f"{host} names the local machine ({HINT})"
        return None

    def upstream_reason(self, target: Target) -> str | None:
        """Why the egress may not ask an upstream proxy (which resolves names itself) for
        ``target``: all that :meth:`precheck` decides, and names of the local machine whatever
        ``allow_private`` says (there they name the proxy's machine)."""
        reason = self.precheck(target)
        canonical = target.canonical()
        if reason or canonical is None or self.host_allowed(canonical.host, target.port):
            return reason
        if names_local_machine(canonical.host):
            return f"{canonical.host} names the local machine"
        return None

    def address_reason(self, ip: IPAddress, port: int) -> str | None:
        """Why the resolved address ``ip`` may not be connected to on ``port``, or ``None``."""
        if any(rule.matches_address(ip, port) for rule in self.rules):
            return None
        kind = classify(ip)
        if kind is None:
            return None
        if kind == "a cloud metadata endpoint":
            return f"{ip} is {kind} ({HINT})"
        if self.allow_private:
            return None
        return f"{ip} is {kind} ({HINT}, or BROWSERFLEET_ALLOW_PRIVATE_NETWORKS for all private ranges)"

    def filter_addresses(
        self, target: Target, addresses: Sequence[IPAddress]
    ) -> tuple[list[IPAddress], str | None]:
        """The resolved addresses that may be connected to, and why the first refused one was."""
        if self.host_allowed(target.host, target.port):
            return list(addresses), None
        allowed, reason = [], None
        for ip in addresses:
            why = self.address_reason(ip, target.port)
            if why is None:
                allowed.append(ip)
            elif reason is None:
                reason = why
        if not addresses:
            reason = f"{target.host} did not resolve to any address"
        return allowed, reason
