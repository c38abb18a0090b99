"""Who is calling: the subject every route and the access evaluator reason about."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from persistence.models import Team


class Principal:
    """Base of every kind of caller. (A plain base class, not a Union: the web layer's validation
    treats it as an opaque type and passes instances through untouched.)"""

    __slots__ = ()


@dataclass(frozen=True)
class StaffPrincipal(Principal):
    """A staff user logged in with a session (access token carries the session id)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str


@dataclass(frozen=True)
class ApiKeyPrincipal(Principal):
    """A team API key: acts only within its team and its scopes."""

    key_id: uuid.UUID
    team_id: uuid.UUID
    scopes: frozenset[str]
    # The key's team as read with the key in this request (resolve_team then needs no query of its own).
    team: Team | None = field(default=None, compare=False, repr=False)

