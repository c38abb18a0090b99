"""Compiling a segment's condition tree to one SQL boolean clause over ``TeamContact``.

A valid tree (``domain/crm/segment_conditions.py``) compiles to a single ``ColumnElement[bool]``
(EXISTS subqueries for contacts, tags, attribute values and hub memberships), so matching happens
in the database, never row by row in Python, and gives the same answer on SQLite and PostgreSQL.
What the tree refers to (tags, hubs, attribute definitions and their options) is loaded in one
query per kind and checked while compiling.

Matching rules that hold for every type:
- text comparisons (``eq``, ``neq``, ``contains``) ignore the case of ASCII letters only, on both
  backends (PostgreSQL is told to fold like SQLite does); other characters compare exactly;
- each negation (``neq``, ``not_in``, ``not_has``, ``exists`` with ``false``) is the exact
  complement of its positive operator: a contact without a value matches ``neq``;
- soft-deleted team contacts and other teams' contacts never match.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from domain.crm.lifecycle import LIFECYCLE_STAGES
from domain.crm.segment_conditions import (
    ATTRIBUTE_OPERATORS,
    CONDITION_TYPES,
    CONDITIONS,
    NEGATIONS,
    OPERATORS,
    TREE_VERSION,
    Condition,
    InvalidSegment,
    Path,
    SegmentConditions,
    check_operator,
    choice_values,
    datetime_value,
    exists_value,
    id_value,
    number_value,
    parse_conditions,
    require_value,
    text_value,
)
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
    Tag,
    TeamContact,
)

# Memberships in these statuses count for `hub_membership`; banned and left ones do not.
MEMBERSHIP_STATUSES = ("active", "soft_banned")

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


async def compile_saved_trees(
    uow: UnitOfWork, team_id: uuid.UUID, trees: Mapping[uuid.UUID, SegmentConditions],
) -> dict[uuid.UUID, sa.ColumnElement[bool]]:
    """The clauses of several saved (already parsed) trees by segment id, with what they refer to
    loaded once for all of them: at most one query per reference kind (tags, hubs, attributes,
    options). A reference deleted since a tree was saved matches as "nobody has it"."""
    merged = SegmentConditions(version=TREE_VERSION, groups=[g for t in trees.values() for g in t.groups])
    refs = await _load_references(uow, team_id, merged)
    return {sid: _compile_tree(team_id, tree, refs, CONDITIONS, False) for sid, tree in trees.items()}


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
        check_operator(c, OPERATORS[c.type], here)
    if c.type == "email":
        return _email(c, here)
    if c.type == "name":
        return _name(c, here)
    if c.type == "lifecycle_stage":
        return _lifecycle_stage(c, here)
    if c.type == "created_at":
        when = datetime_value(c.value, (*here, "value"))
        return TeamContact.created_at < when if c.operator == "before" else TeamContact.created_at > when
    if c.type == "tag":
        tag_id = id_value(c.value, (*here, "value"), "tag")
        if tag_id not in refs.tags:
            if strict:
                raise InvalidSegment("No such tag in this team.", field=(*here, "value"), reason="unknown_tag")
            return _nobody_has(c.operator)
        has = sa.exists().where(ContactTag.team_contact_id == TeamContact.id, ContactTag.tag_id == tag_id)
        return _positive_or_not(c.operator, has.correlate(TeamContact))
    if c.type == "hub_membership":
        hub_id = id_value(c.value, (*here, "value"), "hub")
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

def _positive_or_not(operator: str, positive: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.not_(positive) if operator in NEGATIONS else positive


def _nobody_has(operator: str) -> sa.ColumnElement[bool]:
    return sa.true() if operator in NEGATIONS else sa.false()

# -- per type


def _on_contact(predicate: sa.ColumnElement[bool], contact: Any) -> sa.ColumnElement[bool]:
    """EXISTS over the team contact's global contact, so the clause needs no join from the caller."""
    return sa.exists().where(contact.id == TeamContact.contact_id, predicate).correlate(TeamContact)


def _text_match(c: Condition, here: Path, column: Any, on: Any) -> sa.ColumnElement[bool]:
    """eq / neq / contains / exists over a text expression, with ``on`` wrapping a predicate into
    the EXISTS that finds the row holding the text."""
    if c.operator == "exists":
        present = on(sa.and_(column.is_not(None), column != ""))
        return present if exists_value(c, here) else sa.not_(present)
    text = text_value(c, here)
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
    stages = choice_values(c, here, LIFECYCLE_STAGES, "unknown_lifecycle_stage")
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
    check_operator(c, allowed, here, f"{definition.data_type} attribute")
    v = ContactAttributeValue
    column = getattr(v, _VALUE_COLUMN[definition.data_type])

    def holds(predicate: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.exists().where(v.team_contact_id == TeamContact.id, v.attribute_id == definition.id,
                                 predicate).correlate(TeamContact)

    op, data_type = c.operator, definition.data_type
    if op == "exists":
        present = holds(column.is_not(None) if data_type not in ("text", "select", "multi_select")
                        else sa.and_(column.is_not(None), column != ""))
        return present if exists_value(c, here) else sa.not_(present)
    if data_type == "text":
        return _text_match(c, here, column, holds)
    if data_type == "number":
        number = number_value(c, here)
        compare = {"eq": column == number, "neq": column == number, "gt": column > number,
                   "gte": column >= number, "lt": column < number, "lte": column <= number}[op]
        return sa.not_(holds(compare)) if op == "neq" else holds(compare)
    if data_type == "date":
        when = datetime_value(c.value, (*here, "value"))
        return holds(column < when if op == "before" else column > when)
    if data_type == "boolean":
        value = require_value(c, here)
        if not isinstance(value, bool):
            raise InvalidSegment("The value must be true or false.", field=(*here, "value"), reason="invalid_value")
        return holds(column.is_(True) if value else column.is_(False))
    if data_type == "select":
        chosen = choice_values(c, here, definition.options, "unknown_option", strict)
        match = holds(column.in_(chosen))
        return match if op in ("eq", "in") else sa.not_(match)
    # multi_select (has / not_has one option): one value row per chosen option
    (option,) = choice_values(c, here, definition.options, "unknown_option", strict)
    match = holds(column == option)
    return match if op == "has" else sa.not_(match)

