"""Community moderation: members report (``H/reports``, type ``reports``); the team works the
queue (``T/hubs/{hub_id}/moderation/reports``, type ``moderation_reports``), resolves entries
(``…/reports/{id}/resolve``) and reads the audit log (``…/moderation/audit-log``, type
``moderation_audit_entries``). Team routes take ``team`` and ``hub`` (another team's hub is 404);
scopes ``moderation:read`` and ``moderation:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from domain.community import moderation
from domain.community.moderation import AuditEntry, ReportView
from domain.ids import parse_id
from persistence.models import Report, ReportReason
from server.deps import Member, TeamCtx, TeamHub, Uow, services_of
from server.jsonapi import jsonapi, parse_list_query, resource_types
from server.paths import HUB_PATH, TEAM_HUB_PATH

TargetType = Literal["discussion", "comment", "message", "member"]


# ---- member side -------------------------------------------------------------------------------


class ReportAttributes(msgspec.Struct):
    """What a reporter sees of their report: their own reason, and whether it is still open."""

    target_type: str
    target_id: str
    reason: str
    status: str
    reported_at: datetime


class ReportCreate(msgspec.Struct, forbid_unknown_fields=True):
    target_type: TargetType
    target_id: str
    reason: str


REPORTS = resource_types("reports", ReportAttributes, ReportCreate)


class ReportsController(Controller):
    path = HUB_PATH + "/reports"
    tags = ["community: moderation"]

    @post("/", opt={"access": "view"},
          summary="Report a discussion, comment, message or member (201; 200 when I reported it already)")
    async def create_report(self, data: JSONBody[REPORTS.CreateDocument], member: Member, state: State,  # type: ignore[name-defined]
                            uow: Uow) -> Response[REPORTS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        svc = services_of(state)
        entry, mine, recorded = await moderation.report(uow, svc.clock, svc.access_cache, member,
                                                        target_type=a.target_type, target_id=a.target_id,
                                                        reason=a.reason)
        attrs = ReportAttributes(entry.target_type, str(entry.target_id), mine.reason, entry.status, mine.created_at)
        return jsonapi(REPORTS.document(entry.id, attrs), 201 if recorded else 200)


# ---- team side -----------------------------------------------------------------------------------


class ReporterReason(msgspec.Struct):
    reporter_contact_id: str
    reason: str
    created_at: datetime


class ModerationReportAttributes(msgspec.Struct):
    hub_id: str
    target_type: str
    target_id: str
    target_author_contact_id: str | None
    status: str
    report_count: int
    reasons: list[ReporterReason]
    first_reported_at: datetime
    last_reported_at: datetime
    resolution: str | None
    resolution_note: str | None
    resolved_at: datetime | None
    resolved_by_user_id: str | None


class Resolution(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    action: Literal["dismiss", "remove", "warn", "ban", "soft_ban"]
    reason: str | None = None


MODERATION_REPORTS = resource_types("moderation_reports", ModerationReportAttributes)
RESOLUTIONS = resource_types("report_resolutions", ModerationReportAttributes, Resolution)


class AuditEntryAttributes(msgspec.Struct):
    source: str
    action: str
    target_type: str
    target_id: str
    reason: str | None
    report_id: str | None
    expires_at: datetime | None
    actor_user_id: str | None
    actor_api_key_id: str | None
    actor_contact_id: str | None
    created_at: datetime


AUDIT = resource_types("moderation_audit_entries", AuditEntryAttributes)


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


def _reason(r: ReportReason) -> ReporterReason:
    return ReporterReason(str(r.reporter_contact_id), r.reason, r.created_at)


def report_resource(team_id: Any, v: ReportView) -> Any:
    e: Report = v.report
    attrs = ModerationReportAttributes(
        hub_id=str(e.hub_id), target_type=e.target_type, target_id=str(e.target_id),
        target_author_contact_id=_s(e.target_author_contact_id), status=e.status, report_count=e.report_count,
        reasons=[_reason(r) for r in v.reasons], first_reported_at=e.first_reported_at,
        last_reported_at=e.last_reported_at, resolution=e.resolution, resolution_note=e.resolution_note,
        resolved_at=e.resolved_at, resolved_by_user_id=_s(e.resolved_by_user_id),
    )
    return MODERATION_REPORTS.resource(
        e.id, attrs, self_link=f"/api/v1/teams/{team_id}/hubs/{e.hub_id}/moderation/reports/{e.id}")


def audit_resource(a: AuditEntry) -> Any:
    return AUDIT.resource(a.id, AuditEntryAttributes(
        a.source, a.action, a.target_type, str(a.target_id), a.reason, _s(a.report_id), a.expires_at,
        _s(a.actor_user_id), _s(a.actor_api_key_id), _s(a.actor_contact_id), a.created_at))


class ModerationController(Controller):
    path = TEAM_HUB_PATH + "/moderation"
    tags = ["community: moderation"]

    @get("/reports", opt={"scope": "moderation:read"},
         summary="The moderation queue, oldest first; filter[status] (open, resolved), filter[target_type]")
    async def list_reports(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                           uow: Uow) -> Response[MODERATION_REPORTS.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request, frozenset({"status", "target_type"}))
        page = await moderation.list_reports(uow, hub, q.page, status=q.filters.get("status"),
                                             target_type=q.filters.get("target_type"))
        return jsonapi(MODERATION_REPORTS.list_document(
            request, [report_resource(team.team_id, v) for v in page.items], page))

    @get("/reports/{report_id:str}", opt={"scope": "moderation:read"}, summary="One queue entry")
    async def get_report(self, report_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                         uow: Uow) -> Response[MODERATION_REPORTS.Document]:  # type: ignore[name-defined]
        view = await moderation.get_report(uow, hub, parse_id(report_id))
        return jsonapi(MODERATION_REPORTS.Document(data=report_resource(team.team_id, view)))

    @post("/reports/{report_id:str}/resolve", opt={"scope": "moderation:write"}, status_code=200,
          summary="Resolve a queue entry: dismiss, remove the item, or warn / ban / soft-ban its author")
    async def resolve_report(self, report_id: FromPath[str], data: JSONBody[RESOLUTIONS.CreateDocument],  # type: ignore[name-defined]
                             team: TeamCtx, hub: TeamHub, state: State,
                             uow: Uow) -> Response[MODERATION_REPORTS.Document]:  # type: ignore[name-defined]
        a = data.data.attributes
        view, _ = await moderation.resolve_report(uow, services_of(state).clock, team, hub, parse_id(report_id),
                                                  a.action, a.reason)
        return jsonapi(MODERATION_REPORTS.Document(data=report_resource(team.team_id, view)))

    @get("/audit-log", opt={"scope": "moderation:read"},
         summary="Moderation and membership actions of the hub, newest first")
    async def audit_log(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                        uow: Uow) -> Response[AUDIT.ListDocument]:  # type: ignore[name-defined]
        q = parse_list_query(request)
        page = await moderation.audit_log(uow, hub, q.page)
        return jsonapi(AUDIT.list_document(request, [audit_resource(a) for a in page.items], page))


ROUTES: list[Any] = [ReportsController, ModerationController]
