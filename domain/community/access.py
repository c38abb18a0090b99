"""How the community asks the access evaluator: one decision per object (a space is the target of
everything in it), many spaces decided with one query, refusals as domain errors, and rate limits
on posting.

A discussion, its comments and its reactions have no target of their own: they are reached through
their space, so ``view`` on the space decides who reads them, ``post`` who starts discussions,
``react`` who reacts, and ``moderate`` who removes, restores, pins and locks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from domain.access import service as access_service
from domain.access.cache import FactsCache
from domain.access.evaluator import Decision, decide
from domain.access.facts import AccessFacts, Subject
from domain.access.loader import space_target
from domain.access.service import refuse_unless_allowed
from domain.context import Limiter
from domain.errors import NotFound, RateLimited
from domain.events.channels import hub_channel, space_channel
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import AccessRule, Hub, Space, SpaceMember


def is_moderator(decision: Decision) -> bool:
    """Whether an allowed decision came from the member's hub role (moderator or admin)."""
    return decision.allowed and decision.reason == "hub_moderator"


async def check_space(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, action: str,
                      space_id: uuid.UUID, now: datetime) -> Decision:
    """The evaluator's decision for ``member`` doing ``action`` in the space."""
    return await access_service.evaluate(uow, cache, Subject.member(member.contact_id), action, "space", space_id,
                                         member.hub_id, now)


async def require_space(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, action: str,
                        space_id: uuid.UUID, now: datetime) -> Decision:
    """:func:`check_space`, refusing unless allowed (404 for a secret space or another hub's)."""
    decision = await check_space(uow, cache, member, action, space_id, now)
    refuse_unless_allowed(decision)
    return decision


@dataclass(frozen=True)
class SpaceSeen:
    """A space as one member sees it: the row, their space membership, and the evaluator's answer."""

    space: Space
    membership: SpaceMember | None
    decision: Decision


async def decide_spaces(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, action: str,
                        rows: Iterable[tuple[Space, SpaceMember | None]], now: datetime) -> list[SpaceSeen]:
    """Decide ``action`` for many spaces whose rows (and the member's space membership) are already
    loaded: the same evaluator, with no query per space (the hub and contact facts are cached)."""
    loaded = await cache.hub(uow, member.hub_id)
    contact = await cache.contact(uow, loaded, member.contact_id)
    subject = Subject.member(member.contact_id)
    out: list[SpaceSeen] = []
    for space, sm in rows:
        target = space_target(member.hub_id, space.id, space.access_level, space.posting_permission,
                              space.segment_id, sm is not None)
        out.append(SpaceSeen(space, sm, decide(subject, action, AccessFacts(loaded.facts, contact, target), now)))
    return out


# Built once (its cache key is kept with it): every feed read and post runs it.
_SPACE_ROW = (sa.select(Space, SpaceMember)
              .outerjoin(SpaceMember, sa.and_(SpaceMember.space_id == Space.id,
                                              SpaceMember.contact_id == sa.bindparam("contact_id")))
              .where(Space.id == sa.bindparam("space_id"), Space.hub_id == sa.bindparam("hub_id"),
                     Space.deleted_at.is_(None)))


async def require_space_row(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, action: str,
                            space_id: uuid.UUID | None, now: datetime) -> SpaceSeen:
    """The hub's space with the member's decision for ``action``, refused unless allowed (404 when
    it is unknown, deleted, another hub's or secret to them). One query reads the row and the
    member's space membership, and the evaluator decides from them and the cached hub facts —
    what loading the space and then :func:`require_space` cost in two."""
    started = time.perf_counter()
    row = (await uow.session.execute(_SPACE_ROW, {"space_id": space_id, "hub_id": member.hub_id,
                                                  "contact_id": member.contact_id})).first() if space_id else None
    if row is None:
        raise NotFound("Space not found.")
    seen = (await decide_spaces(uow, cache, member, action, [(row[0], row[1])], now))[0]
    access_service.report_decision(action, seen.decision, started)
    refuse_unless_allowed(seen.decision)
    return seen


async def visible_spaces(uow: UnitOfWork, cache: FactsCache, member: MemberPrincipal, now: datetime) -> list[SpaceSeen]:
    """The hub's spaces the member may view, each with its allowed decision (one query, plus cached
    facts)."""
    rows = (await uow.session.execute(
        sa.select(Space, SpaceMember)
        .outerjoin(SpaceMember, sa.and_(SpaceMember.space_id == Space.id, SpaceMember.contact_id == member.contact_id))
        .where(Space.hub_id == member.hub_id, Space.deleted_at.is_(None))
    )).all()
    seen = await decide_spaces(uow, cache, member, "view", [(r[0], r[1]) for r in rows], now)
    return [s for s in seen if s.decision.allowed]


async def live_channels_of(uow: UnitOfWork, space: Space) -> list[str]:
    """Where an event about something in ``space`` goes: always ``space:{id}``, and ``hub:{id}``
    (the hub-wide feed) only when every member who may see the hub may see the space — an open
    space with no segment restriction and no rule of its own. Anything narrower stays on the
    space's channel, which subscribers are admitted to by the evaluator."""
    channels = [space_channel(space.id)]
    if space.access_level == "open" and space.segment_id is None and space.deleted_at is None:
        ruled = await uow.session.scalar(sa.select(sa.exists().where(
            AccessRule.hub_id == space.hub_id, AccessRule.target_type == "space", AccessRule.target_id == space.id)))
        if not ruled:
            channels.append(hub_channel(space.hub_id))
    return channels


# ---- rate limits on posting ---------------------------------------------------------------------


@dataclass(frozen=True)
class PostingLimits:
    """Posts (discussions and comments) per member per window, in the hub and in one space.
    Defaults, overridable per hub in ``hub.settings.community`` (``posts_per_minute``,
    ``posts_per_minute_per_space``)."""

    per_hub: int = 10
    per_space: int = 5
    window: int = 60


async def posting_limits(uow: UnitOfWork, hub_id: uuid.UUID) -> PostingLimits:
    settings = await uow.session.scalar(sa.select(Hub.settings).where(Hub.id == hub_id)) or {}
    community = settings.get("community") if isinstance(settings, dict) else None
    if not isinstance(community, dict):
        return PostingLimits()

    def positive(key: str, default: int) -> int:
        value = community.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

    base = PostingLimits()
    return PostingLimits(positive("posts_per_minute", base.per_hub),
                         positive("posts_per_minute_per_space", base.per_space), base.window)


async def check_posting_rate(uow: UnitOfWork, limiter: Limiter, member: MemberPrincipal, space_id: uuid.UUID,
                             decision: Decision) -> None:
    """429 ``rate_limited`` (with ``retry_after``) when the member posts faster than the hub's
    limits allow, per hub and per space. Hub moderators and admins are exempt."""
    if is_moderator(decision):
        return
    limits = await posting_limits(uow, member.hub_id)
    base = f"post:{member.hub_id}:{member.contact_id}"
    for key, limit, where in ((f"{base}:space:{space_id}", limits.per_space, "in this space"),
                              (base, limits.per_hub, "in this hub")):
        verdict = await limiter.hit(key, limit, limits.window)
        if not verdict.allowed:
            raise RateLimited(f"You are posting too fast {where}: at most {limit} posts per {limits.window} s.",
                              retry_after=verdict.retry_after, meta={"limit": limit, "window": limits.window})

