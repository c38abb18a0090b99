"""Access data and decisions: JSON:API types ``entitlements``, ``entitlement_revocations``,
``access_rules``, ``access_overrides`` (team side) and ``access_decisions``, ``access_explanations``
(the evaluator's answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from domain.access import entitlements, overrides
from domain.access.evaluator import Decision
from persistence.models import AccessOverride, AccessRule, Entitlement, Hub
from server.api.hubs.schemas import hub_path
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# ---- entitlements ----------------------------------------------------------------------------------


class EntitlementAttributes(msgspec.Struct):
    hub_id: str
    contact_id: str
    kind: str
    target_id: str | None
    source: str
    source_id: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    granted_by_user_id: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class EntitlementCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contact_id: str
    kind: str
    target_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class EntitlementsResource(Resource):
    type: Literal["entitlements"]
    attributes: EntitlementAttributes


class EntitlementsDocument(Document):
    data: EntitlementsResource


class EntitlementsListDocument(ListDocument):
    data: list[EntitlementsResource]


class EntitlementsCreateData(CreateData):
    type: Literal["entitlements"]
    attributes: EntitlementCreate


class EntitlementsCreateDocument(Inbound):
    data: EntitlementsCreateData


class RevocationCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str


class EntitlementRevocationsCreateData(CreateData):
    type: Literal["entitlement_revocations"]
    attributes: RevocationCreate


class EntitlementRevocationsCreateDocument(Inbound):
    data: EntitlementRevocationsCreateData


def entitlement_resource(hub: Hub, e: Entitlement, now: datetime) -> EntitlementsResource:
    attrs = EntitlementAttributes(
        hub_id=str(e.hub_id), contact_id=str(e.contact_id), kind=e.kind, target_id=_str(e.target_id),
        source=e.source, source_id=e.source_id, starts_at=e.starts_at, ends_at=e.ends_at, revoked_at=e.revoked_at,
        revoke_reason=e.revoke_reason, granted_by_user_id=_str(e.granted_by_user_id),
        active=entitlements.is_active(e, now), created_at=e.created_at, updated_at=e.updated_at,
    )
    return EntitlementsResource.of(e.id, attrs, self_link=f"{hub_path(hub)}/entitlements/{e.id}")


# ---- access rules ----------------------------------------------------------------------------------


class ConditionAttributes(msgspec.Struct):
    condition_type: str
    condition_data: dict[str, Any]


class RuleAttributes(msgspec.Struct):
    hub_id: str
    target_type: str
    target_id: str
    logic_operator: str
    conditions: list[ConditionAttributes]
    name: str | None
    created_at: datetime
    updated_at: datetime


class RuleCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    target_type: str
    target_id: str
    conditions: list[Any]  # [{condition_type, condition_data}]: checked in domain.access.rules
    logic_operator: str = "all"
    name: str | None = None


class RuleUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    target_type: str | Unset = UNSET
    target_id: str | Unset = UNSET
    conditions: list[Any] | Unset = UNSET
    logic_operator: str | Unset = UNSET
    name: str | None | Unset = UNSET


class AccessRulesResource(Resource):
    type: Literal["access_rules"]
    attributes: RuleAttributes


class AccessRulesDocument(Document):
    data: AccessRulesResource


class AccessRulesListDocument(ListDocument):
    data: list[AccessRulesResource]


class AccessRulesCreateData(CreateData):
    type: Literal["access_rules"]
    attributes: RuleCreate


class AccessRulesCreateDocument(Inbound):
    data: AccessRulesCreateData


class AccessRulesUpdateData(UpdateData):
    type: Literal["access_rules"]
    attributes: RuleUpdate


class AccessRulesUpdateDocument(Inbound):
    data: AccessRulesUpdateData


def rule_resource(hub: Hub, r: AccessRule) -> AccessRulesResource:
    attrs = RuleAttributes(
        hub_id=str(r.hub_id), target_type=r.target_type, target_id=str(r.target_id), logic_operator=r.logic_operator,
        conditions=[ConditionAttributes(c["condition_type"], c["condition_data"]) for c in r.conditions or []],
        name=r.name, created_at=r.created_at, updated_at=r.updated_at,
    )
    return AccessRulesResource.of(r.id, attrs, self_link=f"{hub_path(hub)}/access-rules/{r.id}")


# ---- access overrides --------------------------------------------------------------------------------


class OverrideAttributes(msgspec.Struct):
    hub_id: str
    contact_id: str
    scope: str
    target_type: str | None
    target_id: str | None
    expires_at: datetime | None
    reason: str | None
    active: bool
    created_by_user_id: str | None
    created_at: datetime
    updated_at: datetime


class OverrideCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contact_id: str
    scope: str
    target_type: str | None = None
    target_id: str | None = None
    expires_at: datetime | None = None
    reason: str | None = None


class OverrideUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    scope: str | Unset = UNSET
    target_type: str | None | Unset = UNSET
    target_id: str | None | Unset = UNSET
    expires_at: datetime | None | Unset = UNSET
    reason: str | None | Unset = UNSET


class AccessOverridesResource(Resource):
    type: Literal["access_overrides"]
    attributes: OverrideAttributes


class AccessOverridesDocument(Document):
    data: AccessOverridesResource


class AccessOverridesListDocument(ListDocument):
    data: list[AccessOverridesResource]


class AccessOverridesCreateData(CreateData):
    type: Literal["access_overrides"]
    attributes: OverrideCreate


class AccessOverridesCreateDocument(Inbound):
    data: AccessOverridesCreateData


class AccessOverridesUpdateData(UpdateData):
    type: Literal["access_overrides"]
    attributes: OverrideUpdate


class AccessOverridesUpdateDocument(Inbound):
    data: AccessOverridesUpdateData


def override_resource(hub: Hub, o: AccessOverride, now: datetime) -> AccessOverridesResource:
    attrs = OverrideAttributes(
        hub_id=str(o.hub_id), contact_id=str(o.contact_id), scope=o.scope, target_type=o.target_type,
        target_id=_str(o.target_id), expires_at=o.expires_at, reason=o.reason, active=overrides.is_active(o, now),
        created_by_user_id=_str(o.created_by_user_id), created_at=o.created_at, updated_at=o.updated_at,
    )
    return AccessOverridesResource.of(o.id, attrs, self_link=f"{hub_path(hub)}/access-overrides/{o.id}")


# ---- the evaluator's answers -------------------------------------------------------------------------


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


class AccessDecisionsResource(Resource):
    type: Literal["access_decisions"]
    attributes: DecisionAttributes


class AccessDecisionsDocument(Document):
    data: AccessDecisionsResource


class AccessExplanationsResource(Resource):
    type: Literal["access_explanations"]
    attributes: ExplanationAttributes


class AccessExplanationsDocument(Document):
    data: AccessExplanationsResource


def decision_document(target_type: str, target_id: Any, action: str, decision: Decision) -> AccessDecisionsDocument:
    attrs = DecisionAttributes(decision.allowed, decision.reason, decision.unlock_at)
    return AccessDecisionsDocument(data=AccessDecisionsResource.of(f"{target_type}:{target_id}:{action}", attrs))


def explanation_document(contact_id: Any, target_type: str, target_id: Any, action: str,
                         decision: Decision) -> AccessExplanationsDocument:
    attrs = ExplanationAttributes(
        contact_id=str(contact_id), target_type=target_type, target_id=str(target_id), action=action,
        allowed=decision.allowed, reason=decision.reason, unlock_at=decision.unlock_at, hidden=decision.hidden,
        trace=[TraceStep(s.step, s.outcome, s.detail, str(s.rule_id) if s.rule_id else None,
                         msgspec.to_builtins(s.condition) if s.condition is not None else None)
               for s in decision.trace],
    )
    return AccessExplanationsDocument(data=AccessExplanationsResource.of(
        f"{contact_id}:{target_type}:{target_id}:{action}", attrs))
