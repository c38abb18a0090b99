"""Asking the evaluator: load the facts (through the cache) and decide.

Every channel that shows or changes member-visible things — REST routes (through the member
guard), ``H/access/check``, the staff explain route, sockets, and later email — calls :func:`check`
(or, inside a use case that already holds its ``now``, :func:`evaluate`, which it wraps), so the
same member gets the same answer everywhere.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

from domain.access.cache import FactsCache
from domain.access.evaluator import Decision, decide
from domain.access.facts import ACTIONS, TARGET_TYPES, AccessFacts, Subject
from domain.access.loader import load_target_facts
from domain.context import Ctx
from domain.errors import Forbidden, NotFound, ValidationFailed
from persistence.db import UnitOfWork
from persistence.ids import parse_id

# Told about every decision as (action, allowed, seconds it took): the edge's metrics
# (server/metrics.py) append themselves here; the domain knows nothing of Prometheus.
DECISION_OBSERVERS: list[Callable[[str, bool, float], None]] = []


async def check(ctx: Ctx, subject: Subject, action: str, target_type: str, target_id: uuid.UUID,
                hub_id: uuid.UUID, *, explain: bool = False) -> Decision:
    """The decision for ``subject`` doing ``action`` on the target in ``hub_id`` now (with the
    evaluator's trace when ``explain``), through ``ctx.access``: :func:`evaluate` at ``ctx.now()``."""
    return await evaluate(ctx.uow, ctx.access, subject, action, target_type, target_id, hub_id, ctx.now(),
                          explain=explain)


async def evaluate(uow: UnitOfWork, cache: FactsCache, subject: Subject, action: str, target_type: str,
                   target_id: uuid.UUID, hub_id: uuid.UUID, now: datetime, *, explain: bool = False) -> Decision:
    """The decision for ``subject`` doing ``action`` on the target in ``hub_id`` at ``now`` (with
    the evaluator's trace when ``explain``). NotFound when the hub does not exist. Warm: no query
    (one for a space target); cold: see ``domain.access.loader``."""
    started = time.perf_counter()
    hub = await cache.hub(uow, hub_id)
    contact_id = subject.contact_id if subject.kind == "member" else None
    contact = await cache.contact(uow, hub, contact_id) if contact_id is not None else None
    target = await load_target_facts(uow, hub.facts, target_type, target_id, contact_id,
                                     node_parents=hub.node_parents)
    decision = decide(subject, action, AccessFacts(hub.facts, contact, target), now, explain=explain)
    report_decision(action, decision, started)
    return decision


def report_decision(action: str, decision: Decision, started: float) -> None:
    """Tell ``DECISION_OBSERVERS`` (metrics) of a decision taken since ``started`` (perf_counter)."""
    if DECISION_OBSERVERS:
        took = time.perf_counter() - started
        for observe in DECISION_OBSERVERS:
            observe(action, decision.allowed, took)


# What a member is told for each denial reason (the reason itself is the error's stable code).
DENIALS = {
    "banned": "You are banned from this hub.",
    "not_a_member": "You are not a member of this hub.",
    "login_required": "Log in to this hub first.",
    "policy_not_accepted": "Accept the hub's current policies first (POST H/me/accept-policies).",
    "soft_banned": "You can read this hub but not post in it for now.",
    "insufficient_role": "Your role in this hub does not allow this.",
    "not_a_space_member": "This space is private: ask to be added.",
    "posting_restricted": "Only moderators post in this space.",
    "missing_entitlement": "This needs an access you do not hold.",
    "missing_tag": "This is reserved to some members.",
    "not_in_segment": "This is reserved to some members.",
    "drip_locked": "This unlocks later.",
    "insufficient_scope": "This key's scopes do not allow this.",
}


def refuse_unless_allowed(decision: Decision) -> None:
    """Nothing for an allowed decision; else 404 when it is hidden (a secret or missing target),
    403 with the decision's reason as the error code (and ``meta.unlock_at`` for drip)."""
    if decision.allowed:
        return
    if decision.hidden:
        raise NotFound("Not found.")
    meta = {"unlock_at": decision.unlock_at.isoformat()} if decision.unlock_at else None
    raise Forbidden(DENIALS.get(decision.reason, "Access denied."), code=decision.reason, meta=meta)


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
