"""CRM: contacts (one per person, keyed by email), the record of each inside a team, tags, typed
contact attributes with their options and values, and segments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column


class Contact(Base):
    """A person, once globally, keyed by normalized email."""

    __tablename__ = "contacts"
    id: Mapped[uuid.UUID] = id_column()
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TeamContact(Base):
    """The CRM record of a contact inside one team."""

    __tablename__ = "team_contacts"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "contact_id"),
        # the CRM list pages a team's contacts in id order (keyset): without it every page sorts
        # the whole team (17 ms → 0.3 ms for a page of 50 at 10,000 contacts, bench/rest.py)
        sa.Index("ix_team_contacts_team_id_id", "team_id", "id"),
    )
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    lifecycle_stage: Mapped[str] = mapped_column(sa.String(20), default="lead")
    source: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (sa.UniqueConstraint("team_id", "name"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    color: Mapped[str | None] = mapped_column(sa.String(20))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactTag(Base):
    __tablename__ = "contact_tags"
    team_contact_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("team_contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime]


class ContactAttribute(Base):
    """A typed field definition: text, number, date, boolean, select, multi_select."""

    __tablename__ = "contact_attributes"
    __table_args__ = (sa.UniqueConstraint("team_id", "key"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    data_type: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactAttributeOption(Base):
    __tablename__ = "contact_attribute_options"
    __table_args__ = (sa.UniqueConstraint("attribute_id", "value"),)
    id: Mapped[uuid.UUID] = id_column()
    attribute_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contact_attributes.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(sa.String(100))
    label: Mapped[str] = mapped_column(sa.String(200))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class ContactAttributeValue(Base):
    """One value of one attribute for one team contact, in the typed column its definition uses.
    multi_select stores one row per chosen option, so segments can match with plain SQL."""

    __tablename__ = "contact_attribute_values"
    __table_args__ = (
        sa.Index("ix_contact_attribute_values_lookup", "attribute_id", "value_text"),
        sa.Index("ix_contact_attribute_values_contact", "team_contact_id", "attribute_id"),
    )
    id: Mapped[uuid.UUID] = id_column()
    team_contact_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("team_contacts.id", ondelete="CASCADE"))
    attribute_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("contact_attributes.id", ondelete="CASCADE"))
    value_text: Mapped[str | None] = mapped_column(sa.Text)
    value_number: Mapped[float | None] = mapped_column(sa.Float)
    value_date: Mapped[datetime | None]
    value_bool: Mapped[bool | None]
    updated_at: Mapped[datetime]


class Segment(Base):
    __tablename__ = "segments"
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.String(1000))
    conditions: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DataErasure(Base):
    """The audit record of one erasure (docs/api.md#data-rights): who erased which contact's data in
    which team, when, and how many rows of each kind were removed or anonymized. It names the
    contact by id only (no email, no name), which is all the law lets the team keep."""

    __tablename__ = "data_erasures"
    __table_args__ = (sa.Index("ix_data_erasures_team", "team_id", "erased_at"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())  # no foreign key: outlives the contact
    team_contact_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid())
    erased_by: Mapped[str] = mapped_column(sa.String(100))  # "user:<id>" or "api_key:<id>"
    summary: Mapped[dict[str, Any]]
    erased_at: Mapped[datetime]
