"""Asking the evaluator: load the facts (through the cache) and decide.

Every channel that shows or changes member-visible things — REST routes (through the member
guard), ``H/access/check``, the staff explain route, and later sockets and email — calls
:func:`check`, so the same member gets the same answer everywhere.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from domain.access.cache import FactsCache
from domain.access.evaluator import Decision, decide
from domain.access.facts import ACTIONS, TARGET_TYPES, AccessFacts, Subject
from domain.access.loader import load_target_facts
from domain.errors import ValidationFailed
from domain.ids import parse_id
from persistence.db import UnitOfWork


async def check(uow: UnitOfWork, cache: FactsCache, subject: Subject, action: str, target_type: str,
                target_id: uuid.UUID, hub_id: uuid.UUID, now: datetime, explain: bool = False) -> Decision:
    """The decision for ``subject`` doing ``action`` on the target in ``hub_id`` at ``now`` (with
    the evaluator's trace when ``explain``). NotFound when the hub does not exist. Warm: no query
    (one for a space target); cold: see ``domain.access.loader``."""
    hub = await cache.hub(uow, hub_id)
    contact_id = subject.contact_id if subject.kind == "member" else None
    contact = await cache.contact(uow, hub, contact_id) if contact_id is not None else None
    target = await load_target_facts(uow, hub.facts, target_type, target_id, contact_id,
                                     node_parents=hub.node_parents)
    return decide(subject, action, AccessFacts(hub.facts, contact, target), now, explain=explain)


def parse_check_query(target_type: str | None, target_id: str | None,
                      action: str | None) -> tuple[str, uuid.UUID, str]:
    """(target type, target id, action) from query parameters; 422 naming the parameter at fault.
    ``action`` defaults to ``view``."""
    if not target_type:
        raise ValidationFailed("target_type is required.", code="missing_parameter", parameter="target_type")
    if target_type not in TARGET_TYPES:
        raise ValidationFailed(f"target_type must be one of {', '.join(TARGET_TYPES)}.", code="invalid_parameter",
                               parameter="target_type")
    if not target_id:
        raise ValidationFailed("target_id is required.", code="missing_parameter", parameter="target_id")
    parsed = parse_id(target_id)
    if parsed is None:
        raise ValidationFailed("target_id must be an id.", code="invalid_parameter", parameter="target_id")
    action = action or "view"
    if action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}.", code="invalid_parameter",
                               parameter="action")
    return target_type, parsed, action
