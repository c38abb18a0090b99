"""Routes: access (see shared/API.md)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
