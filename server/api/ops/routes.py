"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from litestar import Response, get
from litestar.datastructures import State

from server.api.ops.schemas import Health, Readiness
from server.deps import services_of


@get("/health", tags=["operations"], security=[], summary="Process is up")
async def health() -> Health:
    return Health(status="ok")


@get("/ready", tags=["operations"], security=[], summary="Database and (when configured) Redis reachable")
async def ready(state: State) -> Response[Readiness]:
    svc = services_of(state)
    checks: dict[str, str] = {}

    async def db() -> None:
        async with svc.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def check(name: str, probe: Any) -> None:
        try:
            await asyncio.wait_for(probe(), timeout=2.0)
            checks[name] = "ok"
        except Exception:
            checks[name] = "unavailable"

    await check("database", db)
    if svc.redis is not None:
        await check("redis", svc.redis.ping)
    ok = all(v == "ok" for v in checks.values())
    return Response(Readiness(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)


ROUTES: list[Any] = [health, ready]
