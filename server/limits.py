"""Request limits of the REST API (docs/deploy.md#limits): rate limits per credential and per IP,
and the request body size by route kind.

Rate limits. Every request under ``/api/`` (except the payment provider's webhooks, which are
signed and retried by the provider) counts against two fixed windows of
``HUBWIRE_RATE_LIMIT_WINDOW`` seconds: one per credential (the bearer token or API key it sends,
hashed: ``HUBWIRE_RATE_LIMIT_PER_KEY``) and one per client address (``HUBWIRE_RATE_LIMIT_PER_IP``,
the address as ``server/net.py`` sees it behind trusted proxies); 0 turns one off. The counts live
where the other limits do (``server/ratelimit.py``: Redis when configured, shared by every
instance; in-process otherwise). Responses carry the IETF draft's headers
(draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Policy`` names both policies, ``RateLimit`` the
one closest to its end with what remains (``r``) and the seconds until its window resets (``t``).
Past a limit: 429 ``rate_limited`` with ``Retry-After``. If Redis cannot answer, requests are let
through (logged once per request): a limiter outage does not take the API down.

Body size. ``HUBWIRE_MAX_JSON_BODY`` bytes for every route, ``HUBWIRE_MAX_UPLOAD_BODY`` for a
route that declares ``opt={"body": "upload"}`` (the file upload, ``POST T/files``); a larger body
answers 413 ``payload_too_large`` before it is read whole (Litestar's ``request_max_body_size``:
the announced Content-Length, then the bytes as they stream in). The upload limit is never below
the largest file (``HUBWIRE_MEDIA_MAX_BYTES``, which the upload counts itself: 413
``file_too_large``) plus the form's envelope (server/settings.py ``UPLOAD_ENVELOPE_BYTES``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import msgspec
import redis.exceptions
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from server.errors import ERROR_MEDIA_TYPE, request_id
from server.jsonapi import ErrorDocument, ErrorObject
from server.net import client_ip
from server.ratelimit import RateLimiter
from server.settings import Settings

log = logging.getLogger("hubwire.limits")

EXEMPT_PREFIXES = ("/api/v1/webhooks/",)


def rate_limits(app: ASGIApp, settings: Settings, limiter: RateLimiter) -> ASGIApp:
    """The ASGI layer counting REST API requests (see the module's docstring)."""
    window = settings.rate_limit_window_seconds
    per_key, per_ip = settings.rate_limit_per_key, settings.rate_limit_per_ip
    if not per_key and not per_ip:
        return app
    policy = ", ".join(f'"{name}";q={limit};w={window}'
                       for name, limit in (("per-key", per_key), ("per-ip", per_ip)) if limit)

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(EXEMPT_PREFIXES) \
                or scope.get("method") == "OPTIONS":
            await app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope)
        checks: list[tuple[str, str, int]] = []
        token = _bearer(request.headers.get("authorization"))
        if per_key and token:
            digest = hashlib.sha256(token.encode()).hexdigest()[:32]
            checks.append(("per-key", f"api:key:{digest}", per_key))
        if per_ip:
            checks.append(("per-ip", f"api:ip:{client_ip(request, settings)}", per_ip))
        tightest: tuple[str, int, int] | None = None  # (policy, remaining, reset)
        refused: int | None = None
        try:
            verdicts = await limiter.hit_many([(key, limit, window) for _name, key, limit in checks]) if checks else []
            for (name, _key, limit), verdict in zip(checks, verdicts, strict=True):
                remaining = max(0, limit - verdict.count)
                if not verdict.allowed:
                    refused = max(refused or 0, verdict.retry_after)
                if tightest is None or remaining < tightest[1]:
                    tightest = (name, remaining, verdict.retry_after)
        except (redis.exceptions.RedisError, OSError) as exc:  # the limiter's Redis is away: let it through
            log.warning("rate limiter unavailable (%s: %s); not limiting", type(exc).__name__, exc)
            await app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = [(b"ratelimit-policy", policy.encode())]
        if tightest is not None:
            name, remaining, reset = tightest
            headers.append((b"ratelimit", f'"{name}";r={remaining};t={reset}'.encode()))
        if refused is not None:
            await _too_many(scope, send, headers, refused)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await app(scope, receive, send_with_headers)

    return handle


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def _too_many(scope: Scope, send: Send, headers: list[tuple[bytes, bytes]], retry_after: int) -> None:
    err = ErrorObject(status="429", code="rate_limited", title="Too many requests",
                      detail=f"Too many requests; try again in {retry_after} s.",
                      meta={"request_id": request_id(scope), "retry_after": retry_after})
    body = msgspec.json.encode(ErrorDocument(errors=[err]))
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", ERROR_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def apply_body_limits(app: Litestar, settings: Settings) -> None:
    """``HUBWIRE_MAX_UPLOAD_BODY`` on the routes that declare ``opt={"body": "upload"}`` (the app's
    own ``request_max_body_size`` is the JSON limit)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.opt.get("body") == "upload":
                handler.request_max_body_size = settings.max_upload_body_bytes
                handler._resolved_request_max_body_size = settings.max_upload_body_bytes
