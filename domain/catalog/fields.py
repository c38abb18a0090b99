"""The field rules the catalog's use cases share. Each raises ``ValidationFailed`` naming the field
as the caller sent it (the edge turns the name into a JSON pointer)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from domain.errors import Field, ValidationFailed
from persistence.ids import parse_id

CURRENCIES = ("usd", "cad", "gbp", "eur", "aud")  # lowercase, as Stripe writes them
MAX_AMOUNT = 99_999_999  # minor units: Stripe's ceiling for one charge in most currencies
MAX_NAME = 200
MAX_DESCRIPTION = 5000
MAX_URL = 2000
POSITION_RANGE = (-1_000_000, 1_000_000)


def check_name(value: Any, field: str = "name", *, code: str = "invalid_name") -> str:
    """1 to 200 characters once trimmed."""
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"{field} is 1 to {MAX_NAME} characters.", code=code, field=field)
    return name


def optional_text(value: Any, field: str, limit: int, *, code: str) -> str | None:
    """None, or a string of at most ``limit`` characters (blank is None)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(f"{field} is text of at most {limit} characters, or null.", code=code, field=field)
    return value.strip() or None


def check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} is true or false.", code="invalid_value", field=field)
    return value


def check_int(value: Any, field: str, low: int, high: int, *, code: str) -> int:
    """A whole number from ``low`` to ``high`` (booleans are not numbers here)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationFailed(f"{field} is a whole number from {low} to {high}.", code=code, field=field,
                               meta={"min": low, "max": high})
    return value


def check_amount(value: Any, field: str = "amount", *, low: int = 0, code: str = "invalid_amount") -> int:
    """An amount in the currency's minor units (cents), ``low`` to 99,999,999."""
    return check_int(value, field, low, MAX_AMOUNT, code=code)


def check_currency(value: Any, field: str = "currency") -> str:
    """One of the supported currencies, stored lowercase (``USD`` is ``usd``)."""
    currency = value.lower() if isinstance(value, str) else None
    if currency not in CURRENCIES:
        raise ValidationFailed(f"currency is one of {', '.join(CURRENCIES)}.", code="invalid_currency", field=field,
                               meta={"accepted": list(CURRENCIES)})
    return currency


def check_choice(value: Any, choices: tuple[str, ...], field: str, *, code: str) -> str:
    if value not in choices:
        raise ValidationFailed(f"{field} is one of {', '.join(choices)}.", code=code, field=field,
                               meta={"accepted": list(choices)})
    return str(value)


def check_position(value: Any, field: str = "position") -> int:
    low, high = POSITION_RANGE
    return check_int(value, field, low, high, code="invalid_position")


def check_future(value: Any, field: str, now: datetime, *, code: str) -> datetime:
    """A date-time with a timezone, after ``now``."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed(f"{field} is a date-time with a timezone (2030-01-01T00:00:00Z).",
                               code="invalid_datetime", field=field)
    if value <= now:
        raise ValidationFailed(f"{field} must be in the future.", code=code, field=field)
    return value


def check_http_url(value: Any, field: str, *, code: str) -> str | None:
    """None, or an absolute http(s) URL with a host, of at most 2000 characters."""
    if value is None:
        return None
    ok = isinstance(value, str) and 0 < len(value) <= MAX_URL and not any(c.isspace() or ord(c) < 32 for c in value)
    if ok:
        try:
            parts = urlsplit(value)
            ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
    if not ok:
        raise ValidationFailed(f"{field} is an http or https URL of at most {MAX_URL} characters.", code=code,
                               field=field)
    return str(value)


def check_id(value: Any, field: Field) -> uuid.UUID:
    """An id in the body: a malformed one is 422 ``invalid_id`` (a well-formed id that names
    nothing of the team is the caller's 404)."""
    parsed = parse_id(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationFailed("This is not an id.", code="invalid_id", field=field)
    return parsed
