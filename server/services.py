"""The long-lived parts one app instance runs on, built from Settings at app creation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.access.cache import FactsCache
from domain.access.invalidation import INVALIDATE_CHANNEL
from domain.clock import Clock, SystemClock
from domain.context import Ctx
from domain.identity.passwords import Passwords
from domain.identity.sessions import AuthConfig
from domain.identity.tokens import TokenService
from persistence.db import UnitOfWork, create_engine, session_factory
from realtime.broker import Broker, InProcessBroker, RedisBroker
from realtime.outbox import Outbox
from realtime.shards import ShardedBroker
from server.integrations.media_store import LocalMediaStore
from server.integrations.stripe import StripeProvider, provider_for
from server.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from server.settings import Settings


@dataclass
class Services:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    auth: AuthConfig
    broker: Broker
    limiter: RateLimiter
    redis: Any | None
    access_cache: FactsCache = field(default_factory=FactsCache)
    # The ``stripe`` payment provider (domain/commerce/providers.py) when HUBWIRE_STRIPE_SECRET_KEY is set.
    stripe: StripeProvider | None = None
    # Set by the realtime lifespan: numbers each event per channel and keeps its history before
    # fanning it out, so a client that reconnects can resume even if nobody was subscribed.
    realtime_publish: Any = None
    # Events whose publish failed after commit (the broker away) wait here, in order, for the
    # relay job (server/jobs.py); realtime/outbox.py.
    outbox: Outbox = field(init=False)
    # Uploaded files (domain/content/media.py): local disk under the data directory, or an
    # S3-compatible store when HUBWIRE_MEDIA_S3_BUCKET is set.
    media: Any = field(init=False)
    media_max_bytes: int = field(init=False)
    _publisher: tuple[Any, Any] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.media = media_store(self.settings)
        self.media_max_bytes = self.settings.media_max_bytes
        # On SQLite (one instance) nobody else leaves rows: no periodic look at an idle table.
        self.outbox = Outbox(self.sessions, interval=None if self.settings.is_sqlite else 5.0)

    def uow(self) -> UnitOfWork:
        # Access invalidations are applied to this instance's cache before they are published,
        # so nothing here answers from stale facts once the change has committed; a publish that
        # fails goes to the outbox (no database write while the broker answers).
        publish = self.realtime_publish or self.broker.publish
        if self._publisher is None or self._publisher[0] != publish:
            self._publisher = (publish, self.access_cache.publisher(self.outbox.guard(publish)))
        return UnitOfWork(self.sessions, publisher=self._publisher[1])

    async def relay_publish(self, channel: str, payload: bytes) -> None:
        """How the outbox's relay publishes a kept event: numbered and stored like any other, and
        not twice if a relay that died mid-batch left it in the table."""
        if self.realtime_publish is not None:
            await self.realtime_publish(channel, payload, dedup=True)
        else:
            await self.broker.publish(channel, payload)

    def ctx(self, uow: UnitOfWork) -> Ctx:
        """The use cases' collaborators around ``uow`` (domain/context.py)."""
        return Ctx(uow, self.clock, self.access_cache, self.limiter)

    @asynccontextmanager
    async def context(self) -> AsyncIterator[Ctx]:
        """A unit of work and this process's collaborators, for work outside a request (the CLI,
        background jobs, sockets): committed when the block ends, rolled back on error."""
        async with self.uow() as uow:
            yield self.ctx(uow)

    async def start_access_cache(self) -> None:
        """Listen for changes made on other instances (call once the broker has started). After a
        broker outage every cached fact is dropped: invalidations sent meanwhile were missed. (This
        reconnect callback is registered before the gateway's, which re-checks sockets with fresh
        facts.)"""
        await self.broker.subscribe(INVALIDATE_CHANNEL, self.access_cache.on_message)
        self.broker.on_reconnect(self._forget_access_facts)
        self.broker.on_reconnect(self.outbox.on_reconnect)

    async def _forget_access_facts(self) -> None:
        self.access_cache.clear()

    async def stop_access_cache(self) -> None:
        await self.broker.unsubscribe(INVALIDATE_CHANNEL, self.access_cache.on_message)


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    tokens = TokenService(settings.secret_key, clock, timedelta(seconds=settings.access_token_ttl_seconds))
    auth = AuthConfig(
        tokens=tokens,
        passwords=Passwords(settings.password_hashing),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        refresh_reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
    )
    broker: Broker
    limiter: RateLimiter
    if settings.redis_url and settings.redis_shards:  # channels over several nodes (realtime/shards.py)
        sharded = ShardedBroker(list(settings.redis_shards), prefix=settings.redis_prefix, main_url=settings.redis_url)
        broker, redis = sharded, sharded.client
        limiter = RedisRateLimiter(redis, prefix=settings.redis_prefix + "rl:")
    elif settings.redis_url:
        redis_broker = RedisBroker(settings.redis_url, prefix=settings.redis_prefix)
        broker, redis = redis_broker, redis_broker.client
        limiter = RedisRateLimiter(redis, prefix=settings.redis_prefix + "rl:")
    else:
        broker, redis, limiter = InProcessBroker(), None, MemoryRateLimiter()
    return Services(settings, clock, engine, session_factory(engine), auth, broker, limiter, redis,
                    stripe=provider_for(settings))


def media_store(settings: Settings) -> Any:
    """The media store the settings name: S3-compatible when a bucket is set (needs the ``s3``
    extra: aiobotocore), else local disk."""
    if settings.media_s3_bucket:
        from server.integrations.s3_store import S3MediaStore  # noqa: PLC0415 (the optional ``s3`` extra)

        return S3MediaStore(settings.media_s3_bucket, endpoint_url=settings.media_s3_endpoint_url,
                            region=settings.media_s3_region, access_key_id=settings.media_s3_access_key_id,
                            secret_access_key=settings.media_s3_secret_access_key, prefix=settings.media_s3_prefix)
    return LocalMediaStore(settings.data_dir / "media")
