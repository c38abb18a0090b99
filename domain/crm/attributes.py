"""Contact attributes: typed field definitions a team adds to its CRM, their select options, and
the values each team contact holds, validated against the definitions.

Values live in the typed column their definition uses (``value_text``, ``value_number``,
``value_date``, ``value_bool``); a multi_select stores one row per chosen option, so segments
match them with plain SQL.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.crm.contacts import find_team_contact
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import (
    ContactAttribute,
    ContactAttributeOption,
    ContactAttributeValue,
)
from persistence.pagination import Page, PageRequest, paginate

DATA_TYPES = ("text", "number", "date", "boolean", "select", "multi_select")
SELECT_TYPES = frozenset({"select", "multi_select"})
MAX_TEXT = 5000
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class AttributeRecord:
    """A definition with its options (in display order)."""

    attribute: ContactAttribute
    options: list[ContactAttributeOption]


# ---- definitions -----------------------------------------------------------------------------------


async def create_attribute(ctx: Ctx, team: TeamContext, *, key: str, name: str,
                           data_type: str, description: str | None = None,
                           options: Sequence[Mapping[str, Any]] = ()) -> AttributeRecord:
    """A new definition; ``key`` is unique per team (409 ``attribute_exists``). Select types may
    bring their options along."""
    if not _KEY.match(key):
        raise ValidationFailed("key starts with a lowercase letter and has at most 64 lowercase letters, "
                               "digits, `_` and `-`.", code="invalid_attribute_key", field="key")
    name = name.strip()
    if not name:
        raise ValidationFailed("An attribute needs a name.", code="invalid_name", field="name")
    if data_type not in DATA_TYPES:
        raise ValidationFailed(f"data_type must be one of {', '.join(DATA_TYPES)}.", code="invalid_data_type",
                               field="data_type")
    if options and data_type not in SELECT_TYPES:
        raise ValidationFailed("Only select and multi_select attributes have options.",
                               code="options_not_supported", field="options")
    checked: list[tuple[str, str, int]] = []  # every check before the first write: all or nothing
    for index, option in enumerate(options):
        value, label = _check_option(option.get("value"), option.get("label"), ("options", index))
        if any(value == v for v, _, _ in checked):
            raise Conflict("This option value is listed twice.", code="option_exists",
                           field=("options", index, "value"))
        position = option.get("position")
        checked.append((value, label, index if position is None else position))
    s = ctx.uow.session
    taken = await s.scalar(sa.select(ContactAttribute.id).where(ContactAttribute.team_id == team.team_id,
                                                                ContactAttribute.key == key))
    if taken is not None:
        raise Conflict("The team already has an attribute with this key.", code="attribute_exists",
                       field="key", meta={"attribute_id": str(taken)})
    now = ctx.now()
    attribute = ContactAttribute(team_id=team.team_id, key=key, name=name, data_type=data_type,
                                 description=(description or "").strip() or None, created_at=now, updated_at=now)
    try:
        async with s.begin_nested():
            s.add(attribute)
            await s.flush()
            s.add_all([ContactAttributeOption(attribute_id=attribute.id, value=value, label=label,
                                              position=position, created_at=now)
                       for value, label, position in checked])
            await s.flush()
    except sa.exc.IntegrityError:
        raise Conflict("The team already has an attribute with this key.", code="attribute_exists",
                       field="key") from None
    return (await _with_options(ctx.uow, [attribute]))[0]


async def list_attributes(ctx: Ctx, team: TeamContext, page: PageRequest) -> Page[AttributeRecord]:
    """The team's definitions in creation order, with their options."""
    stmt = sa.select(ContactAttribute).where(ContactAttribute.team_id == team.team_id)
    attrs = await paginate(ctx.uow.session, stmt, ContactAttribute.id, page)
    return Page(await _with_options(ctx.uow, attrs.items), attrs.has_more, attrs.next_cursor)


async def get_attribute(ctx: Ctx, team: TeamContext, attribute_id: uuid.UUID | None) -> AttributeRecord:
    """One of the team's definitions with its options, or 404."""
    return (await _with_options(ctx.uow, [await find_attribute(ctx.uow, team, attribute_id)]))[0]


async def update_attribute(ctx: Ctx, team: TeamContext, attribute_id: uuid.UUID | None,
                           changes: Mapping[str, Any]) -> AttributeRecord:
    """Rename or re-describe a definition. Key and data type are fixed: values depend on them."""
    attribute = await find_attribute(ctx.uow, team, attribute_id)
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise ValidationFailed("An attribute needs a name.", code="invalid_name", field="name")
        attribute.name = name
    if "description" in changes:
        attribute.description = (changes["description"] or "").strip() or None
    attribute.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return await get_attribute(ctx, team, attribute.id)


