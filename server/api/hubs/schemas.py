"""Hubs, their policies and sender settings, hub memberships with moderation, and member tokens:
JSON:API types ``hubs``, ``policies``, ``policy_versions``, ``hub_email_senders``,
``hub_memberships``, ``membership_actions`` and ``member_tokens``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from domain.hubs.memberships import MembershipView
from persistence.models import Hub, HubEmailSender, HubPolicy, HubPolicyVersion, MembershipAction
from persistence.pagination import Page
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

JSONObject = dict[str, Any]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


def hub_path(hub: Hub) -> str:
    return f"/api/v1/teams/{hub.team_id}/hubs/{hub.id}"


def whole(items: list[Any]) -> Page[Any]:
    """A list that is never paged, as a single page."""
    return Page(items, False, None)


# ---- hubs -----------------------------------------------------------------------------------------


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


class HubsResource(Resource):
    type: Literal["hubs"]
    attributes: HubAttributes


class HubsDocument(Document):
    data: HubsResource


class HubsListDocument(ListDocument):
    data: list[HubsResource]


class HubsCreateData(CreateData):
    type: Literal["hubs"]
    attributes: HubCreate


class HubsCreateDocument(Inbound):
    data: HubsCreateData


class HubsUpdateData(UpdateData):
    type: Literal["hubs"]
    attributes: HubUpdate


class HubsUpdateDocument(Inbound):
    data: HubsUpdateData


def hub_resource(hub: Hub) -> HubsResource:
    attrs = HubAttributes(
        name=hub.name, slug=hub.slug, description=hub.description, is_private=hub.is_private,
        branding=hub.branding or {}, navigation=hub.navigation or {}, settings=hub.settings or {},
        meta=hub.meta or {}, allowed_redirect_origins=list(hub.allowed_redirect_origins or []),
        created_at=hub.created_at, updated_at=hub.updated_at,
    )
    return HubsResource.of(hub.id, attrs, self_link=hub_path(hub))


# ---- policies -------------------------------------------------------------------------------------


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


class PoliciesResource(Resource):
    type: Literal["policies"]
    attributes: PolicyAttributes


class PoliciesDocument(Document):
    data: PoliciesResource


class PoliciesListDocument(ListDocument):
    data: list[PoliciesResource]


class PoliciesUpdateData(UpdateData):
    type: Literal["policies"]
    attributes: PolicyUpdate


class PoliciesUpdateDocument(Inbound):
    data: PoliciesUpdateData


class PolicyVersionAttributes(msgspec.Struct):
    policy_id: str
    policy_type: str
    version: int
    content: str
    created_at: datetime


class PolicyVersionsResource(Resource):
    type: Literal["policy_versions"]
    attributes: PolicyVersionAttributes


class PolicyVersionsListDocument(ListDocument):
    data: list[PolicyVersionsResource]


def policy_resource(hub: Hub, p: HubPolicy) -> PoliciesResource:
    attrs = PolicyAttributes(str(p.hub_id), p.policy_type, p.content, p.version, p.require_acceptance,
                             p.created_at, p.updated_at)
    return PoliciesResource.of(p.id, attrs, self_link=f"{hub_path(hub)}/policies/{p.policy_type}")


def policy_version_resource(policy_type: str, v: HubPolicyVersion) -> PolicyVersionsResource:
    return PolicyVersionsResource.of(v.id, PolicyVersionAttributes(str(v.policy_id), policy_type, v.version,
                                                                   v.content, v.created_at))


# ---- email sender ---------------------------------------------------------------------------------


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


class HubEmailSendersResource(Resource):
    type: Literal["hub_email_senders"]
    attributes: EmailSenderAttributes


class HubEmailSendersDocument(Document):
    data: HubEmailSendersResource


class HubEmailSendersUpdateData(UpdateData):
    type: Literal["hub_email_senders"]
    attributes: EmailSenderUpdate


class HubEmailSendersUpdateDocument(Inbound):
    data: HubEmailSendersUpdateData


def sender_resource(hub: Hub, sender: HubEmailSender | None) -> HubEmailSendersResource:
    attrs = EmailSenderAttributes(
        str(hub.id), sender.from_name if sender else None, sender.from_email if sender else None,
        sender.reply_to if sender else None, sender.updated_at if sender else None,
    )
    return HubEmailSendersResource.of(hub.id, attrs, self_link=f"{hub_path(hub)}/email-settings")


# ---- memberships and their moderation -----------------------------------------------------------------


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


class HubMembershipsResource(Resource):
    type: Literal["hub_memberships"]
    attributes: MembershipAttributes


class HubMembershipsDocument(Document):
    data: HubMembershipsResource


class HubMembershipsListDocument(ListDocument):
    data: list[HubMembershipsResource]


class HubMembershipsCreateData(CreateData):
    type: Literal["hub_memberships"]
    attributes: MembershipCreate


class HubMembershipsCreateDocument(Inbound):
    data: HubMembershipsCreateData


class HubMembershipsUpdateData(UpdateData):
    type: Literal["hub_memberships"]
    attributes: MembershipUpdate


class HubMembershipsUpdateDocument(Inbound):
    data: HubMembershipsUpdateData


def membership_resource(hub: Hub, v: MembershipView) -> HubMembershipsResource:
    m = v.membership
    attrs = MembershipAttributes(
        hub_id=str(m.hub_id), contact_id=str(m.contact_id), email=v.email, role=m.role, status=v.status,
        status_reason=v.status_reason, status_expires_at=v.status_expires_at, onboarding=m.onboarding or {},
        notification_preferences=m.notification_preferences or {},
        policy_acceptances={t: PolicyAcceptanceInfo(a.version, a.accepted_at) for t, a in v.policy_acceptances.items()},
        joined_at=m.joined_at, left_at=m.left_at, created_at=m.created_at, updated_at=m.updated_at,
    )
    return HubMembershipsResource.of(m.id, attrs, self_link=f"{hub_path(hub)}/memberships/{m.contact_id}")


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


class MembershipActionsResource(Resource):
    type: Literal["membership_actions"]
    attributes: ActionAttributes


class MembershipActionsListDocument(ListDocument):
    data: list[MembershipActionsResource]


class MembershipActionsCreateData(CreateData):
    type: Literal["membership_actions"]
    attributes: ActionCreate


class MembershipActionsCreateDocument(Inbound):
    data: MembershipActionsCreateData


def action_resource(a: MembershipAction) -> MembershipActionsResource:
    attrs = ActionAttributes(
        str(a.hub_id), str(a.contact_id), a.action, a.reason, a.expires_at,
        str(a.actor_user_id) if a.actor_user_id else None, str(a.actor_api_key_id) if a.actor_api_key_id else None,
        a.created_at,
    )
    return MembershipActionsResource.of(a.id, attrs)


# ---- member tokens --------------------------------------------------------------------------------


class MemberTokenAttributes(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime
    contact_id: str
    hub_id: str


class MemberTokenCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contact_id: str


class MemberTokensResource(Resource):
    type: Literal["member_tokens"]
    attributes: MemberTokenAttributes


class MemberTokensDocument(Document):
    data: MemberTokensResource


class MemberTokensCreateData(CreateData):
    type: Literal["member_tokens"]
    attributes: MemberTokenCreate


class MemberTokensCreateDocument(Inbound):
    data: MemberTokensCreateData


def member_token_document(token_id: Any, token: str, expires_at: datetime, contact_id: Any,
                          hub: Hub) -> MemberTokensDocument:
    attrs = MemberTokenAttributes(token, "Bearer", expires_at, str(contact_id), str(hub.id))
    return MemberTokensDocument(data=MemberTokensResource.of(token_id, attrs))
