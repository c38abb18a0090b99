"""Access overrides: a per-contact exception that opens the whole hub (scope ``full``) or one
target and everything under it (scope ``target``), optionally until ``expires_at`` — at that exact
second it stops applying. A ban still beats an override (see ``domain.access.evaluator``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.access.rules import check_target
from domain.context import Ctx
from domain.errors import NotFound, ValidationFailed
from domain.filters import filter_choice, filter_id
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import AccessOverride, Hub, TeamContact
from persistence.pagination import Page, PageRequest, paginate

SCOPES = ("full", "target")
MAX_REASON = 1000


def is_active(o: AccessOverride, now: datetime) -> bool:
    """Applies at ``now``: no expiry, or not yet expired (``expires_at`` is exclusive)."""
    return o.expires_at is None or now < o.expires_at


async def create_override(ctx: Ctx, hub: Hub, fields: Mapping[str, Any], *,
                          created_by_user_id: uuid.UUID | None = None) -> AccessOverride:
    """Give one contact of the team an override in ``hub``."""
    uow, now = ctx.uow, ctx.now()
    contact_id = parse_id(fields["contact_id"]) if isinstance(fields.get("contact_id"), str) else None
    if contact_id is None or await uow.session.scalar(
        sa.select(TeamContact.id).where(TeamContact.team_id == hub.team_id, TeamContact.contact_id == contact_id,
                                        TeamContact.deleted_at.is_(None))
    ) is None:
        raise ValidationFailed("No contact of this team has this id.", code="unknown_contact",
                               field="contact_id")
    scope = _check_scope(fields.get("scope"))
    target_type, target_id = await _check_scope_target(uow, hub, scope, fields.get("target_type"),
                                                       fields.get("target_id"))
    override = AccessOverride(
        hub_id=hub.id, contact_id=contact_id, scope=scope, target_type=target_type, target_id=target_id,
        expires_at=_check_expiry(fields.get("expires_at"), now), reason=_check_reason(fields.get("reason")),
        created_by_user_id=created_by_user_id, created_at=now, updated_at=now,
    )
    uow.session.add(override)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id, contact_id=contact_id)
    return override


async def update_override(ctx: Ctx, hub: Hub, override: AccessOverride, changes: Mapping[str, Any]) -> AccessOverride:
    """Change scope and target, expiry (null: never expires) or reason; the contact stays."""
    uow, now = ctx.uow, ctx.now()
    if {"scope", "target_type", "target_id"} & set(changes):
        scope = _check_scope(changes.get("scope", override.scope))
        keep = scope == override.scope == "target"  # a target kept unless replaced
        override.target_type, override.target_id = await _check_scope_target(
            uow, hub, scope,
            changes.get("target_type", override.target_type if keep else None),
            changes.get("target_id", str(override.target_id) if keep and override.target_id else None),
        )
        override.scope = scope
    if "expires_at" in changes:
        override.expires_at = _check_expiry(changes["expires_at"], now)
    if "reason" in changes:
        override.reason = _check_reason(changes["reason"])
    override.updated_at = now
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id, contact_id=override.contact_id)
    return override


async def delete_override(ctx: Ctx, hub: Hub, override: AccessOverride) -> None:
    """Remove an override at once."""
    contact_id = override.contact_id
    await ctx.uow.session.delete(override)
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=hub.id, contact_id=contact_id)


async def get_override(ctx: Ctx, hub: Hub, override_id: uuid.UUID | None, *, lock: bool = False) -> AccessOverride:
    """The hub's override, or 404 (another hub's, another team's, a malformed id)."""
    if override_id is None:
        raise NotFound("Access override not found.")
    stmt = sa.select(AccessOverride).where(AccessOverride.id == override_id, AccessOverride.hub_id == hub.id)
    found = await ctx.uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None:
        raise NotFound("Access override not found.")
    return found


async def list_overrides(ctx: Ctx, hub: Hub, page: PageRequest, *, contact_id: str | None = None,
                         scope: str | None = None, active: bool | None = None) -> Page[AccessOverride]:
    """The hub's overrides in creation order; ``active`` filters on applying right now."""
    stmt = sa.select(AccessOverride).where(AccessOverride.hub_id == hub.id)
    if (cid := filter_id(contact_id, "contact_id")) is not None:
        stmt = stmt.where(AccessOverride.contact_id == cid)
    if filter_choice(scope, "scope", SCOPES) is not None:
        stmt = stmt.where(AccessOverride.scope == scope)
    if active is not None:
        now = ctx.now()
        clause = sa.or_(AccessOverride.expires_at.is_(None), AccessOverride.expires_at > now)
        stmt = stmt.where(clause if active else sa.not_(clause))
    return await paginate(ctx.uow.session, stmt, AccessOverride.id, page)


def _check_scope(scope: Any) -> str:
    if scope == "product":
        raise ValidationFailed("Product overrides arrive with the catalog; use scope full, or target with "
                               "target_type and target_id.", code="unsupported_scope", field="scope")
    if scope not in SCOPES:
        raise ValidationFailed("scope is full or target.", code="invalid_scope", field="scope")
    return str(scope)


async def _check_scope_target(uow: UnitOfWork, hub: Hub, scope: str, target_type: Any,
                              target_id: Any) -> tuple[str | None, uuid.UUID | None]:
    if scope == "full":
        for name, value in (("target_type", target_type), ("target_id", target_id)):
            if value is not None:
                raise ValidationFailed("A full override covers the whole hub: send no target.",
                                       code="target_not_allowed", field=name)
        return None, None
    for name, value in (("target_type", target_type), ("target_id", target_id)):
        if value is None:
            raise ValidationFailed("A target override needs target_type and target_id.", code="missing_field",
                                   field=name)
    return await check_target(uow, hub, target_type, target_id)


def _check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ValidationFailed("expires_at needs a timezone (e.g. 2027-01-01T00:00:00Z).", code="invalid_datetime",
                               field="expires_at")
    if expires_at <= now:
        raise ValidationFailed("expires_at must be in the future.", code="expires_in_past",
                               field="expires_at")
    return expires_at


def _check_reason(reason: Any) -> str | None:
    if reason is None:
        return None
    text = str(reason).strip()
    if len(text) > MAX_REASON:
        raise ValidationFailed(f"reason is at most {MAX_REASON} characters.", code="invalid_reason",
                               field="reason")
    return text or None