async def delete_attribute(ctx: Ctx, team: TeamContext, attribute_id: uuid.UUID | None) -> None:
    """Delete a definition with its options and every contact's value for it."""
    uow = ctx.uow
    attribute = await find_attribute(uow, team, attribute_id)
    s = uow.session
    await s.execute(sa.delete(ContactAttributeValue).where(ContactAttributeValue.attribute_id == attribute.id))
    await s.execute(sa.delete(ContactAttributeOption).where(ContactAttributeOption.attribute_id == attribute.id))
    await s.delete(attribute)
    await s.flush()
    facts_changed(uow, team_id=team.team_id)  # segments over it change for everyone


async def find_attribute(uow: UnitOfWork, team: TeamContext, attribute_id: uuid.UUID | None) -> ContactAttribute:
    """The team's definition, 404 for a malformed, unknown or foreign id."""
    attribute = await uow.session.get(ContactAttribute, attribute_id) if attribute_id else None
    if attribute is None or attribute.team_id != team.team_id:
        raise NotFound("Contact attribute not found.")
    return attribute


# ---- options -----------------------------------------------------------------------------------------


async def list_options(ctx: Ctx, team: TeamContext, attribute_id: uuid.UUID | None,
                       page: PageRequest) -> Page[ContactAttributeOption]:
    """A definition's options in creation order (documents list them by ``position``)."""
    attribute = await find_attribute(ctx.uow, team, attribute_id)
    stmt = sa.select(ContactAttributeOption).where(ContactAttributeOption.attribute_id == attribute.id)
    return await paginate(ctx.uow.session, stmt, ContactAttributeOption.id, page)


async def add_option(ctx: Ctx, team: TeamContext, attribute_id: uuid.UUID | None, *,
                     value: str, label: str | None = None, position: int | None = None) -> ContactAttributeOption:
    """A new option of a select or multi_select definition (422 ``options_not_supported`` for
    other types, 409 ``option_exists`` for a value it already has). Without a position it goes last."""
    attribute = await find_attribute(ctx.uow, team, attribute_id)
    if attribute.data_type not in SELECT_TYPES:
        raise ValidationFailed(f"A {attribute.data_type} attribute has no options; only select and "
                               "multi_select do.", code="options_not_supported")
    value, label = _check_option(value, label, ())
    s = ctx.uow.session
    if await s.scalar(sa.select(ContactAttributeOption.id).where(
            ContactAttributeOption.attribute_id == attribute.id, ContactAttributeOption.value == value)) is not None:
        raise Conflict("This attribute already has an option with this value.", code="option_exists",
                       field="value")
    if position is None:
        last = await s.scalar(sa.select(sa.func.max(ContactAttributeOption.position))
                              .where(ContactAttributeOption.attribute_id == attribute.id))
        position = 0 if last is None else last + 1
    option = ContactAttributeOption(attribute_id=attribute.id, value=value, label=label, position=position,
                                    created_at=ctx.now())
    try:
        async with s.begin_nested():
            s.add(option)
            await s.flush()
    except sa.exc.IntegrityError:
        raise Conflict("This attribute already has an option with this value.", code="option_exists",
                       field="value") from None
    return option


def _check_option(value: Any, label: Any, at: tuple[str | int, ...]) -> tuple[str, str]:
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise ValidationFailed("An option needs a value.", code="invalid_option", field=(*at, "value"))
    label = label.strip() if isinstance(label, str) else ""
    return value, label or value


async def _with_options(uow: UnitOfWork, attrs: Sequence[ContactAttribute]) -> list[AttributeRecord]:
    """Definitions with their options: one query for the whole page."""
    options: dict[uuid.UUID, list[ContactAttributeOption]] = {a.id: [] for a in attrs}
    if options:
        rows = await uow.session.scalars(
            sa.select(ContactAttributeOption).where(ContactAttributeOption.attribute_id.in_(list(options)))
            .order_by(ContactAttributeOption.position, ContactAttributeOption.value)
        )
        for option in rows:
            options[option.attribute_id].append(option)
    return [AttributeRecord(a, options[a.id]) for a in attrs]


# ---- values --------------------------------------------------------------------------------------------


