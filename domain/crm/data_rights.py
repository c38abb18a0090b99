"""Data rights: export everything a team holds about one contact, and erase it (docs/api.md#data-rights).

Both act within the caller's team: its CRM record of the contact, the contact's memberships in the
team's hubs and everything done there. The person's global contact row (their email, shared by
every team that knows them) is anonymized only once no other team holds a record of them.

Erasure, row by row:

- CRM: the team contact is deleted with its tags and attribute values (not soft-deleted: even the
  deleted-contacts list no longer shows it).
- Memberships: ``left``, with the profile replaced by ``{"display_name": "Deleted member"}``,
  onboarding and notification preferences emptied; policy acceptances, space memberships,
  entitlements, access overrides and unused sign-in links deleted. Access is re-evaluated at once:
  open sockets lose their channels and presence (``facts_changed``, after commit).
- Community: discussions, comments and reactions stay, so threads still read, under "Deleted
  member"; direct messages they wrote are blanked and marked deleted.
- Email outbox: messages to them not yet sent are dropped; the rest keep their kind, status and
  dates, with address, subject and bodies replaced.
- Kept, by law or as the audit trail: orders, payments, subscriptions, refunds and coupon redemptions
  (accounting records; they name the contact by id only once the contact row is anonymized),
  moderation records (membership and moderation actions, reports), and one ``data_erasures`` row
  saying who erased which contact id when, with the counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.crm.contacts import find_team_contact
from domain.identity.principals import ApiKeyPrincipal, StaffPrincipal
from domain.teams.service import TeamContext
from persistence.models import (
    AccessOverride,
    Comment,
    Contact,
    ContactAttribute,
    ContactAttributeValue,
    ContactTag,
    Conversation,
    ConversationParticipant,
    CouponRedemption,
    DataErasure,
    Discussion,
    EmailOutbox,
    Entitlement,
    Hub,
    HubMembership,
    MagicLinkToken,
    MembershipAction,
    Message,
    Order,
    Payment,
    PolicyAcceptance,
    Reaction,
    Refund,
    ReportReason,
    Space,
    SpaceMember,
    Subscription,
    Tag,
    TeamContact,
)

ERASED_NAME = "Deleted member"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never a real address

# Columns an export leaves out: secrets and what only the server needs.
_NEVER_EXPORTED = {"token_hash", "session_url", "locked_until"}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Any, *, only: Sequence[str] | None = None) -> dict[str, Any]:
    cols = only or [c.key for c in sa.inspect(type(obj)).mapper.column_attrs]
    return {c: _plain(getattr(obj, c)) for c in cols if c not in _NEVER_EXPORTED}


async def _all(uow: Any, stmt: Any) -> list[Any]:
    return list((await uow.session.scalars(stmt)).all())


async def _team_hub_ids(uow: Any, team_id: uuid.UUID) -> list[uuid.UUID]:
    return list((await uow.session.scalars(sa.select(Hub.id).where(Hub.team_id == team_id))).all())


# ---- export ----------------------------------------------------------------------------------------


async def export_contact(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None) -> dict[str, Any]:
    """Everything the team holds about the contact, as plain JSON values, by section."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id)
    contact = await uow.session.get(Contact, tc.contact_id)
    assert contact is not None
    cid = contact.id
    hubs = await _team_hub_ids(uow, team.team_id)
    in_hubs = (lambda col: col.in_(hubs)) if hubs else (lambda col: sa.false())

    tags = await uow.session.scalars(sa.select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id)
                                     .where(ContactTag.team_contact_id == tc.id).order_by(Tag.name))
    values = (await uow.session.execute(
        sa.select(ContactAttribute.key, ContactAttribute.name, ContactAttributeValue)
        .join(ContactAttributeValue, ContactAttributeValue.attribute_id == ContactAttribute.id)
        .where(ContactAttributeValue.team_contact_id == tc.id))).all()
    memberships = await _all(uow, sa.select(HubMembership).where(HubMembership.contact_id == cid,
                                                                  HubMembership.team_id == team.team_id))
    membership_ids = [m.id for m in memberships]
    acceptances = await _all(uow, sa.select(PolicyAcceptance).where(
        PolicyAcceptance.membership_id.in_(membership_ids))) if membership_ids else []
    theirs = sa.select(ConversationParticipant.conversation_id).where(ConversationParticipant.contact_id == cid)
    conversations = await _all(uow, sa.select(Conversation).where(Conversation.id.in_(theirs),
                                                                  in_hubs(Conversation.hub_id)))
    space_ids = sa.select(Space.id).where(in_hubs(Space.hub_id))

    return {
        "contact": {"id": str(cid), "email": contact.email, "first_name": contact.first_name,
                    "last_name": contact.last_name, "created_at": _plain(contact.created_at)},
        "team_contact": _row(tc),
        "tags": list(tags),
        "attributes": [{"key": key, "name": name, **_row(v, only=[
            "value_text", "value_number", "value_date", "value_bool", "updated_at"])} for key, name, v in values],
        "memberships": [_row(m) for m in memberships],
        "policy_acceptances": [_row(a) for a in acceptances],
        "space_memberships": [_row(s) for s in await _all(uow, sa.select(SpaceMember).where(
            SpaceMember.contact_id == cid, SpaceMember.space_id.in_(space_ids)))],
        "entitlements": [_row(e) for e in await _all(uow, sa.select(Entitlement).where(
            Entitlement.contact_id == cid, in_hubs(Entitlement.hub_id)))],
        "access_overrides": [_row(o) for o in await _all(uow, sa.select(AccessOverride).where(
            AccessOverride.contact_id == cid, in_hubs(AccessOverride.hub_id)))],
        "discussions": [_row(d) for d in await _all(uow, sa.select(Discussion).where(
            Discussion.author_contact_id == cid, in_hubs(Discussion.hub_id)).order_by(Discussion.id))],
        "comments": [_row(c) for c in await _all(uow, sa.select(Comment).where(
            Comment.author_contact_id == cid, in_hubs(Comment.hub_id)).order_by(Comment.id))],
        "reactions": [_row(r) for r in await _all(uow, sa.select(Reaction).where(
            Reaction.contact_id == cid, in_hubs(Reaction.hub_id)))],
        "conversations": [_row(c) for c in conversations],
        "messages": [_row(m) for m in await _all(uow, sa.select(Message).where(
            Message.author_contact_id == cid, in_hubs(Message.hub_id)).order_by(Message.id))],
        "reports_filed": [_row(r) for r in await _all(uow, sa.select(ReportReason).where(
            ReportReason.reporter_contact_id == cid))],
        "moderation_history": [_row(a, only=["hub_id", "action", "reason", "expires_at", "created_at"])
                               for a in await _all(uow, sa.select(MembershipAction).where(
                                   MembershipAction.contact_id == cid, in_hubs(MembershipAction.hub_id)))],
        "orders": [_row(o) for o in await _all(uow, sa.select(Order).where(
            Order.contact_id == cid, Order.team_id == team.team_id))],
        "payments": [_row(p) for p in await _all(uow, sa.select(Payment).where(
            Payment.contact_id == cid, in_hubs(Payment.hub_id)))],
        "subscriptions": [_row(s) for s in await _all(uow, sa.select(Subscription).where(
            Subscription.contact_id == cid, in_hubs(Subscription.hub_id)))],
        "refunds": [_row(r) for r in await _all(uow, sa.select(Refund).where(
            Refund.payment_id.in_(sa.select(Payment.id).where(Payment.contact_id == cid,
                                                                in_hubs(Payment.hub_id)))))],
        "coupon_redemptions": [_row(c) for c in await _all(uow, sa.select(CouponRedemption).where(
            CouponRedemption.contact_id == cid, CouponRedemption.order_id.in_(
                sa.select(Order.id).where(Order.team_id == team.team_id))))],
        # what was sent to them (not the bodies: sign-in links in them are secrets, even used ones)
        "emails": [_row(e, only=["id", "kind", "to_email", "subject", "status", "created_at", "sent_at"])
                   for e in await _all(uow, sa.select(EmailOutbox).where(
                       EmailOutbox.to_email == contact.email, _emails_of_team(team.team_id, hubs))
                       .order_by(EmailOutbox.created_at))],
    }


