"""Fixtures of the catalog tests: ``shop``, a fresh staff user's team with a hub (its helpers in
tests/support/catalog.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.catalog import Shop, open_shop


@pytest.fixture
async def shop(client: Any) -> Shop:
    return await open_shop(client)