async def get_values(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None) -> dict[str, Any]:
    """The contact's values as ``{key: value}`` (only keys that hold a value): text and select
    as strings, numbers, booleans, dates as UTC datetimes, multi_select as a list of option values."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id)
    rows = await uow.session.execute(
        sa.select(ContactAttribute, ContactAttributeValue)
        .join(ContactAttributeValue, ContactAttributeValue.attribute_id == ContactAttribute.id)
        .where(ContactAttributeValue.team_contact_id == tc.id, ContactAttribute.team_id == team.team_id)
        .order_by(ContactAttribute.id, ContactAttributeValue.id)
    )
    out: dict[str, Any] = {}
    multi: dict[uuid.UUID, str] = {}
    for attribute, row in rows:
        value = _read(attribute.data_type, row)
        if attribute.data_type == "multi_select":
            out.setdefault(attribute.key, []).append(value)
            multi[attribute.id] = attribute.key
        else:
            out[attribute.key] = value
    if multi:  # chosen options in the definition's display order
        positions = {(attr_id, value): position for attr_id, value, position in (await uow.session.execute(
            sa.select(ContactAttributeOption.attribute_id, ContactAttributeOption.value,
                      ContactAttributeOption.position)
            .where(ContactAttributeOption.attribute_id.in_(list(multi)))
        ))}
        for attr_id, key in multi.items():
            out[key].sort(key=lambda v, i=attr_id: (positions.get((i, v), 1 << 30), v))
    return out


async def set_values(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None,
                     values: Mapping[str, Any]) -> dict[str, Any]:
    """Set (or, with ``None``, clear) the given keys' values, all or nothing: every value is
    checked against its definition first — an unknown key (``unknown_attribute``), a value of the
    wrong type (``invalid_attribute_value``) or an option the definition lacks (``unknown_option``)
    is a 422 naming the field ``values/<key>`` and nothing changes."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id)
    s = uow.session
    attrs = {a.key: a for a in (await s.scalars(
        sa.select(ContactAttribute).where(ContactAttribute.team_id == team.team_id,
                                          ContactAttribute.key.in_(list(values)))
    )).all()} if values else {}
    select_ids = [a.id for a in attrs.values() if a.data_type in SELECT_TYPES]
    options: dict[uuid.UUID, set[str]] = {i: set() for i in select_ids}
    if select_ids:
        for attr_id, value in (await s.execute(
            sa.select(ContactAttributeOption.attribute_id, ContactAttributeOption.value)
            .where(ContactAttributeOption.attribute_id.in_(select_ids))
        )):
            options[attr_id].add(value)
    planned: list[tuple[ContactAttribute, list[dict[str, Any]]]] = []
    for key, raw in values.items():
        at = ("values", key)
        attribute = attrs.get(key)
        if attribute is None:
            raise ValidationFailed(f"No contact attribute has the key `{key}`.", code="unknown_attribute", field=at)
        planned.append((attribute, _columns(attribute, raw, options.get(attribute.id, set()), at)))
    now = ctx.now()
    for attribute, rows in planned:
        await s.execute(sa.delete(ContactAttributeValue).where(ContactAttributeValue.team_contact_id == tc.id,
                                                               ContactAttributeValue.attribute_id == attribute.id))
        s.add_all([ContactAttributeValue(team_contact_id=tc.id, attribute_id=attribute.id, updated_at=now, **cols)
                   for cols in rows])
    if planned:
        tc.updated_at = now
        facts_changed(uow, team_id=team.team_id, contact_id=tc.contact_id)  # segments may match differently
    await s.flush()
    return await get_values(ctx, team, tc.id)


def _columns(attribute: ContactAttribute, raw: Any, options: set[str],
             at: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """The rows (as column values) that store ``raw`` for ``attribute``; [] clears it."""
    if raw is None:
        return []
    kind = attribute.data_type

    def wrong(expected: str) -> ValidationFailed:
        return ValidationFailed(f"`{attribute.key}` is a {kind} attribute: send {expected} or null.",
                                code="invalid_attribute_value", field=at)

    if kind == "text":
        if not isinstance(raw, str) or len(raw) > MAX_TEXT:
            raise wrong(f"a string of at most {MAX_TEXT} characters")
        return [{"value_text": raw}]
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise wrong("a number")
        try:
            number = float(raw)
        except OverflowError:
            raise wrong("a finite number") from None
        if not math.isfinite(number):
            raise wrong("a finite number")
        return [{"value_number": number}]
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise wrong("true or false")
        return [{"value_bool": raw}]
    if kind == "date":
        moment = _parse_date(raw)
        if moment is None:
            raise wrong("an ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:30:00Z)")
        return [{"value_date": moment}]
    if kind == "select":
        if not isinstance(raw, str):
            raise wrong("one option value as a string")
        _check_known(raw, options, attribute, at)
        return [{"value_text": raw}]
    # multi_select
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise wrong("a list of option values")
    chosen: list[str] = []
    for index, value in enumerate(raw):
        _check_known(value, options, attribute, (*at, index))
        if value not in chosen:
            chosen.append(value)
    return [{"value_text": v} for v in chosen]


def _check_known(value: str, options: set[str], attribute: ContactAttribute, at: tuple[str | int, ...]) -> None:
    if value not in options:
        raise ValidationFailed(f"`{value[:100]}` is not an option of `{attribute.key}`.", code="unknown_option",
                               field=at, meta={"options": sorted(options)})


def _parse_date(raw: Any) -> datetime | None:
    """An ISO date (midnight UTC) or date-time (naive means UTC) as an aware UTC datetime."""
    if not isinstance(raw, str) or not 8 <= len(raw) <= 40:
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # not ISO, or out of range once moved to UTC (year 1 + offset)
        return None


def _read(kind: str, row: ContactAttributeValue) -> Any:
    if kind == "number":
        n = row.value_number
        return int(n) if n is not None and n.is_integer() and abs(n) < 2**53 else n
    if kind == "boolean":
        return row.value_bool
    if kind == "date":
        return row.value_date.isoformat().replace("+00:00", "Z") if row.value_date else None
    return row.value_text
