"""Contacts (one per normalized email, globally) and team contacts (the CRM record per team)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.crm.contact_tags import PAGE_TAG_IDS, tag_ids_of
from domain.crm.lifecycle import LIFECYCLE_STAGES
from domain.crm.segments import segment_clause
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import ContactSignedUp, emit, team_channel
from domain.identity.validation import normalize_email
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import Contact, ContactTag, TeamContact
from persistence.pagination import Page, PageRequest, paginate
from persistence.statements import dialect_of


async def ensure_contact(uow: UnitOfWork, now: datetime, email: str) -> Contact:
    """The global contact for ``email``, created (at ``now``) when new. Safe against concurrent creation."""
    email = normalize_email(email)
    s = uow.session
    contact = await s.scalar(sa.select(Contact).where(Contact.email == email))
    if contact is not None:
        return contact
    try:
        async with s.begin_nested():  # a concurrent insert of the same email loses only this savepoint
            contact = Contact(email=email, created_at=now, updated_at=now)
            s.add(contact)
            await s.flush()
    except sa.exc.IntegrityError:
        contact = await s.scalar(sa.select(Contact).where(Contact.email == email))
        assert contact is not None
    return contact


async def ensure_team_contact(
    uow: UnitOfWork, now: datetime, team_id: uuid.UUID, contact: Contact, *, source: str | None = None,
    lifecycle_stage: str = "lead",
) -> tuple[TeamContact, bool]:
    """The team's CRM record of ``contact``, created at ``now`` (and announced as ``contact.signed_up``
    on the team channel, after commit) when new. A soft-deleted record is returned as it is; restoring it
    is an explicit staff action. Returns (team contact, created)."""
    s = uow.session
    existing = await s.scalar(
        sa.select(TeamContact).where(TeamContact.team_id == team_id, TeamContact.contact_id == contact.id)
    )
    if existing is not None:
        return existing, False
    try:
        async with s.begin_nested():
            tc = TeamContact(team_id=team_id, contact_id=contact.id, lifecycle_stage=lifecycle_stage,
                             source=source, created_at=now, updated_at=now)
            s.add(tc)
            await s.flush()
    except sa.exc.IntegrityError:
        tc = await s.scalar(
            sa.select(TeamContact).where(TeamContact.team_id == team_id, TeamContact.contact_id == contact.id)
        )
        assert tc is not None
        return tc, False
    emit(uow, team_channel(team_id), "contact.signed_up", ContactSignedUp(
        team_contact_id=str(tc.id), contact_id=str(contact.id), email=contact.email, source=source,
        lifecycle_stage=tc.lifecycle_stage, created_at=now,
    ), now)
    return tc, True


# ---- team contacts as the team sees them -----------------------------------------------------------

# Fields a team may set on its CRM record (email is the identity and is set only on creation).
EDITABLE_FIELDS = ("first_name", "last_name", "phone", "notes", "lifecycle_stage", "source")
MAX_QUERY = 200


class TeamContactFields(Protocol):
    """What a team contact record is read for: a TeamContact, or a row of its columns (a list
    reads rows, not ORM objects, since it changes none of them)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def contact_id(self) -> uuid.UUID: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def notes(self) -> str | None: ...
    @property
    def lifecycle_stage(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def deleted_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class TeamContactRecord:
    """A team contact as the API shows it: the CRM record, its contact's email, its tag ids."""

    team_contact: TeamContactFields
    email: str
    tag_ids: list[uuid.UUID]


@dataclass(frozen=True)
class ContactFilters:
    """What a team contact list is narrowed by; every given filter must hold."""

    email: str | None = None
    tag_id: uuid.UUID | None = None
    q: str | None = None
    lifecycle_stage: str | None = None
    segment_id: uuid.UUID | None = None
    deleted: bool = False


async def upsert_team_contact(
    ctx: Ctx, team: TeamContext, email: str, changes: Mapping[str, Any]
) -> tuple[TeamContactRecord, bool]:
    """Create or update the team's contact for ``email`` (case and spaces do not matter).

    A new contact or team contact is created as needed (a new team contact is announced as
    ``contact.signed_up``); an existing one gets the given ``changes``. A soft-deleted one is a
    409: restoring is an explicit action. Returns (record, created)."""
    uow, now = ctx.uow, ctx.now()
    changes = _clean_changes(changes)
    contact = await ensure_contact(uow, now, email)
    tc, created = await ensure_team_contact(
        uow, now, team.team_id, contact, source=changes.get("source"),
        lifecycle_stage=changes.get("lifecycle_stage") or "lead",
    )
    if tc.deleted_at is not None:
        raise Conflict("This contact was deleted; restore it to use it again.", code="contact_deleted",
                       field="email", meta={"team_contact_id": str(tc.id)})
    _apply(tc, changes, now, touch=not created)
    await uow.session.flush()
    if not created:  # segments may match the changed contact differently
        facts_changed(uow, team_id=team.team_id, contact_id=contact.id)
    return (await _records(uow, [tc]))[0], created


async def list_team_contacts(
    ctx: Ctx, team: TeamContext, page: PageRequest, filters: ContactFilters
) -> Page[TeamContactRecord]:
    """The team's contacts in creation order, narrowed by ``filters`` (deleted ones only when
    ``filters.deleted``)."""
    uow = ctx.uow
    # The email comes with the page (one statement fewer than looking the page's emails up after),
    # and rows of columns rather than ORM objects: building 50 of those was a fifth of the request.
    # On PostgreSQL the tags come with it too (PAGE_TAG_IDS); SQLite reads them after the page.
    with_tags = dialect_of(uow.session) == "postgresql"
    columns = [*TeamContact.__table__.c, Contact.email, *((PAGE_TAG_IDS,) if with_tags else ())]
    stmt = (sa.select(*columns).join(Contact, Contact.id == TeamContact.contact_id)
            .where(TeamContact.team_id == team.team_id))
    stmt = stmt.where(TeamContact.deleted_at.is_not(None) if filters.deleted else TeamContact.deleted_at.is_(None))
    if filters.lifecycle_stage is not None:
        _check_stage(filters.lifecycle_stage, parameter="filter[lifecycle_stage]")
        stmt = stmt.where(TeamContact.lifecycle_stage == filters.lifecycle_stage)
    if filters.email is not None:
        stmt = stmt.where(Contact.email == filters.email.strip().lower())
    if filters.q is not None:
        stmt = stmt.where(_text_match(filters.q))
    if filters.tag_id is not None:
        stmt = stmt.where(sa.exists().where(ContactTag.team_contact_id == TeamContact.id,
                                            ContactTag.tag_id == filters.tag_id))
    if filters.segment_id is not None:
        stmt = stmt.where(await segment_clause(uow, team.team_id, filters.segment_id))
    page_of = await paginate(uow.session, stmt, TeamContact.id, page, scalars=False)
    if with_tags:
        tags = {row.id: row.tag_ids or [] for row in page_of.items}
    else:
        tags = await tag_ids_of(uow, [row.id for row in page_of.items])
    return Page([TeamContactRecord(row, row.email, tags[row.id]) for row in page_of.items],
                page_of.has_more, page_of.next_cursor)


async def get_team_contact(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None) -> TeamContactRecord:
    """One of the team's (non-deleted) contacts; 404 otherwise."""
    return (await _records(ctx.uow, [await find_team_contact(ctx.uow, team, team_contact_id)]))[0]


async def update_team_contact(
    ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None, changes: Mapping[str, Any]
) -> TeamContactRecord:
    """Change the given fields of one of the team's contacts (``None`` clears a nullable one)."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id)
    _apply(tc, _clean_changes(changes), ctx.now(), touch=True)
    await uow.session.flush()
    facts_changed(uow, team_id=team.team_id, contact_id=tc.contact_id)  # segments may match differently
    return (await _records(uow, [tc]))[0]


async def delete_team_contact(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None) -> None:
    """Soft delete: the contact leaves lists, counts and lookups; its tags and values stay for a restore."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id)
    tc.deleted_at = ctx.now()
    tc.updated_at = tc.deleted_at
    await uow.session.flush()
    facts_changed(uow, team_id=team.team_id, contact_id=tc.contact_id)  # tags and segments, every hub


async def restore_team_contact(ctx: Ctx, team: TeamContext, team_contact_id: uuid.UUID | None) -> TeamContactRecord:
    """Bring a soft-deleted contact back as it was (restoring a live one changes nothing)."""
    uow = ctx.uow
    tc = await find_team_contact(uow, team, team_contact_id, include_deleted=True)
    if tc.deleted_at is not None:
        tc.deleted_at = None
        tc.updated_at = ctx.now()
        await uow.session.flush()
        facts_changed(uow, team_id=team.team_id, contact_id=tc.contact_id)
    return (await _records(uow, [tc]))[0]


async def find_team_contact(uow: UnitOfWork, team: TeamContext, team_contact_id: uuid.UUID | None, *,
                            include_deleted: bool = False) -> TeamContact:
    """The team's contact by team contact id: 404 for a malformed, unknown, foreign or (unless
    ``include_deleted``) deleted one."""
    tc = await uow.session.get(TeamContact, team_contact_id) if team_contact_id else None
    if tc is None or tc.team_id != team.team_id or (tc.deleted_at is not None and not include_deleted):
        raise NotFound("Contact not found.")
    return tc


def _clean_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in EDITABLE_FIELDS:
            raise ValueError(f"not an editable team contact field: {name}")
        if name == "lifecycle_stage":
            _check_stage(value, field="lifecycle_stage")
        elif isinstance(value, str):
            value = value.strip() or None  # blank is "no value", as a form would mean it
        out[name] = value
    return out


def _apply(tc: TeamContact, changes: Mapping[str, Any], now: datetime, *, touch: bool) -> None:
    changed = False
    for name, value in changes.items():
        if getattr(tc, name) != value:
            setattr(tc, name, value)
            changed = True
    if changed and touch:
        tc.updated_at = now


def _check_stage(stage: Any, *, field: str | None = None, parameter: str | None = None) -> None:
    if stage not in LIFECYCLE_STAGES:
        raise ValidationFailed(f"lifecycle_stage must be one of {', '.join(LIFECYCLE_STAGES)}.",
                               code="invalid_filter" if parameter else "invalid_lifecycle_stage",
                               field=field, parameter=parameter)


def _text_match(q: str) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match on email and names, the same on SQLite and PostgreSQL:
    ``lower(...) LIKE`` with the user's wildcards escaped (ILIKE does not exist on SQLite)."""
    q = q.strip().lower()
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"filter[q] is at most {MAX_QUERY} characters.", code="invalid_filter",
                               parameter="filter[q]")
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(*(sa.func.lower(col).like(pattern, escape="\\")
                    for col in (Contact.email, TeamContact.first_name, TeamContact.last_name)))


async def _records(uow: UnitOfWork, tcs: Sequence[TeamContact]) -> list[TeamContactRecord]:
    """Emails and tag ids for a page of team contacts: two queries, whatever the page size."""
    if not tcs:
        return []
    s = uow.session
    emails = dict((await s.execute(
        sa.select(Contact.id, Contact.email).where(Contact.id.in_({tc.contact_id for tc in tcs}))
    )).all())
    tags = await tag_ids_of(uow, [tc.id for tc in tcs])
    return [TeamContactRecord(tc, emails[tc.contact_id], tags[tc.id]) for tc in tcs]
