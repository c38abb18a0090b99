"""Fixtures of the content tests: ``studio``, a fresh staff user's team with a hub (its helpers in
tests/support/content.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.content import Studio, open_studio


@pytest.fixture
async def studio(client: Any) -> Studio:
    return await open_studio(client)
