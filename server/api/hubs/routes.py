"""Hubs, their policies and sender settings, hub memberships with moderation, and member tokens
(JSON:API types in ``schemas.py``). Every handler takes ``team`` and, under a hub, ``hub``:
another team's hub or membership is 404.

Scopes: hubs ``hubs:read|write``; memberships and member tokens ``memberships:read|write``;
ban, unban, soft-ban, warn and the audit trail ``moderation:write|read``, so that a team's
moderators (who hold ``moderation`` but not ``memberships:write``) can act on members.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.hubs import memberships, policies
from domain.hubs import service as hubs
from persistence.ids import new_id, parse_id
from persistence.models import Hub
from server.api.hubs.public import public_hubs
from server.api.hubs.schemas import (
    UNSET,
    ActionCreate,
    HubEmailSendersDocument,
    HubEmailSendersUpdateDocument,
    HubMembershipsCreateDocument,
    HubMembershipsDocument,
    HubMembershipsListDocument,
    HubMembershipsUpdateDocument,
    HubsCreateDocument,
    HubsDocument,
    HubsListDocument,
    HubsUpdateDocument,
    MembershipActionsCreateDocument,
    MembershipActionsListDocument,
    MemberTokensCreateDocument,
    MemberTokensDocument,
    PoliciesDocument,
    PoliciesListDocument,
    PoliciesUpdateDocument,
    PolicyVersionsListDocument,
    action_resource,
    hub_path,
    hub_resource,
    member_token_document,
    membership_resource,
    policy_resource,
    policy_version_resource,
    sender_resource,
    whole,
)
from server.deps import Context, TeamCtx, TeamHub, services_of
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.openapi import existing_or_created
from server.paths import TEAM_HUB_PATH, TEAM_PATH


class HubsController(Controller):
    """``T/hubs``: a team's hubs, their policies and sender settings."""

    path = TEAM_PATH + "/hubs"
    tags = ["hubs"]

    @get("/", opt={"scope": "hubs:read"}, summary="List the team's hubs")
    async def list_hubs(self, request: Request[Any, Any, Any], team: TeamCtx,
                        ctx: Context) -> Response[HubsListDocument]:
        q = parse_list_query(request, frozenset({"slug"}))
        page = await hubs.list_hubs(ctx, team, q.page, slug=q.filters.get("slug"))
        return jsonapi(HubsListDocument.page(request, [hub_resource(h) for h in page.items], page))

    @post("/", opt={"scope": "hubs:write"}, summary="Create a hub")
    async def create_hub(self, data: JSONBody[HubsCreateDocument], team: TeamCtx,
                         ctx: Context) -> Response[HubsDocument]:
        hub = await hubs.create_hub(ctx, team, msgspec.structs.asdict(data.data.attributes))
        return jsonapi(HubsDocument(data=hub_resource(hub)), 201, headers={"Location": hub_path(hub)})

    @get("/{hub_id:str}", opt={"scope": "hubs:read"}, summary="Read a hub")
    async def get_hub(self, team: TeamCtx, hub: TeamHub) -> Response[HubsDocument]:
        return jsonapi(HubsDocument(data=hub_resource(hub)))

    @patch("/{hub_id:str}", opt={"scope": "hubs:write"},
           summary="Update a hub (branding, navigation, settings and meta are deep-merged)")
    async def update_hub(self, data: JSONBody[HubsUpdateDocument], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[HubsDocument]:
        check_document_id(data.data.id, hub.id)
        updated = await hubs.update_hub(ctx, team, hub, present(data.data.attributes))
        return jsonapi(HubsDocument(data=hub_resource(updated)))

    @delete("/{hub_id:str}", opt={"scope": "hubs:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a hub (soft delete; its member tokens stop working)")
    async def delete_hub(self, team: TeamCtx, hub: TeamHub, ctx: Context) -> None:
        await hubs.delete_hub(ctx, hub)

    @get("/{hub_id:str}/policies", opt={"scope": "hubs:read"}, summary="List the hub's current policies")
    async def list_policies(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                            ctx: Context) -> Response[PoliciesListDocument]:
        parse_list_query(request)
        items = await policies.list_policies(ctx, hub)
        return jsonapi(PoliciesListDocument.page(request, [policy_resource(hub, p) for p in items], whole(items)))

    @patch("/{hub_id:str}/policies", opt={"scope": "hubs:write"},
           summary="Create or update one policy (a content change bumps its version)")
    async def set_policy(self, data: JSONBody[PoliciesUpdateDocument], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[PoliciesDocument]:
        a = data.data.attributes
        if data.data.id is not None:  # the policy is named by its type; its id must be the current one's
            current = {p.policy_type: p.id for p in await policies.list_policies(ctx, hub)}
            check_document_id(data.data.id, current.get(a.policy_type))
        policy = await policies.set_policy(
            ctx, hub, policy_type=a.policy_type,
            content=None if a.content is UNSET else a.content,
            require_acceptance=None if a.require_acceptance is UNSET else a.require_acceptance,
        )
        return jsonapi(PoliciesDocument(data=policy_resource(hub, policy)))

    @get("/{hub_id:str}/policies/{policy_type:str}/versions", opt={"scope": "hubs:read"},
         summary="Every version of one policy, oldest first")
    async def list_policy_versions(self, request: Request[Any, Any, Any], policy_type: FromPath[str],
                                   team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[PolicyVersionsListDocument]:
        parse_list_query(request)
        items = await policies.list_policy_versions(ctx, hub, policy_type)
        return jsonapi(PolicyVersionsListDocument.page(
            request, [policy_version_resource(policy_type, v) for v in items], whole(items)))

    @get("/{hub_id:str}/email-settings", opt={"scope": "hubs:read"}, summary="Read the hub's email sender")
    async def get_email_settings(self, team: TeamCtx, hub: TeamHub,
                                 ctx: Context) -> Response[HubEmailSendersDocument]:
        sender = await hubs.get_email_sender(ctx, hub)
        return jsonapi(HubEmailSendersDocument(data=sender_resource(hub, sender)))

    @patch("/{hub_id:str}/email-settings", opt={"scope": "hubs:write"}, summary="Set the hub's email sender")
    async def update_email_settings(self, data: JSONBody[HubEmailSendersUpdateDocument], team: TeamCtx,
                                    hub: TeamHub, ctx: Context) -> Response[HubEmailSendersDocument]:
        check_document_id(data.data.id, hub.id)
        sender = await hubs.update_email_sender(ctx, hub, present(data.data.attributes))
        return jsonapi(HubEmailSendersDocument(data=sender_resource(hub, sender)))


class HubMembershipsController(Controller):
    """``T/hubs/{hub_id}/memberships`` and ``.../member-tokens``: who belongs to a hub."""

    path = TEAM_HUB_PATH
    tags = ["hub memberships"]

    @get("/memberships", opt={"scope": "memberships:read"}, summary="List the hub's memberships")
    async def list_memberships(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                               ctx: Context) -> Response[HubMembershipsListDocument]:
        q = parse_list_query(request, frozenset({"status", "role"}))
        page = await memberships.list_memberships(ctx, hub, q.page, status=q.filters.get("status"),
                                                  role=q.filters.get("role"))
        return jsonapi(HubMembershipsListDocument.page(request, [membership_resource(hub, v) for v in page.items],
                                                       page))

    @post("/memberships", opt={"scope": "memberships:write"}, responses=existing_or_created(HubMembershipsDocument),
          summary="Add a contact to the hub (201 when new, 200 with the existing membership otherwise)")
    async def add_membership(self, data: JSONBody[HubMembershipsCreateDocument], team: TeamCtx,
                             hub: TeamHub, ctx: Context) -> Response[HubMembershipsDocument]:
        a = data.data.attributes
        view, joined = await memberships.add_membership(ctx, team, hub, contact_id=a.contact_id, email=a.email,
                                                        role=a.role)
        resource = membership_resource(hub, view)
        return jsonapi(HubMembershipsDocument(data=resource), 201 if joined else 200,
                       headers={"Location": resource.links.self})

    @get("/memberships/{contact_id:str}", opt={"scope": "memberships:read"}, summary="Read one membership")
    async def get_membership(self, contact_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                             ctx: Context) -> Response[HubMembershipsDocument]:
        view = await memberships.get_membership(ctx, hub, parse_id(contact_id))
        return jsonapi(HubMembershipsDocument(data=membership_resource(hub, view)))

    @patch("/memberships/{contact_id:str}", opt={"scope": "memberships:write"},
           summary="Change role, notification preferences (merged) or onboarding state (merged)")
    async def update_membership(self, contact_id: FromPath[str], data: JSONBody[HubMembershipsUpdateDocument],
                                team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[HubMembershipsDocument]:
        if data.data.id is not None:  # the URL names the membership by its contact; its id is its own
            current = await memberships.get_membership(ctx, hub, parse_id(contact_id))
            check_document_id(data.data.id, current.membership.id)
        view = await memberships.update_membership(ctx, hub, parse_id(contact_id), present(data.data.attributes))
        return jsonapi(HubMembershipsDocument(data=membership_resource(hub, view)))

    @post("/memberships/{contact_id:str}/ban", opt={"scope": "moderation:write"}, status_code=200,
          summary="Ban a member (optionally until expires_at); their tokens stop working for this hub at once")
    async def ban(self, contact_id: FromPath[str], data: JSONBody[MembershipActionsCreateDocument], team: TeamCtx,
                  hub: TeamHub, ctx: Context) -> Response[HubMembershipsDocument]:
        return await _moderate(ctx, team, hub, contact_id, "ban", data.data.attributes)

    @post("/memberships/{contact_id:str}/soft-ban", opt={"scope": "moderation:write"}, status_code=200,
          summary="Soft-ban a member (they can still sign in)")
    async def soft_ban(self, contact_id: FromPath[str], data: JSONBody[MembershipActionsCreateDocument],
                       team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[HubMembershipsDocument]:
        return await _moderate(ctx, team, hub, contact_id, "soft_ban", data.data.attributes)

    @post("/memberships/{contact_id:str}/unban", opt={"scope": "moderation:write"}, status_code=200,
          summary="Lift a ban or soft-ban")
    async def unban(self, contact_id: FromPath[str], data: JSONBody[MembershipActionsCreateDocument], team: TeamCtx,
                    hub: TeamHub, ctx: Context) -> Response[HubMembershipsDocument]:
        return await _moderate(ctx, team, hub, contact_id, "unban", data.data.attributes)

    @post("/memberships/{contact_id:str}/warn", opt={"scope": "moderation:write"}, status_code=200,
          summary="Warn a member (recorded and notified; the status does not change)")
    async def warn(self, contact_id: FromPath[str], data: JSONBody[MembershipActionsCreateDocument], team: TeamCtx,
                   hub: TeamHub, ctx: Context) -> Response[HubMembershipsDocument]:
        return await _moderate(ctx, team, hub, contact_id, "warn", data.data.attributes)

    @get("/memberships/{contact_id:str}/actions", opt={"scope": "moderation:read"},
         summary="The member's moderation audit trail, oldest first")
    async def list_actions(self, request: Request[Any, Any, Any], contact_id: FromPath[str], team: TeamCtx,
                           hub: TeamHub, ctx: Context) -> Response[MembershipActionsListDocument]:
        q = parse_list_query(request)
        page = await memberships.list_membership_actions(ctx, hub, parse_id(contact_id), q.page)
        return jsonapi(MembershipActionsListDocument.page(request, [action_resource(a) for a in page.items], page))

    @post("/member-tokens", opt={"scope": "memberships:write"},
          summary="Mint a member token for a member of the hub (integrations, testing)")
    async def create_member_token(self, data: JSONBody[MemberTokensCreateDocument], team: TeamCtx,
                                  hub: TeamHub, state: State, ctx: Context) -> Response[MemberTokensDocument]:
        token, expires_at, m = await memberships.mint_member_token(ctx, hub, data.data.attributes.contact_id,
                                                                   tokens=services_of(state).auth.tokens)
        return jsonapi(member_token_document(new_id(), token, expires_at, m.contact_id, hub), 201)


async def _moderate(ctx: Any, team: Any, hub: Hub, contact_id: str, action: str, a: ActionCreate) -> Response[Any]:
    view, _ = await memberships.moderate_member(ctx, team, hub, parse_id(contact_id), action, reason=a.reason,
                                                expires_at=a.expires_at)
    return jsonapi(HubMembershipsDocument(data=membership_resource(hub, view)))


ROUTES: list[Any] = [HubsController, HubMembershipsController, public_hubs]
