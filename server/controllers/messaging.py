"""Routes: messaging (see shared/API.md, Community)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
