"""A caller's own proxy (``customProxy`` on ``POST /sessions`` and ``POST /browsers``) as an upstream.

It takes the path the operator's country proxies take (Chromium → egress guard → upstream
→ site, :mod:`workers.egress.upstream`), with one difference: the proxy's address is the
caller's choice, not the operator's, so it is checked like any destination first. Its
name is resolved here, every address goes through the network policy (no private,
loopback, link-local or metadata address unless the operator allows it), and the
upstream connects to the checked address only (a second DNS answer cannot change it).
Credentials come decrypted from the record and never appear in errors or logs.
"""

from __future__ import annotations

from typing import Any

from shared import crypto, custom_proxies
from shared.settings import Settings
from workers.egress.resolver import CachingResolver, ResolveError
from workers.egress.upstream import Upstream, UpstreamError, upstream_for
from workers.policy.network import NetworkPolicy, Target
from workers.process.per_process import PerProcess

_resolver: PerProcess[CachingResolver] = PerProcess(CachingResolver)


async def custom_upstream(proxy: dict[str, Any], policy: NetworkPolicy) -> Upstream:
    """The checked upstream for a decrypted ``customProxy``; :class:`UpstreamError` says why not."""
    host, port = str(proxy.get("host", "")).strip(), int(proxy.get("port", 0))
    shown = f"customProxy {host[:255]}:{port}"
    target = Target("http", host, port)
    reason = policy.precheck(target)
    if reason:
        raise UpstreamError(f"{shown} is refused by the network policy: {reason}")
    try:
        addresses = await _resolver.get()(host)
    except ResolveError as exc:
        raise UpstreamError(f"{shown} cannot be resolved: {exc}") from None
    allowed, why = policy.filter_addresses(target, addresses)
    if not allowed:
        raise UpstreamError(f"{shown} is refused by the network policy: {why}")
    upstream = Upstream("http", str(allowed[0]), port, proxy.get("username"), proxy.get("password"), "custom")
    await upstream.reachable()
    return upstream


async def chosen_upstream(
    custom_token: str | None, proxy_country_code: str | None, settings: Settings, owner: str
) -> tuple[Upstream | None, bool]:
    """The session's upstream: its own proxy (checked), else its country's, else none; and whether
    TLS errors are to be ignored (the caller's proxy intercepts TLS). Raises :class:`UpstreamError`."""
    if not custom_token:
        return await upstream_for(proxy_country_code, settings), False
    try:
        proxy = crypto.decrypt_json(
            custom_token, settings.secrets_key, purpose=custom_proxies.PURPOSE, owner=owner
        )
        policy = NetworkPolicy.from_entries(settings.allow_private_networks, settings.allowed_networks)
    except (crypto.SecretsKeyError, ValueError) as exc:
        raise UpstreamError(f"customProxy unusable on this worker: {exc}") from None
    assert isinstance(proxy, dict)
    return await custom_upstream(proxy, policy), bool(proxy.get("ignoreCertErrors"))
