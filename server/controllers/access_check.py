"""Asking the access evaluator over HTTP (JSON:API types ``access_decisions``, ``access_explanations``).

- ``GET H/access/check?target_type&target_id[&action]``: the member's own decision. A hidden
  decision (a secret or missing target) answers 404 ``not_found``, never 403.
- ``GET T/hubs/{hub_id}/access/explain?contact_id&target_type&target_id[&action]`` (scope
  ``access:read``): the same decision as that member would get, with the evaluator's full trace,
  so a creator can see why someone is locked out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State

from domain.access import service as access_service
from domain.access.evaluator import Decision
from domain.access.facts import Subject
from domain.errors import ValidationFailed
from domain.ids import parse_id
from server.deps import (
    Member,
    TeamCtx,
    TeamHub,
    Uow,
    refuse_unless_allowed,
    services_of,
)
from server.jsonapi import jsonapi, resource_types
from server.paths import HUB_PATH, TEAM_HUB_PATH

CHECK_PARAMETERS = frozenset({"target_type", "target_id", "action"})
EXPLAIN_PARAMETERS = CHECK_PARAMETERS | {"contact_id"}


class DecisionAttributes(msgspec.Struct):
    allowed: bool
    reason: str
    unlock_at: datetime | None


class TraceStep(msgspec.Struct, omit_defaults=True):
    step: str
    outcome: str
    detail: str
    rule_id: str | None = None
    condition: dict[str, Any] | None = None


class ExplanationAttributes(msgspec.Struct):
    contact_id: str
    target_type: str
    target_id: str
    action: str
    allowed: bool
    reason: str
    unlock_at: datetime | None
    hidden: bool
    trace: list[TraceStep]


DECISIONS = resource_types("access_decisions", DecisionAttributes)
EXPLANATIONS = resource_types("access_explanations", ExplanationAttributes)


def _query(request: Request[Any, Any, Any], allowed: frozenset[str]) -> dict[str, str]:
    params = dict(request.query_params.items())
    for key in params:
        if key not in allowed:
            raise ValidationFailed(f"Unknown query parameter `{key}`.", code="unknown_parameter", parameter=key)
    return params


@get(HUB_PATH + "/access/check", opt={"access": "view"}, tags=["access"],
     summary="May I do this? The access evaluator's decision for the calling member")
async def check_access(request: Request[Any, Any, Any], member: Member, state: State,
                       uow: Uow) -> Response[DECISIONS.Document]:  # type: ignore[name-defined]
    q = _query(request, CHECK_PARAMETERS)
    target_type, target_id, action = access_service.parse_check_query(q.get("target_type"), q.get("target_id"),
                                                                      q.get("action"))
    svc = services_of(state)
    decision = await access_service.check(uow, svc.access_cache, Subject.member(member.contact_id), action,
                                          target_type, target_id, member.hub_id, svc.clock.now())
    if decision.hidden:
        refuse_unless_allowed(decision)  # 404: a secret target is not confirmed to exist
    attrs = DecisionAttributes(decision.allowed, decision.reason, decision.unlock_at)
    return jsonapi(DECISIONS.document(f"{target_type}:{target_id}:{action}", attrs))


@get(TEAM_HUB_PATH + "/access/explain", opt={"scope": "access:read"}, tags=["access"],
     summary="Why may (or may not) this member do this? The evaluator's decision with its full trace")
async def explain_access(request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub, state: State,
                         uow: Uow) -> Response[EXPLANATIONS.Document]:  # type: ignore[name-defined]
    q = _query(request, EXPLAIN_PARAMETERS)
    raw_contact = q.get("contact_id")
    if not raw_contact:
        raise ValidationFailed("contact_id is required.", code="missing_parameter", parameter="contact_id")
    contact_id = parse_id(raw_contact)
    if contact_id is None:
        raise ValidationFailed("contact_id must be an id.", code="invalid_parameter", parameter="contact_id")
    target_type, target_id, action = access_service.parse_check_query(q.get("target_type"), q.get("target_id"),
                                                                      q.get("action"))
    svc = services_of(state)
    decision = await access_service.check(uow, svc.access_cache, Subject.member(contact_id), action, target_type,
                                          target_id, hub.id, svc.clock.now(), explain=True)
    attrs = ExplanationAttributes(
        contact_id=str(contact_id), target_type=target_type, target_id=str(target_id), action=action,
        allowed=decision.allowed, reason=decision.reason, unlock_at=decision.unlock_at, hidden=decision.hidden,
        trace=_trace(decision),
    )
    return jsonapi(EXPLANATIONS.document(f"{contact_id}:{target_type}:{target_id}:{action}", attrs))


def _trace(decision: Decision) -> list[TraceStep]:
    return [TraceStep(s.step, s.outcome, s.detail, str(s.rule_id) if s.rule_id else None,
                      msgspec.to_builtins(s.condition) if s.condition is not None else None)
            for s in decision.trace]


ROUTES: list[Any] = [check_access, explain_access]
