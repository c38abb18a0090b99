"""Routes: team staff on a hub's content, for the moderation console
(``T/hubs/{hub_id}/moderation/discussions|comments|messages``): read what an item says, list the
hub's discussions, and remove, restore, pin or lock without being a member of the hub
(``domain/community/staff_moderation.py``). Scopes ``moderation:read`` and ``moderation:write``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from domain.community import staff_moderation
from domain.filters import parse_bool_filter
from persistence.ids import parse_id
from server.api.community.discussions_schemas import RemovalsCreateDocument
from server.api.community.moderation_items_schemas import (
    ModerationItemsDocument,
    ModerationItemsListDocument,
    item_document,
    item_resource,
)
from server.deps import Context, TeamCtx, TeamHub
from server.jsonapi import jsonapi, parse_list_query
from server.paths import TEAM_HUB_PATH


async def _act(ctx: Any, team: Any, hub: Any, target_type: str, item_id: str, action: str,
               reason: str | None = None) -> Response[ModerationItemsDocument]:
    item = await staff_moderation.moderate_item(ctx, team, hub, target_type, parse_id(item_id), action, reason)
    return jsonapi(item_document(team.team_id, item))


class ModerationItemsController(Controller):
    path = TEAM_HUB_PATH + "/moderation"
    tags = ["community: moderation"]

    @get("/discussions", opt={"scope": "moderation:read"},
         summary="The hub's published discussions, newest first, removed ones included; filter[removed]")
    async def list_discussions(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                               ctx: Context) -> Response[ModerationItemsListDocument]:
        q = parse_list_query(request, frozenset({"removed"}))
        page = await staff_moderation.list_discussions(ctx, hub, q.page, removed=parse_bool_filter(q.filters, "removed"))
        return jsonapi(ModerationItemsListDocument.page(
            request, [item_resource(team.team_id, v) for v in page.items], page))

    @get("/discussions/{discussion_id:str}", opt={"scope": "moderation:read"}, summary="A discussion, as moderators see it")
    async def get_discussion(self, discussion_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                             ctx: Context) -> Response[ModerationItemsDocument]:
        item = await staff_moderation.get_item(ctx, hub, "discussion", parse_id(discussion_id))
        return jsonapi(item_document(team.team_id, item))

    @post("/discussions/{discussion_id:str}/remove", opt={"scope": "moderation:write"}, status_code=200,
          summary="Remove a discussion (it disappears live); audit-logged")
    async def remove_discussion(self, discussion_id: FromPath[str], data: JSONBody[RemovalsCreateDocument],
                                team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "discussion", discussion_id, "remove", data.data.attributes.reason)

    @post("/discussions/{discussion_id:str}/restore", opt={"scope": "moderation:write"}, status_code=200,
          summary="Restore a removed discussion; audit-logged")
    async def restore_discussion(self, discussion_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                                 ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "discussion", discussion_id, "restore")

    @post("/discussions/{discussion_id:str}/pin", opt={"scope": "moderation:write"}, status_code=200,
          summary="Pin a discussion; audit-logged")
    async def pin(self, discussion_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                  ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "discussion", discussion_id, "pin")

    @delete("/discussions/{discussion_id:str}/pin", opt={"scope": "moderation:write"}, status_code=200,
            summary="Unpin a discussion; audit-logged")
    async def unpin(self, discussion_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                    ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "discussion", discussion_id, "unpin")

    @post("/discussions/{discussion_id:str}/lock", opt={"scope": "moderation:write"}, status_code=200,
          summary="Lock a discussion (no new comments); audit-logged")
    async def lock(self, discussion_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                   ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "discussion", discussion_id, "lock")

    @delete("/discussions/{discussion_id:str}/lock", opt={"scope": "moderation:write"}, status_code=200,
            summary="Unlock a discussion; audit-logged")
    async def unlock(self, discussion_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                     ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "discussion", discussion_id, "unlock")

    @get("/comments/{comment_id:str}", opt={"scope": "moderation:read"}, summary="A comment, as moderators see it")
    async def get_comment(self, comment_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[ModerationItemsDocument]:
        item = await staff_moderation.get_item(ctx, hub, "comment", parse_id(comment_id))
        return jsonapi(item_document(team.team_id, item))

    @post("/comments/{comment_id:str}/remove", opt={"scope": "moderation:write"}, status_code=200,
          summary="Remove a comment (it disappears live); audit-logged")
    async def remove_comment(self, comment_id: FromPath[str], data: JSONBody[RemovalsCreateDocument],
                             team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "comment", comment_id, "remove", data.data.attributes.reason)

    @post("/comments/{comment_id:str}/restore", opt={"scope": "moderation:write"}, status_code=200,
          summary="Restore a removed comment; audit-logged")
    async def restore_comment(self, comment_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                              ctx: Context) -> Response[ModerationItemsDocument]:
        return await _act(ctx, team, hub, "comment", comment_id, "restore")

    @get("/messages/{message_id:str}", opt={"scope": "moderation:read"},
         summary="A direct message, as moderators see it (a reported one)")
    async def get_message(self, message_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[ModerationItemsDocument]:
        item = await staff_moderation.get_item(ctx, hub, "message", parse_id(message_id))
        return jsonapi(item_document(team.team_id, item))
