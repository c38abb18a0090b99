"""Access rules: the conditions a member must meet to reach a target (the hub, a space, a content
node and everything under it, a page and its sections, a section, a file). A rule joins its
conditions with ``any`` or ``all``; every rule on the path from the hub down to the target must
pass (see ``domain.access.evaluator``).

Rules are validated when written, so the evaluator reads only well-formed conditions: the target
must exist in the hub, tags and segments must be the team's, and each condition's data has exactly
the keys its type names. A rule change concerns every member of the hub, so it invalidates the
hub's facts as a whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from domain.access.facts import ENTITLEMENT_KINDS, HUB_ROLE_RANK, TARGET_TYPES
from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.errors import NotFound, ValidationFailed
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import AccessRule, ContentNode, Hub, MediaFile, PageSection, Segment, Space, Tag
from persistence.models import Page as PageModel
from persistence.pagination import Page, PageRequest, paginate

LOGIC_OPERATORS = ("any", "all")
POLICY_TYPES = ("tos", "privacy_policy")
MAX_CONDITIONS = 20
MAX_DRIP_DAYS = 3650
MAX_NAME = 200

# condition_type -> (required keys, optional keys)
CONDITION_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "has_entitlement": (frozenset({"kind"}), frozenset({"target_id"})),
    "has_tag": (frozenset({"tag_id"}), frozenset()),
    "in_segment": (frozenset({"segment_id"}), frozenset()),
    "role_at_least": (frozenset({"role"}), frozenset()),
    "days_since_join": (frozenset({"days"}), frozenset()),
    "available_after": (frozenset({"at"}), frozenset()),
    "policy_accepted": (frozenset({"policy_type"}), frozenset()),
}


# ---- targets (shared with overrides) ------------------------------------------------------------


async def check_target(uow: UnitOfWork, hub: Hub, target_type: Any, target_id: Any) -> tuple[str, uuid.UUID]:
    """(type, id) of a target that exists in ``hub``, else 422 pointing at the attribute at fault:
    ``invalid_target_type`` or ``unknown_target`` (not this hub's id, another hub's, a deleted
    space, content node, page, file or section, or a section of a deleted page)."""
    if target_type not in TARGET_TYPES:
        raise ValidationFailed(f"target_type must be one of {', '.join(TARGET_TYPES)}.",
                               code="invalid_target_type", field="target_type")
    tid = parse_id(target_id) if isinstance(target_id, str) else None
    found = False
    if tid is not None:
        if target_type == "hub":
            found = tid == hub.id
        elif target_type == "section":
            found = await uow.session.scalar(
                sa.select(PageSection.id).join(PageModel, PageModel.id == PageSection.page_id)
                .where(PageSection.id == tid, PageSection.hub_id == hub.id, PageSection.deleted_at.is_(None),
                       PageModel.hub_id == hub.id, PageModel.deleted_at.is_(None))
            ) is not None
        else:
            model: Any = {"space": Space, "content_node": ContentNode, "page": PageModel,
                          "media": MediaFile}[target_type]
            found = await uow.session.scalar(
                sa.select(model.id).where(model.id == tid, model.hub_id == hub.id, model.deleted_at.is_(None))
            ) is not None
    if not found or tid is None:
        raise ValidationFailed(f"No {target_type} of this hub has this id.", code="unknown_target",
                               field="target_id")
    return target_type, tid


# ---- conditions ---------------------------------------------------------------------------------


async def check_conditions(uow: UnitOfWork, hub: Hub, conditions: Any) -> list[dict[str, Any]]:
    """The conditions as stored (ids canonical, ``available_after.at`` in UTC), or 422 naming
    the condition, or the key inside its data, that is wrong."""
    base = ("conditions",)
    if not isinstance(conditions, list):
        raise ValidationFailed("conditions is a list of {condition_type, condition_data}.", code="invalid_condition",
                               field=base)
    if not conditions:
        raise ValidationFailed("A rule needs at least one condition.", code="no_conditions", field=base)
    if len(conditions) > MAX_CONDITIONS:
        raise ValidationFailed(f"A rule has at most {MAX_CONDITIONS} conditions.", code="too_many_conditions",
                               field=base, meta={"max": MAX_CONDITIONS})
    return [await _condition(uow, hub, c, (*base, i)) for i, c in enumerate(conditions)]


_Path = tuple[str | int, ...]


def _bad(detail: str, at: _Path) -> ValidationFailed:
    return ValidationFailed(detail, code="invalid_condition", field=at)


async def _condition(uow: UnitOfWork, hub: Hub, cond: Any, at: _Path) -> dict[str, Any]:
    if not isinstance(cond, dict):
        raise _bad("A condition is an object {condition_type, condition_data}.", at)
    for key in cond:
        if key not in ("condition_type", "condition_data"):
            raise _bad(f"Unknown key `{key}`; a condition has condition_type and condition_data.", (*at, key))
    ctype = cond.get("condition_type")
    if ctype not in CONDITION_KEYS:
        raise _bad(f"condition_type must be one of {', '.join(CONDITION_KEYS)}.", (*at, "condition_type"))
    data = cond.get("condition_data")
    at_data = (*at, "condition_data")
    if not isinstance(data, dict):
        raise _bad(f"condition_data of {ctype} is an object.", at_data)
    required, optional = CONDITION_KEYS[ctype]
    for key in data:
        if key not in required | optional:
            raise _bad(f"{ctype} takes {', '.join(sorted(required | optional))}; not `{key}`.", (*at_data, key))
    for key in sorted(required):
        if key not in data:
            raise _bad(f"{ctype} needs `{key}`.", (*at_data, key))
    return {"condition_type": ctype, "condition_data": await _condition_data(uow, hub, ctype, data, at_data)}


async def _condition_data(uow: UnitOfWork, hub: Hub, ctype: str, data: dict[str, Any], at: _Path) -> dict[str, Any]:
    if ctype == "has_entitlement":
        if data["kind"] not in ENTITLEMENT_KINDS:
            raise _bad(f"kind must be one of {', '.join(ENTITLEMENT_KINDS)}.", (*at, "kind"))
        out: dict[str, Any] = {"kind": data["kind"]}
        if data.get("target_id") is not None:
            tid = parse_id(data["target_id"]) if isinstance(data["target_id"], str) else None
            if tid is None:
                raise _bad("target_id is an id (or null for any target).", (*at, "target_id"))
            out["target_id"] = str(tid)
        return out
    if ctype in ("has_tag", "in_segment"):
        key, model, code = ("tag_id", Tag, "unknown_tag") if ctype == "has_tag" else \
            ("segment_id", Segment, "unknown_segment")
        raw = data[key]
        if not isinstance(raw, str):
            raise _bad(f"{key} is an id.", (*at, key))
        rid = parse_id(raw)
        exists = rid is not None and await uow.session.scalar(
            sa.select(model.id).where(model.id == rid, model.team_id == hub.team_id)) is not None
        if not exists:
            what = "tag" if ctype == "has_tag" else "segment"
            raise ValidationFailed(f"No {what} of this team has this id.", code=code, field=(*at, key))
        return {key: str(rid)}
    if ctype == "role_at_least":
        if data["role"] not in HUB_ROLE_RANK:
            raise _bad(f"role must be one of {', '.join(HUB_ROLE_RANK)}.", (*at, "role"))
        return {"role": data["role"]}
    if ctype == "days_since_join":
        days = data["days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DRIP_DAYS:
            raise _bad(f"days is a whole number from 0 to {MAX_DRIP_DAYS}.", (*at, "days"))
        return {"days": days}
    if ctype == "available_after":
        return {"at": _utc_iso(data["at"], (*at, "at"))}
    if data["policy_type"] not in POLICY_TYPES:
        raise _bad(f"policy_type must be one of {', '.join(POLICY_TYPES)}.", (*at, "policy_type"))
    return {"policy_type": data["policy_type"]}


def _utc_iso(value: Any, at: _Path) -> str:
    moment = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise _bad("at is an ISO 8601 date-time with a UTC offset (2027-01-01T09:00:00+02:00).", at)
    return moment.astimezone(timezone.utc).isoformat()


# ---- use cases ----------------------------------------------------------------------------------


async def create_rule(ctx: Ctx, hub: Hub, fields: Mapping[str, Any]) -> AccessRule:
    """Create a rule on a target of ``hub`` (``logic_operator`` defaults to ``all``)."""
    uow = ctx.uow
    target_type, target_id = await check_target(uow, hub, fields.get("target_type"), fields.get("target_id"))
    logic = _check_logic(fields.get("logic_operator", "all"))
    conditions = await check_conditions(uow, hub, fields.get("conditions"))
    now = ctx.now()
    rule = AccessRule(hub_id=hub.id, target_type=target_type, target_id=target_id, logic_operator=logic,
                      conditions=conditions, name=_check_name(fields.get("name")), created_at=now, updated_at=now)
    uow.session.add(rule)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)
    return rule


async def update_rule(ctx: Ctx, hub: Hub, rule: AccessRule, changes: Mapping[str, Any]) -> AccessRule:
    """Apply a partial update (``changes`` holds only what was sent). A new target type is checked
    together with the target id, sent or kept."""
    uow = ctx.uow
    if "target_type" in changes or "target_id" in changes:
        rule.target_type, rule.target_id = await check_target(
            uow, hub, changes.get("target_type", rule.target_type), changes.get("target_id", str(rule.target_id)))
    if "logic_operator" in changes:
        rule.logic_operator = _check_logic(changes["logic_operator"])
    if "conditions" in changes:
        rule.conditions = await check_conditions(uow, hub, changes["conditions"])
    if "name" in changes:
        rule.name = _check_name(changes["name"])
    rule.updated_at = ctx.now()
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)
    return rule


async def delete_rule(ctx: Ctx, hub: Hub, rule: AccessRule) -> None:
    """Delete a rule: its target opens up to whatever other rules allow."""
    await ctx.uow.session.delete(rule)
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=hub.id)


async def get_rule(ctx: Ctx, hub: Hub, rule_id: uuid.UUID | None, *, lock: bool = False) -> AccessRule:
    """The hub's rule, or 404 (another hub's, another team's, a malformed id)."""
    if rule_id is None:
        raise NotFound("Access rule not found.")
    stmt = sa.select(AccessRule).where(AccessRule.id == rule_id, AccessRule.hub_id == hub.id)
    rule = await ctx.uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if rule is None:
        raise NotFound("Access rule not found.")
    return rule


