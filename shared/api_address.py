"""Where the fleet's HTTP API answers, as the running ``browserfleet api`` announced it.

Links to the API's pages (a task's live view) are made by whoever asks for them: the API
itself knows its address from the request, but the CLI and Python clients talk to Redis, not
to the API, and cannot guess the port the API was started on (``browserfleet up --api-port``).
So ``browserfleet api`` announces its address here when it starts and withdraws it when it
stops (only while it is still the one announced: two APIs on one Redis do not erase each
other's). ``BROWSERFLEET_PUBLIC_URL``, when set, wins over it everywhere (producer/live_views.py).
"""

from __future__ import annotations

import redis

from shared import keys

# KEYS[1] the announcement. ARGV[1] the address withdrawn: only if it is still the one announced.
_WITHDRAW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ApiAddress:
    """The announced base URL of the fleet's HTTP API (``http://host:port``, no trailing slash)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._withdraw = client.register_script(_WITHDRAW)

    def announce(self, url: str) -> None:
        self._redis.set(keys.API_ADDRESS, url.rstrip("/"))

    def current(self) -> str | None:
        """The announced URL, or ``None`` when no API announced one (or the last one stopped)."""
        found = self._redis.get(keys.API_ADDRESS)
        return str(found) if found else None

    def withdraw(self, url: str) -> None:
        self._withdraw(keys=[keys.API_ADDRESS], args=[url.rstrip("/")])


def local_url(host: str, port: int, root_path: str = "") -> str:
    """The URL a client on this machine uses for an API bound to ``host``:``port`` (a wildcard
    bind answers on the loopback address)."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}{root_path.rstrip('/')}"
