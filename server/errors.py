"""Every failure becomes one JSON:API error document with a stable ``code`` and the request id.

Domain errors map to HTTP here and only here. Unexpected exceptions are logged with the request id
and answered with a bare 500 ``internal_error``: no stack trace, no exception text.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from domain.errors import DomainError, ValidationFailed
from domain.validation import misfit_code, named_field
from persistence.db import is_database_unavailable, is_transaction_conflict
from persistence.pagination import InvalidPageRequest
from server.jsonapi import ErrorDocument, ErrorObject, ErrorSource, Inbound, json_pointer

log = logging.getLogger("hubwire.errors")

ERROR_MEDIA_TYPE = "application/vnd.api+json"
STATUS_BY_KIND = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "validation": 422,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "payload_too_large": 413,
    "range_not_satisfiable": 416,
    "precondition_required": 428,  # a write that must say which version it changes (If-Match)
    "payment_required": 402,  # a payment provider declined the payment
    "unavailable": 503,  # a service we depend on (the payment provider) cannot answer now; see Retry-After
}
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(scope: Scope) -> str:
    """The id of this request: the caller's ``X-Request-ID`` when sane, else a new one."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(12)
        state["request_id"] = rid
    return rid


RAW_SEND = "hubwire.raw_send"  # scope key: the server's own send (see edge)


ResponseObserver = Callable[[Scope, int, float], None]


def edge(app: ASGIApp, observers: tuple[ResponseObserver, ...] = ()) -> ASGIApp:
    """The outermost layer of the ASGI stack, around Litestar's exception handling, CORS and router.

    HTTP: every response carries X-Request-ID — what a ``before_send`` hook would do, except that
    Litestar runs ``before_send`` hooks on every WebSocket frame too, one more coroutine per frame
    per subscriber on the fan-out's hot path.
    WebSocket: the server's own send is kept in the scope under ``RAW_SEND``; the realtime
    transport sends frames with it (server/api/realtime/transports.py) rather than through the three
    wrappers Litestar puts around it (the socket's state check, the exception middleware's
    response-started flag, before_send), which do nothing for a frame on an accepted socket.
    HTTP keeps it there too: an SSE stream may drop its connection (server/uvicorn_io.py).
    ``observers`` (the request log line, the HTTP metrics) are told once per request, after its
    response (a WebSocket: when it closes, status 101), with its status and duration."""

    def observe(scope: Scope, status: int, started: float) -> None:
        took = time.perf_counter() - started
        for observer in observers:
            try:
                observer(scope, status, took)
            except Exception:  # an observer never fails a request
                log.exception("response observer failed")

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["type"] == "http":
            scope[RAW_SEND] = send  # type: ignore[typeddict-unknown-key]  (SSE may abort its connection)
            status = [500]

            async def send_with_request_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", request_id(scope).encode()))
                    message["headers"] = headers
                await send(message)

            try:
                await app(scope, receive, send_with_request_id)
            finally:
                if observers:
                    observe(scope, status[0], started)
            return
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send  # type: ignore[typeddict-unknown-key]
            request_id(scope)
            try:
                await app(scope, receive, send)
            finally:
                if observers:
                    observe(scope, 101, started)
            return
        await app(scope, receive, send)

    return handle


