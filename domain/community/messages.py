"""Direct messages: conversations between two or more members of a hub, their messages, read
receipts (the last message each participant has read) and unread counts.

A one-to-one conversation carries a ``direct_key`` (the two contact ids, sorted), unique per hub,
so asking for it again — even twice at the same instant — returns the one that exists.

Refusals, checked when a conversation is opened and, for a one-to-one conversation, on every
message: a participant who is banned (or has left) is ``participant_unavailable``; a participant
whose notification preferences say ``direct_messages: false`` is ``messages_disabled``. A group
conversation is checked when it is created; after that it stays usable for the others (a banned
participant cannot read it anyway: their token stops working). The sender's own soft-ban is the
access evaluator's ``message`` action, checked by the route guard; the same decision exempts the
hub's moderators and admins from the rate limit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from domain.access import service as access_service
from domain.access.cache import FactsCache
from domain.access.facts import Subject
from domain.community.access import is_moderator
from domain.context import Ctx, Limiter
from domain.errors import Forbidden, NotFound, RateLimited, ValidationFailed
from domain.events import ConversationRead, MessageCreated, MessageReceived, contact_channel, conversation_channel, emit
from domain.identity.members import MemberPrincipal, effective_status
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import (
    Contact,
    Conversation,
    ConversationParticipant,
    Hub,
    HubMembership,
    Message,
)
from persistence.pagination import Page, PageRequest, paginate

log = logging.getLogger(__name__)

MAX_OTHERS = 19
MAX_BODY = 10_000
# Messages per member per hub per window; a hub overrides it with
# ``settings.community.message_rate_limit = {"limit": n, "window_seconds": s}``.
DEFAULT_MESSAGE_RATE_LIMIT = 30
DEFAULT_MESSAGE_RATE_WINDOW = 60


@dataclass(frozen=True)
class ParticipantView:
    contact_id: uuid.UUID
    display_name: str | None
    last_read_message_id: uuid.UUID | None
    last_read_at: datetime | None


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    participants: list[ParticipantView]
    unread_count: int

    @property
    def id(self) -> uuid.UUID:
        return self.conversation.id


# ---- conversations ------------------------------------------------------------------------------


async def open_conversation(ctx: Ctx, member: MemberPrincipal,
                            participant_ids: list[str]) -> tuple[ConversationView, bool]:
    """Open a conversation between the caller and ``participant_ids`` (1 to 19 other active
    members of the hub; the caller may be listed or not, duplicates count once).

    With one other member the one-to-one conversation is returned if it exists (race-safe: a
    concurrent request that created it first wins and this one returns it). Returns (view,
    created now). 422 ``unknown_participant`` (naming the offending entry) for an id that is not
    an active member; 403 ``participant_unavailable`` / ``messages_disabled`` (module docstring)."""
    others: list[uuid.UUID] = []
    for i, raw in enumerate(participant_ids):
        cid = parse_id(raw) if isinstance(raw, str) else None
        if cid is None:
            raise ValidationFailed("Each participant is the contact id of a member of this hub.",
                                   code="unknown_participant", field=("participant_ids", i))
        if cid != member.contact_id and cid not in others:
            others.append(cid)
    if not others:
        raise ValidationFailed("Name at least one other member.", code="invalid_participants",
                               field="participant_ids")
    if len(others) > MAX_OTHERS:
        raise ValidationFailed(f"A conversation has at most {MAX_OTHERS} other participants.",
                               code="too_many_participants", field="participant_ids")
    uow, now = ctx.uow, ctx.now()
    s = uow.session
    memberships = {m.contact_id: m for m in (await s.scalars(
        sa.select(HubMembership).where(HubMembership.hub_id == member.hub_id, HubMembership.contact_id.in_(others))
    )).all()}
    for i, raw in enumerate(participant_ids):
        cid = parse_id(raw)
        if cid == member.contact_id:
            continue
        m = memberships.get(cid)  # type: ignore[arg-type]
        if m is None or effective_status(m, now) == "left":
            raise ValidationFailed("This contact is not a member of this hub.", code="unknown_participant",
                                   field=("participant_ids", i))
    _refuse_unreachable([memberships[c] for c in others], now)

    direct_key = _direct_key(member.contact_id, others[0]) if len(others) == 1 else None
    if direct_key is not None:
        existing = await _by_direct_key(uow, member.hub_id, direct_key)
        if existing is not None:
            return (await conversation_views(uow, member.contact_id, [existing]))[0], False
    try:
        async with s.begin_nested():  # a concurrent open of the same pair loses only this
            conversation = Conversation(hub_id=member.hub_id, direct_key=direct_key,
                                        created_by_contact_id=member.contact_id, created_at=now)
            s.add(conversation)
            await s.flush()
            for cid in [member.contact_id, *others]:
                s.add(ConversationParticipant(conversation_id=conversation.id, contact_id=cid, joined_at=now))
            await s.flush()
    except sa.exc.IntegrityError:
        if direct_key is None:
            raise
        log.debug("conversation open lost the race: a concurrent open of the pair committed first")
        found = await _by_direct_key(uow, member.hub_id, direct_key)
        assert found is not None
        return (await conversation_views(uow, member.contact_id, [found]))[0], False
    return (await conversation_views(uow, member.contact_id, [conversation]))[0], True


async def list_conversations(ctx: Ctx, member: MemberPrincipal, page: PageRequest) -> Page[ConversationView]:
    """The caller's conversations in this hub, newest first, each with its unread count."""
    stmt = (sa.select(Conversation)
            .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
            .where(Conversation.hub_id == member.hub_id, ConversationParticipant.contact_id == member.contact_id))
    p = await paginate(ctx.uow.session, stmt, Conversation.id, page, newest_first=True)
    return Page(await conversation_views(ctx.uow, member.contact_id, p.items), p.has_more, p.next_cursor)


