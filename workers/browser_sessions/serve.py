"""Running one browser session (``POST /browsers``) on this worker, from its record to its end.

The Celery task ``browserfleet.browser_session`` calls :func:`run` in one of the worker's
threads, which it holds (a slot of the worker's concurrency) for the session's life.
The session is leased like a task (``BrowserStore.take_lease``, renewed while it runs):
a duplicate delivery is dropped, and readers see a session whose worker died as stopped.
A session is never restarted elsewhere: its browser state died with its worker.

While it runs: its own Chromium (:mod:`workers.browser_sessions.standalone`) behind an egress
guard of its own (the operator's network policy; the session's country or custom proxy
upstream; the DevTools and relay ports of this worker refused even where loopback is
allowed), reachable only through the process's CDP relay (:mod:`workers.browser_sessions.cdp_relay`).
Files the browser downloads are kept in Redis as they complete. It ends at ``timeout_at``,
when stopped (``PATCH``), or when the browser goes away; then everything on disk is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from shared.browser_models import BrowserSessionStatus
from shared.browser_store import TIMED_OUT, WORKER_LOST, BrowserRecord, BrowserStore
from shared.redis_client import StoreError
from shared.settings import Settings, get_settings
from shared.stores import Stores
from workers.browser.cdp_client import CdpClient, cdp_session
from workers.browser.launcher import BrowserNotFoundError
from workers.browser.runtime import get_runtime
from workers.browser_sessions.cdp_relay import RelayedBrowser, RelayServer, relay_server
from workers.browser_sessions.profile_cookies import BrowserProfile
from workers.browser_sessions.standalone import StandaloneBrowser, launch_standalone
from workers.egress.custom_proxy import chosen_upstream
from workers.egress.proxy import EgressProxy
from workers.egress.upstream import UpstreamError
from workers.policy.cdp import Refused
from workers.policy.network import NetworkPolicy
from workers.process.lease import owner
from workers.process.objects import stores
from workers.process.per_process import PerProcess
from workers.watch.live_view import FrameSink, limits
from workers.watch.session_cast import PageCast
from workers.watch.session_recording import PageRecording

log = logging.getLogger(__name__)

TICK_S = 0.5
MAX_DOWNLOADS = 200
SHUTDOWN = "the worker running this browser shut down"
# Set when the worker begins a warm shutdown: browser sessions end at once instead of holding
# the worker for hours (agent tasks, minutes long, are let finish).
shutting_down = threading.Event()
SESSIONS_STARTED = Counter("browserfleet_browser_sessions_started", "Browser sessions a worker launched.")
SESSIONS_ENDED = Counter(
    "browserfleet_browser_sessions_ended", "Browser sessions that ended, by why.", ["reason"]
)
SESSIONS_RUNNING = Gauge("browserfleet_browser_sessions_running", "Browser sessions this worker runs now.")


class BrowserLeases:
    """This process's leases on the browser sessions it runs, renewed by one background thread.

    A browser session is never run again elsewhere (its state dies with its worker), so it
    needs no fencing like an agent run (``workers.process.lease``): the lease only tells the fleet that
    its worker is alive; a session whose lease lapsed is ended by whoever reads it."""

    def __init__(self, store: BrowserStore, ttl_ms: int) -> None:
        self.browsers, self.ttl_ms = store, ttl_ms
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def acquire(self, browser_id: str) -> bool:
        """Claim ``browser_id``; False when another worker holds it."""
        if not self.browsers.take_lease(browser_id, owner(), self.ttl_ms):
            return False
        with self._lock:
            self._held.add(browser_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._renew_forever, name="browser-lease-renew",
                                                daemon=True)
                self._thread.start()
        return True

    def release(self, browser_id: str) -> None:
        with self._lock:  # under the lock: a renewal in flight cannot re-create it afterwards
            self._held.discard(browser_id)
            self.browsers.give_back(browser_id, owner())

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.ttl_ms / 3000)
            with self._lock:
                for browser_id in list(self._held):
                    try:
                        if not self.browsers.renew_lease(browser_id, owner(), self.ttl_ms) and \
                                not self.browsers.take_lease(browser_id, owner(), self.ttl_ms):
                            log.error("browser session %s: its lease is held elsewhere", browser_id)
                    except StoreError as exc:  # Redis restarting: try again next round
                        log.warning("lease renewal of browser session %s failed: %s", browser_id, exc)


_leases: PerProcess[BrowserLeases] = PerProcess(
    lambda: BrowserLeases(stores().browsers, int(get_settings().lease_ttl_s * 1000))
)


def browser_leases() -> BrowserLeases:
    """This process's leases on the browser sessions it runs."""
    return _leases.get()