def error_response(request: Request[Any, Any, Any], status: int, code: str, title: str,
                   detail: str | None = None, *, pointer: str | None = None, parameter: str | None = None,
                   meta: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response[Any]:
    rid = request_id(request.scope)
    source = ErrorSource(pointer=pointer, parameter=parameter) if (pointer is not None or parameter) else None
    err = ErrorObject(status=str(status), code=code, title=title, detail=detail, source=source,
                      meta={**(meta or {}), "request_id": rid})
    return Response(
        msgspec.json.encode(ErrorDocument(errors=[err])),
        status_code=status,
        media_type=ERROR_MEDIA_TYPE,
        headers=headers,
    )


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    status = STATUS_BY_KIND.get(exc.kind, 400)
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, PaymentProviderUnavailable
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="hubwire"'}
    pointer = exc.pointer
    if pointer is None and exc.field is not None:
        pointer = body_pointer(request, exc.field)
    return error_response(request, status, exc.code, exc.title, exc.detail, pointer=pointer,
                          parameter=exc.parameter, meta=exc.meta or None, headers=headers)


def body_pointer(request: Request[Any, Any, Any], field: tuple[str | int, ...]) -> str:
    """The JSON pointer (RFC 6901) of a field the domain named, in this route's request body: under
    ``/data/attributes`` for a JSON:API document, from the root for a plain JSON body. A body type
    may name the pointer of a field it does not hold itself in ``FIELD_POINTERS`` (a ClassVar)."""
    body_type = _body_type(request)
    explicit = getattr(body_type, "FIELD_POINTERS", {}).get(field)
    if explicit is not None:
        return explicit  # type: ignore[no-any-return]
    return json_pointer(field, "/data/attributes" if is_jsonapi_body(request) else "")


def is_jsonapi_body(request: Request[Any, Any, Any]) -> bool:
    body_type = _body_type(request)
    return isinstance(body_type, type) and issubclass(body_type, Inbound)


def _body_type(request: Request[Any, Any, Any]) -> Any:
    param = request.route_handler.parsed_fn_signature.parameters.get("data")
    return getattr(param, "annotation", None)


def _pointer(key: str | None, message: str) -> str:
    """The pointer of Litestar's ``key`` (``items[0].name``) and the field its message names."""
    parts: list[str] = []
    for part in re.split(r"\.", key or ""):
        if not part:
            continue
        # "items[0]" -> "items", "0"
        m = re.match(r"^([^\[]*)((?:\[\d+\])*)$", part)
        if m:
            if m.group(1):
                parts.append(m.group(1))
            parts.extend(re.findall(r"\[(\d+)\]", m.group(2)))
        else:
            parts.append(part)
    field = named_field(message)
    if field is not None:
        parts.append(field)
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def handle_validation_exception(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    if not extra:
        detail = str(exc.detail)
        if "JSON is malformed" in detail or "malformed" in detail.lower():
            return error_response(request, 400, "invalid_json", "Malformed JSON",
                                  "The request body is not valid JSON.")
        return error_response(request, 400, "bad_request", "Bad request", detail)
    errors = []
    rid = request_id(request.scope)
    for item in extra:
        message = str(item.get("message", "invalid value"))
        source_kind = item.get("source")
        if source_kind == "body" or source_kind is None:
            src = ErrorSource(pointer=_pointer(item.get("key"), message))
        else:
            src = ErrorSource(parameter=str(item.get("key")))
        errors.append(ErrorObject(status="422", code=misfit_code(message), title="Validation failed", detail=message,
                                  source=src, meta={"request_id": rid}))
    return Response(msgspec.json.encode(ErrorDocument(errors=errors)), status_code=422,
                    media_type=ERROR_MEDIA_TYPE)


def handle_invalid_page_request(request: Request[Any, Any, Any], exc: InvalidPageRequest) -> Response[Any]:
    # The pager lives below the domain and raises its own error; it answers as the domain's would.
    return handle_domain_error(request, ValidationFailed(exc.detail, code=exc.code, parameter=exc.parameter))


_HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    429: "rate_limited",
}


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return handle_unexpected(request, exc)
    if isinstance(exc, NotFoundException):
        return error_response(request, 404, "not_found", "Not found", "No such resource.")
    if isinstance(exc, MethodNotAllowedException):
        return error_response(request, 405, "method_not_allowed", "Method not allowed",
                              f"{request.method} is not allowed here.", headers=exc.headers)
    code = _HTTP_CODES.get(status, "bad_request")
    return error_response(request, status, code, code.replace("_", " ").capitalize(), str(exc.detail),
                          headers=exc.headers)


def handle_integrity_error(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    # Lost a race against a concurrent request creating the same unique thing.
    log.info("integrity conflict on %s %s (request %s)", request.method, request.url.path,
             request_id(request.scope))
    return error_response(request, 409, "conflict", "Conflict",
                          "This conflicts with existing data (it may have just been created).")


def handle_database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    if is_database_unavailable(exc):
        return handle_database_unavailable(request, exc)
    if is_transaction_conflict(exc):
        # Lost a race with a concurrent transaction (deadlock, serialization failure, SQLite's
        # lock held past the busy timeout): rolled back whole; the same request will succeed.
        log.warning("transaction conflict on %s %s (request %s): %s", request.method, request.url.path,
                    request_id(request.scope), str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc).__name__)
        return error_response(request, 503, "transaction_conflict", "Service unavailable",
                              "This collided with a concurrent change and was not applied; send it again.",
                              headers={"Retry-After": "1"})
    # A data exception (SQLSTATE class 22: a value too long for its column, out of range) means
    # the caller sent a value the domain should have bounded: a 422, not a 500, logged to be fixed.
    # asyncpg's are not translated to DataError by SQLAlchemy, hence the SQLSTATE check.
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    if not (isinstance(exc, DataError) or sqlstate.startswith("22")):
        return handle_unexpected(request, exc)
    log.warning("database refused a value on %s %s (request %s): %s", request.method, request.url.path,
                request_id(request.scope), exc.orig)
    return error_response(request, 422, "invalid_value", "Validation failed",
                          "A value is too long or out of range.")


def handle_redis_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Redis (rate limits, fan-out) is down: a temporary outage, not a bug; clients may retry.
    log.warning("redis unavailable on %s %s (request %s): %s", request.method, request.url.path,
                request_id(request.scope), exc)
    return error_response(request, 503, "service_unavailable", "Service unavailable",
                          "A backing service is temporarily unavailable; try again shortly.",
                          headers={"Retry-After": "5"})


def handle_database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # PostgreSQL is down or restarting: a temporary outage, not a bug. One line, no traceback; the
    # request's transaction never committed (no partial write), and the pool reconnects by itself.
    if not is_database_unavailable(exc):
        return handle_unexpected(request, exc)
    log.warning("database unavailable on %s %s (request %s): %s: %s", request.method, request.url.path,
                request_id(request.scope), type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    return error_response(request, 503, "service_unavailable", "Service unavailable",
                          "The database is temporarily unavailable; try again shortly.",
                          headers={"Retry-After": "5"})


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path,
                  request_id(request.scope), exc_info=exc)
    return error_response(request, 500, "internal_error", "Internal server error",
                          "Something went wrong on our side; quote the request id when reporting it.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_domain_error,
    InvalidPageRequest: handle_invalid_page_request,
    ValidationException: handle_validation_exception,
    HTTPException: handle_http_exception,
    IntegrityError: handle_integrity_error,
    DBAPIError: handle_database_error,
    redis.exceptions.ConnectionError: handle_redis_unavailable,
    redis.exceptions.TimeoutError: handle_redis_unavailable,
    ConnectionError: handle_database_unavailable,  # e.g. asyncpg's ConnectionRefusedError on connect
    TimeoutError: handle_database_unavailable,  # a connect timeout (the engine bounds it)
    PoolTimeout: handle_database_unavailable,  # every pooled connection busy for pool_timeout
    Exception: handle_unexpected,
}
