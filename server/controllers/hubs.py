"""Hubs, their policies and sender settings, hub memberships with moderation, and member tokens
(JSON:API types ``hubs``, ``policies``, ``hub_email_senders``, ``hub_memberships``,
``membership_actions``, ``member_tokens``). Every handler takes ``team`` and, under a hub, ``hub``:
another team's hub or membership is 404.

Scopes: hubs ``hubs:read|write``; memberships and member tokens ``memberships:read|write``;
ban, unban, soft-ban, warn and the audit trail ``moderation:write|read``, so that a team's
moderators (who hold ``moderation`` but not ``memberships:write``) can act on members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.hubs import memberships, policies
from domain.hubs import service as hubs
from domain.hubs.memberships import MembershipView
from domain.ids import new_id, parse_id
from persistence.models import (
    Hub,
    HubEmailSender,
    HubPolicy,
    HubPolicyVersion,
    MembershipAction,
)
from persistence.pagination import Page
from server.deps import TeamCtx, TeamHub, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_list_query, resource_types
from server.paths import TEAM_HUB_PATH, TEAM_PATH

JSONObject = dict[str, Any]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


def present(attributes: msgspec.Struct) -> dict[str, Any]:
    """The attributes the caller sent (PATCH is partial: absent differs from null)."""
    return {f: getattr(attributes, f) for f in attributes.__struct_fields__ if getattr(attributes, f) is not UNSET}


# ---- types ----------------------------------------------------------------------------------------


class HubAttributes(msgspec.Struct):
    name: str
    slug: str
    description: str | None
    is_private: bool
    branding: JSONObject
    navigation: JSONObject
    settings: JSONObject
    meta: JSONObject
    allowed_redirect_origins: list[str]
    created_at: datetime
    updated_at: datetime


class HubCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    slug: str | None = None
    description: str | None = None
    is_private: bool = False
    branding: JSONObject | None = None
    navigation: JSONObject | None = None
    settings: JSONObject | None = None
    meta: JSONObject | None = None
    allowed_redirect_origins: list[str] | None = None


class HubUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | Unset = UNSET
    slug: str | Unset = UNSET
    description: str | None | Unset = UNSET
    is_private: bool | Unset = UNSET
    branding: JSONObject | None | Unset = UNSET
    navigation: JSONObject | None | Unset = UNSET
    settings: JSONObject | None | Unset = UNSET
    meta: JSONObject | None | Unset = UNSET
    allowed_redirect_origins: list[str] | Unset = UNSET


HUBS = resource_types("hubs", HubAttributes, HubCreate, HubUpdate)


class PolicyAttributes(msgspec.Struct):
    hub_id: str
    policy_type: str
    content: str
    version: int
    require_acceptance: bool
    created_at: datetime
    updated_at: datetime


class PolicyUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    policy_type: str
    content: str | Unset = UNSET
    require_acceptance: bool | Unset = UNSET


POLICIES = resource_types("policies", PolicyAttributes, None, PolicyUpdate)


class PolicyVersionAttributes(msgspec.Struct):
    policy_id: str
    policy_type: str
    version: int
    content: str
    created_at: datetime


POLICY_VERSIONS = resource_types("policy_versions", PolicyVersionAttributes)


class EmailSenderAttributes(msgspec.Struct):
    hub_id: str
    from_name: str | None
    from_email: str | None
    reply_to: str | None
    updated_at: datetime | None


class EmailSenderUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    from_name: str | None | Unset = UNSET
    from_email: str | None | Unset = UNSET
    reply_to: str | None | Unset = UNSET


EMAIL_SENDERS = resource_types("hub_email_senders", EmailSenderAttributes, None, EmailSenderUpdate)


class PolicyAcceptanceInfo(msgspec.Struct):
    version: int
    accepted_at: datetime


class MembershipAttributes(msgspec.Struct):
    hub_id: str
    contact_id: str
    email: str
    role: str
    status: str
    status_reason: str | None
    status_expires_at: datetime | None
    onboarding: JSONObject
    notification_preferences: JSONObject
    policy_acceptances: dict[str, PolicyAcceptanceInfo]
    joined_at: datetime
    left_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MembershipCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contact_id: str | None = None
    email: str | None = None
    role: str = "member"


class MembershipUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    role: str | Unset = UNSET
    notification_preferences: JSONObject | Unset = UNSET
    onboarding: JSONObject | Unset = UNSET


MEMBERSHIPS = resource_types("hub_memberships", MembershipAttributes, MembershipCreate, MembershipUpdate)


class ActionAttributes(msgspec.Struct):
    hub_id: str
    contact_id: str
    action: str
    reason: str | None
    expires_at: datetime | None
    actor_user_id: str | None
    actor_api_key_id: str | None
    created_at: datetime


class ActionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str
    expires_at: datetime | None = None


ACTIONS = resource_types("membership_actions", ActionAttributes, ActionCreate)


class MemberTokenAttributes(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime
    contact_id: str
    hub_id: str


class MemberTokenCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contact_id: str


MEMBER_TOKENS = resource_types("member_tokens", MemberTokenAttributes, MemberTokenCreate)


# ---- documents ------------------------------------------------------------------------------------


def hub_path(hub: Hub) -> str:
    return f"/api/v1/teams/{hub.team_id}/hubs/{hub.id}"


def hub_resource(hub: Hub) -> Any:
    attrs = HubAttributes(
        name=hub.name, slug=hub.slug, description=hub.description, is_private=hub.is_private,
        branding=hub.branding or {}, navigation=hub.navigation or {}, settings=hub.settings or {},
        meta=hub.meta or {}, allowed_redirect_origins=list(hub.allowed_redirect_origins or []),
        created_at=hub.created_at, updated_at=hub.updated_at,
    )
    return HUBS.resource(hub.id, attrs, self_link=hub_path(hub))


def policy_resource(hub: Hub, p: HubPolicy) -> Any:
    attrs = PolicyAttributes(str(p.hub_id), p.policy_type, p.content, p.version, p.require_acceptance,
                             p.created_at, p.updated_at)
    return POLICIES.resource(p.id, attrs, self_link=f"{hub_path(hub)}/policies/{p.policy_type}")


def policy_version_resource(policy_type: str, v: HubPolicyVersion) -> Any:
    return POLICY_VERSIONS.resource(v.id, PolicyVersionAttributes(str(v.policy_id), policy_type, v.version,
                                                                  v.content, v.created_at))


def sender_resource(hub: Hub, sender: HubEmailSender | None) -> Any:
    attrs = EmailSenderAttributes(
        str(hub.id), sender.from_name if sender else None, sender.from_email if sender else None,
        sender.reply_to if sender else None, sender.updated_at if sender else None,
    )
    return EMAIL_SENDERS.resource(hub.id, attrs, self_link=f"{hub_path(hub)}/email-settings")


def membership_resource(hub: Hub, v: MembershipView) -> Any:
    m = v.membership
    attrs = MembershipAttributes(
        hub_id=str(m.hub_id), contact_id=str(m.contact_id), email=v.email, role=m.role, status=v.status,
        status_reason=v.status_reason, status_expires_at=v.status_expires_at, onboarding=m.onboarding or {},
        notification_preferences=m.notification_preferences or {},
        policy_acceptances={t: PolicyAcceptanceInfo(a.version, a.accepted_at) for t, a in v.policy_acceptances.items()},
        joined_at=m.joined_at, left_at=m.left_at, created_at=m.created_at, updated_at=m.updated_at,
    )
    return MEMBERSHIPS.resource(m.id, attrs, self_link=f"{hub_path(hub)}/memberships/{m.contact_id}")


def action_resource(a: MembershipAction) -> Any:
    attrs = ActionAttributes(
        str(a.hub_id), str(a.contact_id), a.action, a.reason, a.expires_at,
        str(a.actor_user_id) if a.actor_user_id else None, str(a.actor_api_key_id) if a.actor_api_key_id else None,
        a.created_at,
    )
    return ACTIONS.resource(a.id, attrs)


def whole(items: list[Any]) -> Page[Any]:
    return Page(items, False, None)


# ---- routes -------------------------------------------------------------------------------------


class HubsController(Controller):
    """``T/hubs``: a team's hubs, their policies and sender settings."""

    path = TEAM_PATH + "/hubs"
    tags = ["hubs"]

    @get("/", opt={"scope": "hubs:read"}, summary="List the team's hubs")
    async def list_hubs(self, request: Request[Any, Any, Any], team: TeamCtx,
                        uow: Uow) -> Response[HUBS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"slug"}))
        page = await hubs.list_hubs(uow, team, q.page, slug=q.filters.get("slug"))
        return jsonapi(HUBS.list_document(request, [hub_resource(h) for h in page.items], page))

    @post("/", opt={"scope": "hubs:write"}, summary="Create a hub")
    async def create_hub(self, data: JSONBody[HUBS.CreateDocument], team: TeamCtx, state: State,  # type: ignore[name-defined]
                         uow: Uow) -> Response[HUBS.Document]:  # type: ignore[name-defined]
        hub = await hubs.create_hub(uow, services_of(state).clock, team, msgspec.structs.asdict(data.data.attributes))
        return jsonapi(HUBS.Document(data=hub_resource(hub)), 201, headers={"Location": hub_path(hub)})

    @get("/{hub_id:str}", opt={"scope": "hubs:read"}, summary="Read a hub")
    async def get_hub(self, team: TeamCtx, hub: TeamHub) -> Response[HUBS.Document]:  # type: ignore[name-defined]
        return jsonapi(HUBS.Document(data=hub_resource(hub)))

    @patch("/{hub_id:str}", opt={"scope": "hubs:write"},
           summary="Update a hub (branding, navigation, settings and meta are deep-merged)")
    async def update_hub(self, data: JSONBody[HUBS.UpdateDocument], team: TeamCtx, hub: TeamHub,  # type: ignore[name-defined]
                         state: State, uow: Uow) -> Response[HUBS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, hub.id)
        updated = await hubs.update_hub(uow, services_of(state).clock, team, hub, present(data.data.attributes))
        return jsonapi(HUBS.Document(data=hub_resource(updated)))

    @delete("/{hub_id:str}", opt={"scope": "hubs:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a hub (soft delete; its member tokens stop working)")
    async def delete_hub(self, team: TeamCtx, hub: TeamHub, state: State, uow: Uow) -> None:
        await hubs.delete_hub(uow, services_of(state).clock, hub)

    @get("/{hub_id:str}/policies", opt={"scope": "hubs:read"}, summary="List the hub's current policies")
    async def list_policies(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                            uow: Uow) -> Response[POLICIES.ListDocument]:  # type: ignore[name-defined]
        parse_list_query(request)
        items = await policies.list_policies(uow, hub)
        return jsonapi(POLICIES.list_document(request, [policy_resource(hub, p) for p in items], whole(items)))

    @patch("/{hub_id:str}/policies", opt={"scope": "hubs:write"},
           summary="Create or update one policy (a content change bumps its version)")
    async def set_policy(self, data: JSONBody[POLICIES.UpdateDocument], team: TeamCtx, hub: TeamHub,  # type: ignore[name-defined]
                         state: State, uow: Uow) -> Response[POLICIES.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        if data.data.id is not None:  # the policy is named by its type; its id must be the current one's
            current = {p.policy_type: p.id for p in await policies.list_policies(uow, hub)}
            check_document_id(data.data.id, current.get(a.policy_type))
        policy = await policies.set_policy(
            uow, services_of(state).clock, hub, policy_type=a.policy_type,
            content=None if a.content is UNSET else a.content,
            require_acceptance=None if a.require_acceptance is UNSET else a.require_acceptance,
        )
        return jsonapi(POLICIES.Document(data=policy_resource(hub, policy)))

    @get("/{hub_id:str}/policies/{policy_type:str}/versions", opt={"scope": "hubs:read"},
         summary="Every version of one policy, oldest first")
    async def list_policy_versions(self, request: Request[Any, Any, Any], policy_type: FromPath[str],
                                   team: TeamCtx, hub: TeamHub,
                                   uow: Uow) -> Response[POLICY_VERSIONS.ListDocument]:  # type: ignore[name-defined]
        parse_list_query(request)
        items = await policies.list_policy_versions(uow, hub, policy_type)
        return jsonapi(POLICY_VERSIONS.list_document(
            request, [policy_version_resource(policy_type, v) for v in items], whole(items)))

    @get("/{hub_id:str}/email-settings", opt={"scope": "hubs:read"}, summary="Read the hub's email sender")
    async def get_email_settings(self, team: TeamCtx, hub: TeamHub,
                                 uow: Uow) -> Response[EMAIL_SENDERS.Document]:  # type: ignore[name-defined]
        sender = await hubs.get_email_sender(uow, hub)
        return jsonapi(EMAIL_SENDERS.Document(data=sender_resource(hub, sender)))

    @patch("/{hub_id:str}/email-settings", opt={"scope": "hubs:write"}, summary="Set the hub's email sender")
    async def update_email_settings(self, data: JSONBody[EMAIL_SENDERS.UpdateDocument], team: TeamCtx,  # type: ignore[name-defined]
                                    hub: TeamHub, state: State,
                                    uow: Uow) -> Response[EMAIL_SENDERS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, hub.id)
        sender = await hubs.update_email_sender(uow, services_of(state).clock, hub, present(data.data.attributes))
        return jsonapi(EMAIL_SENDERS.Document(data=sender_resource(hub, sender)))


class HubMembershipsController(Controller):
    """``T/hubs/{hub_id}/memberships`` and ``.../member-tokens``: who belongs to a hub."""

    path = TEAM_HUB_PATH
    tags = ["hub memberships"]

    @get("/memberships", opt={"scope": "memberships:read"}, summary="List the hub's memberships")
    async def list_memberships(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub, state: State,
                               uow: Uow) -> Response[MEMBERSHIPS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"status", "role"}))
        page = await memberships.list_memberships(uow, services_of(state).clock, hub, q.page,
                                                  status=q.filters.get("status"), role=q.filters.get("role"))
        return jsonapi(MEMBERSHIPS.list_document(request, [membership_resource(hub, v) for v in page.items], page))

    @post("/memberships", opt={"scope": "memberships:write"},
          summary="Add a contact to the hub (201 when new, 200 with the existing membership otherwise)")
    async def add_membership(self, data: JSONBody[MEMBERSHIPS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                             hub: TeamHub, state: State,
                             uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        view, joined = await memberships.add_membership(uow, services_of(state).clock, team, hub,
                                                        contact_id=a.contact_id, email=a.email, role=a.role)
        resource = membership_resource(hub, view)
        return jsonapi(MEMBERSHIPS.Document(data=resource), 201 if joined else 200,
                       headers={"Location": resource.links.self})

    @get("/memberships/{contact_id:str}", opt={"scope": "memberships:read"}, summary="Read one membership")
    async def get_membership(self, contact_id: FromPath[str], team: TeamCtx, hub: TeamHub, state: State,
                             uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        view = await memberships.get_membership(uow, services_of(state).clock, hub, parse_id(contact_id))
        return jsonapi(MEMBERSHIPS.Document(data=membership_resource(hub, view)))

    @patch("/memberships/{contact_id:str}", opt={"scope": "memberships:write"},
           summary="Change role, notification preferences (merged) or onboarding state (merged)")
    async def update_membership(self, contact_id: FromPath[str], data: JSONBody[MEMBERSHIPS.UpdateDocument],  # type: ignore[name-defined]
                                team: TeamCtx, hub: TeamHub, state: State,
                                uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        clock = services_of(state).clock
        if data.data.id is not None:  # the URL names the membership by its contact; its id is its own
            current = await memberships.get_membership(uow, clock, hub, parse_id(contact_id))
            check_document_id(data.data.id, current.membership.id)
        view = await memberships.update_membership(uow, clock, hub, parse_id(contact_id),
                                                   present(data.data.attributes))
        return jsonapi(MEMBERSHIPS.Document(data=membership_resource(hub, view)))

    @post("/memberships/{contact_id:str}/ban", opt={"scope": "moderation:write"}, status_code=200,
          summary="Ban a member (optionally until expires_at); their tokens stop working for this hub at once")
    async def ban(self, contact_id: FromPath[str], data: JSONBody[ACTIONS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                  hub: TeamHub, state: State, uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, team, hub, contact_id, "ban", data.data.attributes)

    @post("/memberships/{contact_id:str}/soft-ban", opt={"scope": "moderation:write"}, status_code=200,
          summary="Soft-ban a member (they can still sign in)")
    async def soft_ban(self, contact_id: FromPath[str], data: JSONBody[ACTIONS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                       hub: TeamHub, state: State, uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, team, hub, contact_id, "soft_ban", data.data.attributes)

    @post("/memberships/{contact_id:str}/unban", opt={"scope": "moderation:write"}, status_code=200,
          summary="Lift a ban or soft-ban")
    async def unban(self, contact_id: FromPath[str], data: JSONBody[ACTIONS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                    hub: TeamHub, state: State, uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, team, hub, contact_id, "unban", data.data.attributes)

    @post("/memberships/{contact_id:str}/warn", opt={"scope": "moderation:write"}, status_code=200,
          summary="Warn a member (recorded and notified; the status does not change)")
    async def warn(self, contact_id: FromPath[str], data: JSONBody[ACTIONS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                   hub: TeamHub, state: State, uow: Uow) -> Response[MEMBERSHIPS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, team, hub, contact_id, "warn", data.data.attributes)

    @get("/memberships/{contact_id:str}/actions", opt={"scope": "moderation:read"},
         summary="The member's moderation audit trail, oldest first")
    async def list_actions(self, request: Request[Any, Any, Any], contact_id: FromPath[str], team: TeamCtx,
                           hub: TeamHub, uow: Uow) -> Response[ACTIONS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await memberships.list_membership_actions(uow, hub, parse_id(contact_id), q.page)
        return jsonapi(ACTIONS.list_document(request, [action_resource(a) for a in page.items], page))

    @post("/member-tokens", opt={"scope": "memberships:write"},
          summary="Mint a member token for a member of the hub (integrations, testing)")
    async def create_member_token(self, data: JSONBody[MEMBER_TOKENS.CreateDocument], team: TeamCtx,  # type: ignore[name-defined]
                                  hub: TeamHub, state: State,
                                  uow: Uow) -> Response[MEMBER_TOKENS.Document]:  # type: ignore[name-defined]
        svc = services_of(state)
        token, expires_at, m = await memberships.mint_member_token(uow, svc.auth.tokens, svc.clock, hub,
                                                                   data.data.attributes.contact_id)
        attrs = MemberTokenAttributes(token, "Bearer", expires_at, str(m.contact_id), str(hub.id))
        return jsonapi(MEMBER_TOKENS.document(new_id(), attrs), 201)


async def _moderate(state: State, uow: Any, team: Any, hub: Hub, contact_id: str, action: str,
                    a: ActionCreate) -> Response[Any]:
    view, _ = await memberships.moderate_member(uow, services_of(state).clock, team, hub, parse_id(contact_id),
                                                action, reason=a.reason, expires_at=a.expires_at)
    return jsonapi(MEMBERSHIPS.Document(data=membership_resource(hub, view)))


ROUTES: list[Any] = [HubsController, HubMembershipsController]
