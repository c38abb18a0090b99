"""Talking to the API as staff: JSON:API bodies and headers, registering a staff user (with their
personal team), more teams, team members and API keys, and checking an error document."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

PASSWORD = "correct horse battery staple"


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def doc(type_name: str, attributes: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type_name, "attributes": attributes}
    if id is not None:
        data["id"] = id
    return {"data": data}


JSONAPI_HEADERS = {"Content-Type": "application/vnd.api+json"}


def w(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, **JSONAPI_HEADERS}


class Staff:
    """A registered staff user with their tokens and personal team."""

    def __init__(self, email: str, tokens: dict[str, Any], team_id: str) -> None:
        self.email = email
        self.tokens = tokens
        self.team_id = team_id

    @property
    def access(self) -> str:
        return str(self.tokens["access_token"])

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


def user_id(staff: Staff) -> str:
    return str(staff.tokens["user"]["id"])


async def register(client: httpx.AsyncClient | AsyncTestClient[Any], label: str = "staff") -> Staff:
    email = unique_email(label)
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    tokens = r.json()
    teams = await client.get("/api/v1/teams", headers=bearer(tokens["access_token"]))
    assert teams.status_code == 200, teams.text
    return Staff(email, tokens, teams.json()["data"][0]["id"])


async def create_team(client: Any, staff: Staff, name: str = "Team") -> str:
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": name}), headers={**staff.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def add_staff(client: Any, owner: Staff, team_id: str, role: str) -> Staff:
    other = await register(client, role)
    r = await client.post(f"/api/v1/teams/{team_id}/members", json=doc("team_members", {"email": other.email, "role": role}),
                          headers=w(owner.headers))
    assert r.status_code == 201, r.text
    return other


async def create_key(client: Any, staff: Staff, team_id: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/teams/{team_id}/api-keys", json={"name": "integration", "scopes": scopes, **extra},
                          headers=staff.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def assert_error(response: Any, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    """The response is a JSON:API error document with this status and code (and pointer)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/vnd.api+json")
    body = response.json()
    assert set(body) == {"errors"}, body
    err = body["errors"][0]
    assert err["status"] == str(status)
    assert err["code"] == code, err
    assert err["meta"]["request_id"] == response.headers["x-request-id"]
    if pointer is not None:
        assert err["source"]["pointer"] == pointer, err
    assert "Traceback" not in response.text
    return dict(err)


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)
