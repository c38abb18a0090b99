"""Every background job of a server process, registered in one place.

- ``email_worker``: sends what the email outbox holds (``domain/email/worker.py``), woken by
  enqueues or every few seconds. Every web process runs it; ``hubwire worker`` runs it alone.
- ``community_scheduler``: publishes scheduled discussions at ``publish_at``
  (``domain/community/scheduler.py``), every ``HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL`` seconds
  (default 1). Every web process runs it; instances never publish one twice.
- ``provider_event_worker``: applies the payment-provider events the webhook routes stored
  (``domain/commerce/provider_event_worker.py``) with the handlers of
  ``domain/commerce/provider_event_handlers.py``, woken as each is stored or every few seconds.
  Every web process runs it, and ``hubwire worker`` too; each event is applied once.
- ``lapse_watcher``: at the second an entitlement's ``ends_at`` passes (a subscription canceled at
  period end, a past-due grace period over), invalidates that contact's access facts on every
  instance so live sockets re-check and lose channels with ``access_revoked``; ends ``manual`` /
  ``free`` subscriptions at their period end (``domain/commerce/lifecycle.py``). Every web process
  runs it, every second.
- ``realtime_outbox_relay``: publishes, in order, the live events whose publish failed after
  commit while the broker was away (``realtime/outbox.py``), as soon as the broker answers again;
  woken by the broker's reconnect, otherwise it looks every 5 s for rows another instance left.
  Every web process runs it; one relays at a time (row locks on PostgreSQL).

Each is a Litestar lifespan that builds the job from the process's ``Services``, keeps it in
``app.state`` under its name, starts it and stops it. ``create_app`` (server/app.py) places them
around the realtime gateway: ``BEFORE_GATEWAY`` starts after the services and before the gateway
(and stops after it), ``AFTER_GATEWAY`` starts once the gateway is up, so what it publishes is
numbered and kept in history, and stops first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar

from domain.commerce.lifecycle import LapseWatcher
from domain.commerce.provider_event_handlers import handlers
from domain.commerce.provider_event_worker import ProviderEventWorker
from domain.community.scheduler import PublishLoop
from domain.email.worker import EmailWorker
from server.deps import services_of
from server.mailer import transport_for
from server.services import Services


def email_worker_for(services: Services) -> EmailWorker:
    return EmailWorker(services.sessions, transport_for(services.settings), services.clock,
                       default_from=services.settings.mail_from, broker=services.broker)


def community_scheduler_for(services: Services) -> PublishLoop:
    return PublishLoop(services.context, interval=services.settings.community_scheduler_interval)


def provider_event_worker_for(services: Services) -> ProviderEventWorker:
    grace = timedelta(seconds=services.settings.past_due_grace_seconds)
    return ProviderEventWorker(services.uow, services.clock, services.access_cache, services.limiter,
                               handlers(grace), broker=services.broker)


def lapse_watcher_for(services: Services) -> LapseWatcher:
    return LapseWatcher(services.context, services.clock)


@asynccontextmanager
async def email_worker(app: Litestar) -> AsyncIterator[None]:
    worker = email_worker_for(services_of(app.state))
    app.state.email_worker = worker
    await worker.start()
    try:
        yield
    finally:
        await worker.stop()


@asynccontextmanager
async def community_scheduler(app: Litestar) -> AsyncIterator[None]:
    loop = community_scheduler_for(services_of(app.state))
    app.state.community_scheduler = loop
    loop.start()
    try:
        yield
    finally:
        await loop.stop()


@asynccontextmanager
async def provider_event_worker(app: Litestar) -> AsyncIterator[None]:
    worker = provider_event_worker_for(services_of(app.state))
    app.state.provider_event_worker = worker
    await worker.start()
    try:
        yield
    finally:
        await worker.stop()


@asynccontextmanager
async def lapse_watcher(app: Litestar) -> AsyncIterator[None]:
    watcher = lapse_watcher_for(services_of(app.state))
    app.state.lapse_watcher = watcher
    watcher.start()
    try:
        yield
    finally:
        await watcher.stop()


@asynccontextmanager
async def realtime_outbox_relay(app: Litestar) -> AsyncIterator[None]:
    svc = services_of(app.state)
    task = asyncio.create_task(svc.outbox.run(svc.relay_publish, svc.broker.ping), name="hubwire-outbox-relay")
    app.state.realtime_outbox_relay = task
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


BEFORE_GATEWAY: list[Any] = [email_worker]
# After the gateway: what the provider-event handlers publish (order.paid, ...) is numbered and kept.
# The relay too: what it publishes is numbered and kept like any event.
AFTER_GATEWAY: list[Any] = [realtime_outbox_relay, community_scheduler, provider_event_worker, lapse_watcher]
