"""Two small upstream proxies for tests, each recording what it forwarded.

``ConnectProxy`` speaks HTTP ``CONNECT`` with Basic proxy authentication, ``Socks5Proxy``
speaks SOCKS5 with username/password authentication (RFC 1928/1929) and is given names to
resolve itself. Both listen on 127.0.0.1 and tunnel bytes untouched; ``targets`` lists every
``host:port`` they were asked for, in order. They connect only to loopback addresses (a
request for anything else, such as Chromium's own background calls, is answered "unreachable").
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import socketserver
import struct
import threading
from typing import Any


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    except OSError:
        return
    finally:
        for sock in sockets:
            sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class _Proxy:
    """A threaded TCP server on 127.0.0.1 whose handler is :meth:`handle`."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.targets: list[str] = []
        self.auth_failures = 0
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError, ValueError):
                    proxy.handle(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, scheme: str) -> str:
        return f"{scheme}://{self.username}:{self.password}@127.0.0.1:{self.port}"

    def hosts(self) -> list[str]:
        return list(self.targets)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, client: socket.socket) -> None:
        raise NotImplementedError

    def _connect(self, host: str, port: int) -> socket.socket | None:
        """Record the target; connect only on loopback (tests never leave this machine)."""
        self.targets.append(f"{host}:{port}")
        if host not in ("127.0.0.1", "::1"):
            return None
        try:
            return socket.create_connection((host, port), timeout=10)
        except OSError:
            return None


class ConnectProxy(_Proxy):
    def handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, authority, _ = lines[0].split(" ", 2)
        headers: dict[str, Any] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if headers.get("proxy-authorization") != expected:
            self.auth_failures += 1
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = authority.rpartition(":")
        upstream = self._connect(host.strip("[]"), int(port))
        if upstream is None:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        _pipe(client, upstream)


class Socks5Proxy(_Proxy):
    def handle(self, client: socket.socket) -> None:
        version, count = _recv_exact(client, 2)
        methods = _recv_exact(client, count)
        if version != 5 or 2 not in methods:
            client.sendall(b"\x05\xff")
            return
        client.sendall(b"\x05\x02")
        _, ulen = _recv_exact(client, 2)
        user = _recv_exact(client, ulen).decode()
        plen = _recv_exact(client, 1)[0]
        password = _recv_exact(client, plen).decode()
        if (user, password) != (self.username, self.password):
            self.auth_failures += 1
            client.sendall(b"\x01\x01")
            return
        client.sendall(b"\x01\x00")
        _, command, _, atyp = _recv_exact(client, 4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, _recv_exact(client, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, _recv_exact(client, 16))
        else:
            host = _recv_exact(client, _recv_exact(client, 1)[0]).decode()
        (port,) = struct.unpack("!H", _recv_exact(client, 2))
        upstream = self._connect(host, port) if command == 1 else None
        if upstream is None:
            client.sendall(b"\x05\x05\x00\x01" + b"\x00" * 6)
            return
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        _pipe(client, upstream)
