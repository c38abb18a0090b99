"""Routes: discussions, comments and reactions, member side (``H/...``).

Every handler takes ``member`` and declares its action on the hub (``view``, ``post``, ``react``,
``moderate``); the domain then asks the evaluator about the space the object lives in. The
discussions of one space are under ``H/spaces/{space_id}/discussions``; those of every space the
member may see under ``H/discussions``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.community import comments as comment_service
from domain.community import discussions as discussion_service
from domain.community import reactions as reaction_service
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import Comment, Discussion
from server.api.community.discussions_schemas import (
    CommentsCreateDocument,
    CommentsDocument,
    CommentsListDocument,
    CommentsResource,
    CommentsUpdateDocument,
    DiscussionsCreateDocument,
    DiscussionsDocument,
    DiscussionsListDocument,
    DiscussionsResource,
    DiscussionsUpdateDocument,
    RemovalsCreateDocument,
    comment_resource,
    discussion_resource,
    feed_query,
)
from server.deps import Member, Uow, services_of
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.paths import HUB_PATH


class SpaceDiscussionsController(Controller):
    """``H/spaces/{space_id}/discussions``: one space's discussions, and starting one."""

    path = HUB_PATH + "/spaces/{space_id:str}/discussions"
    tags = ["community"]

    @get("/", opt={"access": "view"},
         summary="A space's discussions: newest first, or sort=activity; filter[status], filter[pinned]")
    async def list_discussions(self, request: Request[Any, Any, Any], space_id: FromPath[str], member: Member,
                               state: State, uow: Uow) -> Response[DiscussionsListDocument]:
        q = feed_query(request)
        svc = services_of(state)
        page = await discussion_service.space_feed(uow, svc.access_cache, member, parse_id(space_id), q,
                                                   svc.clock.now())
        return jsonapi(DiscussionsListDocument.page(request, await _discussions(uow, member, page.items), page))

    @post("/", opt={"access": "post"}, summary="Start a discussion (published, draft, or scheduled with publish_at)")
    async def start_discussion(self, space_id: FromPath[str], data: JSONBody[DiscussionsCreateDocument],
                               member: Member, state: State, uow: Uow) -> Response[DiscussionsDocument]:
        svc = services_of(state)
        d = await discussion_service.start_discussion(uow, svc.clock, svc.access_cache, svc.limiter, member,
                                                      parse_id(space_id), msgspec.structs.asdict(data.data.attributes))
        resource = discussion_resource(d, [])
        return jsonapi(DiscussionsDocument(data=resource), 201, headers={"Location": resource.links.self})


