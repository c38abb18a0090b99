"""Member side of direct messages and the member directory (JSON:API types ``conversations``,
``messages``, ``member_profiles``). Every handler takes ``member``: a member token for this hub,
then the access evaluator on the hub for the declared action — ``message`` to open a conversation
or post (a soft-banned member gets 403 ``soft_banned``), ``view`` to read. A conversation the caller
does not take part in, or of another hub, is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from domain.community import messages, profiles
from domain.community.messages import ConversationView
from domain.community.profiles import ProfileView
from domain.ids import parse_id
from persistence.models import Message
from server.deps import Member, Uow, services_of
from server.jsonapi import jsonapi, parse_list_query, resource_types
from server.openapi import component
from server.paths import HUB_PATH


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


CONVERSATIONS = resource_types("conversations", ConversationAttributes, ConversationCreate)


class MessageAttributes(msgspec.Struct):
    conversation_id: str
    author_contact_id: str
    body: str
    created_at: datetime


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: str


MESSAGES = resource_types("messages", MessageAttributes, MessageCreate)


class ProfileLink(msgspec.Struct):
    label: str
    url: str


class MemberProfileAttributes(msgspec.Struct):
    contact_id: str
    display_name: str | None
    bio: str | None
    avatar_media_id: str | None
    links: list[Annotated[ProfileLink, component("messaging_ProfileLink")]]  # H/me has a ProfileLink too
    role: str
    joined_at: datetime


MEMBER_PROFILES = resource_types("member_profiles", MemberProfileAttributes)


def conversation_resource(v: ConversationView) -> Any:
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
    return CONVERSATIONS.resource(c.id, attrs, self_link=f"/api/v1/hub/{c.hub_id}/conversations/{c.id}")


def message_resource(m: Message) -> Any:
    attrs = MessageAttributes(str(m.conversation_id), str(m.author_contact_id), m.body, m.created_at)
    return MESSAGES.resource(m.id, attrs)


def profile_resource(hub_id: Any, p: ProfileView) -> Any:
    attrs = MemberProfileAttributes(
        contact_id=str(p.contact_id), display_name=p.display_name, bio=p.bio, avatar_media_id=p.avatar_media_id,
        links=[ProfileLink(x["label"], x["url"]) for x in p.links], role=p.role, joined_at=p.joined_at,
    )
    return MEMBER_PROFILES.resource(p.contact_id, attrs, self_link=f"/api/v1/hub/{hub_id}/members/{p.contact_id}")


class ConversationsController(Controller):
    """``H/conversations``: direct messages between members of a hub."""

    path = HUB_PATH + "/conversations"
    tags = ["community: direct messages"]

    @get("/", opt={"access": "view"}, summary="My conversations in this hub, newest first, with unread counts")
    async def list_conversations(self, request: Request[Any, Any, Any], member: Member,
                                 uow: Uow) -> Response[CONVERSATIONS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await messages.list_conversations(uow, member, q.page)
        return jsonapi(CONVERSATIONS.list_document(request, [conversation_resource(v) for v in page.items], page))

    @post("/", opt={"access": "message"},
          summary="Open a conversation (201); a one-to-one conversation that exists is returned (200)")
    async def open_conversation(self, data: JSONBody[CONVERSATIONS.CreateDocument], member: Member,  # type: ignore[name-defined]
                                state: State, uow: Uow) -> Response[CONVERSATIONS.Document]:  # type: ignore[name-defined]
        view, created = await messages.open_conversation(uow, services_of(state).clock, member,
                                                         data.data.attributes.participant_ids)
        resource = conversation_resource(view)
        return jsonapi(CONVERSATIONS.Document(data=resource), 201 if created else 200,
                       headers={"Location": resource.links.self})

    @get("/{conversation_id:str}", opt={"access": "view"}, summary="One of my conversations")
    async def get_conversation(self, conversation_id: FromPath[str], member: Member,
                               uow: Uow) -> Response[CONVERSATIONS.Document]:  # type: ignore[name-defined]
        view = await messages.get_conversation(uow, member, parse_id(conversation_id))
        return jsonapi(CONVERSATIONS.Document(data=conversation_resource(view)))

    @get("/{conversation_id:str}/messages", opt={"access": "view"}, summary="The conversation's messages, newest first")
    async def list_messages(self, request: Request[Any, Any, Any], conversation_id: FromPath[str], member: Member,
                            uow: Uow) -> Response[MESSAGES.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await messages.list_messages(uow, member, parse_id(conversation_id), q.page)
        return jsonapi(MESSAGES.list_document(request, [message_resource(m) for m in page.items], page))

    @post("/{conversation_id:str}/messages", opt={"access": "message"},
          summary="Send a message (rate limited per member per hub: 429 with Retry-After)")
    async def send_message(self, conversation_id: FromPath[str], data: JSONBody[MESSAGES.CreateDocument],  # type: ignore[name-defined]
                           member: Member, state: State, uow: Uow) -> Response[MESSAGES.Document]:  # type: ignore[name-defined]
        svc = services_of(state)
        message = await messages.send_message(uow, svc.clock, svc.limiter, member, parse_id(conversation_id),
                                               data.data.attributes.body)
        return jsonapi(MESSAGES.Document(data=message_resource(message)), 201)

    @post("/{conversation_id:str}/read", opt={"access": "view"}, status_code=200,
          summary="Mark the conversation read up to its newest message (a read receipt)")
    async def mark_read(self, conversation_id: FromPath[str], member: Member, state: State,
                        uow: Uow) -> Response[CONVERSATIONS.Document]:  # type: ignore[name-defined]
        view = await messages.mark_read(uow, services_of(state).clock, member, parse_id(conversation_id))
        return jsonapi(CONVERSATIONS.Document(data=conversation_resource(view)))


class DirectoryController(Controller):
    """``H/members``: the member directory and profiles, as profile visibility allows."""

    path = HUB_PATH + "/members"
    tags = ["community: directory"]

    @get("/", opt={"access": "view"},
         summary="Members I may see, in joining order; filter[q] searches display, first and last names")
    async def list_members(self, request: Request[Any, Any, Any], member: Member, state: State,
                           uow: Uow) -> Response[MEMBER_PROFILES.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"q"}))
        page = await profiles.list_directory(uow, services_of(state).clock, member, q.page, q=q.filters.get("q"))
        return jsonapi(MEMBER_PROFILES.list_document(
            request, [profile_resource(member.hub_id, p) for p in page.items], page))

    @get("/{contact_id:str}", opt={"access": "view"}, summary="A member's profile (404 when I may not see it)")
    async def get_member(self, contact_id: FromPath[str], member: Member, state: State,
                         uow: Uow) -> Response[MEMBER_PROFILES.Document]:  # type: ignore[name-defined]
        p = await profiles.get_profile(uow, services_of(state).clock, member, parse_id(contact_id))
        return jsonapi(MEMBER_PROFILES.Document(data=profile_resource(member.hub_id, p)))


ROUTES: list[Any] = [ConversationsController, DirectoryController]
