"""Member self-service in one hub: the member's own membership, profile, notification
preferences, and acceptance of the hub's policies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.hubs.memberships import DEFAULT_NOTIFICATION_PREFERENCES
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import Contact, HubMembership, HubPolicy, PolicyAcceptance

VISIBILITIES = ("everyone", "shared_spaces", "hidden")
DEFAULT_PROFILE: dict[str, Any] = {"display_name": None, "bio": None, "avatar_media_id": None, "links": [],
                                   "visibility": "everyone"}
POLICY_TYPES = ("tos", "privacy_policy")


@dataclass(frozen=True)
class PolicyState:
    policy_type: str
    version: int
    require_acceptance: bool
    content: str
    accepted_version: int | None
    accepted_at: datetime | None

    @property
    def accepted_current(self) -> bool:
        return self.accepted_version == self.version


@dataclass(frozen=True)
class MemberView:
    contact: Contact
    membership: HubMembership
    status: str  # effective: an expired ban reads as active
    profile: dict[str, Any]
    notification_preferences: dict[str, Any]
    policies: list[PolicyState]


async def _load(uow: UnitOfWork, member: MemberPrincipal) -> tuple[Contact, HubMembership]:
    membership = await uow.session.get(HubMembership, member.membership_id)
    contact = await uow.session.get(Contact, member.contact_id)
    if membership is None or contact is None:  # removed between authentication and now
        raise NotFound("Membership not found.")
    return contact, membership


async def member_view(ctx: Ctx, member: MemberPrincipal) -> MemberView:
    """The member's own view of their membership, with every current policy of the hub and the
    version of it they accepted (if any)."""
    contact, membership = await _load(ctx.uow, member)
    return await _view(ctx.uow, member, contact, membership)


async def _view(uow: UnitOfWork, member: MemberPrincipal, contact: Contact, membership: HubMembership) -> MemberView:
    s = uow.session
    policies = (await s.scalars(
        sa.select(HubPolicy).where(HubPolicy.hub_id == member.hub_id).order_by(HubPolicy.policy_type)
    )).all()
    accepted: dict[str, tuple[int, datetime]] = {}
    for policy_type, version, at in (await s.execute(
        sa.select(PolicyAcceptance.policy_type, PolicyAcceptance.version, PolicyAcceptance.accepted_at)
        .where(PolicyAcceptance.membership_id == membership.id)
    )).all():
        if policy_type not in accepted or version > accepted[policy_type][0]:
            accepted[policy_type] = (version, at)
    states = [
        PolicyState(p.policy_type, p.version, p.require_acceptance, p.content,
                    accepted.get(p.policy_type, (None, None))[0], accepted.get(p.policy_type, (None, None))[1])
        for p in policies
    ]
    return MemberView(
        contact=contact, membership=membership, status=member.status,
        profile={**DEFAULT_PROFILE, **(membership.profile or {})},
        notification_preferences={**DEFAULT_NOTIFICATION_PREFERENCES, **(membership.notification_preferences or {})},
        policies=states,
    )


async def update_me(ctx: Ctx, member: MemberPrincipal, *, profile: dict[str, Any] | None = None,
                    notification_preferences: dict[str, Any] | None = None) -> MemberView:
    """Merge the given profile fields and notification preferences into the member's own; fields
    not given keep their values. Values arrive already type-checked; rules on content here."""
    uow = ctx.uow
    contact, membership = await _load(uow, member)
    if profile:
        merged = {**DEFAULT_PROFILE, **(membership.profile or {}), **_clean_profile(profile)}
        membership.profile = merged
    if notification_preferences:
        membership.notification_preferences = {
            **DEFAULT_NOTIFICATION_PREFERENCES, **(membership.notification_preferences or {}),
            **notification_preferences,
        }
    if profile or notification_preferences:
        membership.updated_at = ctx.now()
        await uow.session.flush()
    return await _view(uow, member, contact, membership)


def _clean_profile(profile: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in profile.items():
        if key == "display_name" and value is not None:
            value = value.strip()
            if not 1 <= len(value) <= 100:
                raise ValidationFailed("A display name is 1-100 characters.", code="invalid_value",
                                       field=("profile", key))
        elif key == "bio" and value is not None:
            if len(value) > 2000:
                raise ValidationFailed("A bio is at most 2000 characters.", code="invalid_value",
                                       field=("profile", key))
        elif key == "avatar_media_id" and value is not None:
            try:
                value = str(uuid.UUID(value))
            except ValueError:
                raise ValidationFailed("avatar_media_id must be a media id.", code="invalid_value",
                                       field=("profile", key)) from None
        elif key == "links":
            if len(value) > 10:
                raise ValidationFailed("A profile has at most 10 links.", code="invalid_value", field=("profile", key))
            for i, link in enumerate(value):
                url = str(link.get("url", ""))
                if not url.startswith(("https://", "http://")) or len(url) > 500:
                    raise ValidationFailed("A link is an http(s) URL of at most 500 characters.",
                                           code="invalid_value", field=("profile", "links", i, "url"))
                if len(str(link.get("label", ""))) > 100:
                    raise ValidationFailed("A link label is at most 100 characters.", code="invalid_value",
                                           field=("profile", "links", i, "label"))
        elif key == "visibility" and value not in VISIBILITIES:
            raise ValidationFailed(f"visibility is one of {', '.join(VISIBILITIES)}.", code="invalid_value",
                                   field=("profile", key))
        out[key] = value
    return out


async def accept_policy(ctx: Ctx, member: MemberPrincipal, *, policy_type: str,
                        version: int) -> tuple[PolicyAcceptance, bool]:
    """Record that the member accepted ``version`` of the hub's ``policy_type``. Only the current
    version can be accepted (409 ``stale_policy_version`` otherwise: the member read an old text).
    Accepting the same version again changes nothing. Returns (acceptance, recorded now)."""
    if policy_type not in POLICY_TYPES:
        raise ValidationFailed(f"policy_type is one of {', '.join(POLICY_TYPES)}.", code="invalid_value",
                               field="policy_type")
    uow = ctx.uow
    s = uow.session
    policy = await s.scalar(sa.select(HubPolicy).where(HubPolicy.hub_id == member.hub_id,
                                                       HubPolicy.policy_type == policy_type))
    if policy is None:
        raise ValidationFailed(f"This hub has no {policy_type} policy.", code="unknown_policy", field="policy_type")
    if version != policy.version:
        raise Conflict(f"Version {version} is not the current {policy_type} (version {policy.version}).",
                       code="stale_policy_version", field="version",
                       meta={"current_version": policy.version})
    find = sa.select(PolicyAcceptance).where(PolicyAcceptance.membership_id == member.membership_id,
                                             PolicyAcceptance.policy_type == policy_type,
                                             PolicyAcceptance.version == version)
    existing = await s.scalar(find)
    if existing is not None:
        return existing, False
    try:
        async with s.begin_nested():  # a concurrent acceptance of the same version loses only this
            acceptance = PolicyAcceptance(membership_id=member.membership_id, policy_type=policy_type,
                                          version=version, accepted_at=ctx.now())
            s.add(acceptance)
            await s.flush()
        facts_changed(uow, hub_id=member.hub_id, contact_id=member.contact_id)
    except sa.exc.IntegrityError:
        found = await s.scalar(find)
        assert found is not None
        return found, False
    return acceptance, True