class MemberDiscussionsController(Controller):
    path = HUB_PATH + "/discussions"
    tags = ["community"]

    @get("/", opt={"access": "view"}, summary="Discussions of every space I may see, newest first or sort=activity")
    async def hub_feed(self, request: Request[Any, Any, Any], member: Member, state: State,
                       uow: Uow) -> Response[DiscussionsListDocument]:
        q = feed_query(request)
        svc = services_of(state)
        page = await discussion_service.hub_feed(uow, svc.access_cache, member, q, svc.clock.now())
        return jsonapi(DiscussionsListDocument.page(request, await _discussions(uow, member, page.items), page))

    @get("/{discussion_id:str}", opt={"access": "view"}, summary="Read a discussion")
    async def get_discussion(self, discussion_id: FromPath[str], member: Member, state: State,
                             uow: Uow) -> Response[DiscussionsDocument]:
        svc = services_of(state)
        seen = await discussion_service.visible_discussion(uow, svc.access_cache, member, parse_id(discussion_id),
                                                           svc.clock.now())
        return await _discussion_document(uow, member, seen.discussion)

    @patch("/{discussion_id:str}", opt={"access": "post"},
           summary="Edit my discussion, or publish/schedule my draft (403 not_author for others')")
    async def edit_discussion(self, discussion_id: FromPath[str], data: JSONBody[DiscussionsUpdateDocument],
                              member: Member, state: State, uow: Uow) -> Response[DiscussionsDocument]:
        check_document_id(data.data.id, discussion_id)
        svc = services_of(state)
        d = await discussion_service.edit_discussion(uow, svc.clock, svc.access_cache, member, parse_id(discussion_id),
                                                     present(data.data.attributes))
        return await _discussion_document(uow, member, d)

    @delete("/{discussion_id:str}", opt={"access": "view"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete my discussion")
    async def delete_discussion(self, discussion_id: FromPath[str], member: Member, state: State, uow: Uow) -> None:
        svc = services_of(state)
        await discussion_service.delete_discussion(uow, svc.clock, svc.access_cache, member, parse_id(discussion_id))

    @post("/{discussion_id:str}/remove", opt={"access": "moderate"}, status_code=200,
          summary="Remove a discussion (moderators); it disappears live")
    async def remove(self, discussion_id: FromPath[str], data: JSONBody[RemovalsCreateDocument],
                     member: Member, state: State, uow: Uow) -> Response[DiscussionsDocument]:
        return await _moderate(state, uow, member, discussion_id, "remove", data.data.attributes.reason)

    @post("/{discussion_id:str}/restore", opt={"access": "moderate"}, status_code=200,
          summary="Restore a removed discussion (moderators)")
    async def restore(self, discussion_id: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[DiscussionsDocument]:
        return await _moderate(state, uow, member, discussion_id, "restore")

    @post("/{discussion_id:str}/pin", opt={"access": "moderate"}, status_code=200, summary="Pin (moderators)")
    async def pin(self, discussion_id: FromPath[str], member: Member, state: State,
                  uow: Uow) -> Response[DiscussionsDocument]:
        return await _moderate(state, uow, member, discussion_id, "pin")

    @delete("/{discussion_id:str}/pin", opt={"access": "moderate"}, status_code=200, summary="Unpin (moderators)")
    async def unpin(self, discussion_id: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[DiscussionsDocument]:
        return await _moderate(state, uow, member, discussion_id, "unpin")

    @post("/{discussion_id:str}/lock", opt={"access": "moderate"}, status_code=200,
          summary="Lock: no new comments (moderators)")
    async def lock(self, discussion_id: FromPath[str], member: Member, state: State,
                   uow: Uow) -> Response[DiscussionsDocument]:
        return await _moderate(state, uow, member, discussion_id, "lock")

    @delete("/{discussion_id:str}/lock", opt={"access": "moderate"}, status_code=200, summary="Unlock (moderators)")
    async def unlock(self, discussion_id: FromPath[str], member: Member, state: State,
                     uow: Uow) -> Response[DiscussionsDocument]:
        return await _moderate(state, uow, member, discussion_id, "unlock")

    @get("/{discussion_id:str}/comments", opt={"access": "view"}, summary="A discussion's comments, oldest first")
    async def list_comments(self, request: Request[Any, Any, Any], discussion_id: FromPath[str], member: Member,
                            state: State, uow: Uow) -> Response[CommentsListDocument]:
        q = parse_list_query(request)
        svc = services_of(state)
        page = await comment_service.list_comments(uow, svc.clock, svc.access_cache, member, parse_id(discussion_id),
                                                   q.page)
        return jsonapi(CommentsListDocument.page(request, await _comments(uow, member, page.items), page))

    @post("/{discussion_id:str}/comments", opt={"access": "post"},
          summary="Comment (409 discussion_locked on a locked discussion)")
    async def post_comment(self, discussion_id: FromPath[str], data: JSONBody[CommentsCreateDocument],
                           member: Member, state: State, uow: Uow) -> Response[CommentsDocument]:
        svc = services_of(state)
        a = data.data.attributes
        c = await comment_service.post_comment(uow, svc.clock, svc.access_cache, svc.limiter, member,
                                               parse_id(discussion_id), a.body, a.parent_id)
        resource = comment_resource(c, [])
        return jsonapi(CommentsDocument(data=resource), 201, headers={"Location": resource.links.self})

    @put("/{discussion_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
         summary="React (idempotent); the discussion with its reactions")
    async def react(self, discussion_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[DiscussionsDocument]:
        return await _react_discussion(state, uow, member, discussion_id, emoji, True)

    @delete("/{discussion_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
            summary="Take a reaction back (idempotent); the discussion with its reactions")
    async def unreact(self, discussion_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[DiscussionsDocument]:
        return await _react_discussion(state, uow, member, discussion_id, emoji, False)


class MemberCommentsController(Controller):
    path = HUB_PATH + "/comments"
    tags = ["community"]

    @get("/{comment_id:str}", opt={"access": "view"}, summary="Read a comment")
    async def get_comment(self, comment_id: FromPath[str], member: Member, state: State,
                          uow: Uow) -> Response[CommentsDocument]:
        svc = services_of(state)
        sc = await comment_service.visible_comment(uow, svc.clock, svc.access_cache, member, parse_id(comment_id))
        return await _comment_document(uow, member, sc.comment)

    @patch("/{comment_id:str}", opt={"access": "post"}, summary="Edit my comment (403 not_author for others')")
    async def edit_comment(self, comment_id: FromPath[str], data: JSONBody[CommentsUpdateDocument],
                           member: Member, state: State, uow: Uow) -> Response[CommentsDocument]:
        check_document_id(data.data.id, comment_id)
        svc = services_of(state)
        c = await comment_service.edit_comment(uow, svc.clock, svc.access_cache, member, parse_id(comment_id),
                                               data.data.attributes.body)
        return await _comment_document(uow, member, c)

    @delete("/{comment_id:str}", opt={"access": "view"}, status_code=HTTP_204_NO_CONTENT, summary="Delete my comment")
    async def delete_comment(self, comment_id: FromPath[str], member: Member, state: State, uow: Uow) -> None:
        svc = services_of(state)
        await comment_service.delete_comment(uow, svc.clock, svc.access_cache, member, parse_id(comment_id))

    @post("/{comment_id:str}/remove", opt={"access": "moderate"}, status_code=200,
          summary="Remove a comment (moderators); it disappears live")
    async def remove(self, comment_id: FromPath[str], data: JSONBody[RemovalsCreateDocument],
                     member: Member, state: State, uow: Uow) -> Response[CommentsDocument]:
        svc = services_of(state)
        c = await comment_service.moderate_comment(uow, svc.clock, svc.access_cache, member, parse_id(comment_id),
                                                   "remove", data.data.attributes.reason)
        return await _comment_document(uow, member, c)

    @post("/{comment_id:str}/restore", opt={"access": "moderate"}, status_code=200,
          summary="Restore a removed comment (moderators)")
    async def restore(self, comment_id: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[CommentsDocument]:
        svc = services_of(state)
        c = await comment_service.moderate_comment(uow, svc.clock, svc.access_cache, member, parse_id(comment_id),
                                                   "restore")
        return await _comment_document(uow, member, c)

    @put("/{comment_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
         summary="React (idempotent); the comment with its reactions")
    async def react(self, comment_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                    uow: Uow) -> Response[CommentsDocument]:
        return await _react_comment(state, uow, member, comment_id, emoji, True)

    @delete("/{comment_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
            summary="Take a reaction back (idempotent); the comment with its reactions")
    async def unreact(self, comment_id: FromPath[str], emoji: FromPath[str], member: Member, state: State,
                      uow: Uow) -> Response[CommentsDocument]:
        return await _react_comment(state, uow, member, comment_id, emoji, False)


# ---- shared by the handlers above: documents carry the caller's reactions --------------------------------


async def _discussions(uow: UnitOfWork, member: MemberPrincipal, items: list[Discussion]) -> list[DiscussionsResource]:
    counts = await reaction_service.reaction_counts(uow, "discussion", [d.id for d in items], member.contact_id)
    return [discussion_resource(d, counts.get(d.id)) for d in items]


async def _comments(uow: UnitOfWork, member: MemberPrincipal, items: list[Comment]) -> list[CommentsResource]:
    counts = await reaction_service.reaction_counts(uow, "comment", [c.id for c in items], member.contact_id)
    return [comment_resource(c, counts.get(c.id)) for c in items]


async def _discussion_document(uow: UnitOfWork, member: MemberPrincipal, d: Discussion) -> Response[Any]:
    return jsonapi(DiscussionsDocument(data=(await _discussions(uow, member, [d]))[0]))


async def _comment_document(uow: UnitOfWork, member: MemberPrincipal, c: Comment) -> Response[Any]:
    return jsonapi(CommentsDocument(data=(await _comments(uow, member, [c]))[0]))


async def _moderate(state: State, uow: UnitOfWork, member: MemberPrincipal, discussion_id: str, action: str,
                    reason: str | None = None) -> Response[Any]:
    svc = services_of(state)
    d = await discussion_service.moderate_discussion(uow, svc.clock, svc.access_cache, member, parse_id(discussion_id),
                                                     action, reason)
    return await _discussion_document(uow, member, d)


async def _react_discussion(state: State, uow: UnitOfWork, member: MemberPrincipal, discussion_id: str, emoji: str,
                            on: bool) -> Response[Any]:
    svc = services_of(state)
    await reaction_service.react(uow, svc.clock, svc.access_cache, member, "discussion", parse_id(discussion_id),
                                 emoji, on)
    seen = await discussion_service.visible_discussion(uow, svc.access_cache, member, parse_id(discussion_id),
                                                       svc.clock.now())
    return await _discussion_document(uow, member, seen.discussion)


async def _react_comment(state: State, uow: UnitOfWork, member: MemberPrincipal, comment_id: str, emoji: str,
                         on: bool) -> Response[Any]:
    svc = services_of(state)
    await reaction_service.react(uow, svc.clock, svc.access_cache, member, "comment", parse_id(comment_id), emoji, on)
    sc = await comment_service.visible_comment(uow, svc.clock, svc.access_cache, member, parse_id(comment_id))
    return await _comment_document(uow, member, sc.comment)
