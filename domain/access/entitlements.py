"""Entitlements: what a contact holds in a hub (hub access, a content enrollment, community access,
a file download), for a window of time, from a source (an order, a subscription, an override, a
staff grant, a free signup).

``grant_entitlement`` and ``revoke_entitlement`` / ``revoke_entitlements_from_source`` are what
checkout, refunds and lapses call; staff grant and revoke through the API with the same functions.
Every change tells the access evaluator's cache through ``facts_changed`` (after commit).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.facts import ENTITLEMENT_KINDS
from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.errors import NotFound, ValidationFailed
from persistence.ids import parse_id
from persistence.models import Entitlement, Hub, TeamContact
from persistence.pagination import Page, PageRequest, paginate

SOURCES = ("order", "subscription", "override", "staff_grant", "free_signup")
MAX_REASON = 500
MAX_SOURCE_ID = 100


def is_active(e: Entitlement, now: datetime) -> bool:
    """Held at ``now``: not revoked, started, not yet ended (``ends_at`` is exclusive)."""
    if e.revoked_at is not None and e.revoked_at <= now:
        return False
    if e.starts_at is not None and now < e.starts_at:
        return False
    return e.ends_at is None or now < e.ends_at


def _active_clause(now: datetime) -> Any:
    return sa.and_(
        sa.or_(Entitlement.revoked_at.is_(None), Entitlement.revoked_at > now),
        sa.or_(Entitlement.starts_at.is_(None), Entitlement.starts_at <= now),
        sa.or_(Entitlement.ends_at.is_(None), Entitlement.ends_at > now),
    )


async def grant_entitlement(ctx: Ctx, hub: Hub, *, contact_id: uuid.UUID, kind: str,
                            target_id: uuid.UUID | None = None, source: str, source_id: str | None = None,
                            starts_at: datetime | None = None, ends_at: datetime | None = None,
                            granted_by_user_id: uuid.UUID | None = None) -> Entitlement:
    """Grant ``kind`` (on ``target_id``) to the contact in ``hub``. Idempotent: while an entitlement
    with the same (hub, contact, kind, target, source, source_id) is not revoked and not ended, it
    is returned unchanged, so a retried webhook or a double click grants once."""
    entitlement, _ = await ensure_entitlement(
        ctx, hub, contact_id=contact_id, kind=kind, target_id=target_id, source=source,
        source_id=source_id, starts_at=starts_at, ends_at=ends_at, granted_by_user_id=granted_by_user_id)
    return entitlement


async def ensure_entitlement(ctx: Ctx, hub: Hub, *, contact_id: uuid.UUID, kind: str,
                             target_id: uuid.UUID | None = None, source: str, source_id: str | None = None,
                             starts_at: datetime | None = None, ends_at: datetime | None = None,
                             granted_by_user_id: uuid.UUID | None = None) -> tuple[Entitlement, bool]:
    """``grant_entitlement``, also saying whether the entitlement was created now."""
    uow, now = ctx.uow, ctx.now()
    if kind not in ENTITLEMENT_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(ENTITLEMENT_KINDS)}.", code="invalid_kind",
                               field="kind")
    if source not in SOURCES:
        raise ValidationFailed(f"source must be one of {', '.join(SOURCES)}.", code="invalid_source",
                               field="source")
    if source_id is not None and not 1 <= len(source_id) <= MAX_SOURCE_ID:
        raise ValidationFailed(f"source_id is 1 to {MAX_SOURCE_ID} characters.", code="invalid_source_id",
                               field="source_id")
    _check_window(starts_at, ends_at, now)
    # Locking the team contact serializes concurrent grants for one contact (PostgreSQL), so two
    # deliveries of the same webhook cannot both insert.
    team_contact = await uow.session.scalar(
        sa.select(TeamContact).where(TeamContact.team_id == hub.team_id, TeamContact.contact_id == contact_id,
                                     TeamContact.deleted_at.is_(None)).with_for_update()
    )
    if team_contact is None:
        raise ValidationFailed("No contact of this team has this id.", code="unknown_contact",
                               field="contact_id")
    same = sa.select(Entitlement).where(
        Entitlement.hub_id == hub.id, Entitlement.contact_id == contact_id, Entitlement.kind == kind,
        Entitlement.target_id.is_(None) if target_id is None else Entitlement.target_id == target_id,
        Entitlement.source == source,
        Entitlement.source_id.is_(None) if source_id is None else Entitlement.source_id == source_id,
        Entitlement.revoked_at.is_(None),
        sa.or_(Entitlement.ends_at.is_(None), Entitlement.ends_at > now),
    ).order_by(Entitlement.id).limit(1)
    existing = await uow.session.scalar(same)
    if existing is not None:
        return existing, False
    entitlement = Entitlement(
        hub_id=hub.id, team_id=hub.team_id, contact_id=contact_id, kind=kind, target_id=target_id, source=source,
        source_id=source_id, starts_at=starts_at, ends_at=ends_at, granted_by_user_id=granted_by_user_id,
        created_at=now, updated_at=now,
    )
    uow.session.add(entitlement)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id, contact_id=contact_id)
    return entitlement, True


async def revoke_entitlement(ctx: Ctx, entitlement: Entitlement, reason: str) -> Entitlement:
    """Revoke at once, with a reason. Revoking a revoked entitlement changes nothing (the first
    revocation's time and reason stay)."""
    reason = check_reason(reason)
    if entitlement.revoked_at is not None:
        return entitlement
    now = ctx.now()
    entitlement.revoked_at, entitlement.revoke_reason, entitlement.updated_at = now, reason, now
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=entitlement.hub_id, contact_id=entitlement.contact_id)
    return entitlement


