"""Telling every instance that access facts changed.

Any change to what the evaluator reads — membership, ban, entitlement, tag, override, rule, policy,
hub privacy — calls ``facts_changed`` inside its transaction. After commit, the message goes to
every instance through the broker (channel ``access:invalidate``), where the facts cache drops the
affected entries; the local instance drops them before the request returns.
"""

from __future__ import annotations

import uuid

import msgspec

from persistence.db import UnitOfWork

INVALIDATE_CHANNEL = "access:invalidate"


class FactsChanged(msgspec.Struct, omit_defaults=True):
    """Scope of a change: a whole hub (rules, privacy, policies), or one contact in a hub or team."""

    hub_id: str | None = None
    team_id: str | None = None
    contact_id: str | None = None


_encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(FactsChanged)


def facts_changed(uow: UnitOfWork, *, hub_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None,
                  contact_id: uuid.UUID | None = None) -> None:
    """Queue an invalidation for after commit. ``team_id`` + ``contact_id`` covers every hub of the
    team (tags are team-wide); ``hub_id`` alone covers every member of the hub."""
    if hub_id is None and team_id is None:
        raise ValueError("facts_changed needs a hub or a team")
    msg = FactsChanged(
        hub_id=str(hub_id) if hub_id else None,
        team_id=str(team_id) if team_id else None,
        contact_id=str(contact_id) if contact_id else None,
    )
    uow.publish(INVALIDATE_CHANNEL, _encoder.encode(msg))