async def get_conversation(ctx: Ctx, member: MemberPrincipal, conversation_id: uuid.UUID | None) -> ConversationView:
    """One conversation of the caller's; 404 for anyone who does not take part in it."""
    conversation = await _conversation_of(ctx.uow, member, conversation_id)
    return (await conversation_views(ctx.uow, member.contact_id, [conversation]))[0]


async def can_read_conversation(ctx: Ctx, contact_id: uuid.UUID, conversation_id: uuid.UUID, *,
                                hub_id: uuid.UUID | None = None) -> bool:
    """True when ``contact_id`` takes part in the conversation (in ``hub_id``, when given): the
    rule for subscribing to ``conversation:{id}``. The member's own standing in the hub (banned,
    left) is checked when the socket authenticates, as for every channel."""
    stmt = (sa.select(sa.literal(1))
            .select_from(ConversationParticipant)
            .join(Conversation, Conversation.id == ConversationParticipant.conversation_id)
            .where(ConversationParticipant.conversation_id == conversation_id,
                   ConversationParticipant.contact_id == contact_id))
    if hub_id is not None:
        stmt = stmt.where(Conversation.hub_id == hub_id)
    return (await ctx.uow.session.scalar(stmt)) is not None


# ---- messages ---------------------------------------------------------------------------------------


async def list_messages(ctx: Ctx, member: MemberPrincipal, conversation_id: uuid.UUID | None,
                        page: PageRequest) -> Page[Message]:
    """The conversation's messages, newest first; removed and deleted ones are left out."""
    conversation = await _conversation_of(ctx.uow, member, conversation_id)
    stmt = sa.select(Message).where(Message.conversation_id == conversation.id, Message.removed_at.is_(None),
                                    Message.deleted_at.is_(None))
    return await paginate(ctx.uow.session, stmt, Message.id, page, newest_first=True)


