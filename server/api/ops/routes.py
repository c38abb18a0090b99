"""Operational endpoints: liveness, readiness and the Prometheus metrics (server/metrics.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get
from litestar.datastructures import State

from server import metrics as prom
from server.api.ops.schemas import Health, Readiness
from server.deps import services_of
from server.errors import error_response


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


@get("/metrics", tags=["operations"], summary="Prometheus metrics (Bearer HUBWIRE_METRICS_TOKEN)")
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """The Prometheus text format, to ``Authorization: Bearer $HUBWIRE_METRICS_TOKEN`` only; 404
    while no token is configured (the default: metrics are not public)."""
    svc = services_of(state)
    expected = svc.settings.metrics_token
    if not expected:
        return error_response(request, 404, "not_found", "Not found")
    if not prom.token_matches(expected, request.headers.get("authorization")):
        return error_response(request, 401, "unauthenticated", "Unauthenticated",
                              "Send `Authorization: Bearer <HUBWIRE_METRICS_TOKEN>`.",
                              headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, media_type = await prom.render(svc)
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-store"})


ROUTES: list[Any] = [health, ready, metrics]
