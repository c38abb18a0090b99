"""Access data, team side: entitlements, access rules and access overrides of a hub (JSON:API types
``entitlements``, ``entitlement_revocations``, ``access_rules``, ``access_overrides``).

Every handler takes ``team`` and ``hub``: another team's hub, or another hub's entitlement, rule or
override, is 404. Scopes: ``access:read`` to read, ``access:write`` to change. The rules of what is
valid live in ``domain.access``; these handlers parse, call one function and answer a document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.access import entitlements, overrides, rules
from domain.errors import ValidationFailed
from domain.ids import parse_id
from persistence.models import AccessOverride, AccessRule, Entitlement, Hub
from server.controllers.hubs import hub_path, present
from server.deps import TeamCtx, TeamHub, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_bool_filter, parse_list_query, resource_types
from server.paths import TEAM_HUB_PATH

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


# ---- types ----------------------------------------------------------------------------------------


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


ENTITLEMENTS = resource_types("entitlements", EntitlementAttributes, EntitlementCreate)


class RevocationCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str


REVOCATIONS = resource_types("entitlement_revocations", RevocationCreate, RevocationCreate)


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


RULES = resource_types("access_rules", RuleAttributes, RuleCreate, RuleUpdate)


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


OVERRIDES = resource_types("access_overrides", OverrideAttributes, OverrideCreate, OverrideUpdate)


# ---- documents ------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def entitlement_resource(hub: Hub, e: Entitlement, now: datetime) -> Any:
    attrs = EntitlementAttributes(
        hub_id=str(e.hub_id), contact_id=str(e.contact_id), kind=e.kind, target_id=_str(e.target_id),
        source=e.source, source_id=e.source_id, starts_at=e.starts_at, ends_at=e.ends_at, revoked_at=e.revoked_at,
        revoke_reason=e.revoke_reason, granted_by_user_id=_str(e.granted_by_user_id),
        active=entitlements.is_active(e, now), created_at=e.created_at, updated_at=e.updated_at,
    )
    return ENTITLEMENTS.resource(e.id, attrs, self_link=f"{hub_path(hub)}/entitlements/{e.id}")


def rule_resource(hub: Hub, r: AccessRule) -> Any:
    attrs = RuleAttributes(
        hub_id=str(r.hub_id), target_type=r.target_type, target_id=str(r.target_id), logic_operator=r.logic_operator,
        conditions=[ConditionAttributes(c["condition_type"], c["condition_data"]) for c in r.conditions or []],
        name=r.name, created_at=r.created_at, updated_at=r.updated_at,
    )
    return RULES.resource(r.id, attrs, self_link=f"{hub_path(hub)}/access-rules/{r.id}")


def override_resource(hub: Hub, o: AccessOverride, now: datetime) -> Any:
    attrs = OverrideAttributes(
        hub_id=str(o.hub_id), contact_id=str(o.contact_id), scope=o.scope, target_type=o.target_type,
        target_id=_str(o.target_id), expires_at=o.expires_at, reason=o.reason, active=overrides.is_active(o, now),
        created_by_user_id=_str(o.created_by_user_id), created_at=o.created_at, updated_at=o.updated_at,
    )
    return OVERRIDES.resource(o.id, attrs, self_link=f"{hub_path(hub)}/access-overrides/{o.id}")


# ---- routes -------------------------------------------------------------------------------------



class EntitlementsController(Controller):
    """``T/hubs/{hub_id}/entitlements``: what contacts hold in the hub; staff grant and revoke."""

    path = TEAM_HUB_PATH + "/entitlements"
    tags = ["access"]

    @get("/", opt={"scope": "access:read"}, summary="List the hub's entitlements")
    async def list_entitlements(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub, state: State,
                                uow: Uow) -> Response[ENTITLEMENTS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"contact_id", "kind", "active"}))
        clock = services_of(state).clock
        page = await entitlements.list_entitlements(uow, clock, hub, q.page, contact_id=q.filters.get("contact_id"),
                                                    kind=q.filters.get("kind"),
                                                    active=parse_bool_filter(q.filters, "active"))
        now = clock.now()
        return jsonapi(ENTITLEMENTS.list_document(request, [entitlement_resource(hub, e, now) for e in page.items],
                                                  page))

    @post("/", opt={"scope": "access:write"},
          summary="Grant an entitlement as staff (201 when new, 200 with the same active grant otherwise)")
    async def grant(self, data: JSONBody[ENTITLEMENTS.CreateDocument], team: TeamCtx, hub: TeamHub,  # type: ignore[name-defined]
                    state: State, uow: Uow) -> Response[ENTITLEMENTS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        clock = services_of(state).clock
        contact_id = parse_id(a.contact_id)
        if contact_id is None:
            raise ValidationFailed("No contact of this team has this id.", code="unknown_contact",
                                   pointer="/data/attributes/contact_id")
        target_id = None
        if a.target_id is not None:
            target_id = parse_id(a.target_id)
            if target_id is None:
                raise ValidationFailed("target_id is an id.", code="invalid_value", pointer="/data/attributes/target_id")
        e, created = await entitlements.ensure_entitlement(
            uow, clock, hub=hub, contact_id=contact_id, kind=a.kind, target_id=target_id, source="staff_grant",
            starts_at=a.starts_at, ends_at=a.ends_at, granted_by_user_id=team.user_id)
        resource = entitlement_resource(hub, e, clock.now())
        return jsonapi(ENTITLEMENTS.Document(data=resource), 201 if created else 200,
                       headers={"Location": resource.links.self})

    @get("/{entitlement_id:str}", opt={"scope": "access:read"}, summary="Read an entitlement")
    async def get_entitlement(self, entitlement_id: FromPath[str], team: TeamCtx, hub: TeamHub, state: State,
                              uow: Uow) -> Response[ENTITLEMENTS.Document]:  # type: ignore[name-defined]
        e = await entitlements.get_entitlement(uow, hub, parse_id(entitlement_id))
        return jsonapi(ENTITLEMENTS.Document(data=entitlement_resource(hub, e, services_of(state).clock.now())))

    @post("/{entitlement_id:str}/revoke", opt={"scope": "access:write"}, status_code=200,
          summary="Revoke an entitlement now, with a reason (revoking again changes nothing)")
    async def revoke(self, entitlement_id: FromPath[str], data: JSONBody[REVOCATIONS.CreateDocument],  # type: ignore[name-defined]
                     team: TeamCtx, hub: TeamHub, state: State,
                     uow: Uow) -> Response[ENTITLEMENTS.Document]:  # type: ignore[name-defined]
        clock = services_of(state).clock
        e = await entitlements.get_entitlement(uow, hub, parse_id(entitlement_id), lock=True)
        e = await entitlements.revoke_entitlement(uow, clock, e, data.data.attributes.reason)
        return jsonapi(ENTITLEMENTS.Document(data=entitlement_resource(hub, e, clock.now())))


class AccessRulesController(Controller):
    """``T/hubs/{hub_id}/access-rules``: conditions members must meet to reach a target."""

    path = TEAM_HUB_PATH + "/access-rules"
    tags = ["access"]

    @get("/", opt={"scope": "access:read"}, summary="List the hub's access rules")
    async def list_rules(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                         uow: Uow) -> Response[RULES.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"target_type", "target_id"}))
        page = await rules.list_rules(uow, hub, q.page, target_type=q.filters.get("target_type"),
                                      target_id=q.filters.get("target_id"))
        return jsonapi(RULES.list_document(request, [rule_resource(hub, r) for r in page.items], page))

    @post("/", opt={"scope": "access:write"}, summary="Create an access rule")
    async def create_rule(self, data: JSONBody[RULES.CreateDocument], team: TeamCtx, hub: TeamHub,  # type: ignore[name-defined]
                          state: State, uow: Uow) -> Response[RULES.Document]:  # type: ignore[name-defined]
        r = await rules.create_rule(uow, services_of(state).clock, hub, msgspec.structs.asdict(data.data.attributes))
        resource = rule_resource(hub, r)
        return jsonapi(RULES.Document(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{rule_id:str}", opt={"scope": "access:read"}, summary="Read an access rule")
    async def get_rule(self, rule_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                       uow: Uow) -> Response[RULES.Document]:  # type: ignore[name-defined]
        return jsonapi(RULES.Document(data=rule_resource(hub, await rules.get_rule(uow, hub, parse_id(rule_id)))))

    @patch("/{rule_id:str}", opt={"scope": "access:write"}, summary="Update an access rule (conditions are replaced)")
    async def update_rule(self, rule_id: FromPath[str], data: JSONBody[RULES.UpdateDocument], team: TeamCtx,  # type: ignore[name-defined]
                          hub: TeamHub, state: State, uow: Uow) -> Response[RULES.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, rule_id)
        r = await rules.get_rule(uow, hub, parse_id(rule_id), lock=True)
        r = await rules.update_rule(uow, services_of(state).clock, hub, r, present(data.data.attributes))
        return jsonapi(RULES.Document(data=rule_resource(hub, r)))

    @delete("/{rule_id:str}", opt={"scope": "access:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete an access rule")
    async def delete_rule(self, rule_id: FromPath[str], team: TeamCtx, hub: TeamHub, uow: Uow) -> None:
        await rules.delete_rule(uow, hub, await rules.get_rule(uow, hub, parse_id(rule_id), lock=True))


class AccessOverridesController(Controller):
    """``T/hubs/{hub_id}/access-overrides``: per-contact exceptions, whole hub or one target."""

    path = TEAM_HUB_PATH + "/access-overrides"
    tags = ["access"]

    @get("/", opt={"scope": "access:read"}, summary="List the hub's access overrides")
    async def list_overrides(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub, state: State,
                             uow: Uow) -> Response[OVERRIDES.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"contact_id", "scope", "active"}))
        clock = services_of(state).clock
        page = await overrides.list_overrides(uow, clock, hub, q.page, contact_id=q.filters.get("contact_id"),
                                              scope=q.filters.get("scope"),
                                              active=parse_bool_filter(q.filters, "active"))
        now = clock.now()
        return jsonapi(OVERRIDES.list_document(request, [override_resource(hub, o, now) for o in page.items], page))

    @post("/", opt={"scope": "access:write"}, summary="Give a contact an access override")
    async def create_override(self, data: JSONBody[OVERRIDES.CreateDocument], team: TeamCtx, hub: TeamHub,  # type: ignore[name-defined]
                              state: State, uow: Uow) -> Response[OVERRIDES.Document]:  # type: ignore[name-defined]
        clock = services_of(state).clock
        o = await overrides.create_override(uow, clock, hub, msgspec.structs.asdict(data.data.attributes),
                                            created_by_user_id=team.user_id)
        resource = override_resource(hub, o, clock.now())
        return jsonapi(OVERRIDES.Document(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{override_id:str}", opt={"scope": "access:read"}, summary="Read an access override")
    async def get_override(self, override_id: FromPath[str], team: TeamCtx, hub: TeamHub, state: State,
                           uow: Uow) -> Response[OVERRIDES.Document]:  # type: ignore[name-defined]
        o = await overrides.get_override(uow, hub, parse_id(override_id))
        return jsonapi(OVERRIDES.Document(data=override_resource(hub, o, services_of(state).clock.now())))

    @patch("/{override_id:str}", opt={"scope": "access:write"},
           summary="Change an override's scope and target, expiry or reason")
    async def update_override(self, override_id: FromPath[str], data: JSONBody[OVERRIDES.UpdateDocument],  # type: ignore[name-defined]
                              team: TeamCtx, hub: TeamHub, state: State,
                              uow: Uow) -> Response[OVERRIDES.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, override_id)
        clock = services_of(state).clock
        o = await overrides.get_override(uow, hub, parse_id(override_id), lock=True)
        o = await overrides.update_override(uow, clock, hub, o, present(data.data.attributes))
        return jsonapi(OVERRIDES.Document(data=override_resource(hub, o, clock.now())))

    @delete("/{override_id:str}", opt={"scope": "access:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Remove an access override")
    async def delete_override(self, override_id: FromPath[str], team: TeamCtx, hub: TeamHub, uow: Uow) -> None:
        await overrides.delete_override(uow, hub, await overrides.get_override(uow, hub, parse_id(override_id),
                                                                                lock=True))


ROUTES: list[Any] = [EntitlementsController, AccessRulesController, AccessOverridesController]
