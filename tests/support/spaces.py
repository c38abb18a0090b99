"""A hub with members and spaces, driven over the API (the spaces and discussions tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.api import Staff, bearer, doc, register, unique_email, w
from tests.support.hubs import Hub, join, mint, new_hub

H = "/api/v1/hub"


@dataclass
class Who:
    contact_id: str
    headers: dict[str, str]
    team_contact_id: str = ""


@dataclass
class Community:
    staff: Staff
    hub: Hub
    members: dict[str, Who] = field(default_factory=dict)

    @property
    def team(self) -> str:
        return f"/api/v1/teams/{self.staff.team_id}"

    @property
    def h(self) -> str:
        return f"{H}/{self.hub.id}"

    @property
    def spaces_url(self) -> str:
        return f"{self.hub.url}/spaces"

    async def member(self, client: Any, name: str, role: str = "member") -> Who:
        email = unique_email(name)
        m = await join(client, self.staff, self.hub, email=email, role=role)
        contact_id = m["attributes"]["contact_id"]
        token = (await mint(client, self.staff.headers, self.hub, contact_id)).json()["data"]["attributes"]["access_token"]
        r = await client.get(f"{self.team}/contacts", params={"filter[email]": email}, headers=self.staff.headers)
        who = Who(contact_id, bearer(token), r.json()["data"][0]["id"])
        self.members[name] = who
        return who

    async def space(self, client: Any, **attrs: Any) -> dict[str, Any]:
        attrs.setdefault("name", f"Space {uuid.uuid4().hex[:6]}")
        r = await client.post(self.spaces_url, json=doc("spaces", attrs), headers=w(self.staff.headers))
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def add_to_space(self, client: Any, space_id: str, who: Who) -> Any:
        return await client.post(f"{self.spaces_url}/{space_id}/members",
                                 json=doc("space_members", {"contact_id": who.contact_id}), headers=w(self.staff.headers))

    async def post(self, client: Any, who: Who, space_id: str, **attrs: Any) -> Any:
        attrs.setdefault("title", f"Topic {uuid.uuid4().hex[:6]}")
        attrs.setdefault("body", "Hello there")
        return await client.post(f"{self.h}/spaces/{space_id}/discussions", json=doc("discussions", attrs),
                                 headers=w(who.headers))

    async def discussion(self, client: Any, who: Who, space_id: str, **attrs: Any) -> dict[str, Any]:
        r = await self.post(client, who, space_id, **attrs)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    async def settings(self, client: Any, **community: Any) -> None:
        r = await client.patch(self.hub.url, json=doc("hubs", {"settings": {"community": community}}),
                               headers=w(self.staff.headers))
        assert r.status_code == 200, r.text


async def community(client: Any) -> Community:
    staff = await register(client, "community")
    return Community(staff, await new_hub(client, staff))
