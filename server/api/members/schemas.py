"""Members of a hub: magic-link login (plain JSON bodies) and self-service in ``H/me`` (JSON:API
types ``members`` and ``policy_acceptances``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from domain.members.login import MemberLogin
from domain.members.profile import MemberView
from persistence.models import HubMembership, PolicyAcceptance
from server.jsonapi import CreateData, Document, Inbound, Resource, UpdateData
from server.openapi import component, json_body

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

# ---- magic-link login ---------------------------------------------------------------------------


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    hub_id: str
    redirect_url: str | None = None


# Staff have a RegisterBody and a MembershipOut too: each keeps its OpenAPI name
# (server.openapi.component).
MemberRegisterBody = Annotated[RegisterBody, json_body("contact_auth_RegisterBody")]


class VerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class AcceptedOut(msgspec.Struct):
    status: str


class ContactOut(msgspec.Struct):
    id: str
    email: str


class MembershipOut(msgspec.Struct):
    id: str
    role: str
    status: str
    joined_at: datetime
    onboarding: dict[str, Any]


class MemberTokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime
    contact: ContactOut
    hub_id: str
    membership: Annotated[MembershipOut, component("contact_auth_MembershipOut")]  # pinned: see MemberRegisterBody


def membership_out(m: HubMembership) -> MembershipOut:
    return MembershipOut(str(m.id), m.role, m.status, m.joined_at, dict(m.onboarding or {}))


def member_token_out(result: MemberLogin) -> MemberTokenOut:
    return MemberTokenOut(
        access_token=result.access_token, token_type="Bearer", expires_at=result.expires_at,
        contact=ContactOut(str(result.contact.id), result.contact.email), hub_id=str(result.hub.id),
        membership=membership_out(result.membership),
    )


# ---- self-service: H/me ----------------------------------------------------------------------------


class ProfileLink(msgspec.Struct, forbid_unknown_fields=True):
    label: str
    url: str


# The community directory has a ProfileLink too (what others see of these links): pinned names.
MeProfileLink = Annotated[ProfileLink, component("member_ProfileLink")]


class Profile(msgspec.Struct):
    display_name: str | None
    bio: str | None
    avatar_media_id: str | None
    links: list[MeProfileLink]
    visibility: Literal["everyone", "shared_spaces", "hidden"]


class NotificationPreferences(msgspec.Struct):
    email_digest: Literal["off", "daily", "weekly"]
    mentions: bool
    replies: bool
    direct_messages: bool
    announcements: bool


class PolicyStatus(msgspec.Struct):
    policy_type: str
    version: int
    require_acceptance: bool
    content: str
    accepted_version: int | None
    accepted_at: datetime | None
    accepted_current: bool


class MeAttributes(msgspec.Struct):
    contact_id: str
    email: str
    membership_id: str
    role: str
    status: str
    joined_at: datetime
    profile: Profile
    notification_preferences: NotificationPreferences
    onboarding: dict[str, Any]
    policies: list[PolicyStatus]


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: str | None | Unset = UNSET
    bio: str | None | Unset = UNSET
    avatar_media_id: str | None | Unset = UNSET
    links: list[MeProfileLink] | Unset = UNSET
    visibility: Literal["everyone", "shared_spaces", "hidden"] | Unset = UNSET


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email_digest: Literal["off", "daily", "weekly"] | Unset = UNSET
    mentions: bool | Unset = UNSET
    replies: bool | Unset = UNSET
    direct_messages: bool | Unset = UNSET
    announcements: bool | Unset = UNSET


class MeUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    profile: ProfileUpdate | Unset = UNSET
    notification_preferences: PreferencesUpdate | Unset = UNSET


class MembersResource(Resource):
    type: Literal["members"]
    attributes: MeAttributes


class MembersDocument(Document):
    data: MembersResource


class MembersUpdateData(UpdateData):
    type: Literal["members"]
    attributes: MeUpdate


class MembersUpdateDocument(Inbound):
    data: MembersUpdateData


class AcceptanceAttributes(msgspec.Struct):
    policy_type: str
    version: int
    accepted_at: datetime


class AcceptanceCreate(msgspec.Struct, forbid_unknown_fields=True):
    policy_type: Literal["tos", "privacy_policy"]
    version: int


class PolicyAcceptancesResource(Resource):
    type: Literal["policy_acceptances"]
    attributes: AcceptanceAttributes


class PolicyAcceptancesDocument(Document):
    data: PolicyAcceptancesResource


class PolicyAcceptancesCreateData(CreateData):
    type: Literal["policy_acceptances"]
    attributes: AcceptanceCreate


class PolicyAcceptancesCreateDocument(Inbound):
    data: PolicyAcceptancesCreateData


def given(struct: Any) -> dict[str, Any]:
    """The fields of a partial-update Struct that were sent (UNSET ones left out)."""
    return {k: v for k, v in msgspec.to_builtins(struct).items()} if struct is not UNSET else {}


def me_document(view: MemberView, hub_id: Any) -> MembersDocument:
    m = view.membership
    prefs = view.notification_preferences
    prof = view.profile
    attrs = MeAttributes(
        contact_id=str(view.contact.id), email=view.contact.email, membership_id=str(m.id), role=m.role,
        status=view.status, joined_at=m.joined_at,
        profile=Profile(
            display_name=prof.get("display_name"), bio=prof.get("bio"), avatar_media_id=prof.get("avatar_media_id"),
            links=[ProfileLink(str(x.get("label", "")), str(x.get("url", ""))) for x in prof.get("links") or []],
            visibility=prof.get("visibility") or "everyone",
        ),
        notification_preferences=NotificationPreferences(
            email_digest=prefs.get("email_digest", "weekly"), mentions=bool(prefs.get("mentions", True)),
            replies=bool(prefs.get("replies", True)), direct_messages=bool(prefs.get("direct_messages", True)),
            announcements=bool(prefs.get("announcements", True)),
        ),
        onboarding=dict(m.onboarding or {}),
        policies=[PolicyStatus(p.policy_type, p.version, p.require_acceptance, p.content, p.accepted_version,
                               p.accepted_at, p.accepted_current) for p in view.policies],
    )
    return MembersDocument(data=MembersResource.of(view.contact.id, attrs, self_link=f"/api/v1/hub/{hub_id}/me"))


def acceptance_document(acceptance: PolicyAcceptance) -> PolicyAcceptancesDocument:
    attrs = AcceptanceAttributes(acceptance.policy_type, acceptance.version, acceptance.accepted_at)
    return PolicyAcceptancesDocument(data=PolicyAcceptancesResource.of(acceptance.id, attrs))
