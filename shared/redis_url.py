"""Where a Redis is: one direct URL, or Redis Sentinel's list of sentinels and a service name.

The one parser of the Redis URLs browserfleet reads (store, Celery broker, result backend), so
the stores, kombu and Celery's result backend agree on what a URL means:

- ``redis://[[user]:password@]host[:port][/db]`` (``rediss://`` for TLS, ``unix://`` too):
  one server, handed to redis-py as it is;
- ``sentinel://[[user]:password@]host[:port][/db];sentinel://host[:port];...``: kombu's
  form, the sentinels to ask for the master of the service named by
  ``BROWSERFLEET_REDIS_SENTINEL_MASTER``. The first entry's database, user and password
  are the data nodes' (master and replicas); a sentinel's own password is
  ``BROWSERFLEET_REDIS_SENTINEL_PASSWORD``. Ports default to 26379.

Errors are ``ValueError``\\ s that name the setting and never echo a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit

SENTINEL_SCHEME = "sentinel"
SENTINEL_PORT = 26379
DIRECT_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis URL. ``sentinels`` empty: the direct ``url``; else ask them for ``master``."""

    url: str = field(repr=False)  # may hold a password: never shown
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    def describe(self) -> str:
        """A password-free description for logs and ``browserfleet status``."""
        if not self.is_sentinel:
            return redact(self.url)
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"sentinel {hosts} service {self.master} db {self.db}"


def is_sentinel_url(url: str) -> bool:
    return url.strip().lower().startswith(f"{SENTINEL_SCHEME}://")


def parse_redis_url(
    url: str,
    *,
    master: str | None = None,
    sentinel_password: str | None = None,
    setting: str = "BROWSERFLEET_REDIS_URL",
) -> RedisTarget:
    """``url`` checked and taken apart; ``ValueError`` naming ``setting`` when it is unusable."""
    text = url.strip()
    if not text:
        raise ValueError(f"{setting} is empty")
    if not is_sentinel_url(text):
        return RedisTarget(url=_direct(text, setting))
    if not master:
        raise ValueError(f"{setting} lists sentinels (sentinel://): set BROWSERFLEET_REDIS_SENTINEL_MASTER "
                         "to the service name the sentinels monitor")
    sentinels, first = [], None
    for number, chunk in enumerate(part.strip() for part in text.split(";")):
        if not chunk:
            continue
        parts = _split(chunk, setting, number + 1)
        if parts.scheme != SENTINEL_SCHEME:
            raise ValueError(f"{setting}: entry {number + 1} is {parts.scheme}://, but a sentinel list holds "
                             "only sentinel:// entries")
        sentinels.append((parts.hostname or "", _port(parts, setting, number + 1)))
        first = first or parts
    assert first is not None  # the text starts with sentinel://
    return RedisTarget(
        url=text, sentinels=tuple(sentinels), master=master, db=_db(first.path, setting),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        sentinel_password=sentinel_password or None,
    )


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (each ``;``-separated entry)."""
    shown = []
    for chunk in url.split(";"):
        try:
            parts = urlsplit(chunk.strip())
        except ValueError:
            shown.append("<unparsable>")
            continue
        if parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rpartition("@")[2]
            chunk = parts._replace(netloc=f"{user}:***@{host}").geturl()
        shown.append(chunk)
    return ";".join(shown)


def _direct(url: str, setting: str) -> str:
    parts = _split(url, setting, 1)
    if parts.scheme not in DIRECT_SCHEMES:
        raise ValueError(f"{setting}: unknown scheme {parts.scheme!r}; use redis://, rediss://, unix:// "
                         "or a sentinel:// list")
    if ";" in url:
        raise ValueError(f"{setting}: only sentinel:// URLs may list several servers (';')")
    if parts.scheme != "unix":
        if not parts.hostname:
            raise ValueError(f"{setting}: no host in the URL")
        _port(parts, setting, 1)
        _db(parts.path, setting)
    return url


def _split(chunk: str, setting: str, number: int) -> SplitResult:
    try:
        parts = urlsplit(chunk)
    except ValueError:
        raise ValueError(f"{setting}: entry {number} is not a URL") from None
    if not parts.scheme or "://" not in chunk:
        raise ValueError(f"{setting}: entry {number} is not a URL (scheme://host:port)")
    if parts.scheme == SENTINEL_SCHEME and not parts.hostname:
        raise ValueError(f"{setting}: entry {number} names no sentinel host")
    return parts


def _port(parts: SplitResult, setting: str, number: int) -> int:
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{setting}: entry {number} has a bad port") from None
    if port is None:
        return SENTINEL_PORT if parts.scheme == SENTINEL_SCHEME else 6379
    return int(port)


def _db(path: str, setting: str) -> int:
    name = path.strip("/")
    if not name:
        return 0
    if not name.isdigit():
        raise ValueError(f"{setting}: the database must be a number (/0), not {name!r}")
    return int(name)
