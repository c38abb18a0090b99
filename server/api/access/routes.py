"""Access over HTTP (JSON:API types in ``schemas.py``).

Team side: entitlements, access rules and access overrides of a hub. Every handler takes ``team``
and ``hub``: another team's hub, or another hub's entitlement, rule or override, is 404. Scopes:
``access:read`` to read, ``access:write`` to change. The rules of what is valid live in
``domain.access``; these handlers parse, call one function and answer a document.

Asking the evaluator:

- ``GET H/access/check?target_type&target_id[&action]``: the member's own decision. A hidden
  decision (a secret or missing target) answers 404 ``not_found``, never 403.
- ``GET T/hubs/{hub_id}/access/explain?contact_id&target_type&target_id[&action]`` (scope
  ``access:read``): the same decision as that member would get, with the evaluator's full trace,
  so a creator can see why someone is locked out.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.access import entitlements, overrides, rules
from domain.access import service as access_service
from domain.access.facts import Subject
from domain.errors import ValidationFailed
from domain.filters import parse_bool_filter
from persistence.ids import parse_id
from server.api.access.schemas import (
    AccessDecisionsDocument,
    AccessExplanationsDocument,
    AccessOverridesCreateDocument,
    AccessOverridesDocument,
    AccessOverridesListDocument,
    AccessOverridesUpdateDocument,
    AccessRulesCreateDocument,
    AccessRulesDocument,
    AccessRulesListDocument,
    AccessRulesUpdateDocument,
    EntitlementRevocationsCreateDocument,
    EntitlementsCreateDocument,
    EntitlementsDocument,
    EntitlementsListDocument,
    decision_document,
    entitlement_resource,
    explanation_document,
    override_resource,
    rule_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub, refuse_unless_allowed
from server.jsonapi import check_document_id, jsonapi, parse_list_query, parse_query, present
from server.openapi import existing_or_created
from server.paths import HUB_PATH, TEAM_HUB_PATH

CHECK_PARAMETERS = frozenset({"target_type", "target_id", "action"})
EXPLAIN_PARAMETERS = CHECK_PARAMETERS | {"contact_id"}


class EntitlementsController(Controller):
    """``T/hubs/{hub_id}/entitlements``: what contacts hold in the hub; staff grant and revoke."""

    path = TEAM_HUB_PATH + "/entitlements"
    tags = ["access"]

    @get("/", opt={"scope": "access:read"}, summary="List the hub's entitlements")
    async def list_entitlements(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                                ctx: Context) -> Response[EntitlementsListDocument]:
        q = parse_list_query(request, frozenset({"contact_id", "kind", "active"}))
        page = await entitlements.list_entitlements(ctx, hub, q.page, contact_id=q.filters.get("contact_id"),
                                                    kind=q.filters.get("kind"),
                                                    active=parse_bool_filter(q.filters, "active"))
        now = ctx.now()
        return jsonapi(EntitlementsListDocument.page(
            request, [entitlement_resource(hub, e, now) for e in page.items], page))

    @post("/", opt={"scope": "access:write"}, responses=existing_or_created(EntitlementsDocument),
          summary="Grant an entitlement as staff (201 when new, 200 with the same active grant otherwise)")
    async def grant(self, data: JSONBody[EntitlementsCreateDocument], team: TeamCtx, hub: TeamHub,
                    ctx: Context) -> Response[EntitlementsDocument]:
        a = data.data.attributes
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
            ctx, hub, contact_id=contact_id, kind=a.kind, target_id=target_id, source="staff_grant",
            starts_at=a.starts_at, ends_at=a.ends_at, granted_by_user_id=team.user_id)
        resource = entitlement_resource(hub, e, ctx.now())
        return jsonapi(EntitlementsDocument(data=resource), 201 if created else 200,
                       headers={"Location": resource.links.self})

    @get("/{entitlement_id:str}", opt={"scope": "access:read"}, summary="Read an entitlement")
    async def get_entitlement(self, entitlement_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                              ctx: Context) -> Response[EntitlementsDocument]:
        e = await entitlements.get_entitlement(ctx, hub, parse_id(entitlement_id))
        return jsonapi(EntitlementsDocument(data=entitlement_resource(hub, e, ctx.now())))

    @post("/{entitlement_id:str}/revoke", opt={"scope": "access:write"}, status_code=200,
          summary="Revoke an entitlement now, with a reason (revoking again changes nothing)")
    async def revoke(self, entitlement_id: FromPath[str], data: JSONBody[EntitlementRevocationsCreateDocument],
                     team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[EntitlementsDocument]:
        e = await entitlements.get_entitlement(ctx, hub, parse_id(entitlement_id), lock=True)
        e = await entitlements.revoke_entitlement(ctx, e, data.data.attributes.reason)
        return jsonapi(EntitlementsDocument(data=entitlement_resource(hub, e, ctx.now())))


class AccessRulesController(Controller):
    """``T/hubs/{hub_id}/access-rules``: conditions members must meet to reach a target."""

    path = TEAM_HUB_PATH + "/access-rules"
    tags = ["access"]

    @get("/", opt={"scope": "access:read"}, summary="List the hub's access rules")
    async def list_rules(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[AccessRulesListDocument]:
        q = parse_list_query(request, frozenset({"target_type", "target_id"}))
        page = await rules.list_rules(ctx, hub, q.page, target_type=q.filters.get("target_type"),
                                      target_id=q.filters.get("target_id"))
        return jsonapi(AccessRulesListDocument.page(request, [rule_resource(hub, r) for r in page.items], page))

    @post("/", opt={"scope": "access:write"}, summary="Create an access rule")
    async def create_rule(self, data: JSONBody[AccessRulesCreateDocument], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[AccessRulesDocument]:
        r = await rules.create_rule(ctx, hub, msgspec.structs.asdict(data.data.attributes))
        resource = rule_resource(hub, r)
        return jsonapi(AccessRulesDocument(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{rule_id:str}", opt={"scope": "access:read"}, summary="Read an access rule")
    async def get_rule(self, rule_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                       ctx: Context) -> Response[AccessRulesDocument]:
        return jsonapi(AccessRulesDocument(data=rule_resource(hub, await rules.get_rule(ctx, hub, parse_id(rule_id)))))

    @patch("/{rule_id:str}", opt={"scope": "access:write"}, summary="Update an access rule (conditions are replaced)")
    async def update_rule(self, rule_id: FromPath[str], data: JSONBody[AccessRulesUpdateDocument], team: TeamCtx,
                          hub: TeamHub, ctx: Context) -> Response[AccessRulesDocument]:
        check_document_id(data.data.id, rule_id)
        r = await rules.get_rule(ctx, hub, parse_id(rule_id), lock=True)
        r = await rules.update_rule(ctx, hub, r, present(data.data.attributes))
        return jsonapi(AccessRulesDocument(data=rule_resource(hub, r)))

    @delete("/{rule_id:str}", opt={"scope": "access:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete an access rule")
    async def delete_rule(self, rule_id: FromPath[str], team: TeamCtx, hub: TeamHub, ctx: Context) -> None:
        await rules.delete_rule(ctx, hub, await rules.get_rule(ctx, hub, parse_id(rule_id), lock=True))


class AccessOverridesController(Controller):
    """``T/hubs/{hub_id}/access-overrides``: per-contact exceptions, whole hub or one target."""

    path = TEAM_HUB_PATH + "/access-overrides"
    tags = ["access"]

    @get("/", opt={"scope": "access:read"}, summary="List the hub's access overrides")
    async def list_overrides(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                             ctx: Context) -> Response[AccessOverridesListDocument]:
        q = parse_list_query(request, frozenset({"contact_id", "scope", "active"}))
        page = await overrides.list_overrides(ctx, hub, q.page, contact_id=q.filters.get("contact_id"),
                                              scope=q.filters.get("scope"),
                                              active=parse_bool_filter(q.filters, "active"))
        now = ctx.now()
        return jsonapi(AccessOverridesListDocument.page(
            request, [override_resource(hub, o, now) for o in page.items], page))

    @post("/", opt={"scope": "access:write"}, summary="Give a contact an access override")
    async def create_override(self, data: JSONBody[AccessOverridesCreateDocument], team: TeamCtx, hub: TeamHub,
                              ctx: Context) -> Response[AccessOverridesDocument]:
        o = await overrides.create_override(ctx, hub, msgspec.structs.asdict(data.data.attributes),
                                            created_by_user_id=team.user_id)
        resource = override_resource(hub, o, ctx.now())
        return jsonapi(AccessOverridesDocument(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{override_id:str}", opt={"scope": "access:read"}, summary="Read an access override")
    async def get_override(self, override_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                           ctx: Context) -> Response[AccessOverridesDocument]:
        o = await overrides.get_override(ctx, hub, parse_id(override_id))
        return jsonapi(AccessOverridesDocument(data=override_resource(hub, o, ctx.now())))

    @patch("/{override_id:str}", opt={"scope": "access:write"},
           summary="Change an override's scope and target, expiry or reason")
    async def update_override(self, override_id: FromPath[str], data: JSONBody[AccessOverridesUpdateDocument],
                              team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[AccessOverridesDocument]:
        check_document_id(data.data.id, override_id)
        o = await overrides.get_override(ctx, hub, parse_id(override_id), lock=True)
        o = await overrides.update_override(ctx, hub, o, present(data.data.attributes))
        return jsonapi(AccessOverridesDocument(data=override_resource(hub, o, ctx.now())))

    @delete("/{override_id:str}", opt={"scope": "access:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Remove an access override")
    async def delete_override(self, override_id: FromPath[str], team: TeamCtx, hub: TeamHub, ctx: Context) -> None:
        await overrides.delete_override(ctx, hub, await overrides.get_override(ctx, hub, parse_id(override_id),
                                                                                lock=True))


@get(HUB_PATH + "/access/check", opt={"access": "view"}, tags=["access"],
     summary="May I do this? The access evaluator's decision for the calling member")
async def check_access(request: Request[Any, Any, Any], member: Member,
                       ctx: Context) -> Response[AccessDecisionsDocument]:
    q = parse_query(request, CHECK_PARAMETERS)
    target_type, target_id, action = access_service.parse_check_query(q.get("target_type"), q.get("target_id"),
                                                                      q.get("action"))
    decision = await access_service.check(ctx, Subject.member(member.contact_id), action, target_type, target_id,
                                          member.hub_id)
    if decision.hidden:
        refuse_unless_allowed(decision)  # 404: a secret target is not confirmed to exist
    return jsonapi(decision_document(target_type, target_id, action, decision))


@get(TEAM_HUB_PATH + "/access/explain", opt={"scope": "access:read"}, tags=["access"],
     summary="Why may (or may not) this member do this? The evaluator's decision with its full trace")
async def explain_access(request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[AccessExplanationsDocument]:
    q = parse_query(request, EXPLAIN_PARAMETERS)
    raw_contact = q.get("contact_id")
    if not raw_contact:
        raise ValidationFailed("contact_id is required.", code="missing_parameter", parameter="contact_id")
    contact_id = parse_id(raw_contact)
    if contact_id is None:
        raise ValidationFailed("contact_id must be an id.", code="invalid_parameter", parameter="contact_id")
    target_type, target_id, action = access_service.parse_check_query(q.get("target_type"), q.get("target_id"),
                                                                      q.get("action"))
    decision = await access_service.check(ctx, Subject.member(contact_id), action, target_type, target_id, hub.id,
                                          explain=True)
    return jsonapi(explanation_document(contact_id, target_type, target_id, action, decision))


ROUTES: list[Any] = [EntitlementsController, AccessRulesController, AccessOverridesController, check_access,
                     explain_access]
