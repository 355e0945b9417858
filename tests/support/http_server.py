"""The HTTP server every local test site, fake model and benchmark page runs on.

``http.server``'s default listen backlog is 5: when more connections arrive at once than
the accept thread takes (a benchmark's 32 tasks stepping in lockstep), the kernel drops
their SYNs and each client waits a 1 s, 3 s, 7 s retransmit, time that would be charged
to the worker. A real provider or site has no such limit, so neither do ours.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep accept queue and daemon request threads."""

    request_queue_size = 1024
    daemon_threads = True
