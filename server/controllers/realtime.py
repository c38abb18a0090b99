"""Routes: realtime gateway (see shared/DESIGN.md, "Realtime contract")."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
# Lifespan context managers (called with the app) that start/stop the gateway's background work.
LIFESPANS: list[Any] = []
