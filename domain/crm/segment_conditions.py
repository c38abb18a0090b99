"""A segment's condition tree: its shape, its limits and the values each condition takes.

A tree is ``{version: 1, logic: all|any, groups: [{logic: all|any, conditions: [{type, operator,
value, attribute?}]}]}``. It is parsed into Structs and validated in full before anything runs; the
first problem found is a 422 ``invalid_segment`` whose field names the bad node (a path under the
body's ``conditions``) and whose ``meta.reason`` says what is wrong with it. The checks here need
no database; ``domain/crm/segment_sql.py`` checks what a tree refers to (tags, hubs, attributes,
options) while it compiles the tree to SQL.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from typing import Any

import msgspec

from domain.errors import ValidationFailed
from domain.validation import misfit
from persistence.ids import parse_id

Path = tuple[str | int, ...]  # a field in a request body: names and list indexes

TREE_VERSION = 1
MAX_GROUPS = 20
MAX_CONDITIONS_PER_GROUP = 50
MAX_LIST_VALUES = 100
MAX_TEXT_VALUE = 500
LOGICS = ("all", "any")
# Where a tree sits in a segment's body: its errors name fields under it.
CONDITIONS: Path = ("conditions",)

# ---- the tree ------------------------------------------------------------------------------------


class Condition(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One test on a team contact. ``attribute`` only for ``type == "attribute"``."""

    type: str
    operator: str
    value: Any | msgspec.UnsetType = msgspec.UNSET
    attribute: str | msgspec.UnsetType = msgspec.UNSET


class ConditionGroup(msgspec.Struct, forbid_unknown_fields=True):
    conditions: list[Condition]
    logic: str = "all"


class SegmentConditions(msgspec.Struct, forbid_unknown_fields=True):
    """The whole tree. ``logic`` combines the groups; each group's ``logic`` its conditions."""

    version: int
    groups: list[ConditionGroup]
    logic: str = "all"


# Which operators each condition type accepts. `attribute` depends on the definition's data type.
OPERATORS: dict[str, tuple[str, ...]] = {
    "email": ("eq", "neq", "contains", "exists"),
    "name": ("eq", "neq", "contains", "exists"),
    "lifecycle_stage": ("eq", "neq", "in", "not_in"),
    "tag": ("has", "not_has"),
    "hub_membership": ("has", "not_has"),
    "created_at": ("before", "after"),
}
ATTRIBUTE_OPERATORS: dict[str, tuple[str, ...]] = {
    "text": ("eq", "neq", "contains", "exists"),
    "number": ("eq", "neq", "gt", "gte", "lt", "lte", "exists"),
    "date": ("before", "after", "exists"),
    "boolean": ("eq", "exists"),
    "select": ("eq", "neq", "in", "not_in", "exists"),
    "multi_select": ("has", "not_has", "exists"),
}
CONDITION_TYPES = (*OPERATORS, "attribute")
ALL_OPERATORS = ("eq", "neq", "contains", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "has",
                 "not_has", "before", "after")
NEGATIONS = {"neq": "eq", "not_in": "in", "not_has": "has"}


class InvalidSegment(ValidationFailed):
    """A condition tree that cannot run: ``field`` names the node, ``meta.reason`` the problem."""

    code = "invalid_segment"
    title = "Invalid segment conditions"

    def __init__(self, detail: str, *, field: Path, reason: str, **meta: Any) -> None:
        super().__init__(detail, field=field, meta={"reason": reason, **meta})


# ---- parsing and validation ----------------------------------------------------------------------


def parse_conditions(raw: Any, at: Path = CONDITIONS) -> SegmentConditions:
    """The tree in ``raw`` (decoded JSON) as Structs, its shape and limits checked (not yet its
    operators or references: see ``domain.crm.segment_sql.compile_conditions``)."""
    if isinstance(raw, SegmentConditions):
        tree = raw
    else:
        if not isinstance(raw, Mapping):
            raise InvalidSegment("Segment conditions must be an object.", field=at, reason="invalid_shape")
        try:
            tree = msgspec.convert(raw, type=SegmentConditions)
        except msgspec.ValidationError as exc:
            raise _shape_error(exc, at) from None
    if tree.version != TREE_VERSION:
        raise InvalidSegment(f"Only version {TREE_VERSION} condition trees exist.", field=(*at, "version"),
                             reason="unsupported_version")
    if tree.logic not in LOGICS:
        raise InvalidSegment("logic is `all` or `any`.", field=(*at, "logic"), reason="invalid_logic")
    if not tree.groups:
        raise InvalidSegment("A segment needs at least one group of conditions.", field=(*at, "groups"),
                             reason="no_groups")
    if len(tree.groups) > MAX_GROUPS:
        raise InvalidSegment(f"A segment has at most {MAX_GROUPS} groups.", field=(*at, "groups"),
                             reason="too_many_groups", limit=MAX_GROUPS)
    for gi, group in enumerate(tree.groups):
        here = (*at, "groups", gi)
        if group.logic not in LOGICS:
            raise InvalidSegment("logic is `all` or `any`.", field=(*here, "logic"), reason="invalid_logic")
        if not group.conditions:
            raise InvalidSegment("A group needs at least one condition.", field=(*here, "conditions"),
                                 reason="no_conditions")
        if len(group.conditions) > MAX_CONDITIONS_PER_GROUP:
            raise InvalidSegment(f"A group has at most {MAX_CONDITIONS_PER_GROUP} conditions.",
                                 field=(*here, "conditions"), reason="too_many_conditions",
                                 limit=MAX_CONDITIONS_PER_GROUP)
    return tree


