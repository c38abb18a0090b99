"""The ``filter[...]`` query parameters of list routes, checked the same way everywhere: a value
that cannot be what the filter takes is a 422 ``invalid_filter`` naming ``filter[<name>]``."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from domain.errors import ValidationFailed
from persistence.ids import parse_id


def filter_choice(value: str | None, name: str, choices: Collection[str]) -> str | None:
    """``filter[name]`` when it is one of ``choices`` (None when not given)."""
    if value is not None and value not in choices:
        raise ValidationFailed(f"filter[{name}] is one of {', '.join(choices)}.", code="invalid_filter",
                               parameter=f"filter[{name}]")
    return value


def filter_id(value: str | None, name: str, *, what: str = "an id") -> uuid.UUID | None:
    """``filter[name]`` as an id (None when not given); ``what`` names the id in the message."""
    if value is None:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise ValidationFailed(f"filter[{name}] is {what}.", code="invalid_filter", parameter=f"filter[{name}]")
    return parsed


def parse_bool_filter(filters: dict[str, str], name: str) -> bool | None:
    """``filter[name]`` as a boolean: true/1 or false/0 (None when not given)."""
    raw = filters.get(name)
    if raw is None:
        return None
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise ValidationFailed(f"filter[{name}] must be true or false.", code="invalid_filter",
                           parameter=f"filter[{name}]")
