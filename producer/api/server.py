"""Running the API under uvicorn (what ``browserfleet api`` does).

One detail matters for latency: with ``--workers N`` uvicorn binds the listening socket
itself with protocol 0, so asyncio does not set ``TCP_NODELAY`` on accepted connections;
uvicorn writes a response's head and body separately, and Nagle's algorithm then holds
the body until the client's delayed ACK, ~40 ms on every request. :class:`NoDelayH11`
sets ``TCP_NODELAY`` on each connection, whoever bound the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.api_address import local_url
from shared.redis_client import StoreError
from shared.settings import Settings
from shared.stores import Stores

from .app import create_app


class NoDelayH11(H11Protocol):
    """uvicorn's h11 protocol, with Nagle's algorithm off on every connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # not a TCP socket after all
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def serve(
    settings: Settings, host: str, port: int, workers: int = 1, log_level: str = "info", root_path: str = ""
) -> None:
    """Serve until interrupted; several processes load the app through ``app_factory``.

    ``root_path``: the prefix a reverse proxy strips (``/fleet`` when clients call
    ``https://host/fleet/api/v2``). Client addresses come from ``X-Forwarded-For`` of the
    proxies uvicorn trusts (``FORWARDED_ALLOW_IPS``, default 127.0.0.1): the live-viewer cap
    per address counts viewers, not the proxy.

    While it serves, the API's address is announced in Redis (:mod:`shared.api_address`), so
    that ``browserfleet run`` and Python clients print links to this API, on this port.
    """
    app: object = create_app(settings) if workers <= 1 else "producer.api.app:app_factory"
    address, stores = local_url(host, port, root_path), Stores(settings)
    _try(stores.api_address.announce, address)
    try:
        uvicorn.run(
            app,  # type: ignore[arg-type]
            host=host,
            port=port,
            workers=workers,
            factory=workers > 1,
            http=NoDelayH11,
            log_level=log_level.lower(),
            proxy_headers=True,
            root_path=root_path,
        )
    finally:
        _try(stores.api_address.withdraw, address)


def _try(change: Callable[[str], None], address: str) -> None:
    """The announcement is a convenience for link makers: a Redis that fails it stops nothing."""
    try:
        change(address)
    except StoreError as exc:
        logging.getLogger(__name__).warning("could not update the API's announced address: %s", exc)