def run(browser_id: str) -> dict[str, Any]:
    """Serve the browser session ``browser_id`` until it ends (called in a Celery thread)."""
    settings, store = get_settings(), stores().browsers
    record = store.load(browser_id)
    if record is None or record.status == BrowserSessionStatus.stopped:
        return {"id": browser_id, "status": "stopped"}
    if record.started and not store.lease_held(browser_id):
        store.stop(browser_id, WORKER_LOST)
        return {"id": browser_id, "status": "stopped"}
    if not browser_leases().acquire(browser_id):
        log.warning("browser session %s is running on another worker; duplicate delivery dropped", browser_id)
        return {"id": browser_id, "status": "duplicate"}
    SESSIONS_RUNNING.inc()
    try:
        reason = get_runtime().run(_serve(record, settings, stores()))
    except Exception as exc:  # our bug: still end the session, with the reason
        log.exception("browser session %s crashed", browser_id)
        reason = f"internal error: {exc!r}"
        store.stop(browser_id, reason)
    finally:
        SESSIONS_RUNNING.dec()
        browser_leases().release(browser_id)
    log.info("browser session %s ended: %s", browser_id, reason)
    return {"id": browser_id, "status": "stopped"}


async def _serve(record: BrowserRecord, settings: Settings, all_stores: Stores) -> str:
    store, bid = all_stores.browsers, str(record.id)
    policy = NetworkPolicy.from_entries(settings.allow_private_networks, settings.allowed_networks)
    try:
        upstream, _ = await chosen_upstream(record.custom_proxy_token, record.proxy_country_code, settings,
                                            bid)
    except UpstreamError as exc:
        return await _end(store, bid, "proxy", str(exc))
    refused_ports: set[int] = set()
    egress = EgressProxy(policy, upstream=upstream, connect=_guarded_connect(refused_ports))
    await egress.start()
    browser: StandaloneBrowser | None = None
    try:
        try:
            browser = await launch_standalone(
                bid,
                egress.url,
                executable=settings.chromium_path,
                headless=settings.headless,
                window=(
                    record.screen_width or settings.viewport_width,
                    record.screen_height or settings.viewport_height,
                ),
                ignore_cert_errors=record.ignore_cert_errors,
                base_dir=settings.browser_data_dir,
            )
        except (BrowserNotFoundError, RuntimeError, OSError) as exc:
            return await _end(store, bid, "browser", f"browser unusable: {exc}")
        SESSIONS_STARTED.inc()
        refused_ports.add(browser.port)
        relay = await relay_server(settings.cdp_relay_host, settings.cdp_relay_port, _advertise(settings))
        refused_ports.add(int(relay.url.rsplit(":", 1)[1]))
        return await _drive(record, settings, all_stores, browser, relay)
    finally:
        if browser is not None:
            with contextlib.suppress(Exception):
                await _collect(store, bid, browser.downloads, {}, settings.output_file_max_bytes)
            await browser.close()
        await egress.close()


async def _drive(
    record: BrowserRecord,
    settings: Settings,
    all_stores: Stores,
    browser: StandaloneBrowser,
    relay: RelayServer,
) -> str:
    store, bid = all_stores.browsers, str(record.id)
    async with cdp_session(browser.ws_url) as control:  # held for the session: its settings last with it
        version = await control.send("Browser.getVersion")
        await control.send(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(browser.downloads)}
        )
        profile = BrowserProfile(all_stores, str(record.profile_id) if record.profile_id else None, settings)
        await profile.load(control)
        relay.register(
            RelayedBrowser(
                bid,
                record.cdp_token,
                browser.ws_url,
                str(browser.downloads),
                _materializer(all_stores, bid, browser.uploads),
            )
        )
        try:
            if not await asyncio.to_thread(store.started, bid, relay.url, version):
                return "stopped before it started"
            log.info("browser session %s started (relay %s)", bid, relay.url)
            recording = (
                PageRecording(settings.recording_max_bytes, settings.recording_max_fps)
                if record.enable_recording
                else None
            )
            cast = asyncio.get_running_loop().create_task(
                _cast(control, all_stores, bid, settings, recording)
            )
            try:
                reason = await _watch(record, settings, store, browser)
            finally:
                cast.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await cast
        finally:
            await relay.unregister(bid)  # no client changes the browser past this point
        if browser.alive:
            await profile.save(control)
        if recording is not None:
            await _keep_recording(store, bid, recording)
        return reason


