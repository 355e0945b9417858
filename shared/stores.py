"""Every store of one process over one Redis client: the only way code outside ``shared`` reaches Redis.

The producer, the HTTP API and each worker process make one :class:`Stores` and take the
store that owns what they read or write (tasks, sessions, profiles, live links, ...). The
client itself stays private, so what is stored where is decided in ``shared`` alone. The HTTP
API's event loop gets its asyncio stores from here too (:meth:`Stores.for_event_loop`): every
Redis client any process opens is built in this module.
"""

from __future__ import annotations

from functools import cached_property

from shared.api_address import ApiAddress
from shared.broker_leftovers import BrokerLeftovers
from shared.browser_store import BrowserStore
from shared.consumers import ConsumerRegistry
from shared.control import ControlSignals
from shared.custom_proxies import CustomProxies
from shared.download_tokens import DownloadTokens
from shared.lease_store import LeaseStore
from shared.live_feed import LiveFeed
from shared.live_frames import LiveFrames
from shared.live_links import LiveLinks
from shared.llm_limits import LlmLimitStore
from shared.profile_store import ProfileStore
from shared.purge_traces import Traces
from shared.redis_client import Replicas, connect, connect_async
from shared.session_store import SessionStore
from shared.settings import Settings
from shared.skill_executions import SkillExecutions
from shared.skill_manifests import SkillManifests
from shared.spend import SpendStore
from shared.task_queue import TaskQueue
from shared.task_store import AsyncStatusReader, TaskStore
from shared.upload_store import UploadStore
from shared.webhook_store import WebhookStore


class Stores:
    """Created lazily, shared by threads (redis-py clients are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._redis = connect(settings.redis_target)
        self._replicas = Replicas(settings.wait_replicas, settings.redis_wait_timeout_ms)

    @cached_property
    def tasks(self) -> TaskStore:
        return TaskStore(self._redis, self.settings.record_ttl_s, self._replicas)

    @cached_property
    def task_queue(self) -> TaskQueue:
        """New tasks into Redis (records, sessions, indexes, Celery messages on ``settings.queue``)."""
        return TaskQueue(self._redis, self.settings.queue, self.settings.record_ttl_s, self._replicas)

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self._redis, self.settings.record_ttl_s, self.settings.session_idle_timeout_s)

    @cached_property
    def profiles(self) -> ProfileStore:
        return ProfileStore(self._redis, self.settings.max_profiles_per_key)

    @cached_property
    def live(self) -> LiveLinks:
        return LiveLinks(self._redis, self.settings.record_ttl_s)

    @cached_property
    def frames(self) -> LiveFrames:
        return LiveFrames(self._redis)

    @cached_property
    def consumers(self) -> ConsumerRegistry:
        return ConsumerRegistry(self._redis)

    @cached_property
    def skills(self) -> SkillManifests:
        return SkillManifests(self._redis)

    @cached_property
    def downloads(self) -> DownloadTokens:
        return DownloadTokens(self._redis)

    @cached_property
    def control(self) -> ControlSignals:
        """This process's subscriber to the signals of the tasks it runs (workers only)."""
        return ControlSignals(self._redis)

    @cached_property
    def leases(self) -> LeaseStore:
        return LeaseStore(self._redis, int(self.settings.lease_ttl_s * 1000), self.settings.record_ttl_s,
                          self._replicas)

    @cached_property
    def spend(self) -> SpendStore:
        """Accounts' LLM spend per day and month (budgets), and their active/queued task counts."""
        return SpendStore(self._redis)

    @cached_property
    def webhooks(self) -> WebhookStore:
        """Webhook outboxes, due times, flush locks and per-account delivery logs."""
        return WebhookStore(self._redis, self.settings.record_ttl_s, self.settings.webhook_log_size)

    @cached_property
    def llm_limits(self) -> LlmLimitStore:
        """The fleet-wide LLM rate-limit buckets."""
        return LlmLimitStore(self._redis)

    @cached_property
    def browsers(self) -> BrowserStore:
        return BrowserStore(self._redis, self.settings.record_ttl_s)

    @cached_property
    def uploads(self) -> UploadStore:
        return UploadStore(self._redis, self.settings.record_ttl_s)

    @cached_property
    def custom_proxies(self) -> CustomProxies:
        return CustomProxies(self._redis, self.settings.record_ttl_s)

    @cached_property
    def traces(self) -> Traces:
        return Traces(self._redis)

    @cached_property
    def skill_executions(self) -> SkillExecutions:
        return SkillExecutions(self._redis, self.settings.record_ttl_s)

    @cached_property
    def api_address(self) -> ApiAddress:
        """Where the running HTTP API answers (what ``browserfleet api`` announced)."""
        return ApiAddress(self._redis)

    @cached_property
    def broker_leftovers(self) -> BrokerLeftovers | None:
        """Kombu's unacked store in the broker's Redis; ``None`` with RabbitMQ as the broker."""
        if self.settings.amqp:
            return None
        return BrokerLeftovers(connect(self.settings.broker_target))

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def for_event_loop(self) -> AsyncStores:
        """The asyncio stores of one event loop (the HTTP API app's), over a client of their own:
        an asyncio client's connections belong to the loop that opened them."""
        return AsyncStores(self.settings)


class AsyncStores:
    """The stores an event loop reads without a thread hop (the status poll, the live feed)."""

    def __init__(self, settings: Settings) -> None:
        self._redis = connect_async(settings.redis_target)

    @cached_property
    def task_status(self) -> AsyncStatusReader:
        return AsyncStatusReader(self._redis)

    def live_feed(self) -> LiveFeed:
        """A new feed: its own pub/sub connection over this loop's client (close it when done)."""
        return LiveFeed(self._redis)

    async def aclose(self) -> None:
        await self._redis.aclose()