async def list_rules(ctx: Ctx, hub: Hub, page: PageRequest, *, target_type: str | None = None,
                     target_id: str | None = None) -> Page[AccessRule]:
    """The hub's rules in creation order."""
    stmt = sa.select(AccessRule).where(AccessRule.hub_id == hub.id)
    if target_type is not None:
        if target_type not in TARGET_TYPES:
            raise ValidationFailed(f"filter[target_type] must be one of {', '.join(TARGET_TYPES)}.",
                                   code="invalid_filter", parameter="filter[target_type]")
        stmt = stmt.where(AccessRule.target_type == target_type)
    if target_id is not None:
        tid = parse_id(target_id)
        if tid is None:
            raise ValidationFailed("filter[target_id] must be an id.", code="invalid_filter",
                                   parameter="filter[target_id]")
        stmt = stmt.where(AccessRule.target_id == tid)
    return await paginate(ctx.uow.session, stmt, AccessRule.id, page)


def _check_logic(value: Any) -> str:
    if value not in LOGIC_OPERATORS:
        raise ValidationFailed("logic_operator is any or all.", code="invalid_logic_operator",
                               field="logic_operator")
    return str(value)


def _check_name(value: Any) -> str | None:
    if value is None:
        return None
    name = str(value).strip()
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"name is at most {MAX_NAME} characters.", code="invalid_name", field="name")
    return name or None
