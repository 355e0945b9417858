"""A browser session's ``liveUrl``: ``/browser-live/{token}``, a read-only view of its first page.

The token (256 random bits, another than the cdpUrl's: it grants watching, not driving) is
the credential. The page reads ``/browser-live/{token}/events`` (Server-Sent Events: ``frame``
with a base64 JPEG, ``end`` when the session stops); while a stream is open it renews a
viewer heartbeat, and the worker casts only while one is fresh (see
:mod:`workers.watch.session_cast`). Frames travel worker → Redis pub/sub → API, as for tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from shared.browser_models import BrowserSessionStatus
from shared.browser_store import BrowserRecord
from shared.live_feed import LiveFeed

from .deps import ProducerDep

PATH = "/browser-live"
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>browserfleet: browser session</title>
<style>body{margin:0;background:#16181d;color:#c9ced6;font:14px system-ui,sans-serif}
#s{padding:8px 12px}img{display:block;max-width:100%;margin:0 auto}</style></head>
<body><div id="s">connecting…</div><img id="f" alt="">
<script>
const s = document.getElementById('s'), f = document.getElementById('f');
const es = new EventSource(location.pathname.replace(/\\/$/, '') + '/events');
es.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === 'frame') { f.src = 'data:image/jpeg;base64,' + m.data; s.textContent = 'live'; }
  else if (m.type === 'hello') { s.textContent = 'waiting for the page to paint…'; }
  else if (m.type === 'end') { s.textContent = 'the browser session has ended'; es.close(); }
};
es.onerror = () => { s.textContent = 'reconnecting…'; };
</script></body></html>"""
POLL_S = 0.5

public = APIRouter(include_in_schema=False)


def live_url(request: Request, token: str) -> str:
    base = request.app.state.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{PATH}/{token}"


def _session(producer: ProducerDep, token: str) -> BrowserRecord:
    record = producer.stores.browsers.by_token(token, live=True)
    if record is None or record.status != BrowserSessionStatus.active:
        raise HTTPException(404, "This live link is unknown, or its browser session has ended")
    return record


@public.get(PATH + "/{token}", response_class=HTMLResponse)
def viewer(token: str, producer: ProducerDep) -> HTMLResponse:
    _session(producer, token)
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": CSP,
    }
    return HTMLResponse(PAGE, headers=headers)


@public.get(PATH + "/{token}/events")
async def events(token: str, producer: ProducerDep, request: Request) -> StreamingResponse:
    record = await asyncio.to_thread(_session, producer, token)
    return StreamingResponse(
        _stream(producer, request.app.state.loop_stores.live_feed(), str(record.id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(producer: ProducerDep, channels: LiveFeed, browser_id: str) -> AsyncIterator[str]:
    """One viewer's frames. Its own subscription: a browser session's viewers are its owner's few
    (the task viewers' per-process hub serves crowds of share viewers)."""
    store = producer.stores.browsers
    viewer, beat_s = uuid.uuid4().hex, max(0.2, producer.settings.live_heartbeat_s)
    loop = asyncio.get_running_loop()
    try:
        await channels.subscribe(LiveFeed.task_channel(browser_id))
        yield f"data: {json.dumps({'type': 'hello'})}\n\n"
        last = await channels.last_frame(browser_id)
        if last:
            yield f"data: {last}\n\n"
        next_beat = next_check = 0.0
        while True:
            message = await channels.next_message(POLL_S)
            if message is not None:
                yield f"data: {message[1]}\n\n"
            now = loop.time()
            if now >= next_beat:
                next_beat = now + beat_s
                await channels.beat({browser_id: [viewer]}, beat_s * 3)
            if now >= next_check:
                next_check = now + POLL_S
                status, _ = await asyncio.to_thread(store.state, browser_id)
                if status != BrowserSessionStatus.active:
                    yield f"data: {json.dumps({'type': 'end'})}\n\n"
                    return
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(channels.leave(browser_id, viewer))
        with contextlib.suppress(Exception):
            await asyncio.shield(channels.close())
