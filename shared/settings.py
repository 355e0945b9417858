"""Settings, read from the environment (prefix ``BROWSERFLEET_``, plus ``REDIS_URL``).

Time budgets nest (docs/design.md, Celery configuration): step timeout < task budget < soft limit <
hard limit < visibility timeout. :meth:`Settings.check_budgets` enforces it at start.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.broker import is_amqp
from shared.limits import Dollars, KeyLimits, KeyWebhook, LlmLimit, check_webhook_url
from shared.redis_url import RedisTarget, is_sentinel_url, parse_redis_url

M = TypeVar("M", bound=BaseModel)


class Settings(BaseSettings):
    """Every knob of browserfleet; see the configuration table in the README."""

    # hide_input_in_errors: a settings error at start must not print the values (keys among them)
    model_config = SettingsConfigDict(
        env_prefix="BROWSERFLEET_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("BROWSERFLEET_REDIS_URL", "REDIS_URL"),
        description="Redis for task records, stop flags, sessions: `redis://host:port/db`, or behind Redis "
        "Sentinel the sentinels, `sentinel://host:26379;sentinel://host2:26379/db` (with "
        "`BROWSERFLEET_REDIS_SENTINEL_MASTER`; docs/deploy.md).",
    )
    redis_sentinel_master: str | None = Field(
        None, description="Service name the sentinels monitor (`sentinel monitor <name> ...`); required "
        "when any Redis URL (store, broker, result backend) is a `sentinel://` list."
    )
    redis_sentinel_password: SecretStr | None = Field(
        None, description="Password of the sentinels themselves (`requirepass` in sentinel.conf); the data "
        "nodes' password goes in the URL (`sentinel://:password@host:26379;...`)."
    )
    redis_wait_replicas: int | None = Field(
        None, ge=0, description="Replicas that must confirm (`WAIT`) the writes a failover must not lose: a "
        "task's creation, a run's lease take, each step record, every status change. Unset: 1 behind "
        "Sentinel, else 0 (none). Unconfirmed in time, the write stands and a warning is logged."
    )
    redis_wait_timeout_ms: int = Field(
        100, ge=1, description="Longest such a write waits for its replicas (what each costs while no "
        "replica answers)."
    )
    broker_url: str | None = Field(None, description="Celery broker; defaults to redis_url.")
    result_backend: str | None = Field(None, description="Celery result backend; defaults to redis_url.")
    queue: str = Field("browserfleet", description="Celery queue for agent tasks.")
    judge_queue: str = Field("judge", description="Celery queue for judge tasks.")

    default_model: str = Field("openai/gpt-4.1-mini", description="litellm id for browser-use-llm/2.0.")
    default_judge_model: str | None = Field(None, description="litellm id for judges; else default_model.")
    judge_timeout_s: float = Field(
        600.0, description="From the agent's end to the verdict; past it the task finishes unjudged."
    )
    judge_concurrency: int = Field(
        2, description="Judge calls at once in the judge worker `browserfleet worker` starts beside the "
        "agent worker; 0 = none (dedicated judge workers only)."
    )
    judge_screenshots: int = Field(3, description="Last screenshots of a vision task shown to the judge.")
    skills_dir: str | None = Field(None, description="Directory of operator skill modules (*.py).")
    builtin_skills: bool = Field(True, description="Offer the built-in skills (links, tables, forms, files).")
    output_file_max_bytes: int = Field(10 * 1024 * 1024, description="Largest output file a task may keep.")
    recording_max_bytes: int = Field(
        20 * 1024 * 1024, description="Largest session recording (`enableRecording`) of one task; "
        "a longer recording stops there (the task goes on)."
    )
    recording_max_fps: float = Field(5.0, description="Frames per second a session recording keeps at most.")
    proxies: SecretStr | None = Field(
        None, description="Upstream proxies per country: a JSON object "
        '(`{"us": "http://user:pass@host:3128", "de": "socks5://host:1080"}`) or one URL template with '
        "`{country}`; unset = none (the worker's egress guard connects to sites itself)."
    )
    proxy_default_country: str | None = Field(
        None, description="Country whose proxy a task without `sessionSettings` uses (the v2 default is "
        "`us`); unset = such tasks use no upstream proxy."
    )
    models: dict[str, str] = Field(default_factory=dict, description="Extra/overriding model table (JSON).")
    llm_timeout_s: float = Field(90.0, description="One LLM request's timeout.")
    llm_max_retries: int = Field(3, description="Retries of one LLM request (timeouts, 429, 5xx).")
    llm_max_failures: int = Field(3, description="Consecutive failed steps before a task gives up.")
    llm_backoff_s: float = Field(1.0, description="First retry delay; doubles per retry.")

    task_budget_s: float = Field(
        1800.0, description="Wall-clock budget of one task's whole run: browser set-up, start URL, agent "
        "loop and teardown."
    )
    step_timeout_s: float = Field(180.0, description="Budget of one step (state, LLM, actions).")
    progress_events: bool = Field(
        True, description="Send Celery task-progress events per step (for Flower); off on large fleets."
    )
    screenshot_timeout_s: float = Field(
        5.0, gt=0,
        description="One try at a step's screenshot; after a second try the step goes on without it.",
    )
    action_timeout_s: float = Field(15.0, description="Playwright timeout of one browser action.")
    browser_setup_timeout_s: float = Field(
        30.0, gt=0, description="Bound of a task's browser set-up (a context and its first page, a browser "
        "launch included); past it the browser is retired and the task retried on a fresh one."
    )
    stall_timeout_s: float = Field(
        120.0, gt=0, description="Watchdog: a run without progress this long (no step, action or browser "
        "call ending; time in a model call does not count) is ended and retried on a fresh browser."
    )
    soft_time_limit_s: float = Field(1900.0, description="Celery soft time limit (prefork pools).")
    hard_time_limit_s: float = Field(2000.0, description="Celery hard time limit (prefork pools).")
    visibility_timeout_s: int = Field(2400, description="Redis broker visibility timeout.")
    consumer_timeout_s: int = Field(
        2400, description="RabbitMQ's consumer_timeout (rabbitmq.conf, in ms there): with an AMQP "
        "broker it replaces the visibility timeout as the budget a task must stay under."
    )
    max_deliveries: int = Field(
        3, description="Deliveries of one task before it is failed (worker lost, browser crash, stalled run)."
    )
    lease_ttl_s: float = Field(30.0, description="Task lease; a dead worker's task is re-queued after it.")
    record_ttl_s: int = Field(7 * 24 * 3600, description="How long task records are kept.")

    chromium_path: str | None = Field(None, description="Browser binary; else Playwright's, else system.")
    headless: bool = Field(True, description="Run Chromium headless (False needs a display).")
    browsers_per_worker: int = Field(1, description="Chromium processes per worker process.")
    tasks_per_browser: int = Field(50, description="Contexts served before a browser is recycled.")
    spare_contexts: int | None = Field(
        None,
        ge=0,
        description="Contexts kept open ahead of time per worker (fast starts); "
        "unset: half the concurrency, at least 1; 0: none.",
    )
    concurrency: int = Field(4, description="Concurrent agent tasks per worker process.")
    viewport_width: int = Field(1280, description="Default viewport; sessionSettings can change it.")
    viewport_height: int = Field(800, description="Default viewport height.")
    page_text_chars: int = Field(6000, description="Page text characters shown to the LLM per step.")
    element_window_pages: float | None = Field(
        2.0, description="List elements within this many viewports of the visible part; unset = all."
    )
    max_actions_per_step: int = Field(5, description="Actions the model may queue in one step.")
    allow_private_networks: bool = Field(
        False,
        description="Let browsers reach private, loopback, link-local and CGNAT addresses "
        "(local testing); cloud metadata endpoints stay blocked.",
    )
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks/hosts browsers may always reach, comma-separated: CIDR, address or host "
        "name, each with an optional :port (e.g. 10.1.0.0/16,intranet.example.com:443,127.0.0.1:8080).",
    )

    metrics_port: int | None = Field(
        None, description="Port a worker serves Prometheus metrics on (unset: off); the judge worker that "
        "`browserfleet worker` starts uses the next port."
    )

    secrets_key: SecretStr | None = Field(
        None, description="Fernet key shared by producers and workers (`browserfleet keygen`); several, "
        "comma-separated, newest first, to rotate: new ciphertexts use the first, every one still decrypts."
    )
    op_service_account_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OP_SERVICE_ACCOUNT_TOKEN", "BROWSERFLEET_OP_SERVICE_ACCOUNT_TOKEN"),
        description="1Password service-account token for opVaultId (workers only; OP_SERVICE_ACCOUNT_TOKEN).",
    )

    # -- HTTP API, sessions ------------------------------------------------
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False,
        description="API keys with full access, comma-separated; each raw or 'sha256:<hex digest>'.",
    )
    scoped_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, repr=False,
        description="API keys that see only the tasks and sessions they created (same format).",
    )
    api_key_op_vaults: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict, repr=False,
        description="opVaultId binding (JSON): scoped API key (raw or 'sha256:<hex>') -> the 1Password vault "
        "ids it may use. A scoped key not listed may use none (403); full-access keys may use any.",
    )
    api_key_skills: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict, repr=False,
        description="Skill binding (JSON): scoped API key (raw or 'sha256:<hex>') -> the skill ids it may "
        "use (`*`: every skill). A scoped key not listed may use none (403), and `[\"*\"]` in its "
        "skillIds means its own skills; full-access keys may use any.",
    )
    api_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body the HTTP API reads (413 above it)."
    )
    max_queued_tasks: int = Field(1000, description="Queue backlog at which new tasks get 429; 0 = no limit.")
    retry_after_s: int = Field(
        5, description="Retry-After (seconds) sent with a 429 (a full queue, a live-viewer cap)."
    )
    max_active_sessions: int = Field(100, description="Active sessions allowed at once; 0 = no limit.")
    max_profiles_per_key: int = Field(
        100, ge=0, description="Profiles one scoped API key may hold (POST /profiles answers 402 past it); "
        "0 = no limit. Full-access keys are not limited."
    )
    session_idle_timeout_s: int = Field(1800, description="An idle session stops (and its state is dropped).")
    public_url: str | None = Field(
        None, description="External base URL of the API, for the links it hands out (live views, downloads, "
        "uploads, cdpUrl); unset = the request's own address, and for the CLI and Python clients the address "
        "the running `browserfleet api` announced in Redis (`up --api-port` included), else "
        "http://127.0.0.1:8000."
    )
    download_url_ttl_s: int = Field(900, description="How long a log/file download URL stays valid.")

    # -- live view -----------------------------------------------------------
    live_fps: float = Field(4.0, description="Most screencast frames per second sent to live viewers.")
    live_max_bytes_per_s: int = Field(
        400_000, description="Screencast bandwidth cap per task (JPEG bytes/s); frames over it are dropped."
    )
    live_jpeg_quality: int = Field(60, description="JPEG quality (1-100) of screencast frames.")
    live_max_width: int = Field(1024, description="Screencast frames are scaled down to at most this width.")
    live_max_height: int = Field(768, description="Screencast frames are scaled down to at most this height.")
    live_poll_s: float = Field(
        1.0,
        description="How often a running task's live view checks for a recent viewer beat (no Redis call).",
    )
    live_heartbeat_s: float = Field(
        2.0, description="A viewer's heartbeat; the screencast stops ~3 heartbeats after the last viewer."
    )
    public_share_ttl_s: int = Field(7 * 24 * 3600, description="How long a public share link stays valid.")
    live_max_viewers: int = Field(
        1000, ge=0, description="Live viewers (open event streams) one API process serves at once; one more "
        "gets 429 with Retry-After. 0 = no limit."
    )
    live_max_viewers_per_link: int = Field(
        500, ge=0,
        description="Live viewers of one link (a liveUrl or public share) per API process; 0 = no limit.",
    )
    live_max_viewers_per_client: int = Field(
        20, ge=0, description="Live viewers from one client address per API process (behind a reverse proxy, "
        "run the API with --proxy-headers so the address is the client's); 0 = no limit."
    )
    step_screenshots: bool = Field(
        True, description="Keep each step's screenshot (vision tasks) for the task viewer (~50-150 kB each)."
    )

    # -- fleet controls: webhooks, per-key quotas and budgets, LLM rate limits ----------
    webhook_url: str | None = Field(
        None, description="Fleet default webhook: every task status change (and `test` events) is "
        "POSTed here, signed like Browser Use Cloud's; a key's entry in `BROWSERFLEET_API_KEY_WEBHOOKS` "
        "overrides it."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Signing secret of the fleet default webhook (and of per-key webhooks "
        "that give none); required with `BROWSERFLEET_WEBHOOK_URL`."
    )
    api_key_webhooks: SecretStr | None = Field(
        None, description="Per-key webhooks (JSON): API key (raw or 'sha256:<hex>') -> "
        '`{"url": "https://...", "secret": "..."}` (`"url": null`: none for that key).'
    )
    webhook_queue: str = Field("webhooks", description="Celery queue of webhook deliveries.")
    webhook_concurrency: int = Field(
        4, ge=0, description="Deliveries at once in the webhook worker `browserfleet worker`/`up` start "
        "beside the agent worker when a webhook is configured; 0 = none (dedicated webhook workers only)."
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, description="One delivery attempt's timeout (connect to answer)."
    )
    webhook_backoff_s: float = Field(
        5.0, gt=0, description="Delay before a failed delivery's first retry; doubles per attempt."
    )
    webhook_max_backoff_s: float = Field(3600.0, gt=0, description="Longest delay between two attempts.")
    webhook_max_age_s: int = Field(
        86400, ge=1, description="How long an event is retried before it is dropped (logged as expired)."
    )
    webhook_log_size: int = Field(
        100, ge=1, description="Delivery attempts kept per key in its delivery log."
    )
    max_task_cost_usd: Dollars | None = Field(
        None, description="Default cap of one task's LLM cost in USD (per key in "
        "`BROWSERFLEET_API_KEY_LIMITS`); a task crossing it stops at its next step."
    )
    key_max_active_tasks: int = Field(
        0, ge=0, description="Default per API key: tasks queued or running at once (429 beyond); "
        "0 = no limit."
    )
    key_max_queued_tasks: int = Field(
        0, ge=0, description="Default per API key: tasks waiting to start (429 beyond); 0 = no limit."
    )
    key_daily_budget_usd: Dollars | None = Field(
        None, description="Default per API key: LLM spend allowed per UTC day (402 once spent)."
    )
    key_monthly_budget_usd: Dollars | None = Field(
        None, description="Default per API key: LLM spend allowed per UTC calendar month (402 once spent)."
    )
    api_key_limits: dict[str, KeyLimits] = Field(
        default_factory=dict, repr=False,
        description="Per-key overrides (JSON): API key (raw or 'sha256:<hex>') -> "
        '`{"maxActiveTasks", "maxQueuedTasks", "maxActiveSessions", "dailyBudgetUsd", "monthlyBudgetUsd", '
        '"maxTaskCostUsd"}`.'
    )
    llm_limits: dict[str, LlmLimit] = Field(
        default_factory=dict, description="Fleet-wide LLM rate limits (JSON), per model name as in the "
        '`llm` field (or a litellm id): `{"gpt-4.1": {"rpm": 60, "tpm": 200000}}`; enforced across every '
        "worker through Redis."
    )
    llm_limit_window_s: float = Field(
        60.0, gt=0, description="The window `rpm`/`tpm` count in (a minute; tests shrink it)."
    )
    llm_limit_max_wait_s: float = Field(
        120.0, ge=0, description="Longest a call waits for a rate-limit slot before its step fails."
    )

    @field_validator("api_key_limits", mode="before")
    @classmethod
    def _key_limits(cls, value: Any) -> Any:
        """Per-key limits, each entry checked here so that an error names the key's account,
        never the key (pydantic would put the raw key in the error's path)."""
        return per_key(value, KeyLimits, "limits")

    # -- browser sessions (/browsers), uploads ----------------------------------
    max_active_browsers: int = Field(
        20, description="Browser sessions (`POST /browsers`) active at once, per scoped key or fleet-wide "
        "for full-access keys; 0 = no limit."
    )
    cdp_relay_host: str = Field(
        "127.0.0.1", description="Address a worker's CDP relay listens on (the API connects to it to "
        "reach a browser session); 0.0.0.0 when the API runs on another machine."
    )
    cdp_relay_port: int = Field(0, description="Port of a worker's CDP relay; 0 = any free port.")
    cdp_relay_advertise: str | None = Field(
        None, description="Host name or address the API uses to reach a worker's CDP relay; unset = "
        "`cdp_relay_host` (the machine's host name when that is 0.0.0.0)."
    )
    browser_data_dir: str | None = Field(
        None, description="Where a worker keeps its browser sessions' profiles, downloads and uploads "
        "(each in its own directory, removed at the end); unset = the system's temp directory."
    )
    upload_url_ttl_s: int = Field(
        300, description="How long a presigned upload URL stays valid (single use)."
    )
    skill_execution_timeout_s: float = Field(
        120.0, description="Longest a direct skill execution (`POST /skills/{id}/execute`) may run; the "
        "request waits for it (and ends with the execution failed past it)."
    )

    @field_validator("api_key_op_vaults", "api_key_skills", mode="before")
    @classmethod
    def _key_bindings(cls, value: Any) -> Any:
        """A mapping of API keys to lists of ids. Checked here so that an error names the setting,
        never the key (pydantic would put a bad entry's key, a raw API key, in the error's path)."""
        if isinstance(value, str):
            try:
                value = json.loads(value or "{}")
            except ValueError:
                raise ValueError("must be a JSON object: API key -> list of ids") from None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v)
            for k, v in value.items()
        ):
            raise ValueError("must map each API key to a list of ids (strings)")
        return value

    @field_validator("api_keys", "scoped_api_keys", "allowed_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """Env values are comma-separated (a JSON list is accepted too)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return check_webhook_url(value) if value else None

    @model_validator(mode="after")
    def check_webhooks(self) -> Settings:
        """A webhook needs a secret; per-key entries must parse (errors never echo a secret)."""
        if self.webhook_url and not self.webhook_secret_value:
            raise ValueError("BROWSERFLEET_WEBHOOK_URL needs BROWSERFLEET_WEBHOOK_SECRET")
        for key, hook in self.key_webhooks.items():
            if hook.url and hook.secret is None and not self.webhook_secret_value:
                raise ValueError(f"BROWSERFLEET_API_KEY_WEBHOOKS: the entry of {key_label(key)} has a url "
                                 "but no secret, and BROWSERFLEET_WEBHOOK_SECRET is not set")
        return self

    @model_validator(mode="after")
    def check_redis_urls(self) -> Settings:
        """Every Redis URL parses (the error names its setting), before anything connects."""
        self.redis_target  # noqa: B018 (parsing is the check)
        if not self.amqp:
            self.broker_target  # noqa: B018
        if self.result_backend and is_sentinel_url(self.result_backend):
            self.backend_target  # noqa: B018
        return self

    @model_validator(mode="after")
    def check_budgets(self) -> Settings:
        chain = [
            ("step_timeout_s", self.step_timeout_s),
            ("task_budget_s", self.task_budget_s),
            ("soft_time_limit_s", self.soft_time_limit_s),
            ("hard_time_limit_s", self.hard_time_limit_s),
            ("consumer_timeout_s", float(self.consumer_timeout_s)) if self.amqp
            else ("visibility_timeout_s", float(self.visibility_timeout_s)),
        ]
        for (lo_name, lo), (hi_name, hi) in pairwise(chain):
            if lo > hi:
                raise ValueError(f"time budgets must nest: {lo_name}={lo} > {hi_name}={hi}")
        # The watchdog must outwait every bounded browser call, or it ends healthy slow runs.
        bounded = [("browser_setup_timeout_s", self.browser_setup_timeout_s),
                   ("2 x action_timeout_s (a navigation)", 2 * self.action_timeout_s),
                   ("2 x screenshot_timeout_s", 2 * self.screenshot_timeout_s)]
        for name, value in bounded:
            if value >= self.stall_timeout_s:
                raise ValueError(f"stall_timeout_s={self.stall_timeout_s:g} must exceed {name}={value:g}")
        return self

    @property
    def webhook_secret_value(self) -> str:
        return self.webhook_secret.get_secret_value() if self.webhook_secret else ""

    @property
    def key_webhooks(self) -> dict[str, KeyWebhook]:
        """``api_key_webhooks`` parsed (``ValueError`` naming the bad entry, never its secret)."""
        raw = self.api_key_webhooks.get_secret_value() if self.api_key_webhooks else ""
        if not raw.strip():
            return {}
        try:
            return per_key(raw, KeyWebhook, "{url, secret}")
        except ValueError as exc:
            raise ValueError(f"BROWSERFLEET_API_KEY_WEBHOOKS: {exc}") from None

    @property
    def webhooks_configured(self) -> bool:
        """Whether any task can have a webhook (the fleet default or a key's own)."""
        return bool(self.webhook_url) or any(h.url for h in self.key_webhooks.values())

    @property
    def spares(self) -> int:
        """Pre-opened contexts per worker: slots freed together (a batch, a burst) each find one."""
        if self.spare_contexts is not None:
            return self.spare_contexts
        return max(1, self.concurrency // 2)

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def amqp(self) -> bool:
        """RabbitMQ is the broker (Redis still holds records, steps, sessions and results)."""
        return is_amqp(self.broker)

    @property
    def backend(self) -> str:
        return self.result_backend or self.redis_url

    @property
    def wait_replicas(self) -> int:
        """Replicas a durable write waits for (``redis_wait_replicas``, or 1 behind Sentinel)."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_target.is_sentinel else 0

    @property
    def redis_target(self) -> RedisTarget:
        """The store's Redis (a direct URL or Sentinel's service), parsed."""
        return self._target(self.redis_url, "BROWSERFLEET_REDIS_URL")

    @property
    def broker_target(self) -> RedisTarget:
        """The broker's Redis (a Redis broker only: ``amqp`` says which)."""
        setting = "BROWSERFLEET_BROKER_URL" if self.broker_url else "BROWSERFLEET_REDIS_URL"
        return self._target(self.broker, setting)

    @property
    def backend_target(self) -> RedisTarget:
        return self._target(self.backend, "BROWSERFLEET_RESULT_BACKEND" if self.result_backend
                            else "BROWSERFLEET_REDIS_URL")

    def _target(self, url: str, setting: str) -> RedisTarget:
        password = self.redis_sentinel_password.get_secret_value() if self.redis_sentinel_password else None
        return parse_redis_url(url, master=self.redis_sentinel_master, sentinel_password=password,
                               setting=setting)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()


def markdown_table() -> str:
    """The configuration table of the README (``python -m shared.settings``)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, list | dict):
            default = json.dumps(default)
        cell = "—" if default is None else f"`{default}`"
        rows.append(f"| `BROWSERFLEET_{name.upper()}` | {cell} | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())


def key_label(entry: str) -> str:
    """How settings errors name a configured API key: its account (``key:<16 hex of its
    SHA-256>``, as ``shared.accounts`` names it), never any part of the key itself."""
    digest = entry.removeprefix("sha256:").strip().lower() if entry.startswith("sha256:") else (
        hashlib.sha256(entry.encode()).hexdigest())
    return f"key:{digest[:16]}"


def per_key(value: Any, model: type[M], what: str) -> dict[str, M]:
    """A JSON object (or dict) of API key -> ``model``, each entry checked so that an error names
    the key's account, never the key (pydantic would put the raw key in the error's path)."""
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            raise ValueError(f"not valid JSON (a JSON object: API key -> {what})") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object: API key -> {what}")
    checked = {}
    for key, entry in value.items():
        try:
            checked[str(key)] = model.model_validate(entry)
        except ValueError as exc:
            raise ValueError(f"the entry of {key_label(str(key))}: {_reasons(exc)}") from None
    return checked


def _reasons(exc: ValueError) -> str:
    """A validation error's messages without its input (which may hold a secret)."""
    return "; ".join(e["msg"] for e in getattr(exc, "errors", lambda: [])()) or "invalid"
