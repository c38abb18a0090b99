"""Community moderation: a member's report (``reports``), the team's queue
(``moderation_reports``), its resolutions (``report_resolutions``) and the audit log
(``moderation_audit_entries``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from domain.community.moderation import AuditEntry, ReportView
from persistence.models import Report, ReportReason
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource

TargetType = Literal["discussion", "comment", "message", "member"]


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


# ---- member side ---------------------------------------------------------------------------------


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


class ReportsResource(Resource):
    type: Literal["reports"]
    attributes: ReportAttributes


class ReportsDocument(Document):
    data: ReportsResource


class ReportsCreateData(CreateData):
    type: Literal["reports"]
    attributes: ReportCreate


class ReportsCreateDocument(Inbound):
    data: ReportsCreateData


def my_report_document(entry: Report, mine: ReportReason) -> ReportsDocument:
    attrs = ReportAttributes(entry.target_type, str(entry.target_id), mine.reason, entry.status, mine.created_at)
    return ReportsDocument(data=ReportsResource.of(entry.id, attrs))


# ---- team side: the queue --------------------------------------------------------------------------


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


class ModerationReportsResource(Resource):
    type: Literal["moderation_reports"]
    attributes: ModerationReportAttributes


class ModerationReportsDocument(Document):
    data: ModerationReportsResource


class ModerationReportsListDocument(ListDocument):
    data: list[ModerationReportsResource]


class Resolution(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    action: Literal["dismiss", "remove", "warn", "ban", "soft_ban"]
    reason: str | None = None


class ReportResolutionsCreateData(CreateData):
    type: Literal["report_resolutions"]
    attributes: Resolution


class ReportResolutionsCreateDocument(Inbound):
    data: ReportResolutionsCreateData


def _reason(r: ReportReason) -> ReporterReason:
    return ReporterReason(str(r.reporter_contact_id), r.reason, r.created_at)


def report_resource(team_id: Any, v: ReportView) -> ModerationReportsResource:
    e: Report = v.report
    attrs = ModerationReportAttributes(
        hub_id=str(e.hub_id), target_type=e.target_type, target_id=str(e.target_id),
        target_author_contact_id=_s(e.target_author_contact_id), status=e.status, report_count=e.report_count,
        reasons=[_reason(r) for r in v.reasons], first_reported_at=e.first_reported_at,
        last_reported_at=e.last_reported_at, resolution=e.resolution, resolution_note=e.resolution_note,
        resolved_at=e.resolved_at, resolved_by_user_id=_s(e.resolved_by_user_id),
    )
    return ModerationReportsResource.of(
        e.id, attrs, self_link=f"/api/v1/teams/{team_id}/hubs/{e.hub_id}/moderation/reports/{e.id}")


# ---- team side: the audit log ------------------------------------------------------------------------


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


class ModerationAuditEntriesResource(Resource):
    type: Literal["moderation_audit_entries"]
    attributes: AuditEntryAttributes


class ModerationAuditEntriesListDocument(ListDocument):
    data: list[ModerationAuditEntriesResource]


def audit_resource(a: AuditEntry) -> ModerationAuditEntriesResource:
    return ModerationAuditEntriesResource.of(a.id, AuditEntryAttributes(
        a.source, a.action, a.target_type, str(a.target_id), a.reason, _s(a.report_id), a.expires_at,
        _s(a.actor_user_id), _s(a.actor_api_key_id), _s(a.actor_contact_id), a.created_at))
