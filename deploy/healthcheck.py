#!/usr/bin/env python3
"""Health check for every browserfleet container role: api, worker, flower.

    python /opt/browserfleet/healthcheck.py [auto|api|worker|flower] [--port N] [--node NAME]

Exit 0 when healthy, 1 when not. ``auto`` (the default, used by the image's
HEALTHCHECK) reads the role and port from the command line of PID 1, e.g.
``tini -- browserfleet api --host 0.0.0.0 --port 8000``.

- api: the HTTP server on 127.0.0.1 answers ``GET /healthz`` with any status
  below 500 (the process serves HTTP; a 404 or 401 still proves that).
- flower: ``GET /healthcheck`` answers 200 (Flower serves it without auth).
- worker: this container's Celery node answers a control ping through the
  broker, like ``celery inspect ping -d celery@$HOSTNAME``, without importing
  the browserfleet app (no litellm/playwright import on every probe).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

ROLES = ("api", "worker", "flower")
DEFAULT_PORTS = {"api": 8000, "flower": 5555}
HTTP_PATHS = {"api": "/healthz", "flower": "/healthcheck"}


def pid1_argv() -> list[str]:
    """The command line of the container's main process (empty if unreadable)."""
    try:
        with open("/proc/1/cmdline", "rb") as f:
            return [arg.decode() for arg in f.read().split(b"\0") if arg]
    except OSError:
        return []


def _option(argv: Sequence[str], *names: str) -> str | None:
    """The value of the last ``--name value`` / ``--name=value`` in ``argv``."""
    value = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def expand_nodename(name: str, host: str) -> str:
    """Celery's ``%h``/``%n``/``%d`` nodename placeholders, ``celery@`` when no ``@``."""
    short, _, domain = host.partition(".")
    name = name.replace("%h", host).replace("%n", short).replace("%d", domain)
    return name if "@" in name else f"celery@{name}"


def detect(argv: Sequence[str], host: str) -> tuple[str | None, int | None, str]:
    """(role, port, worker nodename) of a browserfleet or celery command line."""
    role = next((arg for arg in argv if arg in ROLES), None)
    port = _option(argv, "--port")
    node = _option(argv, "--hostname", "-n")
    return role, int(port) if port else None, expand_nodename(node or "celery@%h", host)


def http_status(url: str, timeout: float) -> int:
    """The HTTP status of ``GET url``; raises OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def check_http(role: str, port: int, timeout: float) -> bool:
    status = http_status(f"http://127.0.0.1:{port}{HTTP_PATHS[role]}", timeout)
    return status < 500 if role == "api" else status == 200


def check_worker(node: str, timeout: float, settings: Settings | None = None) -> bool:
    """True when Celery node ``node`` answers a broadcast ping (through the broker as the
    workers reach it: a ``sentinel://`` broker needs its transport options, the service name)."""
    from celery import Celery

    from shared.celery_config import celery_config
    from shared.settings import get_settings

    settings = settings or get_settings()
    app = Celery("browserfleet-healthcheck", broker=settings.broker)
    app.conf.broker_transport_options = celery_config(settings)["broker_transport_options"]
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_timeout = timeout
    try:
        replies = app.control.ping(destination=[node], timeout=timeout)
    finally:
        app.close()
    return any(node in reply for reply in replies)


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("health check took too long")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="auto", choices=("auto", *ROLES))
    parser.add_argument("--port", type=int, help="api/flower port (default: from PID 1)")
    parser.add_argument("--node", help="worker nodename (default: from PID 1, celery@HOSTNAME)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)

    host = socket.gethostname()
    role, port, node = detect(pid1_argv(), host)
    if args.role != "auto":
        role = args.role
    if role is None:
        print("healthcheck: PID 1 runs no browserfleet service; nothing to check")
        return 0
    port = args.port or port or DEFAULT_PORTS.get(role, 0)
    node = args.node or node

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(args.timeout * 2) + 5)
    try:
        healthy = check_worker(node, args.timeout) if role == "worker" else check_http(
            role, port, args.timeout
        )
    except Exception as exc:  # any failure to check is "unhealthy", with the reason
        print(f"healthcheck: {role} unhealthy: {type(exc).__name__}: {exc}")
        return 1
    finally:
        signal.alarm(0)
    print(f"healthcheck: {role} {'healthy' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
