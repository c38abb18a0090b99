"""Segments: saved condition trees over a team's contacts, compiled to one SQL boolean clause.

A tree is ``{version: 1, logic: all|any, groups: [{logic: all|any, conditions: [{type, operator,
value, attribute?}]}]}``. It is parsed into Structs and validated in full before anything runs; the
first problem found is a 422 ``invalid_segment`` whose field names the bad node and whose
``meta.reason`` says what is wrong with it. A valid tree compiles to a single
``ColumnElement[bool]`` over ``TeamContact`` (EXISTS subqueries for contacts, tags, attribute values
and hub memberships), so matching happens in the database, never row by row in Python, and gives
the same answer on SQLite and PostgreSQL.

Matching rules that hold for every type:
- text comparisons (``eq``, ``neq``, ``contains``) ignore the case of ASCII letters only, on both
  backends (PostgreSQL is told to fold like SQLite does); other characters compare exactly;
- each negation (``neq``, ``not_in``, ``not_has``, ``exists`` with ``false``) is the exact
  complement of its positive operator: a contact without a value matches ``neq``;
- soft-deleted team contacts and other teams' contacts never match.

Public API for other contexts: :func:`segment_clause` (a saved segment) and
:func:`compile_conditions` (a tree), plus the segment use cases the routes call.
"""

from __future__ import annotations

import math
import string
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from domain.access.invalidation import facts_changed
from domain.clock import Clock
from domain.crm.contacts import LIFECYCLE_STAGES
from domain.errors import NotFound, ValidationFailed
from domain.validation import misfit
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import (
    Contact,
    ContactAttribute,
    ContactAttributeOption,
    ContactAttributeValue,
    ContactTag,
    Hub,
    HubMembership,
    Segment,
    Tag,
    TeamContact,
)
from persistence.pagination import Page, PageRequest, paginate

Path = tuple[str | int, ...]  # a field in a request body: names and list indexes

