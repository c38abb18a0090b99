"""Structured logs (docs/deploy.md#logs): one line per request and per notable event.

``HUBWIRE_LOG_FORMAT``: ``json`` (one JSON object per line), ``text`` (human-readable) or ``auto``
(the default: text when stderr is a terminal, JSON otherwise). Every line has ``ts``, ``level``,
``logger`` and ``msg``; a request line (logger ``hubwire.request``) adds ``request_id``,
``method``, ``route`` (the route template, never the raw path: ids stay out of it, query strings
too), ``status``, ``duration_ms`` and, when the path names them, ``team_id`` / ``hub_id``.

Nothing secret is logged: request lines carry no header, query or body; and every line goes through
:func:`redact` (bearer tokens, API keys, signed tokens, ``token=`` / ``password=`` values, email
addresses) before it is written, whoever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

REQUEST_LOG = logging.getLogger("hubwire.request")

# What a line must never carry, replaced whoever logged it.
_SECRETS = [
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\bhw_[a-z]{2,4}_[A-Za-z0-9_-]{8,}"), "[redacted-key]"),
    (re.compile(r"\b(?:sk|rk|whsec)_[A-Za-z0-9_]{8,}"), "[redacted-key]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"), "[redacted-token]"),
    (re.compile(r"(?i)((?:token|password|passwd|secret)[\"']?\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*')"),
     r'\1"[redacted]"'),
    (re.compile(r"(?i)((?:token|password|passwd|secret)[\"']?\s*[=:]\s*)[^&\s\"',}]+"), r"\1[redacted]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
]

# Extra attributes a record may carry (``log.info(..., extra={...})``) that go into the line.
FIELDS = ("request_id", "method", "route", "status", "duration_ms", "team_id", "hub_id", "event",
          "socket_id", "channel", "count")


def redact(text: str) -> str:
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


class LogFormatter(logging.Formatter):
    """JSON lines, or a human-readable line, for any record (see the module's docstring)."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: Any = "%",
                 validate: bool = True, *, log_format: str = "auto", **_: Any) -> None:
        super().__init__(fmt, datefmt)
        if log_format == "auto":
            log_format = "text" if _is_tty() else "json"
        self.json = log_format == "json"

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        exc_text = redact(record.exc_text) if record.exc_text else None
        extra = {k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None}
        ts = datetime.fromtimestamp(record.created, UTC)
        if self.json:
            line: dict[str, Any] = {"ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                                    "level": record.levelname, "logger": record.name, "msg": message}
            line.update(extra)
            if exc_text:
                line["exc"] = exc_text
            return json.dumps(line, default=str, ensure_ascii=False)
        text = f"{ts:%Y-%m-%d %H:%M:%S} {record.levelname:<7} {record.name}: {message}"
        if extra:
            text += "  " + " ".join(f"{k}={v}" for k, v in extra.items())
        if exc_text:
            text += "\n" + exc_text
        return text


def _is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def formatter_config(log_format: str) -> dict[str, Any]:
    """The ``formatters`` entry of a logging dictConfig (Litestar's and uvicorn's)."""
    return {"()": "server.logs.LogFormatter", "log_format": log_format}


def uvicorn_log_config(log_format: str, level: str) -> dict[str, Any]:
    """uvicorn's own lines (startup, errors) in the same format; its access log is off, the app's
    request lines replace it."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"hubwire": formatter_config(log_format)},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "hubwire",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        },
    }


def log_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    """The request's line (a WebSocket's when it closes: status 101, its whole duration)."""
    if not REQUEST_LOG.isEnabledFor(logging.INFO):
        return
    params = scope.get("path_params") or {}
    extra = {
        "request_id": (scope.get("state") or {}).get("request_id"),
        "method": scope.get("method", "WS"),
        "route": route_of(scope),
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "team_id": params.get("team_id"),
        "hub_id": params.get("hub_id"),
    }
    REQUEST_LOG.info("%s %s %s %.1fms", extra["method"], extra["route"], status, seconds * 1000, extra=extra)


def route_of(scope: dict[str, Any]) -> str:
    """The route template of a routed request, ``unmatched`` otherwise (never the raw path)."""
    template = scope.get("path_template")
    return template if template else "unmatched"
