"""Teams and their staff members: create, read, update, delete, roles, isolation, pagination.

Every test works on users and teams it registers itself, so tests are independent of each other
and of the order they run in, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Any

import pytest

from domain.errors import Conflict
from domain.identity.principals import StaffPrincipal
from domain.teams import service as teams
from tests.support.api import (
    JSONAPI_HEADERS,
    Staff,
    assert_error,
    bearer,
    create_key,
    create_team,
    doc,
    register,
    unique_email,
)

SLUG_RULE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


# ---- helpers ------------------------------------------------------------------------------------


def user_id(staff: Staff) -> str:
    return str(staff.tokens["user"]["id"])


def unique_name(label: str = "Team") -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def read_team(client: Any, headers: dict[str, str], team_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/teams/{team_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def patch_team(client: Any, headers: dict[str, str], team_id: str, attributes: dict[str, Any],
                     type_name: str = "teams") -> Any:
    return await client.patch(f"/api/v1/teams/{team_id}", json=doc(type_name, attributes, id=team_id),
                              headers={**headers, **JSONAPI_HEADERS})


async def post_member(client: Any, actor: Staff, team_id: str, email: str, role: str = "staff") -> Any:
    return await client.post(f"/api/v1/teams/{team_id}/members", json=doc("team_members", {"email": email, "role": role}),
                             headers={**actor.headers, **JSONAPI_HEADERS})


async def new_member(client: Any, owner: Staff, team_id: str, role: str, label: str | None = None) -> Staff:
    """A freshly registered staff user added to ``team_id`` with ``role`` by ``owner``."""
    user = await register(client, label or role)
    r = await post_member(client, owner, team_id, user.email, role)
    assert r.status_code == 201, r.text
    return user


async def member_ids(client: Any, headers: dict[str, str], team_id: str) -> dict[str, str]:
    r = await client.get(f"/api/v1/teams/{team_id}/members", params={"page[size]": "100"}, headers=headers)
    assert r.status_code == 200, r.text
    return {m["id"]: m["attributes"]["role"] for m in r.json()["data"]}


async def my_team_ids(client: Any, headers: dict[str, str]) -> list[str]:
    r = await client.get("/api/v1/teams", params={"page[size]": "100"}, headers=headers)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["data"]]


# ---- create and read ----------------------------------------------------------------------------


async def test_create_team_returns_document_location_and_makes_creator_owner(client):
    staff = await register(client)
    name = unique_name("Acme Studio")
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": name}), headers={**staff.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    data = r.json()["data"]
    assert data["type"] == "teams"
    team_id = data["id"]
    uuid.UUID(team_id)
    assert r.headers["location"] == f"/api/v1/teams/{team_id}"
    attrs = data["attributes"]
    assert attrs["name"] == name
    assert attrs["slug"] == "acme-studio-" + name.split()[-1]
    assert attrs["is_personal"] is False
    assert attrs["role"] == "owner"
    assert ts(attrs["created_at"]) == ts(attrs["updated_at"])

    # The Location can be followed and shows the same team.
    again = await client.get(r.headers["location"], headers=staff.headers)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == data

    # The creator is the team's only member, as owner; the team is in the creator's list.
    assert await member_ids(client, staff.headers, team_id) == {user_id(staff): "owner"}
    assert team_id in await my_team_ids(client, staff.headers)


async def test_registration_creates_a_personal_team_owned_by_the_user(client):
    staff = await register(client)
    team = await read_team(client, staff.headers, staff.team_id)
    assert team["attributes"]["is_personal"] is True
    assert team["attributes"]["role"] == "owner"
    assert await my_team_ids(client, staff.headers) == [staff.team_id]


async def test_generated_slugs_are_unique_and_valid(client):
    staff = await register(client)
    name = unique_name("Same Name")
    first = await read_team(client, staff.headers, await create_team(client, staff, name))
    second = await read_team(client, staff.headers, await create_team(client, staff, name))
    base = "same-name-" + name.split()[-1]
    assert first["attributes"]["slug"] == base
    assert second["attributes"]["slug"] != base
    assert second["attributes"]["slug"].startswith(base + "-")
    for team in (first, second):
        assert SLUG_RULE.match(team["attributes"]["slug"]), team

    # Names that slugify to nothing, or to something long, still get a slug that follows the rules.
    for odd in ("!!!", "a" * 79 + " b" + uuid.uuid4().hex, "  Ünïcödé — Team  " + uuid.uuid4().hex[:6]):
        team = await read_team(client, staff.headers, await create_team(client, staff, odd))
        assert SLUG_RULE.match(team["attributes"]["slug"]), team["attributes"]["slug"]
        assert team["attributes"]["name"] == odd.strip()


async def test_create_team_with_explicit_slug_and_conflicts(client):
    staff = await register(client)
    slug = "explicit-" + uuid.uuid4().hex[:10]
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "Explicit", "slug": slug}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["slug"] == slug
    before = await my_team_ids(client, staff.headers)

    # Someone else cannot take the same slug.
    other = await register(client)
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "Copycat", "slug": slug}),
                          headers={**other.headers, **JSONAPI_HEADERS})
    assert_error(r, 409, "slug_taken", "/data/attributes/slug")
    assert await my_team_ids(client, other.headers) == [other.team_id]

    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "Bad", "slug": "Not A Slug"}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "invalid_slug", "/data/attributes/slug")
    assert await my_team_ids(client, staff.headers) == before


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_create_team_rejects_a_bad_name(client, name):
    staff = await register(client)
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": name}), headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "invalid_name", "/data/attributes/name")
    assert await my_team_ids(client, staff.headers) == [staff.team_id]


async def test_create_team_rejects_malformed_documents(client):
    staff = await register(client)
    headers = {**staff.headers, **JSONAPI_HEADERS}
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "X", "color": "red"}), headers=headers)
    assert_error(r, 422, "unknown_field", "/data/attributes/color")
    r = await client.post("/api/v1/teams", json=doc("team", {"name": "X"}), headers=headers)
    assert_error(r, 422, "invalid_value", "/data/type")
    r = await client.post("/api/v1/teams", json=doc("teams", {}), headers=headers)
    assert_error(r, 422, "missing_field", "/data/attributes/name")
    r = await client.post("/api/v1/teams", json={"name": "plain body"}, headers=headers)
    assert_error(r, 422, "unknown_field", "/name")
    r = await client.post("/api/v1/teams", content=b'{"data": ', headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "invalid_json"
    r = await client.post("/api/v1/teams", content=b"name=x", headers={**staff.headers, "Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    assert await my_team_ids(client, staff.headers) == [staff.team_id]


async def test_teams_need_authentication(client):
    staff = await register(client)
    r = await client.get("/api/v1/teams")
    assert_error(r, 401, "unauthenticated")
    r = await client.get(f"/api/v1/teams/{staff.team_id}")
    assert_error(r, 401, "unauthenticated")
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer("not-a-jwt"))
    assert r.status_code == 401, r.text
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "Anon"}), headers=JSONAPI_HEADERS)
    assert_error(r, 401, "unauthenticated")


# ---- update -------------------------------------------------------------------------------------


async def test_patch_name_leaves_the_other_fields(client, clock):
    staff = await register(client)
    team_id = await create_team(client, staff, unique_name())
    before = await read_team(client, staff.headers, team_id)
    clock.advance(seconds=30)
    new_name = unique_name("Renamed")
    r = await patch_team(client, staff.headers, team_id, {"name": new_name})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    attrs = r.json()["data"]["attributes"]
    assert attrs["name"] == new_name
    assert attrs["slug"] == before["attributes"]["slug"]
    assert attrs["is_personal"] is False
    assert attrs["role"] == "owner"
    assert attrs["created_at"] == before["attributes"]["created_at"]
    assert ts(attrs["updated_at"]) > ts(before["attributes"]["updated_at"])
    assert (await read_team(client, staff.headers, team_id))["attributes"] == attrs


async def test_patch_slug_leaves_the_name(client):
    staff = await register(client)
    name = unique_name()
    team_id = await create_team(client, staff, name)
    slug = "new-slug-" + uuid.uuid4().hex[:8]
    r = await patch_team(client, staff.headers, team_id, {"slug": slug})
    assert r.status_code == 200, r.text
    after = await read_team(client, staff.headers, team_id)
    assert after["attributes"]["slug"] == slug
    assert after["attributes"]["name"] == name

    # Setting the slug it already has is fine; an empty attributes object changes nothing.
    r = await patch_team(client, staff.headers, team_id, {"slug": slug})
    assert r.status_code == 200, r.text
    r = await patch_team(client, staff.headers, team_id, {})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["slug"] == slug
    assert r.json()["data"]["attributes"]["name"] == name


async def test_patch_with_another_teams_id_is_409_and_changes_nothing(client):
    staff = await register(client)
    team_id, other_id = await create_team(client, staff, unique_name()), await create_team(client, staff, unique_name())
    before, other = await read_team(client, staff.headers, team_id), await read_team(client, staff.headers, other_id)
    r = await client.patch(f"/api/v1/teams/{team_id}", json=doc("teams", {"name": "Renamed"}, id=other_id),
                           headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 409, "id_mismatch", "/data/id")
    assert await read_team(client, staff.headers, team_id) == before
    assert await read_team(client, staff.headers, other_id) == other
    # the document's id may be left out, or be the URL's own
    r = await client.patch(f"/api/v1/teams/{team_id}", json=doc("teams", {"name": "Renamed"}),
                           headers={**staff.headers, **JSONAPI_HEADERS})
    assert r.status_code == 200 and r.json()["data"]["attributes"]["name"] == "Renamed", r.text
    r = await patch_team(client, staff.headers, team_id, {"name": "Renamed again"})
    assert r.status_code == 200 and r.json()["data"]["attributes"]["name"] == "Renamed again", r.text


async def test_patch_slug_conflict_changes_nothing(client):
    staff = await register(client)
    taken = "taken-" + uuid.uuid4().hex[:8]
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "Holder", "slug": taken}),
                          headers={**staff.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    other = await register(client)
    team_id = await create_team(client, other, unique_name())
    before = await read_team(client, other.headers, team_id)

    # A valid new name together with a taken slug: the whole request fails, the name stays.
    r = await patch_team(client, other.headers, team_id, {"name": "Should Not Stick", "slug": taken})
    assert_error(r, 409, "slug_taken", "/data/attributes/slug")
    assert await read_team(client, other.headers, team_id) == before


@pytest.mark.parametrize("slug", ["", "Upper", "-lead", "trail-", "has space", "under_score", "dot.ted", "é", "a" * 101])
async def test_patch_invalid_slug_changes_nothing(client, slug):
    staff = await register(client)
    team_id = await create_team(client, staff, unique_name())
    before = await read_team(client, staff.headers, team_id)
    r = await patch_team(client, staff.headers, team_id, {"name": "Should Not Stick", "slug": slug})
    assert_error(r, 422, "invalid_slug", "/data/attributes/slug")
    assert await read_team(client, staff.headers, team_id) == before


async def test_patch_accepts_the_longest_slug_and_inner_hyphens(client):
    staff = await register(client)
    team_id = await create_team(client, staff, unique_name())
    for slug in ("b" * 90 + uuid.uuid4().hex[:10], "a-b--" + uuid.uuid4().hex[:8]):
        r = await patch_team(client, staff.headers, team_id, {"slug": slug})
        assert r.status_code == 200, r.text
        assert (await read_team(client, staff.headers, team_id))["attributes"]["slug"] == slug


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_patch_bad_name_changes_nothing(client, name):
    staff = await register(client)
    team_id = await create_team(client, staff, unique_name())
    before = await read_team(client, staff.headers, team_id)
    r = await patch_team(client, staff.headers, team_id, {"name": name, "slug": "fresh-" + uuid.uuid4().hex[:8]})
    assert_error(r, 422, "invalid_name", "/data/attributes/name")
    assert await read_team(client, staff.headers, team_id) == before


async def test_patch_unknown_attribute_and_wrong_type_change_nothing(client):
    staff = await register(client)
    team_id = await create_team(client, staff, unique_name())
    before = await read_team(client, staff.headers, team_id)

    r = await patch_team(client, staff.headers, team_id, {"name": "Nope", "is_personal": True})
    assert_error(r, 422, "unknown_field", "/data/attributes/is_personal")
    r = await patch_team(client, staff.headers, team_id, {"name": "Nope", "colour": "blue"})
    assert_error(r, 422, "unknown_field", "/data/attributes/colour")
    r = await patch_team(client, staff.headers, team_id, {"name": "Nope"}, type_name="team_members")
    assert_error(r, 422, "invalid_value", "/data/type")
    r = await patch_team(client, staff.headers, team_id, {"name": None})
    assert_error(r, 422, "invalid_value", "/data/attributes/name")
    r = await client.patch(f"/api/v1/teams/{team_id}", json={"data": {"type": "teams", "attributes": {"name": "Nope"},
                                                                      "extra": 1}},
                           headers={**staff.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "unknown_field", "/data/extra")

    assert await read_team(client, staff.headers, team_id) == before


# ---- delete -------------------------------------------------------------------------------------


async def test_only_an_owner_can_delete_and_a_deleted_team_is_gone_for_everyone(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    slug = (await read_team(client, owner.headers, team_id))["attributes"]["slug"]
    admin = await new_member(client, owner, team_id, "admin")
    staff = await new_member(client, owner, team_id, "staff")
    key = await create_key(client, owner, team_id, ["teams:read", "contacts:read"])
    assert (await client.get(f"/api/v1/teams/{team_id}", headers=bearer(key["secret"]))).status_code == 200

    for who in (admin, staff):
        r = await client.delete(f"/api/v1/teams/{team_id}", headers=who.headers)
        assert_error(r, 403, "insufficient_role")
    before = await read_team(client, owner.headers, team_id)
    assert before["attributes"]["slug"] == slug

    r = await client.delete(f"/api/v1/teams/{team_id}", headers=owner.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""

    for who in (owner, admin, staff):
        assert_error(await client.get(f"/api/v1/teams/{team_id}", headers=who.headers), 404, "not_found")
        assert_error(await client.get(f"/api/v1/teams/{team_id}/members", headers=who.headers), 404, "not_found")
        assert team_id not in await my_team_ids(client, who.headers)
    assert_error(await patch_team(client, owner.headers, team_id, {"name": "Zombie"}), 404, "not_found")
    assert_error(await client.delete(f"/api/v1/teams/{team_id}", headers=owner.headers), 404, "not_found")
    assert_error(await client.get(f"/api/v1/teams/{team_id}/api-keys", headers=owner.headers), 404, "not_found")
    r = await client.post(f"/api/v1/teams/{team_id}/api-keys", json={"name": "late", "scopes": ["teams:read"]},
                          headers=owner.headers)
    assert_error(r, 404, "not_found")

    # The team's API keys stop working at once.
    r = await client.get(f"/api/v1/teams/{team_id}", headers=bearer(key["secret"]))
    assert_error(r, 401, "invalid_api_key")
    assert_error(await client.get("/api/v1/teams", headers=bearer(key["secret"])), 401, "invalid_api_key")

    # The owner's other teams are untouched and the slug is free again.
    assert owner.team_id in await my_team_ids(client, owner.headers)
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "Reborn", "slug": slug}),
                          headers={**owner.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["id"] != team_id


# ---- cross-team isolation -----------------------------------------------------------------------


async def test_another_teams_resources_are_not_found_never_forbidden(client):
    a = await register(client, "alice")
    b = await register(client, "bob")
    team_b = await create_team(client, b, unique_name("Bob Co"))
    b_member = await new_member(client, b, team_b, "staff")
    b_key = await create_key(client, b, team_b, ["teams:read"])
    before = await read_team(client, b.headers, team_b)
    members_before = await member_ids(client, b.headers, team_b)

    for tid in (team_b, b.team_id):
        base = f"/api/v1/teams/{tid}"
        assert_error(await client.get(base, headers=a.headers), 404, "not_found")
        assert_error(await patch_team(client, a.headers, tid, {"name": "Pwned"}), 404, "not_found")
        assert_error(await client.delete(base, headers=a.headers), 404, "not_found")
        assert_error(await client.get(base + "/members", headers=a.headers), 404, "not_found")
        assert_error(await post_member(client, a, tid, a.email, "owner"), 404, "not_found")
        assert_error(await client.get(f"{base}/members/{user_id(b)}", headers=a.headers), 404, "not_found")
        assert_error(await client.delete(f"{base}/members/{user_id(b)}", headers=a.headers), 404, "not_found")
        assert_error(await client.get(base + "/api-keys", headers=a.headers), 404, "not_found")
        assert_error(await client.get(f"{base}/api-keys/{b_key['id']}", headers=a.headers), 404, "not_found")
        r = await client.post(base + "/api-keys", json={"name": "steal", "scopes": ["teams:read"]}, headers=a.headers)
        assert_error(r, 404, "not_found")
        assert_error(await client.delete(f"{base}/api-keys/{b_key['id']}", headers=a.headers), 404, "not_found")

    # B's key id under A's own team is not found either, and A cannot revoke it that way.
    assert_error(await client.get(f"/api/v1/teams/{a.team_id}/api-keys/{b_key['id']}", headers=a.headers),
                 404, "not_found")
    assert_error(await client.delete(f"/api/v1/teams/{a.team_id}/api-keys/{b_key['id']}", headers=a.headers),
                 404, "not_found")
    assert_error(await client.delete(f"/api/v1/teams/{a.team_id}/members/{user_id(b)}", headers=a.headers),
                 404, "not_found")

    # Nothing of B's changed, and B's key still works.
    assert await read_team(client, b.headers, team_b) == before
    assert await member_ids(client, b.headers, team_b) == members_before
    assert team_b in await my_team_ids(client, b_member.headers)
    assert team_b not in await my_team_ids(client, a.headers)
    assert (await client.get(f"/api/v1/teams/{team_b}", headers=bearer(b_key["secret"]))).status_code == 200


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-000000000000",
                                    str(uuid.uuid4()), "%20", "..%2f"])
async def test_malformed_or_unknown_team_ids_are_not_found(client, bad_id):
    a = await register(client)
    base = f"/api/v1/teams/{bad_id}"
    assert_error(await client.get(base, headers=a.headers), 404, "not_found")
    assert_error(await patch_team(client, a.headers, bad_id, {"name": "X"}), 404, "not_found")
    assert_error(await client.delete(base, headers=a.headers), 404, "not_found")
    assert_error(await client.get(base + "/members", headers=a.headers), 404, "not_found")
    assert_error(await post_member(client, a, bad_id, a.email), 404, "not_found")
    assert_error(await client.delete(f"{base}/members/{user_id(a)}", headers=a.headers), 404, "not_found")
    assert_error(await client.get(base + "/api-keys", headers=a.headers), 404, "not_found")
    r = await client.post(base + "/api-keys", json={"name": "k", "scopes": ["teams:read"]}, headers=a.headers)
    assert_error(r, 404, "not_found")
    assert_error(await client.get(f"{base}/api-keys/{uuid.uuid4()}", headers=a.headers), 404, "not_found")
    assert_error(await client.delete(f"{base}/api-keys/{uuid.uuid4()}", headers=a.headers), 404, "not_found")


async def test_an_api_key_cannot_reach_another_team(client):
    a = await register(client, "alice")
    b = await register(client, "bob")
    team_b = await create_team(client, b, unique_name())
    key = await create_key(client, a, a.team_id, ["teams:read", "contacts:write"])
    headers = bearer(key["secret"])
    assert (await client.get(f"/api/v1/teams/{a.team_id}", headers=headers)).status_code == 200
    for tid in (team_b, b.team_id, "not-a-uuid"):
        assert_error(await client.get(f"/api/v1/teams/{tid}", headers=headers), 404, "not_found")
        assert_error(await client.get(f"/api/v1/teams/{tid}/members", headers=headers), 404, "not_found")
        assert_error(await client.get(f"/api/v1/teams/{tid}/api-keys", headers=headers), 404, "not_found")
        assert_error(await client.delete(f"/api/v1/teams/{tid}", headers=headers), 404, "not_found")
    assert (await my_team_ids(client, headers)) == [a.team_id]


# ---- members ------------------------------------------------------------------------------------


async def test_add_list_read_and_remove_members(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    newcomer = await register(client, "newcomer")

    # The email is matched case-insensitively, as typed by a person.
    r = await post_member(client, owner, team_id, "  " + newcomer.email.upper() + " ", "admin")
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    data = r.json()["data"]
    assert data["type"] == "team_members"
    assert data["id"] == user_id(newcomer)
    assert data["attributes"]["user_id"] == user_id(newcomer)
    assert data["attributes"]["email"] == newcomer.email
    assert data["attributes"]["role"] == "admin"

    r = await client.get(f"/api/v1/teams/{team_id}/members", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {m["type"] for m in body["data"]} == {"team_members"}
    assert {m["id"]: m["attributes"]["role"] for m in body["data"]} == {user_id(owner): "owner", user_id(newcomer): "admin"}
    assert body["meta"]["has_more"] is False

    r = await client.get(f"/api/v1/teams/{team_id}/members/{user_id(newcomer)}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["role"] == "admin"
    assert_error(await client.get(f"/api/v1/teams/{team_id}/members/{uuid.uuid4()}", headers=owner.headers),
                 404, "not_found")
    assert_error(await client.get(f"/api/v1/teams/{team_id}/members/nope", headers=owner.headers), 404, "not_found")

    # The new member sees the team with their role.
    team = await read_team(client, newcomer.headers, team_id)
    assert team["attributes"]["role"] == "admin"
    r = await client.get("/api/v1/teams", headers=newcomer.headers)
    roles = {t["id"]: t["attributes"]["role"] for t in r.json()["data"]}
    assert roles == {newcomer.team_id: "owner", team_id: "admin"}

    r = await client.delete(f"/api/v1/teams/{team_id}/members/{user_id(newcomer)}", headers=owner.headers)
    assert r.status_code == 204, r.text
    assert await member_ids(client, owner.headers, team_id) == {user_id(owner): "owner"}
    assert_error(await client.delete(f"/api/v1/teams/{team_id}/members/{user_id(newcomer)}", headers=owner.headers),
                 404, "not_found")
    assert_error(await client.delete(f"/api/v1/teams/{team_id}/members/not-an-id", headers=owner.headers),
                 404, "not_found")


async def test_add_member_refusals_change_nothing(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    member = await new_member(client, owner, team_id, "staff")
    before = await member_ids(client, owner.headers, team_id)

    r = await post_member(client, owner, team_id, unique_email("ghost"), "staff")
    assert_error(r, 422, "user_not_found", "/data/attributes/email")
    r = await post_member(client, owner, team_id, member.email, "admin")
    assert_error(r, 409, "already_member", "/data/attributes/email")
    r = await post_member(client, owner, team_id, owner.email, "staff")
    assert_error(r, 409, "already_member", "/data/attributes/email")
    stranger = await register(client, "stranger")
    for role in ("superuser", "Owner", "", "member"):
        r = await post_member(client, owner, team_id, stranger.email, role)
        assert_error(r, 422, "invalid_role", "/data/attributes/role")
    r = await client.post(f"/api/v1/teams/{team_id}/members", json=doc("team_members", {"role": "staff"}),
                          headers={**owner.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "missing_field", "/data/attributes/email")
    r = await client.post(f"/api/v1/teams/{team_id}/members",
                          json=doc("team_members", {"email": stranger.email, "permissions": "all"}),
                          headers={**owner.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "unknown_field", "/data/attributes/permissions")
    r = await client.post(f"/api/v1/teams/{team_id}/members", json=doc("teams", {"email": stranger.email}),
                          headers={**owner.headers, **JSONAPI_HEADERS})
    assert_error(r, 422, "invalid_value", "/data/type")

    assert await member_ids(client, owner.headers, team_id) == before
    assert (await read_team(client, member.headers, team_id))["attributes"]["role"] == "staff"
    assert_error(await client.get(f"/api/v1/teams/{team_id}", headers=stranger.headers), 404, "not_found")


async def test_default_member_role_is_staff(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    user = await register(client)
    r = await client.post(f"/api/v1/teams/{team_id}/members", json=doc("team_members", {"email": user.email}),
                          headers={**owner.headers, **JSONAPI_HEADERS})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["role"] == "staff"


@pytest.mark.parametrize("role", ["staff", "moderator"])
async def test_staff_and_moderators_can_read_but_not_manage(client, role):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    user = await new_member(client, owner, team_id, role)
    key = await create_key(client, owner, team_id, ["teams:read"])
    before = await read_team(client, owner.headers, team_id)
    members_before = await member_ids(client, owner.headers, team_id)
    base = f"/api/v1/teams/{team_id}"

    team = await read_team(client, user.headers, team_id)
    assert team["attributes"]["role"] == role
    assert await member_ids(client, user.headers, team_id) == members_before

    assert_error(await patch_team(client, user.headers, team_id, {"name": "Mine now"}), 403, "insufficient_role")
    assert_error(await client.delete(base, headers=user.headers), 403, "insufficient_role")
    other = await register(client)
    assert_error(await post_member(client, user, team_id, other.email, "staff"), 403, "insufficient_role")
    assert_error(await client.delete(f"{base}/members/{user_id(owner)}", headers=user.headers), 403,
                 "insufficient_role")
    assert_error(await client.get(base + "/api-keys", headers=user.headers), 403, "insufficient_role")
    assert_error(await client.get(f"{base}/api-keys/{key['id']}", headers=user.headers), 403, "insufficient_role")
    r = await client.post(base + "/api-keys", json={"name": "mine", "scopes": ["teams:read"]}, headers=user.headers)
    assert_error(r, 403, "insufficient_role")
    assert_error(await client.delete(f"{base}/api-keys/{key['id']}", headers=user.headers), 403, "insufficient_role")

    assert await read_team(client, owner.headers, team_id) == before
    assert await member_ids(client, owner.headers, team_id) == members_before
    assert (await client.get(base, headers=bearer(key["secret"]))).status_code == 200


async def test_admin_can_manage_but_not_make_or_remove_owners(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    admin = await new_member(client, owner, team_id, "admin")
    base = f"/api/v1/teams/{team_id}"

    r = await patch_team(client, admin.headers, team_id, {"name": "Admin Renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["role"] == "admin"

    staff = await register(client, "staff")
    r = await post_member(client, admin, team_id, staff.email, "staff")
    assert r.status_code == 201, r.text
    hopeful = await register(client, "hopeful")
    assert_error(await post_member(client, admin, team_id, hopeful.email, "owner"), 403, "owner_required")
    assert_error(await client.delete(f"{base}/members/{user_id(owner)}", headers=admin.headers), 403,
                 "owner_required")
    assert await member_ids(client, owner.headers, team_id) == {
        user_id(owner): "owner", user_id(admin): "admin", user_id(staff): "staff"}

    # An admin may remove a non-owner.
    r = await client.delete(f"{base}/members/{user_id(staff)}", headers=admin.headers)
    assert r.status_code == 204, r.text
    assert_error(await client.get(base, headers=staff.headers), 404, "not_found")

    # An owner may add another owner.
    r = await post_member(client, owner, team_id, hopeful.email, "owner")
    assert r.status_code == 201, r.text
    assert (await read_team(client, hopeful.headers, team_id))["attributes"]["role"] == "owner"


async def test_the_last_owner_cannot_be_removed(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    base = f"/api/v1/teams/{team_id}"
    r = await client.delete(f"{base}/members/{user_id(owner)}", headers=owner.headers)
    assert_error(r, 409, "last_owner")
    assert await member_ids(client, owner.headers, team_id) == {user_id(owner): "owner"}

    # With a second owner, one may go; then the remaining one is the last again.
    second = await new_member(client, owner, team_id, "owner")
    r = await client.delete(f"{base}/members/{user_id(owner)}", headers=second.headers)
    assert r.status_code == 204, r.text
    assert_error(await client.get(base, headers=owner.headers), 404, "not_found")
    assert team_id not in await my_team_ids(client, owner.headers)
    r = await client.delete(f"{base}/members/{user_id(second)}", headers=second.headers)
    assert_error(r, 409, "last_owner")
    assert await member_ids(client, second.headers, team_id) == {user_id(second): "owner"}


async def test_two_owners_removing_each_other_at_once_leave_one_owner(client, app):
    # Two owners, each past the route's checks, remove each other in two transactions running at
    # once. Each counts two owners; unless the count is locked against the other's delete, both
    # deletes commit and the team has no owner left. Run on the app's loop (its pool lives there).
    first, second = await register(client, "owner"), await register(client, "owner")
    svc = app.state.services
    ids = {staff: uuid.UUID(user_id(staff)) for staff in (first, second)}

    async def context(staff: Staff, team_id: uuid.UUID) -> teams.TeamContext:
        async with svc.context() as ctx:
            principal = StaffPrincipal(user_id=ids[staff], session_id=uuid.uuid4(), email=staff.email)
            return await teams.resolve_team(ctx, principal, team_id, "members:write")

    async def remove(team: teams.TeamContext, target: Staff) -> None:
        async with svc.context() as ctx:
            await teams.remove_member(ctx, team, ids[target])

    async def race(team_id: uuid.UUID) -> list[BaseException | None]:
        ctx_first, ctx_second = await context(first, team_id), await context(second, team_id)
        assert ctx_first.role == ctx_second.role == "owner"
        return await asyncio.gather(remove(ctx_first, second), remove(ctx_second, first), return_exceptions=True)

    for _ in range(3):
        team_id = await create_team(client, first, unique_name())
        r = await post_member(client, first, team_id, second.email, "owner")
        assert r.status_code == 201, r.text
        results = client.blocking_portal.call(race, uuid.UUID(team_id))
        assert results.count(None) == 1, results  # exactly one removal went through
        error = next(x for x in results if x is not None)
        assert isinstance(error, Conflict) and error.code == "last_owner", repr(error)
        survivor = first if results[0] is None else second
        assert await member_ids(client, survivor.headers, team_id) == {user_id(survivor): "owner"}
        r = await client.delete(f"/api/v1/teams/{team_id}/members/{user_id(survivor)}", headers=survivor.headers)
        assert_error(r, 409, "last_owner")


async def test_a_removed_member_loses_access_at_once(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    admin = await new_member(client, owner, team_id, "admin")
    assert (await read_team(client, admin.headers, team_id))["attributes"]["role"] == "admin"
    r = await client.delete(f"/api/v1/teams/{team_id}/members/{user_id(admin)}", headers=owner.headers)
    assert r.status_code == 204, r.text
    base = f"/api/v1/teams/{team_id}"
    assert_error(await client.get(base, headers=admin.headers), 404, "not_found")
    assert_error(await patch_team(client, admin.headers, team_id, {"name": "Revenge"}), 404, "not_found")
    assert_error(await client.get(base + "/members", headers=admin.headers), 404, "not_found")
    assert_error(await client.get(base + "/api-keys", headers=admin.headers), 404, "not_found")
    assert team_id not in await my_team_ids(client, admin.headers)
    assert admin.team_id in await my_team_ids(client, admin.headers)


async def test_members_list_paginates(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, unique_name())
    added = [await new_member(client, owner, team_id, "staff") for _ in range(4)]
    expected = {user_id(owner)} | {user_id(m) for m in added}
    seen: list[str] = []
    url: str | None = f"/api/v1/teams/{team_id}/members?page[size]=2"
    sizes = []
    while url:
        r = await client.get(url, headers=owner.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        sizes.append(len(body["data"]))
        seen += [m["id"] for m in body["data"]]
        assert body["meta"]["has_more"] is (body["links"].get("next") is not None)
        url = body["links"].get("next")
    assert sizes == [2, 2, 1]
    assert len(seen) == len(set(seen)) and set(seen) == expected


# ---- pagination and list query validation -------------------------------------------------------


async def follow_pages(client: Any, headers: dict[str, str], url: str) -> list[dict[str, Any]]:
    pages = []
    next_url: str | None = url
    while next_url:
        r = await client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        next_url = body["links"].get("next")
        assert len(pages) < 50, "pagination does not terminate"
    return pages


async def test_teams_paginate_in_creation_order_without_gaps_or_duplicates(client):
    staff = await register(client)
    created = [staff.team_id] + [await create_team(client, staff, f"Paged {i:02d}") for i in range(24)]

    pages = await follow_pages(client, staff.headers, "/api/v1/teams?page[size]=10")
    assert [len(p["data"]) for p in pages] == [10, 10, 5]
    assert [p["meta"]["has_more"] for p in pages] == [True, True, False]
    assert "next" not in pages[-1]["links"] or pages[-1]["links"]["next"] is None
    for p in pages[:-1]:
        assert "page%5Bsize%5D=10" in p["links"]["next"] or "page[size]=10" in p["links"]["next"]
    seen = [t["id"] for p in pages for t in p["data"]]
    assert seen == created  # exactly the user's teams, each once, oldest first
    stamps = [ts(t["attributes"]["created_at"]) for p in pages for t in p["data"]]
    assert stamps == sorted(stamps)
    assert all(t["type"] == "teams" and t["attributes"]["role"] == "owner" for p in pages for t in p["data"])

    # Default page size is 20.
    r = await client.get("/api/v1/teams", headers=staff.headers)
    assert len(r.json()["data"]) == 20 and r.json()["meta"]["has_more"] is True
    # The boundaries 1 and 100 are accepted.
    r = await client.get("/api/v1/teams", params={"page[size]": "1"}, headers=staff.headers)
    assert [t["id"] for t in r.json()["data"]] == created[:1]
    r = await client.get("/api/v1/teams", params={"page[size]": "100"}, headers=staff.headers)
    assert [t["id"] for t in r.json()["data"]] == created and r.json()["meta"]["has_more"] is False


async def test_teams_created_between_page_fetches_do_not_disturb_pagination(client):
    staff = await register(client)
    existing = [staff.team_id] + [await create_team(client, staff, f"Before {i}") for i in range(11)]
    added: list[str] = []
    seen: list[str] = []
    next_url: str | None = "/api/v1/teams?page[size]=5"
    while next_url:
        r = await client.get(next_url, headers=staff.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        ids = [t["id"] for t in body["data"]]
        assert not set(ids) & set(seen), "an already-seen team came back"
        seen += ids
        next_url = body["links"].get("next")
        if len(added) < 6:  # new teams arrive while the client is paging
            added += [await create_team(client, staff, f"During {len(added)}") for _ in range(2)]
    assert seen == existing + added  # no gaps, no repeats; newcomers appear at the end, in order


@pytest.mark.parametrize("size", ["0", "101", "abc", "-1", "1.5", "1e2"])
async def test_invalid_page_size_is_refused(client, size):
    staff = await register(client)
    for path in ("/api/v1/teams", f"/api/v1/teams/{staff.team_id}/members", f"/api/v1/teams/{staff.team_id}/api-keys"):
        r = await client.get(path, params={"page[size]": size}, headers=staff.headers)
        err = assert_error(r, 422, "invalid_page_size")
        assert err["source"]["parameter"] == "page[size]"


@pytest.mark.parametrize("cursor", ["garbage", "not-a-cursor", "%%%", "AAAA"])
async def test_garbage_cursor_is_refused(client, cursor):
    staff = await register(client)
    for path in ("/api/v1/teams", f"/api/v1/teams/{staff.team_id}/members", f"/api/v1/teams/{staff.team_id}/api-keys"):
        r = await client.get(path, params={"page[after]": cursor}, headers=staff.headers)
        err = assert_error(r, 422, "invalid_cursor")
        assert err["source"]["parameter"] == "page[after]"


async def test_unknown_filters_and_parameters_are_refused(client):
    staff = await register(client)
    for path in ("/api/v1/teams", f"/api/v1/teams/{staff.team_id}/members"):
        r = await client.get(path, params={"filter[x]": "1"}, headers=staff.headers)
        err = assert_error(r, 422, "unknown_filter")
        assert err["source"]["parameter"] == "filter[x]"
        r = await client.get(path, params={"sort": "name"}, headers=staff.headers)
        err = assert_error(r, 422, "unknown_parameter")
        assert err["source"]["parameter"] == "sort"
        r = await client.get(path, params={"page[number]": "2"}, headers=staff.headers)
        err = assert_error(r, 422, "unknown_parameter")
        assert err["source"]["parameter"] == "page[number]"