TREE_VERSION = 1
MAX_GROUPS = 20
MAX_CONDITIONS_PER_GROUP = 50
MAX_LIST_VALUES = 100
MAX_TEXT_VALUE = 500
LOGICS = ("all", "any")
# Memberships in these statuses count for `hub_membership`; banned and left ones do not.
MEMBERSHIP_STATUSES = ("active", "soft_banned")
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
    operators or references: see :func:`compile_conditions`)."""
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


# ---- references (tags, hubs, attribute definitions) of one team ---------------------------------


@dataclass(frozen=True)
class _AttributeDef:
    id: uuid.UUID
    data_type: str
    options: frozenset[str]


@dataclass
class _References:
    """What the tree refers to, loaded in one query per kind. Missing ids are simply absent."""

    tags: set[uuid.UUID]
    hubs: set[uuid.UUID]
    attributes: dict[str, _AttributeDef]  # by id (canonical text) and by key


async def _load_references(uow: UnitOfWork, team_id: uuid.UUID, tree: SegmentConditions) -> _References:
    tag_ids: set[uuid.UUID] = set()
    hub_ids: set[uuid.UUID] = set()
    attr_refs: set[str] = set()
    for group in tree.groups:
        for c in group.conditions:
            if c.type == "tag" and isinstance(c.value, str) and (i := parse_id(c.value)):
                tag_ids.add(i)
            elif c.type == "hub_membership" and isinstance(c.value, str) and (i := parse_id(c.value)):
                hub_ids.add(i)
            elif c.type == "attribute" and isinstance(c.attribute, str):
                attr_refs.add(c.attribute)
    s = uow.session
    refs = _References(set(), set(), {})
    if tag_ids:
        refs.tags = set((await s.scalars(sa.select(Tag.id).where(Tag.team_id == team_id, Tag.id.in_(tag_ids)))).all())
    if hub_ids:
        refs.hubs = set((await s.scalars(sa.select(Hub.id).where(
            Hub.team_id == team_id, Hub.id.in_(hub_ids), Hub.deleted_at.is_(None)))).all())
    if attr_refs:
        ids = {i for r in attr_refs if (i := parse_id(r))}
        keys = {r for r in attr_refs if len(r) <= 64}
        rows = (await s.execute(sa.select(ContactAttribute.id, ContactAttribute.key, ContactAttribute.data_type).where(
            ContactAttribute.team_id == team_id,
            sa.or_(ContactAttribute.id.in_(ids), ContactAttribute.key.in_(keys)),
        ))).all()
        options: dict[uuid.UUID, set[str]] = {r.id: set() for r in rows}
        if rows:
            for attr_id, value in (await s.execute(sa.select(ContactAttributeOption.attribute_id,
                                                             ContactAttributeOption.value)
                                                   .where(ContactAttributeOption.attribute_id.in_(options)))).all():
                options[attr_id].add(value)
        for r in rows:
            d = _AttributeDef(r.id, r.data_type, frozenset(options[r.id]))
            refs.attributes[r.key] = d
        for r in rows:  # an id wins over a key that happens to look like one
            refs.attributes[str(r.id)] = _AttributeDef(r.id, r.data_type, frozenset(options[r.id]))
    return refs


def _attribute_ref(refs: _References, ref: str) -> _AttributeDef | None:
    i = parse_id(ref)
    if i is not None and str(i) in refs.attributes:
        return refs.attributes[str(i)]
    return refs.attributes.get(ref)


# ---- case-insensitive text, the same on both backends ------------------------------------------

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class ascii_lower(FunctionElement[str]):
    """``lower()`` that folds ASCII letters only. SQLite's lower() does exactly that; PostgreSQL's
    folds every letter unless the text is in the "C" collation, so it gets one."""

    type = sa.String()
    name = "ascii_lower"
    inherit_cache = True


@compiles(ascii_lower)
def _ascii_lower_default(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_pg(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "C")'


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _like_contains(text: str) -> str:
    escaped = _fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---- compiling ------------------------------------------------------------------------------------


async def compile_conditions(uow: UnitOfWork, team_id: uuid.UUID, tree: Any, *,
                             at: Path = CONDITIONS, strict: bool = True) -> sa.ColumnElement[bool]:
    """One SQL boolean clause over ``TeamContact`` that is true exactly for the team's
    (non-deleted) contacts matching ``tree`` (decoded JSON or a :class:`SegmentConditions`).

    Use it as ``select(TeamContact).where(clause)``; it refers to the ``TeamContact`` entity
    itself (not an alias) and carries the team and soft-delete filters. Raises
    :class:`InvalidSegment` (422, naming a field under ``at``) for any invalid node, including a tag,
    hub, attribute or option that is unknown or another team's. With ``strict=False`` (saved
    segments whose tag, hub, attribute or option has since been deleted) such a reference matches
    as "nobody has it".
    """
    parsed = parse_conditions(tree, at)
    refs = await _load_references(uow, team_id, parsed)
    return _compile_tree(team_id, parsed, refs, at, strict)


def _compile_tree(team_id: uuid.UUID, parsed: SegmentConditions, refs: _References, at: Path,
                  strict: bool) -> sa.ColumnElement[bool]:
    groups: list[sa.ColumnElement[bool]] = []
    for gi, group in enumerate(parsed.groups):
        clauses = [
            _compile_condition(team_id, c, refs, (*at, "groups", gi, "conditions", ci), strict)
            for ci, c in enumerate(group.conditions)
        ]
        groups.append(_combine(group.logic, clauses))
    return sa.and_(
        TeamContact.team_id == team_id,
        TeamContact.deleted_at.is_(None),
        _combine(parsed.logic, groups),
    )


def _combine(logic: str, clauses: list[sa.ColumnElement[bool]]) -> sa.ColumnElement[bool]:
    if len(clauses) == 1:
        return clauses[0]
    return sa.and_(*clauses) if logic == "all" else sa.or_(*clauses)


def _compile_condition(team_id: uuid.UUID, c: Condition, refs: _References, here: Path,
                       strict: bool) -> sa.ColumnElement[bool]:
    if c.type not in CONDITION_TYPES:
        raise InvalidSegment(f"Unknown condition type `{c.type}`.", field=(*here, "type"),
                             reason="unknown_type", allowed=list(CONDITION_TYPES))
    if c.type != "attribute":
        if c.attribute is not msgspec.UNSET:
            raise InvalidSegment("`attribute` belongs only to conditions of type `attribute`.",
                                 field=(*here, "attribute"), reason="unexpected_attribute")
        _check_operator(c, OPERATORS[c.type], here)
    if c.type == "email":
        return _email(c, here)
    if c.type == "name":
        return _name(c, here)
    if c.type == "lifecycle_stage":
        return _lifecycle_stage(c, here)
    if c.type == "created_at":
        when = _datetime_value(c.value, (*here, "value"))
        return TeamContact.created_at < when if c.operator == "before" else TeamContact.created_at > when
    if c.type == "tag":
        tag_id = _id_value(c.value, (*here, "value"), "tag")
        if tag_id not in refs.tags:
            if strict:
                raise InvalidSegment("No such tag in this team.", field=(*here, "value"), reason="unknown_tag")
            return _nobody_has(c.operator)
        has = sa.exists().where(ContactTag.team_contact_id == TeamContact.id, ContactTag.tag_id == tag_id)
        return _positive_or_not(c.operator, has.correlate(TeamContact))
    if c.type == "hub_membership":
        hub_id = _id_value(c.value, (*here, "value"), "hub")
        if hub_id not in refs.hubs:
            if strict:
                raise InvalidSegment("No such hub in this team.", field=(*here, "value"), reason="unknown_hub")
            return _nobody_has(c.operator)
        member = sa.exists().where(
            HubMembership.contact_id == TeamContact.contact_id,
            HubMembership.hub_id == hub_id,
            HubMembership.team_id == team_id,
            HubMembership.status.in_(MEMBERSHIP_STATUSES),
        )
        return _positive_or_not(c.operator, member.correlate(TeamContact))
    return _attribute(c, refs, here, strict)


def _check_operator(c: Condition, allowed: tuple[str, ...], here: Path, what: str | None = None) -> None:
    if c.operator not in allowed:
        known = c.operator in ALL_OPERATORS
        raise InvalidSegment(
            f"`{c.operator}` is not an operator of {what or '`' + c.type + '`'} conditions; use one of "
            f"{', '.join(allowed)}." if known else f"Unknown operator `{c.operator}`.",
            field=(*here, "operator"), reason="unsupported_operator" if known else "unknown_operator",
            allowed=list(allowed),
        )


def _positive_or_not(operator: str, positive: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.not_(positive) if operator in NEGATIONS else positive


def _nobody_has(operator: str) -> sa.ColumnElement[bool]:
    return sa.true() if operator in NEGATIONS else sa.false()


# -- values


def _require_value(c: Condition, here: Path) -> Any:
    if c.value is msgspec.UNSET:
        raise InvalidSegment(f"`{c.operator}` needs a value.", field=(*here, "value"), reason="missing_value")
    return c.value


def _text_value(c: Condition, here: Path) -> str:
    value = _require_value(c, here)
    if not isinstance(value, str) or not value.strip():
        raise InvalidSegment("The value must be a non-empty string.", field=(*here, "value"),
                             reason="invalid_value")
    if len(value) > MAX_TEXT_VALUE:
        raise InvalidSegment(f"The value is at most {MAX_TEXT_VALUE} characters.", field=(*here, "value"),
                             reason="invalid_value")
    return value.strip()


def _exists_value(c: Condition, here: Path) -> bool:
    if c.value is msgspec.UNSET:
        return True
    if not isinstance(c.value, bool):
        raise InvalidSegment("`exists` takes true (has a value) or false (has none).", field=(*here, "value"),
                             reason="invalid_value")
    return c.value


def _choice_values(c: Condition, here: Path, choices: frozenset[str] | tuple[str, ...], reason: str,
                   check: bool = True) -> list[str]:
    """The value of eq/neq/has/not_has (one choice) or in/not_in (a list of them), each checked
    against ``choices`` unless ``check`` is false (a saved segment's option deleted since)."""
    value = _require_value(c, here)
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


def _id_value(value: Any, at: Path, what: str) -> uuid.UUID:
    parsed = parse_id(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidSegment(f"The value must be a {what} id.", field=at,
                             reason="missing_value" if value is msgspec.UNSET else "invalid_value")
    return parsed


def _datetime_value(value: Any, at: Path) -> datetime:
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


def _number_value(c: Condition, here: Path) -> float:
    value = _require_value(c, here)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSegment("The value must be a number.", field=(*here, "value"), reason="invalid_value")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidSegment("The number is out of range.", field=(*here, "value"), reason="invalid_value")
    return number


# -- per type


def _on_contact(predicate: sa.ColumnElement[bool], contact: Any) -> sa.ColumnElement[bool]:
    """EXISTS over the team contact's global contact, so the clause needs no join from the caller."""
    return sa.exists().where(contact.id == TeamContact.contact_id, predicate).correlate(TeamContact)


def _text_match(c: Condition, here: Path, column: Any, on: Any) -> sa.ColumnElement[bool]:
    """eq / neq / contains / exists over a text expression, with ``on`` wrapping a predicate into
    the EXISTS that finds the row holding the text."""
    if c.operator == "exists":
        present = on(sa.and_(column.is_not(None), column != ""))
        return present if _exists_value(c, here) else sa.not_(present)
    text = _text_value(c, here)
    if c.operator == "contains":
        return on(ascii_lower(column).like(_like_contains(text), escape="\\"))
    equal = on(ascii_lower(column) == _fold(text))
    return equal if c.operator == "eq" else sa.not_(equal)


def _email(c: Condition, here: Path) -> sa.ColumnElement[bool]:
    contact = aliased(Contact)
    return _text_match(c, here, contact.email, lambda p: _on_contact(p, contact))


def _name(c: Condition, here: Path) -> sa.ColumnElement[bool]:
    """The name is "first last" from the team contact's fields, each falling back to the
    contact's own when the team contact has none (NULL or empty)."""
    contact = aliased(Contact)
    first = sa.func.coalesce(sa.func.nullif(TeamContact.first_name, ""), contact.first_name, "")
    last = sa.func.coalesce(sa.func.nullif(TeamContact.last_name, ""), contact.last_name, "")
    full = sa.func.trim(first + sa.literal(" ") + last)
    return _text_match(c, here, full, lambda p: _on_contact(p, contact))


def _lifecycle_stage(c: Condition, here: Path) -> sa.ColumnElement[bool]:
    stages = _choice_values(c, here, LIFECYCLE_STAGES, "unknown_lifecycle_stage")
    if c.operator == "eq":
        return TeamContact.lifecycle_stage == stages[0]
    if c.operator == "neq":
        return TeamContact.lifecycle_stage != stages[0]
    if c.operator == "in":
        return TeamContact.lifecycle_stage.in_(stages)
    return TeamContact.lifecycle_stage.not_in(stages)


_VALUE_COLUMN = {
    "text": "value_text", "number": "value_number", "date": "value_date", "boolean": "value_bool",
    "select": "value_text", "multi_select": "value_text",
}


def _attribute(c: Condition, refs: _References, here: Path, strict: bool) -> sa.ColumnElement[bool]:
    if c.attribute is msgspec.UNSET:
        raise InvalidSegment("An attribute condition names its attribute (id or key).",
                             field=(*here, "attribute"), reason="missing_attribute")
    definition = _attribute_ref(refs, c.attribute)
    if definition is None:
        if strict:
            raise InvalidSegment("No such contact attribute in this team.", field=(*here, "attribute"),
                                 reason="unknown_attribute")
        # deleted since the segment was saved: nobody has a value for it
        return sa.true() if (c.operator in NEGATIONS or (c.operator == "exists" and c.value is False)) else sa.false()
    allowed = ATTRIBUTE_OPERATORS.get(definition.data_type, ())
    _check_operator(c, allowed, here, f"{definition.data_type} attribute")
    v = ContactAttributeValue
    column = getattr(v, _VALUE_COLUMN[definition.data_type])

    def holds(predicate: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.exists().where(v.team_contact_id == TeamContact.id, v.attribute_id == definition.id,
                                 predicate).correlate(TeamContact)

    op, data_type = c.operator, definition.data_type
    if op == "exists":
        present = holds(column.is_not(None) if data_type not in ("text", "select", "multi_select")
                        else sa.and_(column.is_not(None), column != ""))
        return present if _exists_value(c, here) else sa.not_(present)
    if data_type == "text":
        return _text_match(c, here, column, holds)
    if data_type == "number":
        number = _number_value(c, here)
        compare = {"eq": column == number, "neq": column == number, "gt": column > number,
                   "gte": column >= number, "lt": column < number, "lte": column <= number}[op]
        return sa.not_(holds(compare)) if op == "neq" else holds(compare)
    if data_type == "date":
        when = _datetime_value(c.value, (*here, "value"))
        return holds(column < when if op == "before" else column > when)
    if data_type == "boolean":
        value = _require_value(c, here)
        if not isinstance(value, bool):
            raise InvalidSegment("The value must be true or false.", field=(*here, "value"), reason="invalid_value")
        return holds(column.is_(True) if value else column.is_(False))
    if data_type == "select":
        chosen = _choice_values(c, here, definition.options, "unknown_option", strict)
        match = holds(column.in_(chosen))
        return match if op in ("eq", "in") else sa.not_(match)
    # multi_select (has / not_has one option): one value row per chosen option
    (option,) = _choice_values(c, here, definition.options, "unknown_option", strict)
    match = holds(column == option)
    return match if op == "has" else sa.not_(match)


# ---- saved segments -------------------------------------------------------------------------------


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


async def get_segment(uow: UnitOfWork, team_id: uuid.UUID, segment_id: uuid.UUID | None) -> Segment:
    """The team's segment, or 404 (also another team's, or a malformed id)."""
    segment = await uow.session.get(Segment, segment_id) if segment_id else None
    if segment is None or segment.team_id != team_id:
        raise NotFound("Segment not found.")
    return segment


async def segment_clause(uow: UnitOfWork, team_id: uuid.UUID,
                         segment_id: uuid.UUID | None) -> sa.ColumnElement[bool]:
    """The clause of a saved segment (see :func:`compile_conditions`); NotFound when the segment is
    unknown or another team's. A tag, hub or attribute deleted since the segment was saved matches
    as "nobody has it" rather than failing."""
    segment = await get_segment(uow, team_id, segment_id)
    return await compile_conditions(uow, team_id, segment.conditions, strict=False)


async def segment_clauses(uow: UnitOfWork, team_id: uuid.UUID,
                          segment_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, sa.ColumnElement[bool]]:
    """The clauses of several saved segments (as :func:`segment_clause`), in a bounded number of
    queries whatever their number: one for the segments, then at most one per reference kind (tags,
    hubs, attributes, options) for all of them together. Unknown and other teams' segments are left
    out: they match nobody."""
    if not segment_ids:
        return {}
    rows = (await uow.session.execute(sa.select(Segment.id, Segment.conditions).where(
        Segment.team_id == team_id, Segment.id.in_(set(segment_ids))))).all()
    trees: dict[uuid.UUID, SegmentConditions] = {}
    for segment_id, conditions in rows:
        try:
            trees[segment_id] = parse_conditions(conditions)
        except InvalidSegment:  # stored trees were validated; one that no longer parses matches nobody
            continue
    merged = SegmentConditions(version=TREE_VERSION, groups=[g for t in trees.values() for g in t.groups])
    refs = await _load_references(uow, team_id, merged)
    return {sid: _compile_tree(team_id, tree, refs, CONDITIONS, False) for sid, tree in trees.items()}


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A segment needs a name of 1 to 200 characters.", code="invalid_name",
                               field="name")
    return name


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > 1000:
        raise ValidationFailed("A description is at most 1000 characters.", code="invalid_description",
                               field="description")
    return description or None


async def _validated_tree(uow: UnitOfWork, team_id: uuid.UUID, raw: Any) -> dict[str, Any]:
    tree = parse_conditions(raw)
    await compile_conditions(uow, team_id, tree)  # every node and reference checked, strictly
    return canonical(tree)


async def list_segments(uow: UnitOfWork, team_id: uuid.UUID, page: PageRequest) -> Page[Segment]:
    return await paginate(uow.session, sa.select(Segment).where(Segment.team_id == team_id), Segment.id, page)


async def create_segment(uow: UnitOfWork, clock: Clock, team_id: uuid.UUID, *, name: str,
                         description: str | None, conditions: Any) -> Segment:
    name = _check_name(name)
    description = _check_description(description)
    tree = await _validated_tree(uow, team_id, conditions)
    now = clock.now()
    segment = Segment(team_id=team_id, name=name, description=description, conditions=tree,
                      created_at=now, updated_at=now)
    uow.session.add(segment)
    await uow.session.flush()
    return segment


_KEEP: Any = object()


async def update_segment(uow: UnitOfWork, clock: Clock, team_id: uuid.UUID, segment_id: uuid.UUID | None, *,
                         name: Any = _KEEP, description: Any = _KEEP, conditions: Any = _KEEP) -> Segment:
    """Change what is given; new conditions are validated as strictly as on create."""
    segment = await get_segment(uow, team_id, segment_id)
    if name is not _KEEP:
        segment.name = _check_name(name)
    if description is not _KEEP:
        segment.description = _check_description(description)
    if conditions is not _KEEP:
        segment.conditions = await _validated_tree(uow, team_id, conditions)
    segment.updated_at = clock.now()
    await uow.session.flush()
    facts_changed(uow, team_id=team_id)  # access rules may name it in any hub of the team
    return segment


async def delete_segment(uow: UnitOfWork, team_id: uuid.UUID, segment_id: uuid.UUID | None) -> None:
    segment = await get_segment(uow, team_id, segment_id)
    await uow.session.delete(segment)
    await uow.session.flush()
    facts_changed(uow, team_id=team_id)


# ---- members ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentMember:
    """A matching team contact with its contact's email and the names shown in the CRM."""

    team_contact: TeamContact
    contact: Contact

    @property
    def id(self) -> uuid.UUID:
        return self.team_contact.id

    @property
    def first_name(self) -> str | None:
        return self.team_contact.first_name or self.contact.first_name

    @property
    def last_name(self) -> str | None:
        return self.team_contact.last_name or self.contact.last_name


async def _members_page(uow: UnitOfWork, clause: sa.ColumnElement[bool], page: PageRequest) -> Page[SegmentMember]:
    tc_page = await paginate(uow.session, sa.select(TeamContact).where(clause), TeamContact.id, page)
    ids = {tc.contact_id for tc in tc_page.items}
    contacts = {c.id: c for c in (await uow.session.scalars(sa.select(Contact).where(Contact.id.in_(ids)))).all()} \
        if ids else {}
    return Page([SegmentMember(tc, contacts[tc.contact_id]) for tc in tc_page.items], tc_page.has_more,
                tc_page.next_cursor)


async def count_matches(uow: UnitOfWork, clause: sa.ColumnElement[bool]) -> int:
    n = await uow.session.scalar(sa.select(sa.func.count()).select_from(TeamContact).where(clause))
    return int(n or 0)


async def segment_members(uow: UnitOfWork, team_id: uuid.UUID, segment_id: uuid.UUID | None,
                          page: PageRequest) -> Page[SegmentMember]:
    """One cursor page of the team contacts a saved segment matches, oldest first."""
    return await _members_page(uow, await segment_clause(uow, team_id, segment_id), page)


async def count_segment_members(uow: UnitOfWork, team_id: uuid.UUID, segment_id: uuid.UUID | None) -> int:
    return await count_matches(uow, await segment_clause(uow, team_id, segment_id))


async def search_contacts(uow: UnitOfWork, team_id: uuid.UUID, conditions: Any,
                          page_size: int) -> tuple[Page[SegmentMember], int]:
    """Preview an unsaved tree: the first ``page_size`` matches and how many match in all."""
    clause = await compile_conditions(uow, team_id, conditions)
    page = await _members_page(uow, clause, PageRequest(size=page_size))
    return page, await count_matches(uow, clause)
