"""Member self-service in a hub (``H/me``): the member's membership, profile, notification
preferences and policy acceptances. Every handler takes ``member`` (a member token for this hub) with
``access: self``: reachable while the hub's policies are not yet accepted, never by banned members."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody

from domain.members import profile as self_service
from domain.members.profile import MemberView
from server.deps import Member, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, resource_types
from server.paths import HUB_PATH

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class ProfileLink(msgspec.Struct, forbid_unknown_fields=True):
    label: str
    url: str


class Profile(msgspec.Struct):
    display_name: str | None
    bio: str | None
    avatar_media_id: str | None
    links: list[ProfileLink]
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
    links: list[ProfileLink] | Unset = UNSET
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


MEMBERS = resource_types("members", MeAttributes, None, MeUpdate)


class AcceptanceAttributes(msgspec.Struct):
    policy_type: str
    version: int
    accepted_at: datetime


class AcceptanceCreate(msgspec.Struct, forbid_unknown_fields=True):
    policy_type: Literal["tos", "privacy_policy"]
    version: int


ACCEPTANCES = resource_types("policy_acceptances", AcceptanceAttributes, AcceptanceCreate)


def _given(struct: Any) -> dict[str, Any]:
    """The fields of a partial-update Struct that were sent (UNSET ones left out)."""
    return {k: v for k, v in msgspec.to_builtins(struct).items()} if struct is not UNSET else {}


def me_document(view: MemberView, hub_id: Any) -> Any:
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
    return MEMBERS.document(view.contact.id, attrs, self_link=f"/api/v1/hub/{hub_id}/me")


class MeController(Controller):
    path = HUB_PATH + "/me"
    tags = ["member self-service"]

    @get("/", opt={"access": "self"}, summary="My membership of this hub: profile, notification preferences, policies")
    async def get_me(self, member: Member, uow: Uow) -> Response[MEMBERS.Document]:  # type: ignore[name-defined]
        view = await self_service.member_view(uow, member)
        return jsonapi(me_document(view, member.hub_id))

    @patch("/", opt={"access": "self"}, summary="Update my profile and notification preferences (merged: absent fields keep their values)")
    async def update_me(self, data: JSONBody[MEMBERS.UpdateDocument], member: Member, state: State,  # type: ignore[name-defined]
                        uow: Uow) -> Response[MEMBERS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, member.contact_id)
        a = data.data.attributes
        view = await self_service.update_me(
            uow, services_of(state).clock, member, profile=_given(a.profile),
            notification_preferences=_given(a.notification_preferences),
        )
        return jsonapi(me_document(view, member.hub_id))

    @post("/accept-policies", opt={"access": "self"}, summary="Accept the current version of one of the hub's policies")
    async def accept_policies(self, data: JSONBody[ACCEPTANCES.CreateDocument], member: Member, state: State,  # type: ignore[name-defined]
                              uow: Uow) -> Response[ACCEPTANCES.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        acceptance, created = await self_service.accept_policy(
            uow, services_of(state).clock, member, policy_type=a.policy_type, version=a.version)
        attrs = AcceptanceAttributes(acceptance.policy_type, acceptance.version, acceptance.accepted_at)
        return jsonapi(ACCEPTANCES.document(acceptance.id, attrs), 201 if created else 200)


ROUTES: list[Any] = [MeController]
