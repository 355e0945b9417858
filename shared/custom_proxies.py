"""A session's own upstream proxy (``customProxy`` on ``POST /sessions``), encrypted at rest.

The proxy's host, port and credentials are one Fernet token (:mod:`shared.crypto`) under
the session's key (:func:`shared.keys.session_custom_proxy`), with the session's TTL, and
are deleted with it. Nothing of it is ever shown back: views say nothing about it.
Browser sessions keep theirs in their own record (``custom_proxy_token``).
"""

from __future__ import annotations

import redis

from shared import keys

PURPOSE = "custom-proxy"  # the crypto purpose of a customProxy token (its owner: the session or browser id)


class CustomProxies:
    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s

    def keep(self, session_id: str, token: str) -> None:
        self._redis.set(keys.session_custom_proxy(session_id), token, ex=self.ttl_s)

    def token(self, session_id: str) -> str | None:
        raw = self._redis.get(keys.session_custom_proxy(session_id))
        return str(raw) if raw else None
