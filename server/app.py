"""The app factory: settings are read here, once, and everything is wired in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from domain.clock import Clock
from domain.errors import UnsupportedMediaType
from persistence import migrate
from server import jobs, metrics
from server import logs as request_logs
from server.api.access import routes as access
from server.api.catalog import routes as catalog
from server.api.commerce import routes as commerce
from server.api.commerce import subscriptions as commerce_subscriptions
from server.api.community import routes as community
from server.api.content import routes as content
from server.api.crm import routes as crm
from server.api.hubs import routes as hubs
from server.api.identity import routes as identity
from server.api.members import routes as members
from server.api.ops import routes as ops
from server.api.realtime import routes as realtime
from server.api.teams import routes as teams
from server.api.webhooks import routes as webhooks
from server.deps import DEPENDENCIES, GUEST_ACCESS, MEMBER_ACCESS
from server.errors import EXCEPTION_HANDLERS, edge
from server.jsonapi import ACCEPTED_BODY_TYPES, validate_body
from server.limits import apply_body_limits, rate_limits
from server.openapi import fix_openapi
from server.paths import HUB_PATH, TEAM_PATH, WEBHOOKS_PATH
from server.services import Services, build_services
from server.settings import Settings
from server.web import routes as web
from server.web.assets import load_assets
from server.web.logs import redact_tokens_in_access_log

log = logging.getLogger("hubwire")

ROUTE_HANDLERS: list[Any] = [
    *ops.ROUTES, *identity.ROUTES, *teams.ROUTES, *crm.ROUTES, *hubs.ROUTES, *members.ROUTES, *access.ROUTES,
    *realtime.ROUTES, *community.ROUTES, *content.ROUTES, *catalog.ROUTES, *commerce.ROUTES,
    *commerce_subscriptions.ROUTES, *webhooks.ROUTES, *web.ROUTES,
]


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """415 for a body that is not JSON on a route that reads one; 400/422 with an exact JSON
    pointer for a body that does not fit the route's type (Litestar's own message loses the path)."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    param = request.route_handler.parsed_fn_signature.parameters.get("data")
    if param is None:
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body and not content_type:
        return  # no body at all: the handler's own validation answers
    if content_type not in ACCEPTED_BODY_TYPES:
        raise UnsupportedMediaType(
            f"Send the body as application/vnd.api+json (or application/json), not `{content_type or 'nothing'}`.",
            meta={"accepted": sorted(ACCEPTED_BODY_TYPES)},
        )
    validate_body(body, param.annotation)




def _http_handlers_under(app: Litestar, prefix: str) -> Iterator[tuple[str, HTTPRouteHandler]]:
    """(path, handler) for every HTTP handler under ``prefix``, except Litestar's own OPTIONS."""
    for route in app.routes:
        if not route.path.startswith(prefix):
            continue
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.http_methods != {"OPTIONS"}:
                yield route.path, handler


def check_member_routes(app: Litestar) -> None:
    """Refuse to start if a member route (``H/...``) could skip the member check: each must take
    the ``member`` dependency (a member token for this hub, then the access evaluator) and declare
    what it checks, ``opt={"access": <action>}`` on the hub or ``opt={"access": "self"}``. A route
    a guest may call too (checkout) declares ``opt={"access": "guest"}`` and takes
    ``optional_member`` (None for a guest, else the member as ``self`` checks them)."""
    for path, handler in _http_handlers_under(app, HUB_PATH):
        if handler.opt.get("access") == GUEST_ACCESS:
            if "optional_member" not in handler.parsed_fn_signature.parameters:
                raise RuntimeError(f"guest route {path} ({handler.handler_name}) does not take `optional_member`")
            continue
        if "member" not in handler.parsed_fn_signature.parameters:
            raise RuntimeError(f"member route {path} ({handler.handler_name}) does not take `member`")
        if handler.opt.get("access") not in MEMBER_ACCESS:
            raise RuntimeError(f"member route {path} ({handler.handler_name}) declares no access "
                               f"(opt={{'access': one of {sorted(MEMBER_ACCESS)}}})")


def check_team_routes(app: Litestar) -> None:
    """Refuse to start if a team route could skip the team check: each must declare a scope and
    take the ``team`` dependency, which answers 404 for other teams and 403 for missing rights."""
    for path, handler in _http_handlers_under(app, TEAM_PATH):
        if not handler.opt.get("scope"):
            raise RuntimeError(f"team route {path} ({handler.handler_name}) declares no scope")
        if "team" not in handler.parsed_fn_signature.parameters:
            raise RuntimeError(f"team route {path} ({handler.handler_name}) does not take the `team` dependency")


