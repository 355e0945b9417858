"""A TCP proxy in front of the fake model: network delay and outages on demand.

Workers are pointed at the proxy's port instead of the model's. ``delay_s`` makes every
byte of a request reach the model that much later (a one-way latency: each chunk is
forwarded at its arrival time plus the delay, so a request split in chunks is not
delayed twice). :meth:`down` closes the listening socket (new connections are refused)
and resets every open connection, as a crashed endpoint or a dropped route would;
:meth:`up` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time


class ModelProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay_s = 0.0
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.refused_while_down = 0  # connections reset by :meth:`down`

    def base_url(self, path: str = "/v1") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._open = list(self._open), set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            self.refused_while_down += 1
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def stop(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    client.close()
                    server.close()
                    return
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, delayed: bool) -> None:
        """Copy ``src`` to ``dst``; on the delayed side a writer thread sends each chunk at its
        arrival time plus ``delay_s``."""
        chunks: queue.Queue[tuple[float, bytes]] | None = None
        if delayed:
            chunks = queue.Queue()
            threading.Thread(target=self._send_late, args=(chunks, src, dst), daemon=True).start()
        try:
            while data := src.recv(65536):
                if chunks is not None:
                    chunks.put((time.monotonic() + self.delay_s, data))
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            if chunks is not None:
                chunks.put((0.0, b""))  # the writer closes both once it has sent the rest
            else:
                self._close(src, dst)

    def _send_late(self, chunks: queue.Queue[tuple[float, bytes]], src: socket.socket,
                   dst: socket.socket) -> None:
        try:
            while True:
                due, data = chunks.get()
                if not data:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(sock)
