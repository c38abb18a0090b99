"""Contacts (one per normalized email, globally) and team contacts (the CRM record per team)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from domain.clock import Clock
from domain.events import ContactSignedUp, emit, team_channel
from domain.identity.validation import normalize_email
from persistence.db import UnitOfWork
from persistence.models import Contact, TeamContact

LIFECYCLE_STAGES = ("lead", "customer", "member", "alumni")


async def ensure_contact(uow: UnitOfWork, clock: Clock, email: str, *, pointer: str = "/email") -> Contact:
    """The global contact for ``email``, created when new. Safe against concurrent creation."""
    email = normalize_email(email, pointer=pointer)
    s = uow.session
    contact = await s.scalar(sa.select(Contact).where(Contact.email == email))
    if contact is not None:
        return contact
    now = clock.now()
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
    uow: UnitOfWork, clock: Clock, team_id: uuid.UUID, contact: Contact, *, source: str | None = None,
    lifecycle_stage: str = "lead",
) -> tuple[TeamContact, bool]:
    """The team's CRM record of ``contact``, created (and announced as ``contact.signed_up`` on the
    team channel, after commit) when new. A soft-deleted record is returned as it is; restoring it
    is an explicit staff action. Returns (team contact, created)."""
    s = uow.session
    existing = await s.scalar(
        sa.select(TeamContact).where(TeamContact.team_id == team_id, TeamContact.contact_id == contact.id)
    )
    if existing is not None:
        return existing, False
    now = clock.now()
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
