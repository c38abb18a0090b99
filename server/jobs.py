"""Every background job of a server process, registered in one place.

- ``email_worker``: sends what the email outbox holds (``domain/email/worker.py``), woken by
  enqueues or every few seconds. Every web process runs it; ``hubwire worker`` runs it alone.
- ``community_scheduler``: publishes scheduled discussions at ``publish_at``
  (``domain/community/scheduler.py``): it sleeps until the next one is due, woken when one is
  scheduled, and looks at least every ``HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL`` seconds (default
  60). Every web process runs it; instances never publish one twice.
  Both it and the lapse watcher try a failed pass again after 5 s, then 10, 20... up to their
  interval while it keeps failing.
- ``provider_event_worker``: applies the payment-provider events the webhook routes stored
  (``domain/commerce/provider_event_worker.py``) with the handlers of
  ``domain/commerce/provider_event_handlers.py``, woken as each is stored or every few seconds.
  Every web process runs it, and ``hubwire worker`` too; each event is applied once.
- ``lapse_watcher``: at the second an entitlement's ``ends_at`` passes (a subscription canceled at
  period end, a past-due grace period over), invalidates that contact's access facts on every
  instance so live sockets re-check and lose channels with ``access_revoked``; ends ``manual`` /
  ``free`` subscriptions at their period end (``domain/commerce/lifecycle.py``). Every web process
  runs it: at the next end to come, woken by access changes and by a local cancel at period end,
  and at least every minute.
- ``realtime_outbox_relay``: publishes, in order, the live events whose publish failed after
  commit while the broker was away (``realtime/outbox.py``), as soon as the broker answers again;
  woken by the broker's reconnect, otherwise it looks every 5 s for rows another instance left.
  Every web process runs it; one relays at a time (row locks on PostgreSQL).

Each is a Litestar lifespan made by ``_background(name, factory)``: it builds the job from the
process's ``Services``, keeps it in ``app.state`` under its name, starts it and, at shutdown, stops
it within ``STOP_TIMEOUT`` seconds (``stop_bounded``): a job's stop never holds shutdown forever.
``create_app`` (server/app.py) places them around the realtime gateway: ``BEFORE_GATEWAY`` starts
after the services and before the gateway (and stops after it), ``AFTER_GATEWAY`` starts once the
gateway is up, so what it publishes is numbered and kept in history, and stops first.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any, Protocol

from litestar import Litestar

from domain.commerce.lifecycle import LapseWatcher
from domain.commerce.provider_event_handlers import handlers
from domain.commerce.provider_event_worker import ProviderEventWorker
from domain.community.scheduler import PublishLoop
from domain.email.worker import EmailWorker
from domain.polling import TaskJob
from server.deps import services_of
from server.mailer import transport_for
from server.services import Services

log = logging.getLogger("hubwire.jobs")

# How long shutdown waits for one job's stop(). The workers let the message or event in flight
# finish for up to 10 s (their ``grace``), then cancel it; this leaves them that and a margin.
# Why a bound at all: Litestar runs the lifespans' exits one after another, the services' last
# (engine.dispose, broker.stop). A stop that never returned (a cancelled task that does not end, an
# unsubscribe on a Redis connection that never answers) would keep the engine and the broker open
# and hold the process, or a test client's teardown, forever. Jobs stop before the services close,
# so a job never works on a disposed engine or a closed broker unless it overran this bound.
STOP_TIMEOUT = 15.0


class Job(Protocol):
    """A background job: ``start`` (plain or async: the jobs differ) and an async ``stop``."""

    def start(self) -> Awaitable[None] | None: ...

    async def stop(self) -> None: ...


def email_worker_for(services: Services) -> EmailWorker:
    return EmailWorker(services.sessions, transport_for(services.settings), services.clock,
                       default_from=services.settings.mail_from, broker=services.broker)


def community_scheduler_for(services: Services) -> PublishLoop:
    return PublishLoop(services.context, interval=services.settings.community_scheduler_interval,
                       broker=services.broker)


def provider_event_worker_for(services: Services) -> ProviderEventWorker:
    grace = timedelta(seconds=services.settings.past_due_grace_seconds)
    return ProviderEventWorker(services.uow, services.clock, services.access_cache, services.limiter,
                               handlers(grace), broker=services.broker)


def lapse_watcher_for(services: Services) -> LapseWatcher:
    return LapseWatcher(services.context, services.clock, broker=services.broker)


def realtime_outbox_relay_for(services: Services) -> TaskJob:
    return TaskJob("hubwire-outbox-relay",
                   lambda: services.outbox.run(services.relay_publish, services.broker.ping))


async def stop_bounded(name: str, job: Job, timeout: float = STOP_TIMEOUT) -> None:
    """``job.stop()``, waited for at most ``timeout`` seconds. Past that the stop is cancelled and
    left with one ERROR line: shutdown goes on to close the engine and the broker, so the process
    (or a test client's teardown) ends instead of waiting forever."""
    stopping = asyncio.ensure_future(job.stop())
    # asyncio.wait, not wait_for: wait_for waits again, without bound, for a cancelled stop to end.
    done, _ = await asyncio.wait({stopping}, timeout=timeout)
    if done:
        stopping.result()  # a stop that failed says so
        return
    stopping.cancel()
    log.error("background job %s did not stop within %g s; left behind at shutdown", name, timeout)


def _background(name: str, factory: Callable[[Services], Job], *,
                stop_timeout: float = STOP_TIMEOUT) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The lifespan of one job: ``factory(services)`` kept as ``app.state.<name>``, started, and
    stopped (within ``stop_timeout`` seconds) at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        job = factory(services_of(app.state))
        setattr(app.state, name, job)
        started = job.start()
        if inspect.isawaitable(started):
            await started
        try:
            yield
        finally:
            await stop_bounded(name, job, stop_timeout)

    lifespan.__name__ = lifespan.__qualname__ = name
    return lifespan


email_worker = _background("email_worker", email_worker_for)
community_scheduler = _background("community_scheduler", community_scheduler_for)
provider_event_worker = _background("provider_event_worker", provider_event_worker_for)
lapse_watcher = _background("lapse_watcher", lapse_watcher_for)
realtime_outbox_relay = _background("realtime_outbox_relay", realtime_outbox_relay_for)

BEFORE_GATEWAY: list[Any] = [email_worker]
# After the gateway: what the provider-event handlers publish (order.paid, ...) is numbered and kept.
# The relay too: what it publishes is numbered and kept like any event.
AFTER_GATEWAY: list[Any] = [realtime_outbox_relay, community_scheduler, provider_event_worker, lapse_watcher]