def _shape_error(exc: msgspec.ValidationError, at: Path) -> InvalidSegment:
    found = misfit(exc)
    reason = "invalid_shape" if found.code == "invalid_value" else found.code
    return InvalidSegment(found.detail, field=(*at, *found.path), reason=reason)


def canonical(tree: SegmentConditions) -> dict[str, Any]:
    """The tree as stored and shown: defaults filled in, `exists` given its explicit value."""
    groups = []
    for group in tree.groups:
        conditions = []
        for c in group.conditions:
            item: dict[str, Any] = {"type": c.type, "operator": c.operator}
            if c.attribute is not msgspec.UNSET:
                item["attribute"] = c.attribute
            item["value"] = (True if c.operator == "exists" and c.value is msgspec.UNSET else c.value)
            conditions.append(item)
        groups.append({"logic": group.logic, "conditions": conditions})
    return {"version": tree.version, "logic": tree.logic, "groups": groups}


# ---- the values a condition takes ----------------------------------------------------------------
# Each takes the condition's field path (``here``) or its value's (``at``) to name in its error.


def check_operator(c: Condition, allowed: tuple[str, ...], here: Path, what: str | None = None) -> None:
    """``c``'s operator is one of ``allowed`` (the operators of its type, or of its attribute's
    data type, ``what``)."""
    if c.operator not in allowed:
        known = c.operator in ALL_OPERATORS
        raise InvalidSegment(
            f"`{c.operator}` is not an operator of {what or '`' + c.type + '`'} conditions; use one of "
            f"{', '.join(allowed)}." if known else f"Unknown operator `{c.operator}`.",
            field=(*here, "operator"), reason="unsupported_operator" if known else "unknown_operator",
            allowed=list(allowed),
        )


def require_value(c: Condition, here: Path) -> Any:
    if c.value is msgspec.UNSET:
        raise InvalidSegment(f"`{c.operator}` needs a value.", field=(*here, "value"), reason="missing_value")
    return c.value


def text_value(c: Condition, here: Path) -> str:
    value = require_value(c, here)
    if not isinstance(value, str) or not value.strip():
        raise InvalidSegment("The value must be a non-empty string.", field=(*here, "value"),
                             reason="invalid_value")
    if len(value) > MAX_TEXT_VALUE:
        raise InvalidSegment(f"The value is at most {MAX_TEXT_VALUE} characters.", field=(*here, "value"),
                             reason="invalid_value")
    return value.strip()


def exists_value(c: Condition, here: Path) -> bool:
    if c.value is msgspec.UNSET:
        return True
    if not isinstance(c.value, bool):
        raise InvalidSegment("`exists` takes true (has a value) or false (has none).", field=(*here, "value"),
                             reason="invalid_value")
    return c.value


def choice_values(c: Condition, here: Path, choices: frozenset[str] | tuple[str, ...], reason: str,
                  check: bool = True) -> list[str]:
    """The value of eq/neq/has/not_has (one choice) or in/not_in (a list of them), each checked
    against ``choices`` unless ``check`` is false (a saved segment's option deleted since)."""
    value = require_value(c, here)
    many = c.operator in ("in", "not_in")
    if many:
        if not isinstance(value, list) or not value:
            raise InvalidSegment(f"`{c.operator}` takes a non-empty list.", field=(*here, "value"),
                                 reason="invalid_value")
        if len(value) > MAX_LIST_VALUES:
            raise InvalidSegment(f"At most {MAX_LIST_VALUES} values.", field=(*here, "value"),
                                 reason="invalid_value", limit=MAX_LIST_VALUES)
        items = [((*here, "value", i), v) for i, v in enumerate(value)]
    else:
        items = [((*here, "value"), value)]
    out: list[str] = []
    for at, v in items:
        if not isinstance(v, str):
            raise InvalidSegment("Each value must be a string.", field=at, reason="invalid_value")
        if check and v not in choices:
            raise InvalidSegment(f"`{v}` is not one of: {', '.join(sorted(choices))}.", field=at, reason=reason,
                                 allowed=sorted(choices))
        if v not in out:
            out.append(v)
    return out


def id_value(value: Any, at: Path, what: str) -> uuid.UUID:
    parsed = parse_id(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidSegment(f"The value must be a {what} id.", field=at,
                             reason="missing_value" if value is msgspec.UNSET else "invalid_value")
    return parsed


def datetime_value(value: Any, at: Path) -> datetime:
    """An ISO 8601 datetime (no offset means UTC), or a date meaning its midnight UTC."""
    if value is msgspec.UNSET:
        raise InvalidSegment("This operator needs a date or datetime.", field=at, reason="missing_value")
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time(), tzinfo=timezone.utc)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None:  # without an offset it is UTC, as contact attribute values are
            return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    raise InvalidSegment("Give an ISO 8601 datetime (2024-05-01T09:30:00Z; no offset means UTC) or a date "
                         "(2024-05-01, midnight UTC).", field=at, reason="invalid_datetime")


def number_value(c: Condition, here: Path) -> float:
    value = require_value(c, here)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSegment("The value must be a number.", field=(*here, "value"), reason="invalid_value")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidSegment("The number is out of range.", field=(*here, "value"), reason="invalid_value")
    return number
