"""Hub policies: the terms of service and privacy policy a hub shows its members.

Each policy type has one current row per hub; every change of its content bumps ``version`` and
keeps the text of that version, so an acceptance ("version 3, accepted at ...") always refers to
words that can be shown again. Sending the same content again changes nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.errors import ValidationFailed
from persistence.models import Hub, HubPolicy, HubPolicyVersion

POLICY_TYPES = ("tos", "privacy_policy")
MAX_POLICY_CONTENT = 200_000


async def list_policies(ctx: Ctx, hub: Hub) -> list[HubPolicy]:
    """The hub's current policies (at most one per type), ordered by type."""
    rows = await ctx.uow.session.scalars(
        sa.select(HubPolicy).where(HubPolicy.hub_id == hub.id).order_by(HubPolicy.policy_type)
    )
    return list(rows.all())


async def list_policy_versions(ctx: Ctx, hub: Hub, policy_type: str) -> list[HubPolicyVersion]:
    """Every stored version of one policy of the hub, oldest first (empty when never set)."""
    _check_type(policy_type, parameter="policy_type")
    rows = await ctx.uow.session.scalars(
        sa.select(HubPolicyVersion)
        .join(HubPolicy, HubPolicy.id == HubPolicyVersion.policy_id)
        .where(HubPolicy.hub_id == hub.id, HubPolicy.policy_type == policy_type)
        .order_by(HubPolicyVersion.version)
    )
    return list(rows.all())


async def set_policy(ctx: Ctx, hub: Hub, *, policy_type: str, content: str | None = None,
                     require_acceptance: bool | None = None) -> HubPolicy:
    """Create or update the hub's policy of ``policy_type``.

    A new policy needs ``content`` and starts at version 1. A changed ``content`` bumps the
    version and stores the new text; the same content keeps the version. ``require_acceptance``
    changes only when given.
    """
    _check_type(policy_type)
    if content is not None:
        _check_content(content)
    uow = ctx.uow
    s = uow.session
    now = ctx.now()
    # Locked so two concurrent edits bump the version one after the other, not both to N+1.
    policy = await s.scalar(
        sa.select(HubPolicy).where(HubPolicy.hub_id == hub.id, HubPolicy.policy_type == policy_type)
        .with_for_update()
    )
    if policy is None:
        if content is None:
            raise ValidationFailed("A new policy needs its content.", code="missing_field",
                                   field="content")
        try:
            async with s.begin_nested():
                policy = HubPolicy(hub_id=hub.id, policy_type=policy_type, content=content, version=1,
                                   require_acceptance=bool(require_acceptance), created_at=now, updated_at=now)
                s.add(policy)
                await s.flush()
                s.add(HubPolicyVersion(policy_id=policy.id, version=1, content=content, created_at=now))
                await s.flush()
                facts_changed(uow, hub_id=hub.id)
        except sa.exc.IntegrityError:
            # a concurrent request created it first: this one becomes an update of that row
            return await set_policy(ctx, hub, policy_type=policy_type, content=content,
                                    require_acceptance=require_acceptance)
        return policy
    changed = False
    if content is not None and content != policy.content:
        policy.version += 1
        policy.content = content
        s.add(HubPolicyVersion(policy_id=policy.id, version=policy.version, content=content, created_at=now))
        changed = True
    if require_acceptance is not None and require_acceptance != policy.require_acceptance:
        policy.require_acceptance = require_acceptance
        changed = True
    if changed:
        policy.updated_at = now
        facts_changed(uow, hub_id=hub.id)
    await s.flush()
    return policy


def _check_type(policy_type: str, *, parameter: str | None = None) -> None:
    if policy_type not in POLICY_TYPES:
        raise ValidationFailed(f"policy_type must be one of {', '.join(POLICY_TYPES)}.", code="invalid_policy_type",
                               field=None if parameter else "policy_type", parameter=parameter)


def _check_content(content: Any) -> None:
    if not content.strip():
        raise ValidationFailed("A policy needs some text.", code="invalid_content", field="content")
    if len(content) > MAX_POLICY_CONTENT:
        raise ValidationFailed(f"A policy is at most {MAX_POLICY_CONTENT} characters.", code="too_long",
                               field="content")