async def _keep_recording(store: BrowserStore, bid: str, recording: PageRecording) -> None:
    """The session's recording, once it ended (a recording that fails never fails the session)."""
    try:
        video = await recording.finish()
        if video:
            await asyncio.to_thread(store.keep_recording, bid, video)
    except Exception:
        log.warning("browser session %s: recording not kept", bid, exc_info=True)


async def _cast(
    control: CdpClient, all_stores: Stores, bid: str, settings: Settings, recording: PageRecording | None
) -> None:
    """The session's liveUrl (its first page, cast while someone watches) and its recording."""

    async def viewers() -> int:
        return await asyncio.to_thread(all_stores.live.viewers, bid)

    try:
        await PageCast(control, FrameSink(all_stores.frames, bid), viewers, limits(settings), recording).run()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(all_stores.frames.ended, bid)


async def _watch(
    record: BrowserRecord, settings: Settings, store: BrowserStore, browser: StandaloneBrowser
) -> str:
    """Until the session ends: stop requests, the timeout, the browser's death; keep downloads."""
    bid, seen = str(record.id), dict[str, tuple[int, float]]()
    while True:
        current, deadline = await asyncio.to_thread(store.state, bid)
        now = time.time()
        if current != BrowserSessionStatus.active:
            SESSIONS_ENDED.labels(reason="stopped").inc()
            return "stopped"
        if now >= deadline:
            return await _end(store, bid, "timeout", TIMED_OUT, at=deadline)
        if not browser.alive:
            return await _end(store, bid, "closed", None)
        if shutting_down.is_set():
            return await _end(store, bid, "shutdown", SHUTDOWN)
        await _collect(store, bid, browser.downloads, seen, settings.output_file_max_bytes)
        await asyncio.sleep(min(TICK_S, max(0.0, deadline - now)))


async def _end(store: BrowserStore, bid: str, reason: str, error: str | None, at: float | None = None) -> str:
    await asyncio.to_thread(store.stop, bid, error, at)
    SESSIONS_ENDED.labels(reason=reason).inc()
    return error or reason


def _guarded_connect(refused_ports: set[int]) -> Any:
    """The egress's connect, refusing this worker's own DevTools and relay ports on loopback
    (even where the operator allows loopback: a page must not reach a browser's debugger)."""

    async def connect(
        host: str, port: int, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(host)
            if port in refused_ports and (ip.is_loopback or ip.is_unspecified or _is_local(ip)):
                raise ConnectionRefusedError(f"{host}:{port} is this worker's own debugging port")
        return await asyncio.open_connection(host, port, **kwargs)

    return connect


def _is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    with contextlib.suppress(OSError):
        return str(ip) in {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None)}
    return False


def _advertise(settings: Settings) -> str:
    if settings.cdp_relay_advertise:
        return settings.cdp_relay_advertise
    if settings.cdp_relay_host in {"0.0.0.0", "::", ""}:
        return socket.gethostname()
    return settings.cdp_relay_host


def _materializer(all_stores: Stores, bid: str, directory: Path) -> Any:
    """Uploaded files, by name, written into the session's upload directory when CDP asks for them."""

    async def materialize(names: list[str]) -> list[str]:
        paths = []
        for name in names:
            data = await asyncio.to_thread(all_stores.uploads.read, "browser", bid, name)
            if data is None:
                raise Refused(
                    f"no file named {name!r} was uploaded to this browser session "
                    "(POST /files/browsers/{id}/presigned-url)"
                )
            path = directory / name
            if path.parent != directory:
                raise Refused(f"{name!r} is not a file name")
            await asyncio.to_thread(path.write_bytes, data)
            paths.append(str(path))
        return paths

    return materialize


async def _collect(
    store: BrowserStore, bid: str, directory: Path, seen: dict[str, tuple[int, float]], max_bytes: int
) -> None:
    """Keep every completed download (Chromium renames a ``.crdownload`` when it is done)."""

    def scan() -> list[tuple[str, int, float]]:
        found = []
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            if path.is_file() and not path.name.endswith(".crdownload"):
                info = path.stat()
                found.append((path.name, info.st_size, info.st_mtime))
        return found

    for name, size, mtime in await asyncio.to_thread(scan):
        if seen.get(name) == (size, mtime):
            continue
        seen[name] = (size, mtime)
        if size > max_bytes or len(seen) > MAX_DOWNLOADS:
            log.warning(
                "browser session %s: download %s not kept (%d bytes, limit %d)", bid, name, size, max_bytes
            )
            continue
        data = await asyncio.to_thread((directory / name).read_bytes)
        await asyncio.to_thread(store.add_download, bid, name, data, mtime)