async def send_message(ctx: Ctx, member: MemberPrincipal, conversation_id: uuid.UUID | None, body: str) -> Message:
    """Post ``body`` in a conversation of the caller's and announce it (``message.created`` on
    ``conversation:{id}``, after commit). The sender has read their own message. Limited per
    member per hub (429 ``rate_limited`` with Retry-After; hub moderators and admins exempt)."""
    uow = ctx.uow
    conversation = await _conversation_of(uow, member, conversation_id, lock=True)
    text = (body or "").strip()
    if not text or len(text) > MAX_BODY:
        raise ValidationFailed(f"A message is 1 to {MAX_BODY} characters.", code="invalid_value",
                               field="body")
    s = uow.session
    now = ctx.now()
    if conversation.direct_key is not None:
        others = (await s.scalars(
            sa.select(HubMembership)
            .join(ConversationParticipant, ConversationParticipant.contact_id == HubMembership.contact_id)
            .where(ConversationParticipant.conversation_id == conversation.id,
                   ConversationParticipant.contact_id != member.contact_id,
                   HubMembership.hub_id == member.hub_id)
        )).all()
        if not others:
            raise Forbidden("The other participant is no longer in this hub.", code="participant_unavailable")
        _refuse_unreachable(list(others), now)
    await _rate_limit(uow, ctx.access, ctx.limiter, member, now)
    message = Message(conversation_id=conversation.id, hub_id=member.hub_id, author_contact_id=member.contact_id,
                      body=text, created_at=now)
    s.add(message)
    await s.flush()
    conversation.last_message_at = now
    await s.execute(sa.update(ConversationParticipant)
                    .where(ConversationParticipant.conversation_id == conversation.id,
                           ConversationParticipant.contact_id == member.contact_id)
                    .values(last_read_message_id=message.id, last_read_at=now))
    emit(uow, conversation_channel(conversation.id), "message.created", MessageCreated(
        id=str(message.id), conversation_id=str(conversation.id), hub_id=str(member.hub_id),
        author_contact_id=str(member.contact_id), body=text, created_at=now), now)
    await _notify_recipients(uow, conversation, message, now)
    return message


async def _notify_recipients(uow: UnitOfWork, conversation: Conversation, message: Message, now: datetime) -> None:
    """``message.received`` on every other participant's ``contact:{id}`` channel: how a member's
    client learns of a message in a conversation it does not watch (a first message included)."""
    recipients = (await uow.session.scalars(sa.select(ConversationParticipant.contact_id).where(
        ConversationParticipant.conversation_id == conversation.id,
        ConversationParticipant.contact_id != message.author_contact_id))).all()
    for contact_id in recipients:
        emit(uow, contact_channel(contact_id), "message.received", MessageReceived(
            id=str(message.id), conversation_id=str(conversation.id), hub_id=str(message.hub_id),
            author_contact_id=str(message.author_contact_id), created_at=now), now)


async def mark_read(ctx: Ctx, member: MemberPrincipal, conversation_id: uuid.UUID | None) -> ConversationView:
    """Mark the conversation read up to its newest message (a read receipt). Announced as
    ``conversation.read`` on ``conversation:{id}`` when the receipt moved; never moves back."""
    uow = ctx.uow
    conversation = await _conversation_of(uow, member, conversation_id)
    s = uow.session
    latest = await s.scalar(sa.select(Message.id).where(  # max(uuid) does not exist on PostgreSQL
        Message.conversation_id == conversation.id, Message.removed_at.is_(None), Message.deleted_at.is_(None)
    ).order_by(Message.id.desc()).limit(1))
    participant = await s.get(ConversationParticipant, (conversation.id, member.contact_id))
    assert participant is not None
    if latest is not None and (participant.last_read_message_id is None or latest > participant.last_read_message_id):
        now = ctx.now()
        participant.last_read_message_id, participant.last_read_at = latest, now
        await s.flush()
        emit(uow, conversation_channel(conversation.id), "conversation.read", ConversationRead(
            conversation_id=str(conversation.id), hub_id=str(member.hub_id), contact_id=str(member.contact_id),
            last_read_message_id=str(latest), read_at=now), now)
    return (await conversation_views(uow, member.contact_id, [conversation]))[0]


# ---- reading ---------------------------------------------------------------------------------------