def _emails_of_team(team_id: uuid.UUID, hubs: list[uuid.UUID]) -> sa.ColumnElement[bool]:
    return sa.or_(EmailOutbox.team_id == team_id, EmailOutbox.hub_id.in_(hubs)) if hubs \
        else EmailOutbox.team_id == team_id


# ---- erasure ---------------------------------------------------------------------------------------


async def erase_contact(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None) -> DataErasure:
    """Remove or anonymize the contact's personal data in the team (see the module docstring); the
    audit record it leaves. 404 for an unknown, foreign or already erased contact."""
    uow = ctx.uow
    s = uow.session
    now = ctx.now()
    tc = await find_team_contact(uow, team, team_contact_id, include_deleted=True)
    contact = await s.get(Contact, tc.contact_id)
    assert contact is not None
    cid = contact.id
    hubs = await _team_hub_ids(uow, team.team_id)
    counts: dict[str, int] = {}

    async def run(name: str, stmt: Any) -> None:
        result = await s.execute(stmt.execution_options(synchronize_session=False))
        counts[name] = counts.get(name, 0) + int(result.rowcount or 0)

    # CRM
    await run("contact_tags", sa.delete(ContactTag).where(ContactTag.team_contact_id == tc.id))
    await run("attribute_values", sa.delete(ContactAttributeValue).where(ContactAttributeValue.team_contact_id == tc.id))
    team_contact_row_id = tc.id
    await s.delete(tc)
    counts["team_contact"] = 1

    email = contact.email
    if hubs:
        memberships = await _all(uow, sa.select(HubMembership).where(
            HubMembership.contact_id == cid, HubMembership.hub_id.in_(hubs)))
        for m in memberships:
            m.status, m.left_at = "left", m.left_at or now
            m.status_reason, m.status_expires_at = None, None
            m.profile = {"display_name": ERASED_NAME, "visibility": "everyone", "erased": True}
            m.onboarding, m.notification_preferences = {}, {}
            m.updated_at = now
        counts["memberships"] = len(memberships)
        if memberships:
            await run("policy_acceptances", sa.delete(PolicyAcceptance).where(
                PolicyAcceptance.membership_id.in_([m.id for m in memberships])))
        await run("space_memberships", sa.delete(SpaceMember).where(
            SpaceMember.contact_id == cid, SpaceMember.space_id.in_(sa.select(Space.id).where(Space.hub_id.in_(hubs)))))
        await run("entitlements", sa.delete(Entitlement).where(Entitlement.contact_id == cid,
                                                                Entitlement.hub_id.in_(hubs)))
        await run("access_overrides", sa.delete(AccessOverride).where(AccessOverride.contact_id == cid,
                                                                       AccessOverride.hub_id.in_(hubs)))
        await run("sign_in_links", sa.delete(MagicLinkToken).where(MagicLinkToken.contact_id == cid,
                                                                    MagicLinkToken.hub_id.in_(hubs)))
        await run("messages", sa.update(Message).where(Message.author_contact_id == cid, Message.hub_id.in_(hubs))
                  .values(body="", deleted_at=sa.func.coalesce(Message.deleted_at, now)))
        counts["discussions_kept_as_deleted_member"] = int(await s.scalar(sa.select(sa.func.count()).where(
            Discussion.author_contact_id == cid, Discussion.hub_id.in_(hubs))) or 0)
        counts["comments_kept_as_deleted_member"] = int(await s.scalar(sa.select(sa.func.count()).where(
            Comment.author_contact_id == cid, Comment.hub_id.in_(hubs))) or 0)
    # the email outbox: unsent messages dropped, the others kept without address, subject or body
    of_team = sa.and_(EmailOutbox.to_email == email, _emails_of_team(team.team_id, hubs))
    await run("emails_dropped", sa.delete(EmailOutbox).where(of_team, EmailOutbox.status == "pending"))
    await run("emails_anonymized", sa.update(EmailOutbox).where(of_team).values(
        to_email=_erased_email(cid), subject="[erased]", text_body="", html_body=None, reply_to=None))

    # the global contact: anonymized once no other team holds a record of them
    others = await s.scalar(sa.select(sa.func.count()).select_from(TeamContact).where(
        TeamContact.contact_id == cid, TeamContact.team_id != team.team_id))
    if not others:
        contact.email = _erased_email(cid)
        contact.first_name = contact.last_name = None
        contact.updated_at = now
        counts["contact_anonymized"] = 1
    else:
        counts["contact_anonymized"] = 0

    erasure = DataErasure(team_id=team.team_id, contact_id=cid, team_contact_id=team_contact_row_id,
                          erased_by=_actor(team), summary=counts, erased_at=now)
    s.add(erasure)
    await s.flush()
    facts_changed(uow, team_id=team.team_id, contact_id=cid)  # sockets and cached access, after commit
    return erasure


def _erased_email(contact_id: uuid.UUID) -> str:
    return f"erased-{contact_id.hex}@{ERASED_DOMAIN}"


def _actor(team: TeamContext) -> str:
    p = team.principal
    if isinstance(p, StaffPrincipal):
        return f"user:{p.user_id}"
    if isinstance(p, ApiKeyPrincipal):
        return f"api_key:{p.key_id}"
    return "unknown"
