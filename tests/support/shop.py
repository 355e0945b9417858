"""A loopback shop whose purchases are side effects the harness can count.

Each task has its own pages under ``/shop/<task>/``: a first item to buy, a link to a
second, the second item, and a confirmation after each purchase. Every ``GET`` of the
task's start page opens a new *run* (a fresh ``run`` cookie): a worker loads the start
URL once per run, so every later request of that run carries that cookie. The shop keeps
every purchase and every run's first and last request, so a purchase made twice (a run
restarted from scratch after its worker died) or two runs of one task acting at the same
time are seen, not assumed.
"""

from __future__ import annotations

import html
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support.http_server import HtmlHandler, LocalServer

ITEMS = ("widget", "gadget")

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""
_BUY = ('<p>Price: 10 EUR.</p><form method="post" action="/shop/{task}/buy/{item}">'
        '<button type="submit">Buy {Item}</button></form>')


@dataclass(frozen=True)
class Purchase:
    task: str
    item: str
    run: str  # the run cookie ("" when the request had none)
    at: float  # epoch seconds


@dataclass
class RunSpan:
    """One run of a task as the shop saw it: its first and last request."""

    task: str
    run: str
    first: float
    last: float


@dataclass
class Shop:
    purchases: list[Purchase] = field(default_factory=list)
    runs: dict[str, RunSpan] = field(default_factory=dict)  # run cookie -> span
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: LocalServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start_url(self, task: str) -> str:
        return f"{self.url}/shop/{task}/"

    # -- what the harness reads --------------------------------------------------------------

    def counts(self, tasks: list[str]) -> dict[str, Counter[str]]:
        """Purchases per item, per task."""
        wanted = set(tasks)
        out: dict[str, Counter[str]] = {t: Counter() for t in tasks}
        with self.lock:
            for p in self.purchases:
                if p.task in wanted:
                    out[p.task][p.item] += 1
        return out

    def overlaps(self, tasks: list[str]) -> dict[str, int]:
        """Tasks two of whose runs were active at the same time (their request spans intersect),
        with how many such pairs."""
        wanted, by_task = set(tasks), {}
        with self.lock:
            for span in self.runs.values():
                if span.task in wanted:
                    by_task.setdefault(span.task, []).append(span)
        found: dict[str, int] = {}
        for task, spans in by_task.items():
            spans.sort(key=lambda s: s.first)
            pairs = sum(1 for i, a in enumerate(spans) for b in spans[i + 1:] if b.first <= a.last)
            if pairs:
                found[task] = pairs
        return found

    def runs_of(self, task: str) -> int:
        with self.lock:
            return sum(1 for span in self.runs.values() if span.task == task)

    # -- the server --------------------------------------------------------------------------

    def _seen(self, task: str, run: str) -> None:
        """A request of ``run`` (a cookie this shop issued; "" is no run) just arrived."""
        if not run:
            return
        now = time.time()
        with self.lock:
            span = self.runs.setdefault(run, RunSpan(task, run, now, now))
            span.last = now

    def _page(self, task: str, parts: list[str]) -> str:
        t = html.escape(task)
        if parts == []:
            return _PAGE.format(title="Shop: first item",
                                body=_BUY.format(task=t, item="widget", Item="Widget"))
        if parts == ["gadget"]:
            return _PAGE.format(title="Shop: second item",
                                body=_BUY.format(task=t, item="gadget", Item="Gadget"))
        if len(parts) == 2 and parts[0] == "bought" and parts[1] in ITEMS:
            after = (f'<a href="/shop/{t}/gadget">Next item</a>' if parts[1] == "widget"
                     else "<p>All items bought.</p>")
            return _PAGE.format(title=f"Bought {parts[1]}", body=f"<p>Thank you.</p>{after}")
        return ""

    def start(self) -> str:
        shop = self

        class Handler(HtmlHandler):
            def _run(self) -> str:
                return self._cookie("run") or ""

            def _route(self) -> tuple[str, list[str]] | None:
                parts = [p for p in urlsplit(self.path).path.split("/") if p]
                if len(parts) < 2 or parts[0] != "shop":
                    return None
                return parts[1], parts[2:]

            def do_GET(self) -> None:
                route = self._route()
                if route is None:
                    self._send(404, "<title>Not found</title>")
                    return
                task, parts = route
                if not parts:  # the start page: a new run
                    run = uuid.uuid4().hex
                    shop._seen(task, run)
                    self._send(200, shop._page(task, parts), {"set-cookie": f"run={run}; Path=/"})
                    return
                shop._seen(task, self._run())
                body = shop._page(task, parts)
                self._send(200 if body else 404, body or "<title>Not found</title>")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                route = self._route()
                if route is None or len(route[1]) != 2 or route[1][0] != "buy" or route[1][1] not in ITEMS:
                    self._send(404, "<title>Not found</title>")
                    return
                task, (_, item) = route
                run = self._run()
                shop._seen(task, run)
                with shop.lock:
                    shop.purchases.append(Purchase(task, item, run, time.time()))
                self._send(303, "", {"location": f"/shop/{task}/bought/{item}"})

        self.server = LocalServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
