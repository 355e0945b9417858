"""Every Redis key browserfleet uses, in one place."""

from __future__ import annotations

PREFIX = "bf"

TASK_INDEX = f"{PREFIX}:tasks"  # zset: task id -> created timestamp
# Listing indexes (zsets, id -> created timestamp) of tasks, sessions and browser sessions, kept
# with each status change by the stores' scripts; every name is ``listing_index``'s (Lua:
# ``LISTING_LUA``): {prefix}status:{status}, {prefix}owner:{owner}, {prefix}owner:{owner}:status:{status}
TASKS_BY = f"{PREFIX}:tasks:"
RUNNING = f"{PREFIX}:running"  # zset: task id -> start timestamp, while a worker runs it
SESSION_INDEX = f"{PREFIX}:sessions"  # zset: session id -> created timestamp
SESSIONS_BY = f"{PREFIX}:sessions:"  # the sessions' listing indexes (status active|stopped)
SKILLS = f"{PREFIX}:skills"  # hash: skill id -> JSON manifest entry, published by workers
API_ADDRESS = f"{PREFIX}:api-address"  # string: the base URL the running API announced (shared.api_address)


def listing_index(prefix: str, *, owner: str | None = None, status: str | None = None) -> str:
    """Zset: the records under ``prefix`` (``TASKS_BY``, ``SESSIONS_BY``, ``BROWSERS_BY``) of one
    owner and/or in one status; an empty owner is none. The one spelling of these names."""
    parts = ([f"owner:{owner}"] if owner else []) + ([f"status:{status}"] if status else [])
    return prefix + ":".join(parts)


# The same name in the stores' Lua scripts (``owner``/``status``: nil or '' = none);
# tests/unit/test_listing.py checks the two agree.
LISTING_LUA = """
local function listing_index(prefix, owner, status)
  local owned, filtered = owner and owner ~= '', status and status ~= ''
  if owned and filtered then return prefix .. 'owner:' .. owner .. ':status:' .. status end
  if owned then return prefix .. 'owner:' .. owner end
  if filtered then return prefix .. 'status:' .. status end
  return prefix
end
"""


def listings(everything: str, prefix: str, owner: str | None, status: str | None) -> list[str]:
    """Every listing index a record of ``owner`` in ``status`` belongs to, ``everything`` (the
    index of all records) first."""
    found = [everything]
    if owner:
        found.append(listing_index(prefix, owner=owner))
    if status:
        found.append(listing_index(prefix, status=status))
        if owner:
            found.append(listing_index(prefix, owner=owner, status=status))
    return found


def tasks_by(*, owner: str | None = None, status: str | None = None) -> str:
    """Zset: the tasks of one owner and/or in one status (``TASK_INDEX`` when neither)."""
    return listing_index(TASKS_BY, owner=owner, status=status) if owner or status else TASK_INDEX


def sessions_by(*, owner: str | None = None, status: str | None = None) -> str:
    """Zset: the sessions of one owner and/or in one status (``SESSION_INDEX`` when neither)."""
    return listing_index(SESSIONS_BY, owner=owner, status=status) if owner or status else SESSION_INDEX


def consumers(queue: str) -> str:
    """Zset: node name -> time of its last heartbeat, for the nodes consuming ``queue``."""
    return f"{PREFIX}:consumers:{queue}"


def task(task_id: str) -> str:
    """Hash: the task record."""
    return f"{PREFIX}:task:{task_id}"


def steps(task_id: str) -> str:
    """List: one JSON step record per element, in order."""
    return f"{PREFIX}:task:{task_id}:steps"


def stop_flag(task_id: str) -> str:
    """String: present when a stop was requested (cooperative cancellation)."""
    return f"{PREFIX}:task:{task_id}:stop"


def control(task_id: str) -> str:
    """Pub/sub channel: signals to the run of the task (stop, watch, fenced, gone; shared.control)."""
    return f"{PREFIX}:task:{task_id}:control"


def lease(task_id: str) -> str:
    """String with a short TTL: the worker currently running the task (renewed while alive)."""
    return f"{PREFIX}:task:{task_id}:lease"


def reaping(task_id: str) -> str:
    """String: one reaper is re-enqueueing this task (a short lock)."""
    return f"{PREFIX}:task:{task_id}:reaping"


def deliveries(task_id: str) -> str:
    """Counter: how many times a worker started this task (redelivery cap)."""
    return f"{PREFIX}:task:{task_id}:deliveries"


def delivery_tags(task_id: str) -> str:
    """Set: the broker delivery tags of the task's runs (their leftovers in Kombu's unacked store
    are removed when the task's last run ends)."""
    return f"{PREFIX}:task:{task_id}:delivery-tags"


def output_files(task_id: str) -> str:
    """Hash: output file id -> JSON metadata (fileName, contentType, size, createdAt)."""
    return f"{PREFIX}:task:{task_id}:files"


def output_file_data(task_id: str) -> str:
    """Hash: output file id -> base64 content (bounded by ``output_file_max_bytes``)."""
    return f"{PREFIX}:task:{task_id}:filedata"


