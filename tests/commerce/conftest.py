"""Fixtures of the commerce tests.

- ``standin``: the Stripe stand-in (tests/support/stripe_standin.py), one process for the run.
- ``provider``: our Stripe wrapper (server/integrations/stripe.py) pointed at it.
- ``webhook_app`` / ``webhook_client``: an app with a webhook secret, on a database of its own.
  Its provider-event worker is stopped, so a test sees what the route alone did; tests that want
  events applied run a pass of a worker of their own.
- ``sessions`` / ``frozen``: the worker tests' database (emptied of events for each test) and clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.clock import FrozenClock, OffsetClock
from persistence.db import create_engine, session_factory
from persistence.models import BillingAuditEntry, PaymentWebhookEvent
from server.app import create_app
from server.integrations.stripe import StripeProvider
from tests.support.app import in_app
from tests.support.backends import make_settings
from tests.support.mailbox import migrated_database
from tests.support.payments import SECRET_KEY, WEBHOOK_SECRET, StripeStandin


@pytest.fixture(scope="session")
def standin(tmp_root: Path) -> Iterator[StripeStandin]:
    process = StripeStandin(tmp_root / "stripe-standin.log")
    yield process
    process.stop()


@pytest.fixture
async def provider(standin: StripeStandin) -> AsyncIterator[StripeProvider]:
    stripe = StripeProvider(SECRET_KEY, api_base=standin.base, timeout=5)
    yield stripe
    await stripe.aclose()


@pytest.fixture(scope="session")
async def webhook_database_url(databases: Any) -> str:
    return await migrated_database(databases, "webhooks")


@pytest.fixture(scope="session")
def webhook_clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(scope="session")
def webhook_app(tmp_root: Path, webhook_database_url: str, redis_prefix: str, webhook_clock: OffsetClock) -> Litestar:
    settings = make_settings(tmp_root / "webhook-data", webhook_database_url, redis_prefix + "webhooks:",
                             HUBWIRE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return create_app(settings, clock=webhook_clock)


@pytest.fixture(scope="session")
async def webhook_client(webhook_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(webhook_app, base_url="http://testserver.local") as c:
        in_app(c, webhook_app.state.provider_event_worker.stop)
        yield c


@pytest.fixture(scope="session")
async def provider_events_url(databases: Any) -> str:
    return await migrated_database(databases, "provider_events")


@pytest.fixture(scope="session")
async def provider_events_db(provider_events_url: str) -> AsyncIterator[Any]:
    """A database of its own for the worker tests: no running app's worker polls it, so every pass
    is the test's (sessions of its own engine, on the test's loop)."""
    engine = create_engine(provider_events_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def sessions(provider_events_db: Any) -> Any:
    """The worker tests' sessions, every test starting with no events and no audit entries."""
    async with provider_events_db() as s, s.begin():
        await s.execute(sa.delete(PaymentWebhookEvent))
        await s.execute(sa.delete(BillingAuditEntry))
    return provider_events_db


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def shop(client: Any) -> Any:
    """A fresh staff user's team with a hub (tests/support/catalog.py), in the shared test app."""
    from tests.support.catalog import open_shop

    return await open_shop(client)


@pytest.fixture(scope="session")
async def stripe_database_url(databases: Any) -> str:
    return await migrated_database(databases, "stripe_checkout")


@pytest.fixture(scope="session")
def stripe_app(tmp_root: Path, stripe_database_url: str, redis_prefix: str, standin: StripeStandin,
               clock: OffsetClock) -> Litestar:
    """An app whose ``stripe`` provider talks to the stand-in (checkout, refunds), on a database of
    its own; its provider-event worker runs as in production."""
    settings = make_settings(tmp_root / "stripe-data", stripe_database_url, redis_prefix + "stripe:",
                             HUBWIRE_STRIPE_SECRET_KEY=SECRET_KEY, HUBWIRE_STRIPE_API_BASE=standin.base,
                             HUBWIRE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return create_app(settings, clock=clock)


@pytest.fixture(scope="session")
async def stripe_client(stripe_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(stripe_app, base_url="http://testserver.local") as c:
        yield c
