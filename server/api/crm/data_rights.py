"""``T/contacts/{id}/export`` and ``T/contacts/{id}/erase``: a contact's data rights
(domain/crm/data_rights.py, docs/api.md#data-rights)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath

from domain.crm import data_rights
from persistence.ids import parse_id
from server.api.crm.data_rights_schemas import (
    ContactErasuresDocument,
    ContactExportsDocument,
    erasure_resource,
    export_resource,
)
from server.deps import Context, TeamCtx
from server.jsonapi import jsonapi
from server.paths import TEAM_PATH


class DataRightsController(Controller):
    path = TEAM_PATH + "/contacts"
    tags = ["crm"]

    @get("/{team_contact_id:str}/export", opt={"scope": "contacts:read"},
         summary="Everything the team holds about a contact, as JSON (a data subject's access request)")
    async def export_contact(self, team_contact_id: FromPath[str], team: TeamCtx,
                             ctx: Context) -> Response[ContactExportsDocument]:
        sections = await data_rights.export_contact(ctx, team, parse_id(team_contact_id))
        return jsonapi(ContactExportsDocument(data=export_resource(team_contact_id, sections, ctx.now())),
                       headers={"Content-Disposition": f'attachment; filename="contact-{team_contact_id}.json"',
                                "Cache-Control": "no-store"})

    @post("/{team_contact_id:str}/erase", opt={"scope": "contacts:write"}, status_code=200,
          summary="Erase a contact's personal data in the team (cannot be undone); answers the audit receipt")
    async def erase_contact(self, team_contact_id: FromPath[str], team: TeamCtx,
                            ctx: Context) -> Response[ContactErasuresDocument]:
        erasure = await data_rights.erase_contact(ctx, team, parse_id(team_contact_id))
        return jsonapi(ContactErasuresDocument(data=erasure_resource(erasure)))


ROUTES: list[Any] = [DataRightsController]