def check_webhook_routes(app: Litestar) -> None:
    """Refuse to start if a webhook route (``/api/v1/webhooks/...``) does not say how it
    authenticates its caller: neither a staff token nor a member token reaches it, so each declares
    ``opt={"auth": <kind>}`` (``stripe_signature``: the provider's signature on the raw body) and
    checks it itself."""
    for path, handler in _http_handlers_under(app, WEBHOOKS_PATH):
        if handler.opt.get("auth") not in webhooks.WEBHOOK_AUTH:
            raise RuntimeError(f"webhook route {path} ({handler.handler_name}) declares no authentication "
                               f"(opt={{'auth': one of {sorted(webhooks.WEBHOOK_AUTH)}}})")


def check_page_routes(app: Litestar) -> None:
    """Refuse to start if a page could be served without saying what it is: every HTTP route
    outside the API (``/api/``, ``/schema``) and the ops probes is a page of the web app, and must
    declare its kind (``opt={"page": <kind>}``), stay out of the OpenAPI document, and carry the
    web app's security headers (the Content-Security-Policy above all: server/web/routes.py)."""
    probes = {path for handler in ops.ROUTES for path in handler.paths}
    for route in app.routes:
        if route.path.startswith(("/api/", "/schema")) or route.path in probes:
            continue
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or handler.http_methods == {"OPTIONS"}:
                continue
            name = f"page route {route.path} ({handler.handler_name})"
            if handler.opt.get("page") not in web.PAGE_KINDS:
                raise RuntimeError(f"{name} declares no kind (opt={{'page': one of {sorted(web.PAGE_KINDS)}}})")
            if handler.resolve_include_in_schema():
                raise RuntimeError(f"{name} is in the OpenAPI document: pages are not API routes")
            headers = {h.name.lower() for h in handler.resolve_response_headers()}
            missing = {h.name.lower() for h in web.SECURITY_HEADERS} - headers
            if missing:
                raise RuntimeError(f"{name} lacks the web app's headers {sorted(missing)}: register it in server.web.routes.WEB")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    services = build_services(settings, clock)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        if settings.auto_migrate:
            await migrate.upgrade(services.engine)
        await services.broker.start()
        await services.start_access_cache()
        try:
            yield
        finally:
            if services.stripe is not None:
                await services.stripe.aclose()
            if hasattr(services.media, "aclose"):
                await services.media.aclose()
            await services.stop_access_cache()
            await services.broker.stop()
            await services.engine.dispose()

    app = Litestar(
        route_handlers=ROUTE_HANDLERS,
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=check_json_body,
        # Started in this order, stopped in reverse: the services, the email worker, the realtime
        # gateway, then the community scheduler, so what it publishes is numbered and kept in
        # history (server/jobs.py).
        lifespan=[lifespan, *jobs.BEFORE_GATEWAY, *realtime.LIFESPANS, *jobs.AFTER_GATEWAY,
                  metrics.metrics_lifespan],
        state=State({"services": services, "assets": load_assets()}),
        template_config=web.TEMPLATES,
        openapi_config=OpenAPIConfig(
            title="Hubwire API",
            version="1",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer",
                                         description="A staff access token, a team API key (hw_sk_...), or a member token."),
            }),
            security=[{"bearer": []}],
        ),
        cors_config=CORSConfig(allow_origins=[], allow_headers=["Authorization", "Content-Type", "X-Request-ID"]),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            # JSON lines or human-readable ones, secrets redacted (server/logs.py)
            formatters={"standard": request_logs.formatter_config(settings.log_format)},
            log_exceptions="never",  # server.errors logs unexpected ones once, with the request id
        ),
        request_max_body_size=settings.max_json_body_bytes,  # uploads: server/limits.py
        debug=False,
    )
    # X-Request-ID on HTTP responses, the raw send for WebSocket frames (server/errors.py), one
    # log line and the metrics per request; inside it, the REST API's rate limits (server/limits.py)
    app.asgi_handler = edge(rate_limits(app.asgi_handler, settings, services.limiter),
                            observers=(observe_response,))
    apply_body_limits(app, settings)
    check_team_routes(app)
    check_member_routes(app)
    check_webhook_routes(app)
    check_page_routes(app)
    redact_tokens_in_access_log()
    fix_openapi(app.openapi_schema)  # generated once, here; /schema serves this object
    return app


def observe_response(scope: Any, status: int, seconds: float) -> None:
    """Once per request (server/errors.py ``edge``): its log line and its metrics."""
    request_logs.log_request(scope, status, seconds)
    metrics.observe_request(scope.get("method", "WS"), request_logs.route_of(scope), status, seconds)


def services_of_app(app: Litestar) -> Services:
    return app.state.services  # type: ignore[no-any-return]
