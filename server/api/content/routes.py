"""Routes: the content tree (docs/api.md, "Content"; JSON:API types in ``schemas.py``).

Team side, scopes ``content:read`` / ``content:write``: the nodes of a hub's tree
(``T/hubs/{hub_id}/content``), their children, reorder, soft delete and restore. Another team's
ids, deleted nodes (except for restore and ``filter[deleted]``) and malformed ids are 404.
Member side (``access: view``): ``H/content``, the tree as the member sees it, and
``H/content/{id}``, one unlocked node with its body (403 with the evaluator's reason when locked);
``H/content/{id}/comments``, the community's comments on a node (``domain.community.comments``: the
same ``comments`` resources, read, edited, reacted to and moderated at ``H/comments/{id}``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.community import comments as comment_service
from domain.content import nodes, progress, tree
from domain.errors import DomainError
from domain.filters import parse_bool_filter
from persistence.ids import parse_id
from server.api.community.discussions import comments_with_reactions
from server.api.community.discussions_schemas import CommentsCreateDocument, CommentsDocument, CommentsListDocument
from server.api.content import media as media_routes
from server.api.content import pages as page_routes
from server.api.content.schemas import (
    ContentNodesCreateDocument,
    ContentNodesDocument,
    ContentNodesListDocument,
    ContentNodesOrderDocument,
    ContentNodesUpdateDocument,
    ContentProgressCreateDocument,
    ContentProgressDocument,
    ContentReorderDocument,
    MemberContentDocument,
    MemberTreeDocument,
    member_node_resource,
    member_tree_document,
    node_resource,
    progress_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.paths import HUB_PATH, TEAM_HUB_PATH

READ, WRITE = {"scope": "content:read"}, {"scope": "content:write"}


class ContentNodesController(Controller):
    """``T/hubs/{hub_id}/content``: the hub's content tree."""

    path = TEAM_HUB_PATH + "/content"
    tags = ["content"]

    @get("/", opt=READ, summary="List the hub's content nodes (filter[parent_id] (an id or root), filter[status], "
                                "filter[deleted])")
    async def list_nodes(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[ContentNodesListDocument]:
        q = parse_list_query(request, frozenset({"parent_id", "status", "deleted"}))
        page = await nodes.list_nodes(ctx, hub, q.page, parent=q.filters.get("parent_id"),
                                      status=q.filters.get("status"),
                                      deleted=bool(parse_bool_filter(q.filters, "deleted")))
        return jsonapi(ContentNodesListDocument.page(request, [node_resource(n, team.team_id) for n in page.items],
                                                     page))

    @post("/", opt=WRITE, summary="Create a content node (body sanitized; position default last)")
    async def create_node(self, data: JSONBody[ContentNodesCreateDocument], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[ContentNodesDocument]:
        node = await nodes.create_node(ctx, hub, msgspec.structs.asdict(data.data.attributes))
        document = ContentNodesDocument(data=node_resource(node, team.team_id))
        return jsonapi(document, 201, headers={"Location": document.data.links.self})  # type: ignore[union-attr]

    @post("/reorder", opt=WRITE, status_code=200,
          summary="Reorder the children of one parent: every child, once, in the new order (all or nothing)")
    async def reorder(self, data: JSONBody[ContentReorderDocument], team: TeamCtx, hub: TeamHub,
                      ctx: Context) -> Response[ContentNodesOrderDocument]:
        try:
            ordered = await nodes.reorder(ctx, hub, [link.id for link in data.data])
        except DomainError as exc:  # the domain names node_ids[i]; in this body that is /data/i/id
            if exc.field and exc.field[0] == "node_ids":
                exc.pointer = "/data" + (f"/{exc.field[1]}/id" if len(exc.field) > 1 else "")
            raise
        return jsonapi(ContentNodesOrderDocument(data=[node_resource(n, team.team_id) for n in ordered]))

    @get("/{node_id:str}", opt=READ, summary="Read a content node")
    async def get_node(self, node_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                       ctx: Context) -> Response[ContentNodesDocument]:
        node = await nodes.find_node(ctx.uow, hub.id, parse_id(node_id))
        return jsonapi(ContentNodesDocument(data=node_resource(node, team.team_id)))

    @patch("/{node_id:str}", opt=WRITE,
           summary="Update a content node; parent_id moves it with its subtree (422 cycle), position reorders it")
    async def update_node(self, node_id: FromPath[str], data: JSONBody[ContentNodesUpdateDocument], team: TeamCtx,
                          hub: TeamHub, ctx: Context) -> Response[ContentNodesDocument]:
        check_document_id(data.data.id, node_id)
        node = await nodes.find_node(ctx.uow, hub.id, parse_id(node_id))
        node = await nodes.update_node(ctx, hub, node, present(data.data.attributes))
        return jsonapi(ContentNodesDocument(data=node_resource(node, team.team_id)))

    @delete("/{node_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a content node and its subtree (soft delete)")
    async def delete_node(self, node_id: FromPath[str], team: TeamCtx, hub: TeamHub, ctx: Context) -> None:
        await nodes.delete_node(ctx, hub, await nodes.find_node(ctx.uow, hub.id, parse_id(node_id)))

    @get("/{node_id:str}/children", opt=READ, summary="The live children of a content node, in position order")
    async def children(self, node_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                       ctx: Context) -> Response[ContentNodesOrderDocument]:
        node = await nodes.find_node(ctx.uow, hub.id, parse_id(node_id))
        return jsonapi(ContentNodesOrderDocument(
            data=[node_resource(n, team.team_id) for n in await nodes.children(ctx, hub, node)]))

    @post("/{node_id:str}/restore", opt=WRITE, status_code=200,
          summary="Restore a deleted content node with what its delete took (409 parent_deleted, slug_taken)")
    async def restore_node(self, node_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                           ctx: Context) -> Response[ContentNodesDocument]:
        node = await nodes.find_node(ctx.uow, hub.id, parse_id(node_id), deleted=True)
        node = await nodes.restore_node(ctx, hub, node)
        return jsonapi(ContentNodesDocument(data=node_resource(node, team.team_id)))


class MemberContentController(Controller):
    """``H/content``: the tree as this member sees it (domain/content/tree.py)."""

    path = HUB_PATH + "/content"
    tags = ["content"]

    @get("/", opt={"access": "view"},
         summary="The content tree as I see it: locked, lock_reason, unlock_at, progress; never a locked body")
    async def tree(self, member: Member, ctx: Context) -> Response[MemberTreeDocument]:
        return jsonapi(member_tree_document(await tree.member_tree(ctx, member)))

    @get("/{node_id:str}", opt={"access": "view"},
         summary="One content node with its body (403 with the reason and unlock_at when locked)")
    async def node(self, node_id: FromPath[str], member: Member, ctx: Context) -> Response[MemberContentDocument]:
        return jsonapi(MemberContentDocument(data=member_node_resource(
            await tree.member_node(ctx, member, parse_id(node_id)))))

    @post("/{node_id:str}/progress", opt={"access": "view"}, status_code=200,
          summary="Mark a content node complete (completed: true) or not; idempotent")
    async def progress(self, node_id: FromPath[str], data: JSONBody[ContentProgressCreateDocument], member: Member,
                       ctx: Context) -> Response[ContentProgressDocument]:
        view = await progress.set_progress(ctx, member, parse_id(node_id), data.data.attributes.completed)
        return jsonapi(ContentProgressDocument(data=progress_resource(view)))

    @get("/{node_id:str}/comments", opt={"access": "view"},
         summary="A content node's comments, oldest first (403 with the reason when the node is locked)")
    async def comments(self, request: Request[Any, Any, Any], node_id: FromPath[str], member: Member,
                       ctx: Context) -> Response[CommentsListDocument]:
        q = parse_list_query(request)
        page = await comment_service.list_node_comments(ctx, member, parse_id(node_id), q.page)
        return jsonapi(CommentsListDocument.page(request, await comments_with_reactions(ctx, member, page.items),
                                                 page))

    @post("/{node_id:str}/comments", opt={"access": "post"},
          summary="Comment on a content node (parent_id: a comment of the same node; 403 when locked)")
    async def post_comment(self, node_id: FromPath[str], data: JSONBody[CommentsCreateDocument], member: Member,
                           ctx: Context) -> Response[CommentsDocument]:
        a = data.data.attributes
        c = await comment_service.post_node_comment(ctx, member, parse_id(node_id), a.body, a.parent_id)
        resource = (await comments_with_reactions(ctx, member, [c]))[0]
        return jsonapi(CommentsDocument(data=resource), 201, headers={"Location": resource.links.self})


class ContentProgressController(Controller):
    """``T/hubs/{hub_id}/content-progress/{contact_id}``: a member's progress, as staff see it."""

    path = TEAM_HUB_PATH + "/content-progress"
    tags = ["content"]

    @get("/{contact_id:str}", opt=READ,
         summary="A member's progress: the tree as they see it (locked, completed, percent), without bodies")
    async def contact_progress(self, contact_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                               ctx: Context) -> Response[MemberTreeDocument]:
        cid = await progress.check_member(ctx, hub.id, parse_id(contact_id))
        return jsonapi(member_tree_document(await tree.contact_tree(ctx, hub.id, cid), with_body=False))


ROUTES: list[Any] = [ContentNodesController, MemberContentController, ContentProgressController, *page_routes.ROUTES,
                     *media_routes.ROUTES]