async def revoke_entitlements_from_source(ctx: Ctx, *, source: str, source_id: str, reason: str,
                                          team_id: uuid.UUID | None = None) -> list[Entitlement]:
    """Revoke every unrevoked entitlement granted by one source object (a refunded order, a lapsed
    subscription), in every hub it reached; ``team_id`` narrows it to one team. Returns those
    revoked now."""
    reason = check_reason(reason)
    stmt = sa.select(Entitlement).where(Entitlement.source == source, Entitlement.source_id == source_id,
                                        Entitlement.revoked_at.is_(None))
    if team_id is not None:
        stmt = stmt.where(Entitlement.team_id == team_id)
    uow = ctx.uow
    rows = list((await uow.session.scalars(stmt.order_by(Entitlement.id).with_for_update())).all())
    now = ctx.now()
    for e in rows:
        e.revoked_at, e.revoke_reason, e.updated_at = now, reason, now
    await uow.session.flush()
    for hub_id, contact_id in sorted({(e.hub_id, e.contact_id) for e in rows}):
        facts_changed(uow, hub_id=hub_id, contact_id=contact_id)
    return rows


async def get_entitlement(ctx: Ctx, hub: Hub, entitlement_id: uuid.UUID | None, *,
                          lock: bool = False) -> Entitlement:
    """The hub's entitlement, or 404 (another hub's, another team's, a malformed id)."""
    if entitlement_id is None:
        raise NotFound("Entitlement not found.")
    stmt = sa.select(Entitlement).where(Entitlement.id == entitlement_id, Entitlement.hub_id == hub.id)
    found = await ctx.uow.session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None:
        raise NotFound("Entitlement not found.")
    return found


async def list_entitlements(ctx: Ctx, hub: Hub, page: PageRequest, *, contact_id: str | None = None,
                            kind: str | None = None, active: bool | None = None) -> Page[Entitlement]:
    """The hub's entitlements in granting order; ``active`` filters on being held right now."""
    stmt = sa.select(Entitlement).where(Entitlement.hub_id == hub.id)
    if contact_id is not None:
        cid = parse_id(contact_id)
        if cid is None:
            raise ValidationFailed("filter[contact_id] must be an id.", code="invalid_filter",
                                   parameter="filter[contact_id]")
        stmt = stmt.where(Entitlement.contact_id == cid)
    if kind is not None:
        if kind not in ENTITLEMENT_KINDS:
            raise ValidationFailed(f"filter[kind] must be one of {', '.join(ENTITLEMENT_KINDS)}.",
                                   code="invalid_filter", parameter="filter[kind]")
        stmt = stmt.where(Entitlement.kind == kind)
    if active is not None:
        clause = _active_clause(ctx.now())
        stmt = stmt.where(clause if active else sa.not_(clause))
    return await paginate(ctx.uow.session, stmt, Entitlement.id, page)


def check_reason(reason: Any) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not 1 <= len(text) <= MAX_REASON:
        raise ValidationFailed(f"A reason of 1 to {MAX_REASON} characters is required.", code="invalid_reason",
                               field="reason")
    return text


def _check_window(starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a timezone (e.g. 2027-01-01T00:00:00Z).", code="invalid_datetime",
                                   field=name)
    if ends_at is not None and ends_at <= (starts_at or now):
        raise ValidationFailed("ends_at must be after starts_at (or, without starts_at, in the future).",
                               code="invalid_window", field="ends_at")
