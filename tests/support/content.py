"""A hub's content driven over the API (the content tests): a staff user with a hub, content
nodes, access rules and entitlements on them, and members of the hub with tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from persistence.models import HubMembership
from tests.support.api import bearer, doc, register, unique_email
from tests.support.app import in_app
from tests.support.hubs import StaffHub, add, mint, new_hub


@dataclass
class Learner:
    contact_id: str
    email: str
    joined_at: datetime
    headers: dict[str, str]


@dataclass
class Studio(StaffHub):
    @property
    def c(self) -> str:
        return f"{self.hub.url}/content"

    async def node(self, client: Any, title: str, parent: dict[str, Any] | None = None, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("status", "published")
        if parent is not None:
            attrs["parent_id"] = parent["id"]
        r = await client.post(self.c, json=doc("content_nodes", {"title": title, **attrs}), headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def patch(self, client: Any, node_id: str, **attrs: Any) -> Any:
        return await client.patch(f"{self.c}/{node_id}", json=doc("content_nodes", attrs), headers=self.wh)

    async def children(self, client: Any, node_id: str) -> list[dict[str, Any]]:
        r = await client.get(f"{self.c}/{node_id}/children", headers=self.staff.headers)
        assert r.status_code == 200, r.text
        return list(r.json()["data"])

    async def rule(self, client: Any, node_id: str, *conditions: tuple[str, dict[str, Any]],
                   logic: str = "all") -> dict[str, Any]:
        body = doc("access_rules", {"target_type": "content_node", "target_id": node_id, "logic_operator": logic,
                                    "conditions": [{"condition_type": t, "condition_data": d}
                                                   for t, d in conditions]})
        r = await client.post(f"{self.hub.url}/access-rules", json=body, headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def rule_on(self, target_type: str, target_id: str, *conditions: tuple[str, dict[str, Any]],
                      client: Any) -> dict[str, Any]:
        body = doc("access_rules", {"target_type": target_type, "target_id": target_id, "conditions": [
            {"condition_type": t, "condition_data": d} for t, d in conditions]})
        r = await client.post(f"{self.hub.url}/access-rules", json=body, headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def entitle(self, client: Any, learner: Learner, kind: str, target_id: str) -> dict[str, Any]:
        body = doc("entitlements", {"contact_id": learner.contact_id, "kind": kind, "target_id": target_id})
        r = await client.post(f"{self.hub.url}/entitlements", json=body, headers=self.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def learner(self, client: Any, role: str = "member") -> Learner:
        email = unique_email("learner")
        r = await add(client, self.staff.headers, self.hub, email=email, role=role)
        assert r.status_code in (200, 201), r.text
        a = r.json()["data"]["attributes"]
        t = await mint(client, self.staff.headers, self.hub, a["contact_id"])
        assert t.status_code == 201, t.text
        return Learner(a["contact_id"], email, datetime.fromisoformat(a["joined_at"]),
                       bearer(t.json()["data"]["attributes"]["access_token"]))

    async def tag(self, client: Any, learner: Learner | None = None, tag_id: str | None = None) -> str:
        """A new tag of the team (given to ``learner`` when named), or ``tag_id`` given to them."""
        if tag_id is None:
            r = await client.post(f"{self.t}/tags", json=doc("tags", {"name": f"tag-{uuid.uuid4().hex[:8]}"}),
                                  headers=self.wh)
            assert r.status_code == 201, r.text
            tag_id = r.json()["data"]["id"]
        if learner is not None:
            r = await client.get(f"{self.t}/contacts", params={"filter[email]": learner.email},
                                 headers=self.staff.headers)
            tcid = r.json()["data"][0]["id"]
            r = await client.post(f"{self.t}/contacts/{tcid}/tags", json=doc("contact_tags", {"tag_id": tag_id}),
                                  headers=self.wh)
            assert r.status_code in (200, 201), r.text
        return str(tag_id)

    async def segment_of_tag(self, client: Any, tag_id: str) -> str:
        conditions = {"version": 1, "logic": "all", "groups": [
            {"logic": "all", "conditions": [{"type": "tag", "operator": "has", "value": tag_id}]}]}
        r = await client.post(f"{self.t}/segments", json=doc("segments", {"name": f"seg-{uuid.uuid4().hex[:6]}",
                                                                            "conditions": conditions}),
                              headers=self.wh)
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])

    async def tree(self, client: Any, learner: Learner) -> dict[str, Any]:
        r = await client.get(f"{self.h}/content", headers=learner.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())


def set_joined_at(client: Any, app: Any, studio: Studio, learner: Learner, at: datetime) -> None:
    """Move the learner's join date (as if they had joined then), telling the access cache."""

    async def go() -> None:
        async with app.state.services.uow() as uow:
            await uow.session.execute(sa.update(HubMembership).where(
                HubMembership.hub_id == uuid.UUID(studio.hub.id),
                HubMembership.contact_id == uuid.UUID(learner.contact_id)).values(joined_at=at))
            facts_changed(uow, hub_id=uuid.UUID(studio.hub.id))

    in_app(client, go)
    learner.joined_at = at


def by_id(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The member tree's nodes by id (their attributes)."""
    return {n["id"]: n["attributes"] for n in tree["data"]}


async def open_studio(client: Any) -> Studio:
    staff = await register(client, "creator")
    return Studio(staff, await new_hub(client, staff))


def uid() -> str:
    return str(uuid.uuid4())