async def conversation_views(uow: UnitOfWork, viewer_id: uuid.UUID,
                             conversations: list[Conversation]) -> list[ConversationView]:
    """Views of ``conversations`` for ``viewer_id`` in three queries, whatever their number:
    participants with their names, and the viewer's unread counts (one grouped query)."""
    if not conversations:
        return []
    s = uow.session
    ids = [c.id for c in conversations]
    hub_id = conversations[0].hub_id
    rows = (await s.execute(
        sa.select(ConversationParticipant, HubMembership.profile, Contact.first_name, Contact.last_name)
        .join(Contact, Contact.id == ConversationParticipant.contact_id)
        .outerjoin(HubMembership, sa.and_(HubMembership.contact_id == ConversationParticipant.contact_id,
                                          HubMembership.hub_id == hub_id))
        .where(ConversationParticipant.conversation_id.in_(ids))
        .order_by(ConversationParticipant.joined_at, ConversationParticipant.contact_id)
    )).all()
    participants: dict[uuid.UUID, list[ParticipantView]] = {}
    for p, profile, first, last in rows:
        participants.setdefault(p.conversation_id, []).append(ParticipantView(
            p.contact_id, display_name(profile, first, last), p.last_read_message_id, p.last_read_at))
    mine = aliased(ConversationParticipant)
    unread = dict((await s.execute(
        sa.select(Message.conversation_id, sa.func.count())
        .join(mine, sa.and_(mine.conversation_id == Message.conversation_id, mine.contact_id == viewer_id))
        .where(Message.conversation_id.in_(ids), Message.author_contact_id != viewer_id,
               Message.removed_at.is_(None), Message.deleted_at.is_(None),
               sa.or_(mine.last_read_message_id.is_(None), Message.id > mine.last_read_message_id))
        .group_by(Message.conversation_id)
    )).all())
    return [ConversationView(c, participants.get(c.id, []), int(unread.get(c.id, 0))) for c in conversations]


def display_name(profile: dict[str, Any] | None, first: str | None, last: str | None) -> str | None:
    """The name a member shows: their profile's display name, else their first and last name."""
    name = (profile or {}).get("display_name")
    if name:
        return str(name)
    full = " ".join(x for x in (first, last) if x)
    return full or None


# ---- helpers --------------------------------------------------------------------------------------


def _direct_key(a: uuid.UUID, b: uuid.UUID) -> str:
    return ":".join(sorted((str(a), str(b))))


async def _by_direct_key(uow: UnitOfWork, hub_id: uuid.UUID, key: str) -> Conversation | None:
    return await uow.session.scalar(sa.select(Conversation).where(Conversation.hub_id == hub_id,
                                                                  Conversation.direct_key == key))


async def _conversation_of(uow: UnitOfWork, member: MemberPrincipal, conversation_id: uuid.UUID | None, *,
                           lock: bool = False) -> Conversation:
    if conversation_id is None:
        raise NotFound("Conversation not found.")
    stmt = (sa.select(Conversation)
            .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
            .where(Conversation.id == conversation_id, Conversation.hub_id == member.hub_id,
                   ConversationParticipant.contact_id == member.contact_id))
    conversation = await uow.session.scalar(stmt.with_for_update(of=Conversation) if lock else stmt)
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


def _refuse_unreachable(memberships: list[HubMembership], now: datetime) -> None:
    for m in memberships:
        if effective_status(m, now) in ("banned", "left"):
            raise Forbidden("A participant cannot receive messages in this hub.", code="participant_unavailable",
                            meta={"contact_id": str(m.contact_id)})
    for m in memberships:
        if (m.notification_preferences or {}).get("direct_messages") is False:
            raise Forbidden("A participant has turned direct messages off.", code="messages_disabled",
                            meta={"contact_id": str(m.contact_id)})


async def _rate_limit(uow: UnitOfWork, cache: FactsCache, limiter: Limiter, member: MemberPrincipal,
                      now: datetime) -> None:
    # the evaluator's answer to the guard's question (``message`` on the hub) says who moderates
    decision = await access_service.evaluate(uow, cache, Subject.member(member.contact_id), "message", "hub",
                                             member.hub_id, member.hub_id, now)
    if is_moderator(decision):
        return
    settings = await uow.session.scalar(sa.select(Hub.settings).where(Hub.id == member.hub_id)) or {}
    conf = ((settings.get("community") or {}).get("message_rate_limit") or {}) if isinstance(settings, dict) else {}
    limit = _positive(conf.get("limit"), DEFAULT_MESSAGE_RATE_LIMIT)
    window = _positive(conf.get("window_seconds"), DEFAULT_MESSAGE_RATE_WINDOW)
    verdict = await limiter.hit(f"messages:{member.hub_id}:{member.contact_id}", limit, window)
    if not verdict.allowed:
        raise RateLimited(f"At most {limit} messages per {window} seconds; try again shortly.",
                          retry_after=verdict.retry_after, meta={"limit": limit, "window_seconds": window})


def _positive(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
