"""Team API keys: shown once, stored hashed, scoped, revocable at once, expiring by the clock."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from persistence.db import create_engine
from tests.support.api import (
    JSONAPI_HEADERS,
    Staff,
    assert_error,
    bearer,
    create_key,
    create_team,
    doc,
    register,
)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def keys_url(team_id: str, key_id: str | None = None) -> str:
    return f"/api/v1/teams/{team_id}/api-keys" + (f"/{key_id}" if key_id else "")


async def post_key(client: Any, staff: Staff, team_id: str, body: dict[str, Any]) -> Any:
    return await client.post(keys_url(team_id), json=body, headers=staff.headers)


async def list_keys(client: Any, staff: Staff, team_id: str, **params: str) -> list[dict[str, Any]]:
    r = await client.get(keys_url(team_id), params={"page[size]": "100", **params}, headers=staff.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def read_key(client: Any, staff: Staff, team_id: str, key_id: str) -> dict[str, Any]:
    r = await client.get(keys_url(team_id, key_id), headers=staff.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


# ---- create, and the secret shown once ----------------------------------------------------------


async def test_create_returns_the_secret_once(client):
    staff = await register(client)
    r = await post_key(client, staff, staff.team_id, {"name": " Zapier ", "scopes": ["teams:read", "contacts:write"]})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    key = r.json()
    secret = key["secret"]
    assert secret.startswith("hw_sk_")
    assert len(secret) >= len("hw_sk_") + 32  # enough randomness to be unguessable
    assert key["key_prefix"] == secret[:14]
    assert sorted(key["scopes"]) == ["contacts:write", "teams:read"]
    assert key["name"] == "Zapier"
    assert key["created_by"] == staff.tokens["user"]["id"]
    assert key["revoked_at"] is None and key["expires_at"] is None and key["last_used_at"] is None
    uuid.UUID(key["id"])

    # Reading it back, alone or in the list, never shows the secret again.
    one = await client.get(keys_url(staff.team_id, key["id"]), headers=staff.headers)
    assert one.status_code == 200, one.text
    assert "secret" not in one.json()
    assert secret not in one.text
    assert {k: v for k, v in key.items() if k != "secret"} == one.json()
    listed = await client.get(keys_url(staff.team_id), headers=staff.headers)
    assert listed.status_code == 200, listed.text
    assert secret not in listed.text
    assert [k["id"] for k in listed.json()["data"]] == [key["id"]]
    assert all("secret" not in k for k in listed.json()["data"])
    assert listed.json()["meta"]["has_more"] is False

    # A second key gets a different secret.
    other = await create_key(client, staff, staff.team_id, ["teams:read"])
    assert other["secret"] != secret and other["id"] != key["id"]


async def test_default_scope_and_duplicate_scopes(client):
    staff = await register(client)
    r = await post_key(client, staff, staff.team_id, {"name": "defaults"})
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["contacts:read"]
    r = await post_key(client, staff, staff.team_id, {"name": "dupes", "scopes": ["teams:read", "teams:read"]})
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["teams:read"]


async def test_the_database_never_stores_the_secret(client, database_url):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["teams:read"])
    secret = key["secret"]
    random_part = secret[len("hw_sk_"):]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT * FROM api_keys"))).mappings().all()
    finally:
        await engine.dispose()
    mine = [row for row in rows if row["key_prefix"] == key["key_prefix"]]
    assert len(mine) == 1
    row = mine[0]
    assert row["key_hash"] != secret
    assert random_part not in row["key_hash"]
    for column, value in row.items():
        assert secret not in str(value), column
        assert random_part not in str(value), column
    assert all(random_part not in str(value) for r in rows for value in r.values())


# ---- using a key --------------------------------------------------------------------------------


async def test_a_key_reads_its_team_and_records_last_use(client, clock):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["teams:read"])
    assert (await read_key(client, staff, staff.team_id, key["id"]))["last_used_at"] is None

    clock.advance(seconds=5)
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key["secret"]))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "teams" and data["id"] == staff.team_id
    assert data["attributes"]["role"] is None  # a key has scopes, not a staff role

    used = await read_key(client, staff, staff.team_id, key["id"])
    assert used["last_used_at"] is not None
    assert ts(used["last_used_at"]) > ts(key["created_at"])
    assert ts(used["last_used_at"]) <= clock.now()


async def test_a_key_without_the_routes_scope_is_forbidden(client):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["contacts:read"])
    headers = bearer(key["secret"])
    err = assert_error(await client.get(f"/api/v1/teams/{staff.team_id}", headers=headers), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "teams:read"

    reader = await create_key(client, staff, staff.team_id, ["teams:read"])
    headers = bearer(reader["secret"])
    before = (await client.get(f"/api/v1/teams/{staff.team_id}", headers=staff.headers)).json()
    r = await client.patch(f"/api/v1/teams/{staff.team_id}", json=doc("teams", {"name": "Key rename"}),
                           headers={**headers, **JSONAPI_HEADERS})
    assert_error(r, 403, "insufficient_scope")
    assert_error(await client.delete(f"/api/v1/teams/{staff.team_id}", headers=headers), 403, "insufficient_scope")
    assert_error(await client.get(f"/api/v1/teams/{staff.team_id}/members", headers=headers), 403,
                 "insufficient_scope")
    r = await client.post(f"/api/v1/teams/{staff.team_id}/members",
                          json=doc("team_members", {"email": staff.email, "role": "owner"}),
                          headers={**headers, **JSONAPI_HEADERS})
    assert_error(r, 403, "insufficient_scope")
    after = (await client.get(f"/api/v1/teams/{staff.team_id}", headers=staff.headers)).json()
    assert after == before


async def test_a_key_cannot_manage_keys(client):
    staff = await register(client)
    for scopes in (["api_keys:write"], ["api_keys:read"], ["members:read"], ["members:write"], ["teams:write"],
                   ["teams:delete"]):
        r = await post_key(client, staff, staff.team_id, {"name": "too strong", "scopes": scopes})
        assert_error(r, 422, "invalid_scope", "/scopes/0")

    key = await create_key(client, staff, staff.team_id, ["teams:read", "contacts:write"])
    headers = bearer(key["secret"])
    assert_error(await client.get(keys_url(staff.team_id), headers=headers), 403, "insufficient_scope")
    assert_error(await client.get(keys_url(staff.team_id, key["id"]), headers=headers), 403, "insufficient_scope")
    r = await client.post(keys_url(staff.team_id), json={"name": "child", "scopes": ["teams:read"]}, headers=headers)
    assert_error(r, 403, "insufficient_scope")
    assert_error(await client.delete(keys_url(staff.team_id, key["id"]), headers=headers), 403, "insufficient_scope")
    assert [k["id"] for k in await list_keys(client, staff, staff.team_id)] == [key["id"]]
    assert (await read_key(client, staff, staff.team_id, key["id"]))["revoked_at"] is None


async def test_a_key_cannot_create_teams(client):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["teams:read"])
    r = await client.post("/api/v1/teams", json=doc("teams", {"name": "By key"}),
                          headers={**bearer(key["secret"]), **JSONAPI_HEADERS})
    assert_error(r, 403, "staff_only")
    r = await client.get("/api/v1/teams", headers=staff.headers)
    assert [t["id"] for t in r.json()["data"]] == [staff.team_id]


async def test_a_key_lists_only_its_own_team(client):
    staff = await register(client)
    second = await create_team(client, staff, "Second")
    third = await create_team(client, staff, "Third")
    key = await create_key(client, staff, second, ["teams:read"])
    r = await client.get("/api/v1/teams", headers=bearer(key["secret"]))
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["data"]] == [second]
    assert r.json()["meta"]["has_more"] is False
    assert_error(await client.get(f"/api/v1/teams/{third}", headers=bearer(key["secret"])), 404, "not_found")
    assert_error(await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key["secret"])), 404, "not_found")


async def test_listing_teams_with_a_key_needs_teams_read(client):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["contacts:read"])
    assert_error(await client.get("/api/v1/teams", headers=bearer(key["secret"])), 403, "insufficient_scope")


@pytest.mark.parametrize("presented", ["hw_sk_nope", "hw_sk_", "hw_sk_" + "A" * 43])
async def test_an_unknown_key_is_unauthenticated(client, presented):
    staff = await register(client)
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(presented))
    assert_error(r, 401, "invalid_api_key")
    assert r.headers["www-authenticate"].lower().startswith("bearer")


async def test_a_prefix_alone_does_not_authenticate(client):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["teams:read"])
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key["key_prefix"]))
    assert_error(r, 401, "invalid_api_key")
    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key["secret"][:-1]))
    assert_error(r, 401, "invalid_api_key")


# ---- revoke -------------------------------------------------------------------------------------


async def test_revoke_is_immediate_and_idempotent(client, clock):
    staff = await register(client)
    key = await create_key(client, staff, staff.team_id, ["teams:read"])
    keep = await create_key(client, staff, staff.team_id, ["teams:read"])
    assert (await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key["secret"]))).status_code == 200

    r = await client.delete(keys_url(staff.team_id, key["id"]), headers=staff.headers)
    assert r.status_code == 200, r.text
    revoked = r.json()
    assert "secret" not in revoked and key["secret"] not in r.text
    assert revoked["id"] == key["id"]
    assert revoked["revoked_at"] is not None
    assert ts(revoked["revoked_at"]) >= ts(key["created_at"])

    r = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key["secret"]))
    assert_error(r, 401, "api_key_revoked")
    assert_error(await client.get("/api/v1/teams", headers=bearer(key["secret"])), 401, "api_key_revoked")

    clock.advance(seconds=120)
    again = await client.delete(keys_url(staff.team_id, key["id"]), headers=staff.headers)
    assert again.status_code == 200, again.text
    assert again.json()["revoked_at"] == revoked["revoked_at"]
    assert (await read_key(client, staff, staff.team_id, key["id"]))["revoked_at"] == revoked["revoked_at"]

    # Other keys of the team are unaffected.
    assert (await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(keep["secret"]))).status_code == 200
    assert (await read_key(client, staff, staff.team_id, keep["id"]))["revoked_at"] is None


async def test_list_filters_on_revoked(client):
    staff = await register(client)
    live = await create_key(client, staff, staff.team_id, ["teams:read"])
    dead = await create_key(client, staff, staff.team_id, ["teams:read"])
    r = await client.delete(keys_url(staff.team_id, dead["id"]), headers=staff.headers)
    assert r.status_code == 200, r.text

    assert [k["id"] for k in await list_keys(client, staff, staff.team_id)] == [live["id"], dead["id"]]
    for value in ("true", "1", "TRUE"):
        assert [k["id"] for k in await list_keys(client, staff, staff.team_id, **{"filter[revoked]": value})] == [dead["id"]]
    for value in ("false", "0"):
        assert [k["id"] for k in await list_keys(client, staff, staff.team_id, **{"filter[revoked]": value})] == [live["id"]]

    r = await client.get(keys_url(staff.team_id), params={"filter[revoked]": "maybe"}, headers=staff.headers)
    err = assert_error(r, 422, "invalid_filter")
    assert err["source"]["parameter"] == "filter[revoked]"
    r = await client.get(keys_url(staff.team_id), params={"filter[name]": "x"}, headers=staff.headers)
    err = assert_error(r, 422, "unknown_filter")
    assert err["source"]["parameter"] == "filter[name]"
    r = await client.get(keys_url(staff.team_id), params={"q": "x"}, headers=staff.headers)
    err = assert_error(r, 422, "unknown_parameter")
    assert err["source"]["parameter"] == "q"


async def test_key_list_paginates(client):
    staff = await register(client)
    created = [(await create_key(client, staff, staff.team_id, ["teams:read"]))["id"] for _ in range(5)]
    seen: list[str] = []
    sizes = []
    url: str | None = keys_url(staff.team_id) + "?page[size]=2&filter[revoked]=false"
    while url:
        r = await client.get(url, headers=staff.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        sizes.append(len(body["data"]))
        seen += [k["id"] for k in body["data"]]
        assert body["meta"]["has_more"] is (body["links"].get("next") is not None)
        url = body["links"].get("next")
    assert sizes == [2, 2, 1]
    assert seen == created


# ---- expiry -------------------------------------------------------------------------------------


async def test_expiry_must_be_in_the_future_and_have_a_timezone(client, clock):
    staff = await register(client)
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    r = await post_key(client, staff, staff.team_id, {"name": "old", "scopes": ["teams:read"], "expires_at": past})
    assert_error(r, 422, "expires_in_past", "/expires_at")
    naive = (clock.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    r = await post_key(client, staff, staff.team_id, {"name": "naive", "scopes": ["teams:read"], "expires_at": naive})
    assert_error(r, 422, "invalid_datetime", "/expires_at")
    r = await post_key(client, staff, staff.team_id, {"name": "junk", "scopes": ["teams:read"], "expires_at": "soon"})
    assert_error(r, 422, "invalid_value", "/expires_at")
    assert await list_keys(client, staff, staff.team_id) == []

    # Another timezone is fine and is reported back as the same instant.
    later = (clock.now() + timedelta(days=30)).astimezone(timezone(timedelta(hours=-5)))
    r = await post_key(client, staff, staff.team_id, {"name": "tz", "scopes": ["teams:read"],
                                                      "expires_at": later.isoformat()})
    assert r.status_code == 201, r.text
    assert ts(r.json()["expires_at"]) == later


async def test_a_key_stops_working_when_it_expires(client, clock):
    staff = await register(client)
    expires = clock.now() + timedelta(seconds=60)
    key = await create_key(client, staff, staff.team_id, ["teams:read"], expires_at=expires.isoformat())
    assert ts(key["expires_at"]) == expires
    headers = bearer(key["secret"])
    assert (await client.get(f"/api/v1/teams/{staff.team_id}", headers=headers)).status_code == 200

    clock.advance(seconds=61)
    assert_error(await client.get(f"/api/v1/teams/{staff.team_id}", headers=headers), 401, "api_key_expired")
    assert_error(await client.get("/api/v1/teams", headers=headers), 401, "api_key_expired")
    # Staff can still see the key, with its expiry.
    assert ts((await read_key(client, staff, staff.team_id, key["id"]))["expires_at"]) == expires


# ---- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "pointer"),
    [
        (["bogus"], "/scopes/0"),
        (["teams:read", "bogus"], "/scopes/1"),
        (["teams:read", "contacts:read", "nope:read"], "/scopes/2"),
        (["teams:read", "api_keys:write"], "/scopes/1"),
        (["contacts:read", "contacts:admin"], "/scopes/1"),
        (["teams:read", "Teams:Read"], "/scopes/1"),
        (["teams:read", ""], "/scopes/1"),
        ([], "/scopes"),
    ],
)
async def test_invalid_scopes_point_at_the_offending_entry(client, scopes, pointer):
    staff = await register(client)
    r = await post_key(client, staff, staff.team_id, {"name": "bad scopes", "scopes": scopes})
    assert_error(r, 422, "invalid_scope", pointer)
    assert await list_keys(client, staff, staff.team_id) == []


async def test_malformed_bodies_are_refused(client):
    staff = await register(client)
    r = await post_key(client, staff, staff.team_id, {"name": "k", "scopes": ["teams:read"], "colour": "red"})
    assert_error(r, 422, "unknown_field", "/colour")
    r = await post_key(client, staff, staff.team_id, {"name": "k", "scopes": ["teams:read"], "secret": "hw_sk_mine"})
    assert_error(r, 422, "unknown_field", "/secret")
    r = await post_key(client, staff, staff.team_id, {"scopes": ["teams:read"]})
    assert_error(r, 422, "missing_field", "/name")
    r = await post_key(client, staff, staff.team_id, {"name": "   ", "scopes": ["teams:read"]})
    assert_error(r, 422, "invalid_name", "/name")
    r = await post_key(client, staff, staff.team_id, {"name": "k", "scopes": "teams:read"})
    assert_error(r, 422, "invalid_value", "/scopes")
    r = await post_key(client, staff, staff.team_id, {"name": "k", "scopes": ["teams:read", 7]})
    assert_error(r, 422, "invalid_value", "/scopes/1")
    assert await list_keys(client, staff, staff.team_id) == []


async def test_unknown_key_ids_are_not_found(client):
    staff = await register(client)
    other = await register(client)
    foreign = await create_key(client, other, other.team_id, ["teams:read"])
    for key_id in (str(uuid.uuid4()), "nope", "00000000-0000-0000-0000-000000000000", foreign["id"]):
        assert_error(await client.get(keys_url(staff.team_id, key_id), headers=staff.headers), 404, "not_found")
        assert_error(await client.delete(keys_url(staff.team_id, key_id), headers=staff.headers), 404, "not_found")
    # The other team's key was not revoked by the attempt.
    r = await client.get(f"/api/v1/teams/{other.team_id}", headers=bearer(foreign["secret"]))
    assert r.status_code == 200, r.text
