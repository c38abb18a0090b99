"""Routes: community — spaces, discussions, comments, reactions (see shared/API.md, Community).

Team side (``T/hubs/{hub_id}/spaces``, scopes ``community:read|write``): spaces and the members of
private and secret spaces. Member side (``H/...``): every handler takes ``member`` and declares its
action on the hub (``view``, ``post``, ``react``, ``moderate``); the domain then asks the evaluator
about the space the object lives in. Types: ``spaces``, ``space_members``, ``discussions``,
``comments``, ``removals`` (the body of ``…/remove``).

``LIFESPANS`` runs the scheduler that publishes scheduled discussions at ``publish_at``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import (
    Controller,
    Litestar,
    Request,
    Response,
    delete,
    get,
    patch,
    post,
    put,
)
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.community import comments as comment_service
from domain.community import discussions as discussion_service
from domain.community import reactions as reaction_service
from domain.community import spaces as space_service
from domain.community.discussions import FeedQuery
from domain.community.reactions import ReactionCount
from domain.community.scheduler import PublishLoop
from domain.community.spaces import MemberSpace
from domain.errors import ValidationFailed
from domain.ids import parse_id
from persistence.models import Comment, Discussion, Space, SpaceMember
from persistence.pagination import PageRequest
from server.deps import Member, TeamCtx, TeamHub, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_bool_filter, parse_list_query, resource_types
from server.paths import HUB_PATH, TEAM_HUB_PATH

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


def present(attributes: msgspec.Struct) -> dict[str, Any]:
    return {f: getattr(attributes, f) for f in attributes.__struct_fields__ if getattr(attributes, f) is not UNSET}


# ---- types ----------------------------------------------------------------------------------------


class SpaceAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    name: str
    slug: str
    description: str | None
    access_level: str
    posting_permission: str
    segment_id: str | None
    is_pinned: bool
    is_default: bool
    position: int
    created_at: datetime
    updated_at: datetime
    # member side only: whether the caller may enter (and why not), and their place in it
    locked: bool | Unset = UNSET
    lock_reason: str | None | Unset = UNSET
    joined: bool | Unset = UNSET
    muted: bool | Unset = UNSET
    last_read_at: datetime | None | Unset = UNSET
    unread_count: int | None | Unset = UNSET


class SpaceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    slug: str | None = None
    description: str | None = None
    access_level: Literal["open", "private", "secret"] = "open"
    posting_permission: Literal["members", "moderators"] = "members"
    segment_id: str | None = None
    is_pinned: bool = False
    is_default: bool = False
    position: int = 0


class SpaceUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | Unset = UNSET
    slug: str | Unset = UNSET
    description: str | None | Unset = UNSET
    access_level: Literal["open", "private", "secret"] | Unset = UNSET
    posting_permission: Literal["members", "moderators"] | Unset = UNSET
    segment_id: str | None | Unset = UNSET
    is_pinned: bool | Unset = UNSET
    is_default: bool | Unset = UNSET
    position: int | Unset = UNSET


SPACES = resource_types("spaces", SpaceAttributes, SpaceCreate, SpaceUpdate)


class SpaceMemberAttributes(msgspec.Struct):
    space_id: str
    contact_id: str
    created_at: datetime
    muted_at: datetime | None
    last_read_at: datetime | None


class SpaceMemberCreate(msgspec.Struct, forbid_unknown_fields=True):
    contact_id: str


SPACE_MEMBERS = resource_types("space_members", SpaceMemberAttributes, SpaceMemberCreate)


class ReactionInfo(msgspec.Struct):
    emoji: str
    count: int
    reacted: bool


class DiscussionAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    space_id: str
    author_contact_id: str
    title: str
    body: str
    status: str
    publish_at: datetime | None
    published_at: datetime | None
    is_pinned: bool
    is_locked: bool
    comment_count: int
    last_activity_at: datetime
    edited_at: datetime | None
    removed_at: datetime | None
    removal_reason: str | None
    reactions: list[ReactionInfo]
    created_at: datetime
    updated_at: datetime


class DiscussionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    body: str
    status: Literal["draft", "scheduled", "published"] = "published"
    publish_at: datetime | None = None


class DiscussionUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str | Unset = UNSET
    body: str | Unset = UNSET
    status: Literal["draft", "scheduled", "published"] | Unset = UNSET
    publish_at: datetime | None | Unset = UNSET


DISCUSSIONS = resource_types("discussions", DiscussionAttributes, DiscussionCreate, DiscussionUpdate)


class CommentAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    discussion_id: str
    parent_id: str | None
    author_contact_id: str
    body: str
    edited_at: datetime | None
    removed_at: datetime | None
    reactions: list[ReactionInfo]
    created_at: datetime
    updated_at: datetime


class CommentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: str
    parent_id: str | None = None


class CommentUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: str


COMMENTS = resource_types("comments", CommentAttributes, CommentCreate, CommentUpdate)


class RemovalCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str | None = None


class RemovalAttributes(msgspec.Struct):
    reason: str | None


REMOVALS = resource_types("removals", RemovalAttributes, RemovalCreate)


# ---- documents ------------------------------------------------------------------------------------


def _space_attrs(s: Space, **member: Any) -> SpaceAttributes:
    return SpaceAttributes(
        hub_id=str(s.hub_id), name=s.name, slug=s.slug, description=s.description, access_level=s.access_level,
        posting_permission=s.posting_permission, segment_id=str(s.segment_id) if s.segment_id else None,
        is_pinned=s.is_pinned, is_default=s.is_default, position=s.position, created_at=s.created_at,
        updated_at=s.updated_at, **member)


def team_space_resource(s: Space, team_id: Any) -> Any:
    return SPACES.resource(s.id, _space_attrs(s), self_link=f"/api/v1/teams/{team_id}/hubs/{s.hub_id}/spaces/{s.id}")


def member_space_resource(v: MemberSpace) -> Any:
    sm = v.membership
    attrs = _space_attrs(v.space, locked=v.locked, lock_reason=None if v.decision.allowed else v.decision.reason,
                         joined=sm is not None, muted=bool(sm and sm.muted_at), last_read_at=sm.last_read_at if sm else None,
                         unread_count=v.unread_count)
    return SPACES.resource(v.space.id, attrs, self_link=f"/api/v1/hub/{v.space.hub_id}/spaces/{v.space.id}")


def space_member_resource(sm: SpaceMember) -> Any:
    return SPACE_MEMBERS.resource(f"{sm.space_id}:{sm.contact_id}", SpaceMemberAttributes(
        str(sm.space_id), str(sm.contact_id), sm.created_at, sm.muted_at, sm.last_read_at))


def _reactions(items: list[ReactionCount] | None) -> list[ReactionInfo]:
    return [ReactionInfo(r.emoji, r.count, r.reacted) for r in items or []]


def discussion_resource(d: Discussion, reactions: list[ReactionCount] | None) -> Any:
    attrs = DiscussionAttributes(
        hub_id=str(d.hub_id), space_id=str(d.space_id), author_contact_id=str(d.author_contact_id), title=d.title,
        body=d.body, status=d.status, publish_at=d.publish_at, published_at=d.published_at, is_pinned=d.is_pinned,
        is_locked=d.is_locked, comment_count=d.comment_count, last_activity_at=d.last_activity_at,
        edited_at=d.edited_at, removed_at=d.removed_at, removal_reason=d.removal_reason,
        reactions=_reactions(reactions), created_at=d.created_at, updated_at=d.updated_at)
    return DISCUSSIONS.resource(d.id, attrs, self_link=f"/api/v1/hub/{d.hub_id}/discussions/{d.id}")


def comment_resource(c: Comment, reactions: list[ReactionCount] | None) -> Any:
    attrs = CommentAttributes(
        hub_id=str(c.hub_id), discussion_id=str(c.discussion_id), parent_id=str(c.parent_id) if c.parent_id else None,
        author_contact_id=str(c.author_contact_id), body=c.body, edited_at=c.edited_at, removed_at=c.removed_at,
        reactions=_reactions(reactions), created_at=c.created_at, updated_at=c.updated_at)
    return COMMENTS.resource(c.id, attrs, self_link=f"/api/v1/hub/{c.hub_id}/comments/{c.id}")


async def _discussion_docs(uow: Any, member: Any, items: list[Discussion]) -> list[Any]:
    counts = await reaction_service.reaction_counts(uow, "discussion", [d.id for d in items], member.contact_id)
    return [discussion_resource(d, counts.get(d.id)) for d in items]


async def _comment_docs(uow: Any, member: Any, items: list[Comment]) -> list[Any]:
    counts = await reaction_service.reaction_counts(uow, "comment", [c.id for c in items], member.contact_id)
    return [comment_resource(c, counts.get(c.id)) for c in items]


def parse_feed_query(request: Request[Any, Any, Any]) -> FeedQuery:
    """``page[size]``, ``page[after]``, ``sort`` (``newest`` default, or ``activity``),
    ``filter[status]`` and ``filter[pinned]``; anything else is 422."""
    filters: dict[str, str] = {}
    for key, value in request.query_params.items():
        if key.startswith("filter[") and key.endswith("]"):
            name = key[7:-1]
            if name not in ("status", "pinned"):
                raise ValidationFailed(f"Unknown filter `{name}`; this list takes: pinned, status.",
                                       code="unknown_filter", parameter=key)
            filters[name] = value
        elif key not in {"page[size]", "page[after]", "sort"}:
            raise ValidationFailed(f"Unknown query parameter `{key}`.", code="unknown_parameter", parameter=key)
    size = PageRequest.parse(request.query_params.get("page[size]"), None)
    return FeedQuery(page=size, after=request.query_params.get("page[after]"),
                     sort=request.query_params.get("sort") or "newest", status=filters.get("status", "published"),
                     pinned=parse_bool_filter(filters, "pinned"))


def _page_size(request: Request[Any, Any, Any]) -> tuple[PageRequest, str | None]:
    for key in request.query_params:
        if key not in {"page[size]", "page[after]"}:
            raise ValidationFailed(f"Unknown query parameter `{key}`.", code="unknown_parameter", parameter=key)
    return PageRequest.parse(request.query_params.get("page[size]"), None), request.query_params.get("page[after]")


def _ctx(state: State) -> tuple[Any, Any, Any]:
    svc = services_of(state)
    return svc.clock, svc.access_cache, svc.limiter


# ---- team side ------------------------------------------------------------------------------------


class TeamSpacesController(Controller):
    """``T/hubs/{hub_id}/spaces``: a hub's spaces and who is in the private and secret ones."""

    path = TEAM_HUB_PATH + "/spaces"
    tags = ["community"]

    @get("/", opt={"scope": "community:read"}, summary="List the hub's spaces in display order")
    async def list_spaces(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                          uow: Uow) -> Response[SPACES.ListDocument]:  # type: ignore[name-defined]
        size, after = _page_size(request)
        page = await space_service.list_spaces(uow, hub, size, after)
        return jsonapi(SPACES.list_document(request, [team_space_resource(s, team.team_id) for s in page.items], page))

    @post("/", opt={"scope": "community:write"}, summary="Create a space")
    async def create_space(self, data: JSONBody[SPACES.CreateDocument], team: TeamCtx, hub: TeamHub,  # type: ignore[name-defined]
                           state: State, uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        space = await space_service.create_space(uow, services_of(state).clock, hub,
                                                 msgspec.structs.asdict(data.data.attributes))
        resource = team_space_resource(space, team.team_id)
        return jsonapi(SPACES.Document(data=resource), 201, headers={"Location": resource.links.self})

    @get("/{space_id:str}", opt={"scope": "community:read"}, summary="Read a space")
    async def get_space(self, space_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                        uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        space = await space_service.get_space(uow, hub, parse_id(space_id))
        return jsonapi(SPACES.Document(data=team_space_resource(space, team.team_id)))

    @patch("/{space_id:str}", opt={"scope": "community:write"},
           summary="Update a space (access changes reach members and live subscriptions at once)")
    async def update_space(self, space_id: FromPath[str], data: JSONBody[SPACES.UpdateDocument],  # type: ignore[name-defined]
                           team: TeamCtx, hub: TeamHub, state: State,
                           uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, space_id)
        space = await space_service.get_space(uow, hub, parse_id(space_id))
        space = await space_service.update_space(uow, services_of(state).clock, hub, space,
                                                 present(data.data.attributes))
        return jsonapi(SPACES.Document(data=team_space_resource(space, team.team_id)))

    @delete("/{space_id:str}", opt={"scope": "community:write"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a space (soft delete: it and its discussions are 404 at once)")
    async def delete_space(self, space_id: FromPath[str], team: TeamCtx, hub: TeamHub, state: State,
                           uow: Uow) -> None:
        space = await space_service.get_space(uow, hub, parse_id(space_id))
        await space_service.delete_space(uow, services_of(state).clock, hub, space)

    @get("/{space_id:str}/members", opt={"scope": "community:read"}, summary="Who is in the space")
    async def list_members(self, request: Request[Any, Any, Any], space_id: FromPath[str], team: TeamCtx,
                           hub: TeamHub, uow: Uow) -> Response[SPACE_MEMBERS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        space = await space_service.get_space(uow, hub, parse_id(space_id))
        page = await space_service.list_space_members(uow, space, q.page)
        return jsonapi(SPACE_MEMBERS.list_document(request, [space_member_resource(m) for m in page.items], page))

    @post("/{space_id:str}/members", opt={"scope": "community:write"},
          summary="Add a hub member to the space (201 when new, 200 when already in)")
    async def add_member(self, space_id: FromPath[str], data: JSONBody[SPACE_MEMBERS.CreateDocument],  # type: ignore[name-defined]
                         team: TeamCtx, hub: TeamHub, state: State,
                         uow: Uow) -> Response[SPACE_MEMBERS.Document]:  # type: ignore[name-defined]
        space = await space_service.get_space(uow, hub, parse_id(space_id))
        row, created = await space_service.add_space_member(uow, services_of(state).clock, hub, space,
                                                            parse_id(data.data.attributes.contact_id))
        return jsonapi(SPACE_MEMBERS.Document(data=space_member_resource(row)), 201 if created else 200)

    @delete("/{space_id:str}/members/{contact_id:str}", opt={"scope": "community:write"},
            status_code=HTTP_204_NO_CONTENT, summary="Take a member out of the space")
    async def remove_member(self, space_id: FromPath[str], contact_id: FromPath[str], team: TeamCtx,
                            hub: TeamHub, uow: Uow) -> None:
        space = await space_service.get_space(uow, hub, parse_id(space_id))
        await space_service.remove_space_member(uow, hub, space, parse_id(contact_id))


# ---- member side: spaces ----------------------------------------------------------------------------


class MemberSpacesController(Controller):
    path = HUB_PATH + "/spaces"
    tags = ["community"]

    @get("/", opt={"access": "view"}, summary="The spaces I may see (private ones I may not enter: locked)")
    async def list_spaces(self, request: Request[Any, Any, Any], member: Member, state: State,
                          uow: Uow) -> Response[SPACES.ListDocument]:  # type: ignore[name-defined]
        size, after = _page_size(request)
        clock, cache, _ = _ctx(state)
        page = await space_service.member_spaces(uow, cache, member, size, after, clock.now())
        return jsonapi(SPACES.list_document(request, [member_space_resource(v) for v in page.items], page))

    @get("/{space_id:str}", opt={"access": "view"}, summary="One space (404 when it is secret to me)")
    async def get_space(self, space_id: FromPath[str], member: Member, state: State,
                        uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        v = await space_service.member_space(uow, cache, member, parse_id(space_id), clock.now())
        return jsonapi(SPACES.Document(data=member_space_resource(v)))

    @post("/{space_id:str}/join", opt={"access": "view"}, status_code=200, summary="Join a space")
    async def join(self, space_id: FromPath[str], member: Member, state: State,
                   uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        v = await space_service.join_space(uow, clock, cache, member, parse_id(space_id))
        return jsonapi(SPACES.Document(data=member_space_resource(v)))

    @post("/{space_id:str}/leave", opt={"access": "view"}, status_code=200, summary="Leave a space")
    async def leave(self, space_id: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        v = await space_service.leave_space(uow, clock, cache, member, parse_id(space_id))
        return jsonapi(SPACES.Document(data=member_space_resource(v)))

    @post("/{space_id:str}/mute", opt={"access": "view"}, status_code=200, summary="Mute a joined space")
    async def mute(self, space_id: FromPath[str], member: Member, state: State,
                   uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        v = await space_service.set_muted(uow, clock, cache, member, parse_id(space_id), True)
        return jsonapi(SPACES.Document(data=member_space_resource(v)))

    @delete("/{space_id:str}/mute", opt={"access": "view"}, status_code=200, summary="Unmute a joined space")
    async def unmute(self, space_id: FromPath[str], member: Member, state: State,
                     uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        v = await space_service.set_muted(uow, clock, cache, member, parse_id(space_id), False)
        return jsonapi(SPACES.Document(data=member_space_resource(v)))

    @post("/{space_id:str}/read", opt={"access": "view"}, status_code=200,
          summary="Mark a joined space read (its unread count drops to 0)")
    async def read(self, space_id: FromPath[str], member: Member, state: State,
                   uow: Uow) -> Response[SPACES.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        v = await space_service.mark_read(uow, clock, cache, member, parse_id(space_id))
        return jsonapi(SPACES.Document(data=member_space_resource(v)))

    @get("/{space_id:str}/discussions", opt={"access": "view"},
         summary="A space's discussions: newest first, or sort=activity; filter[status], filter[pinned]")
    async def list_discussions(self, request: Request[Any, Any, Any], space_id: FromPath[str], member: Member,
                               state: State, uow: Uow) -> Response[DISCUSSIONS.ListDocument]:  # type: ignore[name-defined]
        q = parse_feed_query(request)
        clock, cache, _ = _ctx(state)
        page = await discussion_service.space_feed(uow, cache, member, parse_id(space_id), q, clock.now())
        return jsonapi(DISCUSSIONS.list_document(request, await _discussion_docs(uow, member, page.items), page))

    @post("/{space_id:str}/discussions", opt={"access": "post"},
          summary="Start a discussion (published, draft, or scheduled with publish_at)")
    async def start_discussion(self, space_id: FromPath[str], data: JSONBody[DISCUSSIONS.CreateDocument],  # type: ignore[name-defined]
                               member: Member, state: State,
                               uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        clock, cache, limiter = _ctx(state)
        d = await discussion_service.start_discussion(uow, clock, cache, limiter, member, parse_id(space_id),
                                                      msgspec.structs.asdict(data.data.attributes))
        resource = discussion_resource(d, [])
        return jsonapi(DISCUSSIONS.Document(data=resource), 201, headers={"Location": resource.links.self})


# ---- member side: discussions -------------------------------------------------------------------------


class MemberDiscussionsController(Controller):
    path = HUB_PATH + "/discussions"
    tags = ["community"]

    @get("/", opt={"access": "view"}, summary="Discussions of every space I may see, newest first or sort=activity")
    async def hub_feed(self, request: Request[Any, Any, Any], member: Member, state: State,
                       uow: Uow) -> Response[DISCUSSIONS.ListDocument]:  # type: ignore[name-defined]
        q = parse_feed_query(request)
        clock, cache, _ = _ctx(state)
        page = await discussion_service.hub_feed(uow, cache, member, q, clock.now())
        return jsonapi(DISCUSSIONS.list_document(request, await _discussion_docs(uow, member, page.items), page))

    @get("/{discussion_id:str}", opt={"access": "view"}, summary="Read a discussion")
    async def get_discussion(self, discussion_id: FromPath[str], member: Member, state: State,
                             uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        seen = await discussion_service.visible_discussion(uow, cache, member, parse_id(discussion_id), clock.now())
        return await _discussion_doc(uow, member, seen.discussion)

    @patch("/{discussion_id:str}", opt={"access": "post"},
           summary="Edit my discussion, or publish/schedule my draft (403 not_author for others')")
    async def edit_discussion(self, discussion_id: FromPath[str], data: JSONBody[DISCUSSIONS.UpdateDocument],  # type: ignore[name-defined]
                              member: Member, state: State,
                              uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, discussion_id)
        clock, cache, _ = _ctx(state)
        d = await discussion_service.edit_discussion(uow, clock, cache, member, parse_id(discussion_id),
                                                     present(data.data.attributes))
        return await _discussion_doc(uow, member, d)

    @delete("/{discussion_id:str}", opt={"access": "view"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete my discussion")
    async def delete_discussion(self, discussion_id: FromPath[str], member: Member, state: State, uow: Uow) -> None:
        clock, cache, _ = _ctx(state)
        await discussion_service.delete_discussion(uow, clock, cache, member, parse_id(discussion_id))

    @post("/{discussion_id:str}/remove", opt={"access": "moderate"}, status_code=200,
          summary="Remove a discussion (moderators); it disappears live")
    async def remove(self, discussion_id: FromPath[str], data: JSONBody[REMOVALS.CreateDocument],  # type: ignore[name-defined]
                     member: Member, state: State, uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, member, discussion_id, "remove", data.data.attributes.reason)

    @post("/{discussion_id:str}/restore", opt={"access": "moderate"}, status_code=200,
          summary="Restore a removed discussion (moderators)")
    async def restore(self, discussion_id: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, member, discussion_id, "restore")

    @post("/{discussion_id:str}/pin", opt={"access": "moderate"}, status_code=200, summary="Pin (moderators)")
    async def pin(self, discussion_id: FromPath[str], member: Member, state: State,
                  uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, member, discussion_id, "pin")

    @delete("/{discussion_id:str}/pin", opt={"access": "moderate"}, status_code=200, summary="Unpin (moderators)")
    async def unpin(self, discussion_id: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, member, discussion_id, "unpin")

    @post("/{discussion_id:str}/lock", opt={"access": "moderate"}, status_code=200,
          summary="Lock: no new comments (moderators)")
    async def lock(self, discussion_id: FromPath[str], member: Member, state: State,
                   uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, member, discussion_id, "lock")

    @delete("/{discussion_id:str}/lock", opt={"access": "moderate"}, status_code=200, summary="Unlock (moderators)")
    async def unlock(self, discussion_id: FromPath[str], member: Member, state: State,
                     uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _moderate(state, uow, member, discussion_id, "unlock")

    @get("/{discussion_id:str}/comments", opt={"access": "view"}, summary="A discussion's comments, oldest first")
    async def list_comments(self, request: Request[Any, Any, Any], discussion_id: FromPath[str], member: Member,
                            state: State, uow: Uow) -> Response[COMMENTS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        clock, cache, _ = _ctx(state)
        page = await comment_service.list_comments(uow, clock, cache, member, parse_id(discussion_id), q.page)
        return jsonapi(COMMENTS.list_document(request, await _comment_docs(uow, member, page.items), page))

    @post("/{discussion_id:str}/comments", opt={"access": "post"},
          summary="Comment (409 discussion_locked on a locked discussion)")
    async def post_comment(self, discussion_id: FromPath[str], data: JSONBody[COMMENTS.CreateDocument],  # type: ignore[name-defined]
                           member: Member, state: State, uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        clock, cache, limiter = _ctx(state)
        a = data.data.attributes
        c = await comment_service.post_comment(uow, clock, cache, limiter, member, parse_id(discussion_id), a.body,
                                               a.parent_id)
        resource = comment_resource(c, [])
        return jsonapi(COMMENTS.Document(data=resource), 201, headers={"Location": resource.links.self})

    @put("/{discussion_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
         summary="React (idempotent); the discussion with its reactions")
    async def react(self, discussion_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _react_discussion(state, uow, member, discussion_id, emoji, True)

    @delete("/{discussion_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
            summary="Take a reaction back (idempotent); the discussion with its reactions")
    async def unreact(self, discussion_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[DISCUSSIONS.Document]:  # type: ignore[name-defined]
        return await _react_discussion(state, uow, member, discussion_id, emoji, False)


async def _discussion_doc(uow: Any, member: Any, d: Discussion) -> Response[Any]:
    return jsonapi(DISCUSSIONS.Document(data=(await _discussion_docs(uow, member, [d]))[0]))


async def _moderate(state: State, uow: Any, member: Any, discussion_id: str, action: str,
                    reason: str | None = None) -> Response[Any]:
    clock, cache, _ = _ctx(state)
    d = await discussion_service.moderate_discussion(uow, clock, cache, member, parse_id(discussion_id), action, reason)
    return await _discussion_doc(uow, member, d)


async def _react_discussion(state: State, uow: Any, member: Any, discussion_id: str, emoji: str,
                            on: bool) -> Response[Any]:
    clock, cache, _ = _ctx(state)
    await reaction_service.react(uow, clock, cache, member, "discussion", parse_id(discussion_id), emoji, on)
    seen = await discussion_service.visible_discussion(uow, cache, member, parse_id(discussion_id), clock.now())
    return await _discussion_doc(uow, member, seen.discussion)


# ---- member side: comments ------------------------------------------------------------------------------


class MemberCommentsController(Controller):
    path = HUB_PATH + "/comments"
    tags = ["community"]

    @get("/{comment_id:str}", opt={"access": "view"}, summary="Read a comment")
    async def get_comment(self, comment_id: FromPath[str], member: Member, state: State,
                          uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        sc = await comment_service.visible_comment(uow, clock, cache, member, parse_id(comment_id))
        return await _comment_doc(uow, member, sc.comment)

    @patch("/{comment_id:str}", opt={"access": "post"}, summary="Edit my comment (403 not_author for others')")
    async def edit_comment(self, comment_id: FromPath[str], data: JSONBody[COMMENTS.UpdateDocument],  # type: ignore[name-defined]
                           member: Member, state: State, uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        check_document_id(data.data.id, comment_id)
        clock, cache, _ = _ctx(state)
        c = await comment_service.edit_comment(uow, clock, cache, member, parse_id(comment_id), data.data.attributes.body)
        return await _comment_doc(uow, member, c)

    @delete("/{comment_id:str}", opt={"access": "view"}, status_code=HTTP_204_NO_CONTENT, summary="Delete my comment")
    async def delete_comment(self, comment_id: FromPath[str], member: Member, state: State, uow: Uow) -> None:
        clock, cache, _ = _ctx(state)
        await comment_service.delete_comment(uow, clock, cache, member, parse_id(comment_id))

    @post("/{comment_id:str}/remove", opt={"access": "moderate"}, status_code=200,
          summary="Remove a comment (moderators); it disappears live")
    async def remove(self, comment_id: FromPath[str], data: JSONBody[REMOVALS.CreateDocument],  # type: ignore[name-defined]
                     member: Member, state: State, uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        c = await comment_service.moderate_comment(uow, clock, cache, member, parse_id(comment_id), "remove",
                                                   data.data.attributes.reason)
        return await _comment_doc(uow, member, c)

    @post("/{comment_id:str}/restore", opt={"access": "moderate"}, status_code=200,
          summary="Restore a removed comment (moderators)")
    async def restore(self, comment_id: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        clock, cache, _ = _ctx(state)
        c = await comment_service.moderate_comment(uow, clock, cache, member, parse_id(comment_id), "restore")
        return await _comment_doc(uow, member, c)

    @put("/{comment_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
         summary="React (idempotent); the comment with its reactions")
    async def react(self, comment_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        return await _react_comment(state, uow, member, comment_id, emoji, True)

    @delete("/{comment_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
            summary="Take a reaction back (idempotent); the comment with its reactions")
    async def unreact(self, comment_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[COMMENTS.Document]:  # type: ignore[name-defined]
        return await _react_comment(state, uow, member, comment_id, emoji, False)


async def _comment_doc(uow: Any, member: Any, c: Comment) -> Response[Any]:
    return jsonapi(COMMENTS.Document(data=(await _comment_docs(uow, member, [c]))[0]))


async def _react_comment(state: State, uow: Any, member: Any, comment_id: str, emoji: str, on: bool) -> Response[Any]:
    clock, cache, _ = _ctx(state)
    await reaction_service.react(uow, clock, cache, member, "comment", parse_id(comment_id), emoji, on)
    sc = await comment_service.visible_comment(uow, clock, cache, member, parse_id(comment_id))
    return await _comment_doc(uow, member, sc.comment)


# ---- the scheduler --------------------------------------------------------------------------------------


@asynccontextmanager
async def community_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Publish scheduled discussions at ``publish_at`` (every ``HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL``
    seconds, default 1), in every web process; instances never publish one twice."""
    svc = services_of(app.state)
    loop = PublishLoop(svc.uow, svc.clock, interval=svc.settings.community_scheduler_interval)
    app.state.community_scheduler = loop
    loop.start()
    try:
        yield
    finally:
        await loop.stop()


LIFESPANS: list[Any] = [community_lifespan]

ROUTES: list[Any] = [TeamSpacesController, MemberSpacesController, MemberDiscussionsController,
                     MemberCommentsController]
