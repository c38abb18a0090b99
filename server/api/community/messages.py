"""Routes: direct messages and the member directory, member side (``H/conversations``,
``H/members``). Every handler takes ``member``: a member token for this hub, then the access
evaluator on the hub for the declared action — ``message`` to open a conversation or post (a
soft-banned member gets 403 ``soft_banned``), ``view`` to read. A conversation the caller does not
take part in, or of another hub, is 404.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from domain.community import messages, profiles
from persistence.ids import parse_id
from server.api.community.messages_schemas import (
    ConversationsCreateDocument,
    ConversationsDocument,
    ConversationsListDocument,
    MemberProfilesDocument,
    MemberProfilesListDocument,
    MessagesCreateDocument,
    MessagesDocument,
    MessagesListDocument,
    conversation_resource,
    message_resource,
    profile_resource,
)
from server.deps import Context, Member
from server.jsonapi import jsonapi, parse_list_query
from server.openapi import existing_or_created
from server.paths import HUB_PATH


class ConversationsController(Controller):
    """``H/conversations``: direct messages between members of a hub."""

    path = HUB_PATH + "/conversations"
    tags = ["community: direct messages"]

    @get("/", opt={"access": "view"}, summary="My conversations in this hub, newest first, with unread counts")
    async def list_conversations(self, request: Request[Any, Any, Any], member: Member,
                                 ctx: Context) -> Response[ConversationsListDocument]:
        q = parse_list_query(request)
        page = await messages.list_conversations(ctx, member, q.page)
        return jsonapi(ConversationsListDocument.page(request, [conversation_resource(v) for v in page.items], page))

    @post("/", opt={"access": "message"}, responses=existing_or_created(ConversationsDocument),
          summary="Open a conversation (201); a one-to-one conversation that exists is returned (200)")
    async def open_conversation(self, data: JSONBody[ConversationsCreateDocument], member: Member,
                                ctx: Context) -> Response[ConversationsDocument]:
        view, created = await messages.open_conversation(ctx, member, data.data.attributes.participant_ids)
        resource = conversation_resource(view)
        return jsonapi(ConversationsDocument(data=resource), 201 if created else 200,
                       headers={"Location": resource.links.self})

    @get("/{conversation_id:str}", opt={"access": "view"}, summary="One of my conversations")
    async def get_conversation(self, conversation_id: FromPath[str], member: Member,
                               ctx: Context) -> Response[ConversationsDocument]:
        view = await messages.get_conversation(ctx, member, parse_id(conversation_id))
        return jsonapi(ConversationsDocument(data=conversation_resource(view)))

    @get("/{conversation_id:str}/messages", opt={"access": "view"}, summary="The conversation's messages, newest first")
    async def list_messages(self, request: Request[Any, Any, Any], conversation_id: FromPath[str], member: Member,
                            ctx: Context) -> Response[MessagesListDocument]:
        q = parse_list_query(request)
        page = await messages.list_messages(ctx, member, parse_id(conversation_id), q.page)
        return jsonapi(MessagesListDocument.page(request, [message_resource(m) for m in page.items], page))

    @post("/{conversation_id:str}/messages", opt={"access": "message"},
          summary="Send a message (rate limited per member per hub: 429 with Retry-After)")
    async def send_message(self, conversation_id: FromPath[str], data: JSONBody[MessagesCreateDocument],
                           member: Member, ctx: Context) -> Response[MessagesDocument]:
        message = await messages.send_message(ctx, member, parse_id(conversation_id), data.data.attributes.body)
        return jsonapi(MessagesDocument(data=message_resource(message)), 201)

    @post("/{conversation_id:str}/read", opt={"access": "view"}, status_code=200,
          summary="Mark the conversation read up to its newest message (a read receipt)")
    async def mark_read(self, conversation_id: FromPath[str], member: Member,
                        ctx: Context) -> Response[ConversationsDocument]:
        view = await messages.mark_read(ctx, member, parse_id(conversation_id))
        return jsonapi(ConversationsDocument(data=conversation_resource(view)))


class DirectoryController(Controller):
    """``H/members``: the member directory and profiles, as profile visibility allows."""

    path = HUB_PATH + "/members"
    tags = ["community: directory"]

    @get("/", opt={"access": "view"},
         summary="Members I may see, in joining order; filter[q] searches display, first and last names")
    async def list_members(self, request: Request[Any, Any, Any], member: Member,
                           ctx: Context) -> Response[MemberProfilesListDocument]:
        q = parse_list_query(request, frozenset({"q"}))
        page = await profiles.list_directory(ctx, member, q.page, q=q.filters.get("q"))
        return jsonapi(MemberProfilesListDocument.page(
            request, [profile_resource(member.hub_id, p) for p in page.items], page))

    @get("/{contact_id:str}", opt={"access": "view"}, summary="A member's profile (404 when I may not see it)")
    async def get_member(self, contact_id: FromPath[str], member: Member,
                         ctx: Context) -> Response[MemberProfilesDocument]:
        p = await profiles.get_profile(ctx, member, parse_id(contact_id))
        return jsonapi(MemberProfilesDocument(data=profile_resource(member.hub_id, p)))