def judge_screenshots(task_id: str) -> str:
    """List with a short TTL: the last screenshots (data URLs) of a vision task, for its judge."""
    return f"{PREFIX}:task:{task_id}:judge-shots"


def session(session_id: str) -> str:
    """Hash: the session record."""
    return f"{PREFIX}:session:{session_id}"


def session_tasks(session_id: str) -> str:
    """Zset: the session's task ids by creation time."""
    return f"{PREFIX}:session:{session_id}:tasks"


def session_state(session_id: str) -> str:
    """String: the session's browser state (cookies, storage, last URL), encrypted; TTL = idle timeout."""
    return f"{PREFIX}:session:{session_id}:state"


def session_keys(session_id: str) -> list[str]:
    """All keys that belong to one session itself (its tasks have their own)."""
    return [
        session(session_id), session_tasks(session_id), session_state(session_id),
        live_token_of_session(session_id), public_share(session_id), session_custom_proxy(session_id),
        uploads("session", session_id), upload_data("session", session_id),
    ]


def download(token: str) -> str:
    """String: what a presigned download URL (``/api/v2/downloads/{token}``) serves; short TTL."""
    return f"{PREFIX}:download:{token}"


# -- live view (workers/watch/live_view.py, producer/api/routes_live.py) ---------------------


def live_frames(task_id: str) -> str:
    """Pub/sub channel: everything a viewer of the task is pushed (frames, seal notices, steps,
    status changes, deletion; see shared/live_events.py). Always ``task(task_id) + ":live"``:
    the task store's scripts derive it so."""
    return task(task_id) + ":live"


def live_last_frame(task_id: str) -> str:
    """String with a short TTL: the last frame published, so a new viewer sees the page at once."""
    return f"{PREFIX}:task:{task_id}:live-last"


def live_viewers(task_id: str) -> str:
    """Zset: viewer id -> heartbeat expiry (epoch s); the worker casts only while one is unexpired."""
    return f"{PREFIX}:task:{task_id}:viewers"


def live_stats(task_id: str) -> str:
    """Hash: frames sent, withheld (a secret on screen), dropped (rate/bandwidth), bytes sent."""
    return f"{PREFIX}:task:{task_id}:live-stats"


def live_token_of_task(task_id: str) -> str:
    """String: the token of the task's liveUrl (created on first read)."""
    return f"{PREFIX}:task:{task_id}:live-token"


def step_screenshots(task_id: str) -> str:
    """Hash: step number -> the step's screenshot (a JPEG data URL), for the task viewer."""
    return f"{PREFIX}:task:{task_id}:step-shots"


def live_token_of_session(session_id: str) -> str:
    """String: the token of the session's liveUrl."""
    return f"{PREFIX}:session:{session_id}:live-token"


def public_share(session_id: str) -> str:
    """Hash: the session's public share (token, expiresAt, viewCount, lastViewedAt); TTL = expiry."""
    return f"{PREFIX}:session:{session_id}:share"


LIVE_GRANT = f"{PREFIX}:live:"  # + token: the grant keys' prefix (the stores' scripts build them)
LIVE_CONTROL = f"{PREFIX}:live-control"  # pub/sub: live links revoked (see shared/live_events.py)


def live_grant(token: str) -> str:
    """String: what a live/share token grants, JSON ``{"kind": "task"|"session"|"share", "id": ...}``."""
    return LIVE_GRANT + token


def task_keys(task_id: str) -> list[str]:
    """All keys that belong to one task (for TTLs and deletion)."""
    return [
        task(task_id), steps(task_id), stop_flag(task_id), deliveries(task_id), lease(task_id),
        output_files(task_id), output_file_data(task_id), judge_screenshots(task_id),
        live_last_frame(task_id), live_viewers(task_id), live_stats(task_id), live_token_of_task(task_id),
        step_screenshots(task_id), delivery_tags(task_id),
    ]


PROFILE_INDEX = f"{PREFIX}:profiles"  # zset: profile id -> created timestamp
PROFILES_INDEXED = f"{PREFIX}:profiles:owner-indexed"  # string: the per-owner indexes are complete


def profiles_of(owner: str) -> str:
    """Zset: one owner's profile ids -> created timestamp (listing, and the per-key quota)."""
    return f"{PREFIX}:profiles:owner:{owner}"


def profile(profile_id: str) -> str:
    """Hash: the profile record (no TTL: a profile lasts until deleted)."""
    return f"{PREFIX}:profile:{profile_id}"


def profile_state(profile_id: str) -> str:
    """String: the profile's browser storage state (cookies, localStorage), encrypted."""
    return f"{PREFIX}:profile:{profile_id}:state"


# -- fleet controls: accounts, webhooks, LLM rate limits (shared/accounts.py, spend.py,
#    webhook_store.py, llm_limits.py) ------------------------------------------------

ACCOUNTS = f"{PREFIX}:acct:"  # prefix of every per-account key (the Lua scripts append to it)


