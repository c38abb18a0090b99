"""Direct messages and the member directory: JSON:API types ``conversations``, ``messages`` and
``member_profiles``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from domain.community.messages import ConversationView
from domain.community.profiles import ProfileView
from persistence.models import Message
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource
from server.openapi import component

# ---- conversations -------------------------------------------------------------------------------


class Participant(msgspec.Struct):
    contact_id: str
    display_name: str | None
    last_read_message_id: str | None
    last_read_at: datetime | None


class ConversationAttributes(msgspec.Struct):
    hub_id: str
    is_direct: bool
    participant_ids: list[str]
    participants: list[Participant]
    created_by_contact_id: str
    created_at: datetime
    last_message_at: datetime | None
    unread_count: int


class ConversationCreate(msgspec.Struct, forbid_unknown_fields=True):
    participant_ids: list[str]


class ConversationsResource(Resource):
    type: Literal["conversations"]
    attributes: ConversationAttributes


class ConversationsDocument(Document):
    data: ConversationsResource


class ConversationsListDocument(ListDocument):
    data: list[ConversationsResource]


class ConversationsCreateData(CreateData):
    type: Literal["conversations"]
    attributes: ConversationCreate


class ConversationsCreateDocument(Inbound):
    data: ConversationsCreateData


def conversation_resource(v: ConversationView) -> ConversationsResource:
    c = v.conversation
    attrs = ConversationAttributes(
        hub_id=str(c.hub_id), is_direct=c.direct_key is not None,
        participant_ids=[str(p.contact_id) for p in v.participants],
        participants=[Participant(str(p.contact_id), p.display_name,
                                  str(p.last_read_message_id) if p.last_read_message_id else None, p.last_read_at)
                      for p in v.participants],
        created_by_contact_id=str(c.created_by_contact_id), created_at=c.created_at,
        last_message_at=c.last_message_at, unread_count=v.unread_count,
    )
    return ConversationsResource.of(c.id, attrs, self_link=f"/api/v1/hub/{c.hub_id}/conversations/{c.id}")


# ---- messages ------------------------------------------------------------------------------------


class MessageAttributes(msgspec.Struct):
    conversation_id: str
    author_contact_id: str
    body: str
    created_at: datetime


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: str


class MessagesResource(Resource):
    type: Literal["messages"]
    attributes: MessageAttributes


class MessagesDocument(Document):
    data: MessagesResource


class MessagesListDocument(ListDocument):
    data: list[MessagesResource]


class MessagesCreateData(CreateData):
    type: Literal["messages"]
    attributes: MessageCreate


class MessagesCreateDocument(Inbound):
    data: MessagesCreateData


def message_resource(m: Message) -> MessagesResource:
    attrs = MessageAttributes(str(m.conversation_id), str(m.author_contact_id), m.body, m.created_at)
    return MessagesResource.of(m.id, attrs)


# ---- the member directory ----------------------------------------------------------------------------


class ProfileLink(msgspec.Struct):
    label: str
    url: str


# H/me has a ProfileLink too (the member editing their own links): pinned names.
DirectoryProfileLink = Annotated[ProfileLink, component("messaging_ProfileLink")]


class MemberProfileAttributes(msgspec.Struct):
    contact_id: str
    display_name: str | None
    bio: str | None
    avatar_media_id: str | None
    links: list[DirectoryProfileLink]
    role: str
    joined_at: datetime


class MemberProfilesResource(Resource):
    type: Literal["member_profiles"]
    attributes: MemberProfileAttributes


class MemberProfilesDocument(Document):
    data: MemberProfilesResource


class MemberProfilesListDocument(ListDocument):
    data: list[MemberProfilesResource]


def profile_resource(hub_id: Any, p: ProfileView) -> MemberProfilesResource:
    attrs = MemberProfileAttributes(
        contact_id=str(p.contact_id), display_name=p.display_name, bio=p.bio, avatar_media_id=p.avatar_media_id,
        links=[ProfileLink(x["label"], x["url"]) for x in p.links], role=p.role, joined_at=p.joined_at,
    )
    return MemberProfilesResource.of(p.contact_id, attrs, self_link=f"/api/v1/hub/{hub_id}/members/{p.contact_id}")
