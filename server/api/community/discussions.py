"""Routes: discussions, comments and reactions, member side (``H/...``).

Every handler takes ``member`` and declares its action on the hub (``view``, ``post``, ``react``,
``moderate``); the domain then asks the evaluator about the space the object lives in. The
discussions of one space are under ``H/spaces/{space_id}/discussions``; those of every space the
member may see under ``H/discussions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.community import comments as comment_service
from domain.community import discussions as discussion_service
from domain.community import reactions as reaction_service
from domain.community.comments import CommentFields
from domain.community.discussions import DiscussionFields
from domain.community.reaction_counts import reactions_of
from domain.context import Ctx
from domain.identity.members import MemberPrincipal
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
from server.deps import Context, Member
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.paths import HUB_PATH


class SpaceDiscussionsController(Controller):
    """``H/spaces/{space_id}/discussions``: one space's discussions, and starting one."""

    path = HUB_PATH + "/spaces/{space_id:str}/discussions"
    tags = ["community"]

    @get("/", opt={"access": "view"},
         summary="A space's discussions: newest first, or sort=activity; filter[status], filter[pinned]")
    async def list_discussions(self, request: Request[Any, Any, Any], space_id: FromPath[str], member: Member,
                               ctx: Context) -> Response[DiscussionsListDocument]:
        q = feed_query(request)
        page = await discussion_service.space_feed(ctx, member, parse_id(space_id), q)
        return jsonapi(DiscussionsListDocument.page(request, await _discussions(ctx, member, page.items), page))

    @post("/", opt={"access": "post"}, summary="Start a discussion (published, draft, or scheduled with publish_at)")
    async def start_discussion(self, space_id: FromPath[str], data: JSONBody[DiscussionsCreateDocument],
                               member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        d = await discussion_service.start_discussion(ctx, member, parse_id(space_id),
                                                      msgspec.structs.asdict(data.data.attributes))
        resource = discussion_resource(d, [])
        return jsonapi(DiscussionsDocument(data=resource), 201, headers={"Location": resource.links.self})


class MemberDiscussionsController(Controller):
    path = HUB_PATH + "/discussions"
    tags = ["community"]

    @get("/", opt={"access": "view"}, summary="Discussions of every space I may see, newest first or sort=activity")
    async def hub_feed(self, request: Request[Any, Any, Any], member: Member,
                       ctx: Context) -> Response[DiscussionsListDocument]:
        q = feed_query(request)
        page = await discussion_service.hub_feed(ctx, member, q)
        return jsonapi(DiscussionsListDocument.page(request, await _discussions(ctx, member, page.items), page))

    @get("/{discussion_id:str}", opt={"access": "view"}, summary="Read a discussion")
    async def get_discussion(self, discussion_id: FromPath[str], member: Member,
                             ctx: Context) -> Response[DiscussionsDocument]:
        seen = await discussion_service.get_discussion(ctx, member, parse_id(discussion_id))
        return await _discussion_document(ctx, member, seen.discussion)

    @patch("/{discussion_id:str}", opt={"access": "post"},
           summary="Edit my discussion, or publish/schedule my draft (403 not_author for others')")
    async def edit_discussion(self, discussion_id: FromPath[str], data: JSONBody[DiscussionsUpdateDocument],
                              member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        check_document_id(data.data.id, discussion_id)
        d = await discussion_service.edit_discussion(ctx, member, parse_id(discussion_id),
                                                     present(data.data.attributes))
        return await _discussion_document(ctx, member, d)

    @delete("/{discussion_id:str}", opt={"access": "view"}, status_code=HTTP_204_NO_CONTENT,
            summary="Delete my discussion")
    async def delete_discussion(self, discussion_id: FromPath[str], member: Member, ctx: Context) -> None:
        await discussion_service.delete_discussion(ctx, member, parse_id(discussion_id))

    @post("/{discussion_id:str}/remove", opt={"access": "moderate"}, status_code=200,
          summary="Remove a discussion (moderators); it disappears live")
    async def remove(self, discussion_id: FromPath[str], data: JSONBody[RemovalsCreateDocument],
                     member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        return await _moderate(ctx, member, discussion_id, "remove", data.data.attributes.reason)

    @post("/{discussion_id:str}/restore", opt={"access": "moderate"}, status_code=200,
          summary="Restore a removed discussion (moderators)")
    async def restore(self, discussion_id: FromPath[str], member: Member,
                      ctx: Context) -> Response[DiscussionsDocument]:
        return await _moderate(ctx, member, discussion_id, "restore")

    @post("/{discussion_id:str}/pin", opt={"access": "moderate"}, status_code=200, summary="Pin (moderators)")
    async def pin(self, discussion_id: FromPath[str], member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        return await _moderate(ctx, member, discussion_id, "pin")

    @delete("/{discussion_id:str}/pin", opt={"access": "moderate"}, status_code=200, summary="Unpin (moderators)")
    async def unpin(self, discussion_id: FromPath[str], member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        return await _moderate(ctx, member, discussion_id, "unpin")

    @post("/{discussion_id:str}/lock", opt={"access": "moderate"}, status_code=200,
          summary="Lock: no new comments (moderators)")
    async def lock(self, discussion_id: FromPath[str], member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        return await _moderate(ctx, member, discussion_id, "lock")

    @delete("/{discussion_id:str}/lock", opt={"access": "moderate"}, status_code=200, summary="Unlock (moderators)")
    async def unlock(self, discussion_id: FromPath[str], member: Member, ctx: Context) -> Response[DiscussionsDocument]:
        return await _moderate(ctx, member, discussion_id, "unlock")

    @get("/{discussion_id:str}/comments", opt={"access": "view"}, summary="A discussion's comments, oldest first")
    async def list_comments(self, request: Request[Any, Any, Any], discussion_id: FromPath[str], member: Member,
                            ctx: Context) -> Response[CommentsListDocument]:
        q = parse_list_query(request)
        page = await comment_service.list_comments(ctx, member, parse_id(discussion_id), q.page)
        return jsonapi(CommentsListDocument.page(request, await comments_with_reactions(ctx, member, page.items), page))

    @post("/{discussion_id:str}/comments", opt={"access": "post"},
          summary="Comment (409 discussion_locked on a locked discussion)")
    async def post_comment(self, discussion_id: FromPath[str], data: JSONBody[CommentsCreateDocument],
                           member: Member, ctx: Context) -> Response[CommentsDocument]:
        a = data.data.attributes
        c = await comment_service.post_comment(ctx, member, parse_id(discussion_id), a.body, a.parent_id)
        resource = comment_resource(c, [])
        return jsonapi(CommentsDocument(data=resource), 201, headers={"Location": resource.links.self})

    @put("/{discussion_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
         summary="React (idempotent); the discussion with its reactions")
    async def react(self, discussion_id: FromPath[str], emoji: FromPath[str], member: Member,
                    ctx: Context) -> Response[DiscussionsDocument]:
        return await _react_discussion(ctx, member, discussion_id, emoji, True)

    @delete("/{discussion_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
            summary="Take a reaction back (idempotent); the discussion with its reactions")
    async def unreact(self, discussion_id: FromPath[str], emoji: FromPath[str], member: Member,
                      ctx: Context) -> Response[DiscussionsDocument]:
        return await _react_discussion(ctx, member, discussion_id, emoji, False)


class MemberCommentsController(Controller):
    path = HUB_PATH + "/comments"
    tags = ["community"]

    @get("/{comment_id:str}", opt={"access": "view"}, summary="Read a comment")
    async def get_comment(self, comment_id: FromPath[str], member: Member, ctx: Context) -> Response[CommentsDocument]:
        sc = await comment_service.get_comment(ctx, member, parse_id(comment_id))
        return await _comment_document(ctx, member, sc.comment)

    @patch("/{comment_id:str}", opt={"access": "post"}, summary="Edit my comment (403 not_author for others')")
    async def edit_comment(self, comment_id: FromPath[str], data: JSONBody[CommentsUpdateDocument],
                           member: Member, ctx: Context) -> Response[CommentsDocument]:
        check_document_id(data.data.id, comment_id)
        c = await comment_service.edit_comment(ctx, member, parse_id(comment_id), data.data.attributes.body)
        return await _comment_document(ctx, member, c)

    @delete("/{comment_id:str}", opt={"access": "view"}, status_code=HTTP_204_NO_CONTENT, summary="Delete my comment")
    async def delete_comment(self, comment_id: FromPath[str], member: Member, ctx: Context) -> None:
        await comment_service.delete_comment(ctx, member, parse_id(comment_id))

    @post("/{comment_id:str}/remove", opt={"access": "moderate"}, status_code=200,
          summary="Remove a comment (moderators); it disappears live")
    async def remove(self, comment_id: FromPath[str], data: JSONBody[RemovalsCreateDocument],
                     member: Member, ctx: Context) -> Response[CommentsDocument]:
        c = await comment_service.moderate_comment(ctx, member, parse_id(comment_id), "remove",
                                                   reason=data.data.attributes.reason)
        return await _comment_document(ctx, member, c)

    @post("/{comment_id:str}/restore", opt={"access": "moderate"}, status_code=200,
          summary="Restore a removed comment (moderators)")
    async def restore(self, comment_id: FromPath[str], member: Member, ctx: Context) -> Response[CommentsDocument]:
        c = await comment_service.moderate_comment(ctx, member, parse_id(comment_id), "restore")
        return await _comment_document(ctx, member, c)

    @put("/{comment_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
         summary="React (idempotent); the comment with its reactions")
    async def react(self, comment_id: FromPath[str], emoji: FromPath[str], member: Member,
                    ctx: Context) -> Response[CommentsDocument]:
        return await _react_comment(ctx, member, comment_id, emoji, True)

    @delete("/{comment_id:str}/reactions/{emoji:str}", opt={"access": "react"}, status_code=200,
            summary="Take a reaction back (idempotent); the comment with its reactions")
    async def unreact(self, comment_id: FromPath[str], emoji: FromPath[str], member: Member,
                      ctx: Context) -> Response[CommentsDocument]:
        return await _react_comment(ctx, member, comment_id, emoji, False)


# ---- shared by the handlers above: documents carry the caller's reactions --------------------------------


async def _discussions(ctx: Ctx, member: MemberPrincipal, items: Sequence[DiscussionFields]) -> list[DiscussionsResource]:
    counts = await reactions_of(ctx, member, "discussion", items)
    return [discussion_resource(d, counts.get(d.id)) for d in items]


async def comments_with_reactions(ctx: Ctx, member: MemberPrincipal,
                                  items: Sequence[CommentFields]) -> list[CommentsResource]:
    """The resources of ``items`` (``Comment`` objects, or a page's rows of its columns), each with
    its reactions as ``member`` sees them (read with the page, or in one query)."""
    counts = await reactions_of(ctx, member, "comment", items)
    return [comment_resource(c, counts.get(c.id)) for c in items]


async def _discussion_document(ctx: Ctx, member: MemberPrincipal, d: Discussion) -> Response[Any]:
    return jsonapi(DiscussionsDocument(data=(await _discussions(ctx, member, [d]))[0]))


async def _comment_document(ctx: Ctx, member: MemberPrincipal, c: Comment) -> Response[Any]:
    return jsonapi(CommentsDocument(data=(await comments_with_reactions(ctx, member, [c]))[0]))


async def _moderate(ctx: Ctx, member: MemberPrincipal, discussion_id: str, action: str,
                    reason: str | None = None) -> Response[Any]:
    d = await discussion_service.moderate_discussion(ctx, member, parse_id(discussion_id), action, reason=reason)
    return await _discussion_document(ctx, member, d)


async def _react_discussion(ctx: Ctx, member: MemberPrincipal, discussion_id: str, emoji: str,
                            on: bool) -> Response[Any]:
    await reaction_service.react(ctx, member, "discussion", parse_id(discussion_id), emoji, on)
    seen = await discussion_service.get_discussion(ctx, member, parse_id(discussion_id))
    return await _discussion_document(ctx, member, seen.discussion)


async def _react_comment(ctx: Ctx, member: MemberPrincipal, comment_id: str, emoji: str, on: bool) -> Response[Any]:
    await reaction_service.react(ctx, member, "comment", parse_id(comment_id), emoji, on)
    sc = await comment_service.get_comment(ctx, member, parse_id(comment_id))
    return await _comment_document(ctx, member, sc.comment)
