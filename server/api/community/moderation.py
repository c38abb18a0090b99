"""Routes: community moderation. Members report (``H/reports``); the team works the queue
(``T/hubs/{hub_id}/moderation/reports``), resolves entries (``…/reports/{id}/resolve``) and reads
the audit log (``…/moderation/audit-log``). Team routes take ``team`` and ``hub`` (another team's
hub is 404); scopes ``moderation:read`` and ``moderation:write``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from domain.community import moderation
from persistence.ids import parse_id
from server.api.community.moderation_schemas import (
    ModerationAuditEntriesListDocument,
    ModerationReportsDocument,
    ModerationReportsListDocument,
    ReportResolutionsCreateDocument,
    ReportsCreateDocument,
    ReportsDocument,
    audit_resource,
    my_report_document,
    report_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub
from server.jsonapi import jsonapi, parse_list_query
from server.openapi import existing_or_created
from server.paths import HUB_PATH, TEAM_HUB_PATH


class ReportsController(Controller):
    path = HUB_PATH + "/reports"
    tags = ["community: moderation"]

    @post("/", opt={"access": "view"}, responses=existing_or_created(ReportsDocument),
          summary="Report a discussion, comment, message or member (201; 200 when I reported it already)")
    async def create_report(self, data: JSONBody[ReportsCreateDocument], member: Member,
                            ctx: Context) -> Response[ReportsDocument]:
        a = data.data.attributes
        entry, mine, recorded = await moderation.report(ctx, member, target_type=a.target_type, target_id=a.target_id,
                                                        reason=a.reason)
        return jsonapi(my_report_document(entry, mine), 201 if recorded else 200)


class ModerationController(Controller):
    path = TEAM_HUB_PATH + "/moderation"
    tags = ["community: moderation"]

    @get("/reports", opt={"scope": "moderation:read"},
         summary="The moderation queue, oldest first; filter[status] (open, resolved), filter[target_type]")
    async def list_reports(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                           ctx: Context) -> Response[ModerationReportsListDocument]:
        q = parse_list_query(request, frozenset({"status", "target_type"}))
        page = await moderation.list_reports(ctx, hub, q.page, status=q.filters.get("status"),
                                             target_type=q.filters.get("target_type"))
        return jsonapi(ModerationReportsListDocument.page(
            request, [report_resource(team.team_id, v) for v in page.items], page))

    @get("/reports/{report_id:str}", opt={"scope": "moderation:read"}, summary="One queue entry")
    async def get_report(self, report_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                         ctx: Context) -> Response[ModerationReportsDocument]:
        view = await moderation.get_report(ctx, hub, parse_id(report_id))
        return jsonapi(ModerationReportsDocument(data=report_resource(team.team_id, view)))

    @post("/reports/{report_id:str}/resolve", opt={"scope": "moderation:write"}, status_code=200,
          summary="Resolve a queue entry: dismiss, remove the item, or warn / ban / soft-ban its author")
    async def resolve_report(self, report_id: FromPath[str], data: JSONBody[ReportResolutionsCreateDocument],
                             team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[ModerationReportsDocument]:
        a = data.data.attributes
        view, _ = await moderation.resolve_report(ctx, team, hub, parse_id(report_id), a.action, reason=a.reason)
        return jsonapi(ModerationReportsDocument(data=report_resource(team.team_id, view)))

    @get("/audit-log", opt={"scope": "moderation:read"},
         summary="Moderation and membership actions of the hub, newest first")
    async def audit_log(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                        ctx: Context) -> Response[ModerationAuditEntriesListDocument]:
        q = parse_list_query(request)
        page = await moderation.audit_log(ctx, hub, q.page)
        return jsonapi(ModerationAuditEntriesListDocument.page(request, [audit_resource(a) for a in page.items], page))
