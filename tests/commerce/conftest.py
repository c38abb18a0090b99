"""Fixtures of the commerce tests.

- ``standin``: the Stripe stand-in (tests/support/stripe_standin.py), one process for the run.
- ``provider``: our Stripe wrapper (server/integrations/stripe.py) pointed at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.integrations.stripe import StripeProvider
from tests.support.payments import SECRET_KEY, StripeStandin


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
