"""Team contacts over the API: the team's URL, write headers, adding a contact and reading every
page of a contact list."""

from __future__ import annotations

from tests.support.api import JSONAPI_HEADERS, doc


def T(team_id: str) -> str:
    return f"/api/v1/teams/{team_id}"


def hdrs(token_headers: dict[str, str]) -> dict[str, str]:
    return {**token_headers, **JSONAPI_HEADERS}


async def add_contact(client, headers, team_id: str, email: str, status: int = 201, **attrs) -> dict:
    r = await client.post(f"{T(team_id)}/contacts", json=doc("team_contacts", {"email": email, **attrs}),
                          headers=hdrs(headers))
    assert r.status_code == status, r.text
    return r.json()["data"]


async def list_all(client, headers, team_id: str, query: str = "") -> list[dict]:
    """Every page of T/contacts with ``query`` (following links.next)."""
    url = f"{T(team_id)}/contacts?page[size]=100" + (f"&{query}" if query else "")
    out: list[dict] = []
    while url:
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["data"])
        url = body["links"].get("next")
        assert body["meta"]["has_more"] == (url is not None)
    return out