def account_tasks(account: str, state: str) -> str:
    """Zset: task id -> created timestamp, the account's tasks that are ``active`` (queued or
    running) or ``queued``; kept by the create script and every status change (Lua:
    ``ACCOUNT_TASKS_LUA``)."""
    return f"{ACCOUNTS}{account}:tasks:{state}"


ACCOUNT_TASKS_LUA = f"""
local function account_tasks(account, state) return '{ACCOUNTS}' .. account .. ':tasks:' .. state end
"""


def account_spend(account: str, period: str) -> str:
    """String: the account's LLM spend in nano-dollars for one period (``d20261206``, ``m202612``)."""
    return f"{ACCOUNTS}{account}:spend:{period}"


WEBHOOKS_DUE = f"{PREFIX}:webhooks:due"  # zset: stream -> when its next delivery is due (epoch s)
WEBHOOK_OUTBOX = f"{PREFIX}:webhooks:outbox:"  # prefix of the outboxes (the Lua scripts append the stream)


def webhook_outbox(stream: str) -> str:
    """List: one stream's undelivered events, oldest first (a stream is a task id, or a test's id)."""
    return f"{WEBHOOK_OUTBOX}{stream}"


def webhook_lock(stream: str) -> str:
    """String with a short TTL: the delivery worker flushing this stream right now."""
    return f"{PREFIX}:webhooks:lock:{stream}"


def webhook_log(account: str) -> str:
    """List: the account's last delivery attempts (JSON), newest first, capped."""
    return f"{PREFIX}:webhooks:log:{account}"


def llm_bucket(bucket: str, part: str) -> str:
    """One fleet-wide LLM rate-limit bucket's ``requests``/``tokens`` log (zsets), ``token-sum``
    (string) or ``cooldown`` (string: until when a provider's 429 asked everyone to wait)."""
    return f"{PREFIX}:llm:{bucket}:{part}"


# -- browser sessions (/browsers), uploads (issue 24) -------------------------------

BROWSER_INDEX = f"{PREFIX}:browsers"  # zset: browser session id -> created timestamp
BROWSERS_BY = f"{PREFIX}:browsers:"  # the browser sessions' listing indexes (status active|stopped)
BROWSERS_RUNNING = f"{PREFIX}:browsers-running"  # zset: browser id -> start time, while a worker holds it


def browsers_by(*, owner: str | None = None, status: str | None = None) -> str:
    """Zset: the browser sessions of one owner and/or in one status (``BROWSER_INDEX`` when neither)."""
    return listing_index(BROWSERS_BY, owner=owner, status=status) if owner or status else BROWSER_INDEX


def browser(browser_id: str) -> str:
    """Hash: the browser session record (status, timeout, where its CDP relay listens)."""
    return f"{PREFIX}:browser:{browser_id}"


def browser_lease(browser_id: str) -> str:
    """String with a short TTL: the worker holding the browser (renewed while it lives)."""
    return f"{PREFIX}:browser:{browser_id}:lease"


def cdp_grant(token: str) -> str:
    """String: the browser session a ``cdpUrl`` token opens."""
    return f"{PREFIX}:cdp:{token}"


def browser_recording(browser_id: str) -> str:
    """String: the session's recording (WebM, base64), kept once it ended."""
    return f"{PREFIX}:browser:{browser_id}:recording"


def browser_live(token: str) -> str:
    """String: the browser session a ``liveUrl`` token shows (read-only; frames go by its id)."""
    return f"{PREFIX}:browser-live:{token}"


def downloads(browser_id: str) -> str:
    """Hash: file name -> JSON metadata of a file the browser downloaded (size, time)."""
    return f"{PREFIX}:browser:{browser_id}:downloads"


def download_data(browser_id: str) -> str:
    """Hash: file name -> base64 content of a file the browser downloaded."""
    return f"{PREFIX}:browser:{browser_id}:download-data"


def browser_keys(browser_id: str) -> list[str]:
    """All keys of one browser session (its cdp grant is removed by token)."""
    return [browser(browser_id), browser_lease(browser_id), downloads(browser_id), download_data(browser_id),
            uploads("browser", browser_id), upload_data("browser", browser_id),
            live_last_frame(browser_id), live_viewers(browser_id), live_stats(browser_id),
            browser_recording(browser_id)]


def uploads(scope: str, owner_id: str) -> str:
    """Hash: file name -> JSON metadata of a file uploaded into a session (``scope`` "session"/"browser")."""
    return f"{PREFIX}:{scope}:{owner_id}:uploads"


def upload_data(scope: str, owner_id: str) -> str:
    """Hash: file name -> base64 content of an uploaded file."""
    return f"{PREFIX}:{scope}:{owner_id}:upload-data"


def upload_grant(token: str) -> str:
    """String with a short TTL: what a presigned upload URL accepts (single use)."""
    return f"{PREFIX}:upload:{token}"


def session_custom_proxy(session_id: str) -> str:
    """String: the session's ``customProxy`` (host, port, credentials), encrypted; TTL = the session's."""
    return f"{PREFIX}:session:{session_id}:custom-proxy"
