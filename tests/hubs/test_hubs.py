"""Hubs: CRUD, slugs per team, deep-merged JSON objects and their bounds, redirect origins,
policies with versions, sender settings, cross-team 404 and role/scope refusals.

Every test registers its own staff users and teams, so tests are independent of each other and of
the order they run in, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

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

# ---- helpers ------------------------------------------------------------------------------------


def hubs_url(team_id: str) -> str:
    return f"/api/v1/teams/{team_id}/hubs"


def w(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, **JSONAPI_HEADERS}


async def post_hub(client: Any, headers: dict[str, str], team_id: str, **attrs: Any) -> Any:
    attrs.setdefault("name", f"Hub {uuid.uuid4().hex[:6]}")
    return await client.post(hubs_url(team_id), json=doc("hubs", attrs), headers=w(headers))


async def new_hub(client: Any, staff: Staff, team_id: str | None = None, **attrs: Any) -> dict[str, Any]:
    r = await post_hub(client, staff.headers, team_id or staff.team_id, **attrs)
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


async def patch_hub(client: Any, headers: dict[str, str], team_id: str, hub_id: str, attrs: dict[str, Any]) -> Any:
    return await client.patch(f"{hubs_url(team_id)}/{hub_id}", json=doc("hubs", attrs, id=hub_id), headers=w(headers))


async def set_policy(client: Any, staff: Staff, hub: dict[str, Any], attrs: dict[str, Any]) -> Any:
    return await client.patch(f"{hubs_url(staff.team_id)}/{hub['id']}/policies", json=doc("policies", attrs),
                              headers=w(staff.headers))


async def add_staff(client: Any, owner: Staff, team_id: str, role: str) -> Staff:
    other = await register(client, role)
    r = await client.post(f"/api/v1/teams/{team_id}/members", json=doc("team_members", {"email": other.email, "role": role}),
                          headers=w(owner.headers))
    assert r.status_code == 201, r.text
    return other


# ---- CRUD -----------------------------------------------------------------------------------------


async def test_create_read_list_update_delete(client):
    staff = await register(client)
    r = await post_hub(client, staff.headers, staff.team_id, name="  Creator Lab Members  ")
    assert r.status_code == 201, r.text
    hub = r.json()["data"]
    assert hub["type"] == "hubs"
    assert r.headers["location"] == f"{hubs_url(staff.team_id)}/{hub['id']}"
    a = hub["attributes"]
    assert a["name"] == "Creator Lab Members"
    assert a["slug"] == "creator-lab-members"
    assert a["description"] is None and a["is_private"] is False
    assert a["branding"] == a["navigation"] == a["settings"] == a["meta"] == {}
    assert a["allowed_redirect_origins"] == []
    assert hub["links"]["self"] == f"{hubs_url(staff.team_id)}/{hub['id']}"

    got = await client.get(f"{hubs_url(staff.team_id)}/{hub['id']}", headers=staff.headers)
    assert got.status_code == 200 and got.json()["data"] == hub

    second = await new_hub(client, staff, name="Second", is_private=True, description="Paid", slug="second-one")
    listing = await client.get(hubs_url(staff.team_id), headers=staff.headers)
    assert listing.status_code == 200
    assert [h["id"] for h in listing.json()["data"]] == [hub["id"], second["id"]]
    by_slug = await client.get(hubs_url(staff.team_id), params={"filter[slug]": "second-one"}, headers=staff.headers)
    assert [h["id"] for h in by_slug.json()["data"]] == [second["id"]]

    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"name": "Renamed", "description": "About",
                                                                          "is_private": True})
    assert r.status_code == 200, r.text
    a2 = r.json()["data"]["attributes"]
    assert (a2["name"], a2["description"], a2["is_private"], a2["slug"]) == ("Renamed", "About", True,
                                                                              "creator-lab-members")
    assert a2["updated_at"] >= a["updated_at"] and a2["created_at"] == a["created_at"]
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"description": None})
    assert r.json()["data"]["attributes"]["description"] is None

    r = await client.delete(f"{hubs_url(staff.team_id)}/{hub['id']}", headers=staff.headers)
    assert r.status_code == 204
    for method in ("GET", "DELETE"):
        assert_error(await client.request(method, f"{hubs_url(staff.team_id)}/{hub['id']}", headers=staff.headers),
                     404, "not_found")
    assert_error(await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"name": "x"}), 404, "not_found")
    assert_error(await client.get(f"{hubs_url(staff.team_id)}/{hub['id']}/policies", headers=staff.headers),
                 404, "not_found")
    listing = await client.get(hubs_url(staff.team_id), headers=staff.headers)
    assert [h["id"] for h in listing.json()["data"]] == [second["id"]]
    # the deleted hub's slug is free again
    again = await new_hub(client, staff, name="Creator Lab Members")
    assert again["attributes"]["slug"] == "creator-lab-members"


async def test_list_pages_through_hubs(client):
    staff = await register(client)
    ids = [(await new_hub(client, staff))["id"] for _ in range(5)]
    seen: list[str] = []
    url: str | None = hubs_url(staff.team_id) + "?page[size]=2"
    while url:
        r = await client.get(url, headers=staff.headers)
        assert r.status_code == 200, r.text
        seen += [h["id"] for h in r.json()["data"]]
        url = r.json()["links"].get("next")
        assert r.json()["meta"]["has_more"] == bool(url)
    assert seen == ids


async def test_create_validation(client):
    staff = await register(client)
    assert_error(await post_hub(client, staff.headers, staff.team_id, name="   "), 422, "invalid_name",
                 "/data/attributes/name")
    assert_error(await post_hub(client, staff.headers, staff.team_id, name="x" * 201), 422, "invalid_name",
                 "/data/attributes/name")
    assert_error(await post_hub(client, staff.headers, staff.team_id, slug="Not A Slug"), 422, "invalid_slug",
                 "/data/attributes/slug")
    assert_error(await post_hub(client, staff.headers, staff.team_id, description="x" * 5001), 422, "too_long",
                 "/data/attributes/description")
    assert_error(await post_hub(client, staff.headers, staff.team_id, colour="red"), 422, "unknown_field")
    r = await client.post(hubs_url(staff.team_id), json=doc("hubs", {}), headers=w(staff.headers))
    assert_error(r, 422, "missing_field", "/data/attributes/name")
    r = await client.post(hubs_url(staff.team_id), json=doc("teams", {"name": "x"}), headers=w(staff.headers))
    assert_error(r, 422, "invalid_value", "/data/type")
    # a name with no usable characters still gets a slug
    odd = await new_hub(client, staff, name="!!!")
    assert odd["attributes"]["slug"].startswith("hub")


# ---- slugs ----------------------------------------------------------------------------------------


async def test_slug_unique_per_team_and_free_across_teams(client):
    a = await register(client, "a")
    b = await register(client, "b")
    first = await new_hub(client, a, name="Same Name")
    second = await new_hub(client, a, name="Same Name")  # generated slugs never collide
    assert first["attributes"]["slug"] == "same-name"
    assert second["attributes"]["slug"].startswith("same-name-") and second["attributes"]["slug"] != "same-name"

    assert_error(await post_hub(client, a.headers, a.team_id, slug="same-name"), 409, "slug_taken",
                 "/data/attributes/slug")
    assert_error(await patch_hub(client, a.headers, a.team_id, second["id"], {"slug": "same-name"}), 409, "slug_taken",
                 "/data/attributes/slug")
    # the failed PATCH changed nothing
    r = await client.get(f"{hubs_url(a.team_id)}/{second['id']}", headers=a.headers)
    assert r.json()["data"]["attributes"]["slug"] == second["attributes"]["slug"]
    # PATCH to its own slug is no conflict
    r = await patch_hub(client, a.headers, a.team_id, first["id"], {"slug": "same-name"})
    assert r.status_code == 200, r.text

    # another team may use the same slug
    other = await new_hub(client, b, name="Other", slug="same-name")
    assert other["attributes"]["slug"] == "same-name"
    # and a second team of the same user is a different namespace too
    team2 = await create_team(client, a, "Second team")
    r = await post_hub(client, a.headers, team2, slug="same-name")
    assert r.status_code == 201, r.text


# ---- JSON objects ---------------------------------------------------------------------------------


async def test_patch_deep_merges_json_objects(client):
    staff = await register(client)
    hub = await new_hub(client, staff, branding={
        "colors": {"primary": "#111111", "accent": "#222222", "text": {"light": "#fff", "dark": "#000"}},
        "logo": "a.png", "fonts": ["Inter", "Lora"], "dropped": None,
    }, settings={"locale": "en"})
    assert hub["attributes"]["branding"] == {
        "colors": {"primary": "#111111", "accent": "#222222", "text": {"light": "#fff", "dark": "#000"}},
        "logo": "a.png", "fonts": ["Inter", "Lora"],
    }
    url = f"{hubs_url(staff.team_id)}/{hub['id']}"

    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"branding": {
        "colors": {"primary": "#333333", "accent": None, "text": {"dark": "#0a0a0a"}},
        "fonts": ["Mono"],                      # arrays replace
        "favicon": {"src": "f.ico", "size": None},  # nulls inside a new object are dropped too
        "missing": None,                         # deleting an absent key is fine
    }})
    assert r.status_code == 200, r.text
    expected = {
        "colors": {"primary": "#333333", "text": {"light": "#fff", "dark": "#0a0a0a"}},
        "logo": "a.png", "fonts": ["Mono"], "favicon": {"src": "f.ico"},
    }
    assert r.json()["data"]["attributes"]["branding"] == expected
    stored = (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]
    assert stored["branding"] == expected
    assert stored["settings"] == {"locale": "en"}  # objects not sent are untouched

    # a scalar replaces an object and an object replaces a scalar
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"branding": {"colors": "default"}})
    assert r.json()["data"]["attributes"]["branding"]["colors"] == "default"
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"branding": {"colors": {"primary": "#444"}}})
    assert r.json()["data"]["attributes"]["branding"]["colors"] == {"primary": "#444"}

    # several objects in one PATCH, and an empty patch that changes nothing
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {
        "navigation": {"items": [{"label": "Home", "href": "/"}]}, "meta": {"title": "T"}, "settings": {}})
    a = r.json()["data"]["attributes"]
    assert a["navigation"] == {"items": [{"label": "Home", "href": "/"}]}
    assert a["meta"] == {"title": "T"} and a["settings"] == {"locale": "en"}

    # null for the whole object empties it
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"branding": None})
    assert r.json()["data"]["attributes"]["branding"] == {}
    stored = (await client.get(url, headers=staff.headers)).json()["data"]["attributes"]
    assert stored["branding"] == {} and stored["meta"] == {"title": "T"}


async def test_json_objects_are_bounded(client):
    staff = await register(client)
    big = {"blob": "x" * (64 * 1024)}
    assert_error(await post_hub(client, staff.headers, staff.team_id, meta=big), 422, "too_large", "/data/attributes/meta")
    hub = await new_hub(client, staff)
    half = "y" * (40 * 1024)
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"settings": {"a": half}})
    assert r.status_code == 200, r.text
    # each patch is small enough; together they are not
    assert_error(await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"settings": {"b": half}}),
                 422, "too_large", "/data/attributes/settings")
    r = await client.get(f"{hubs_url(staff.team_id)}/{hub['id']}", headers=staff.headers)
    assert set(r.json()["data"]["attributes"]["settings"]) == {"a"}

    deep: dict[str, Any] = {}
    node = deep
    for _ in range(30):
        node["n"] = {}
        node = node["n"]
    assert_error(await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"branding": deep}), 422, "too_deep",
                 "/data/attributes/branding")
    assert_error(await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"branding": ["not", "an", "object"]}),
                 422, "invalid_value", "/data/attributes/branding")


# ---- redirect origins -----------------------------------------------------------------------------


async def test_allowed_redirect_origins_are_normalized(client):
    staff = await register(client)
    hub = await new_hub(client, staff, allowed_redirect_origins=[
        "https://Example.COM/", "http://localhost:8080", "https://example.com", "https://[::1]:8443", "https://bücher.de",
    ])
    assert hub["attributes"]["allowed_redirect_origins"] == [
        "https://example.com", "http://localhost:8080", "https://[::1]:8443", "https://xn--bcher-kva.de",
    ]
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"allowed_redirect_origins": ["https://app.test"]})
    assert r.json()["data"]["attributes"]["allowed_redirect_origins"] == ["https://app.test"]  # replaced, not merged
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"allowed_redirect_origins": []})
    assert r.json()["data"]["attributes"]["allowed_redirect_origins"] == []


@pytest.mark.parametrize("bad", [
    "ftp://example.com", "https://example.com/path", "https://example.com/?next=1", "https://example.com#top",
    "example.com", "https://", "https://user:pw@example.com", "https://example.com:99999", "javascript:alert(1)",
    "https://exa mple.com", "https://*.example.com", "https://-bad-.com", "",
])
async def test_invalid_redirect_origin_is_422_with_its_index(client, bad):
    staff = await register(client)
    r = await post_hub(client, staff.headers, staff.team_id, allowed_redirect_origins=["https://ok.test", bad])
    assert_error(r, 422, "invalid_origin", "/data/attributes/allowed_redirect_origins/1")
    hub = await new_hub(client, staff)
    r = await patch_hub(client, staff.headers, staff.team_id, hub["id"], {"allowed_redirect_origins": [bad]})
    assert_error(r, 422, "invalid_origin", "/data/attributes/allowed_redirect_origins/0")


async def test_too_many_origins(client):
    staff = await register(client)
    r = await post_hub(client, staff.headers, staff.team_id,
                       allowed_redirect_origins=[f"https://h{i}.test" for i in range(51)])
    assert_error(r, 422, "too_many_origins", "/data/attributes/allowed_redirect_origins")


# ---- policies -------------------------------------------------------------------------------------


async def test_policy_versions(client):
    staff = await register(client)
    hub = await new_hub(client, staff)
    base = f"{hubs_url(staff.team_id)}/{hub['id']}/policies"
    r = await client.get(base, headers=staff.headers)
    assert r.status_code == 200 and r.json()["data"] == []

    r = await set_policy(client, staff, hub, {"policy_type": "tos", "content": "Be kind."})
    assert r.status_code == 200, r.text
    tos = r.json()["data"]
    assert tos["type"] == "policies"
    assert (tos["attributes"]["version"], tos["attributes"]["content"], tos["attributes"]["require_acceptance"]) == (
        1, "Be kind.", False)

    r = await set_policy(client, staff, hub, {"policy_type": "tos", "content": "Be kind."})  # same content
    assert r.json()["data"]["attributes"]["version"] == 1
    r = await set_policy(client, staff, hub, {"policy_type": "tos", "content": "Be kind. No spam."})
    assert r.json()["data"]["attributes"]["version"] == 2
    assert r.json()["data"]["id"] == tos["id"]
    r = await set_policy(client, staff, hub, {"policy_type": "tos", "require_acceptance": True})
    assert (r.json()["data"]["attributes"]["version"], r.json()["data"]["attributes"]["require_acceptance"]) == (2, True)
    r = await set_policy(client, staff, hub, {"policy_type": "tos", "content": "Be kind. No spam.",
                                              "require_acceptance": False})
    assert (r.json()["data"]["attributes"]["version"], r.json()["data"]["attributes"]["require_acceptance"]) == (2, False)

    r = await set_policy(client, staff, hub, {"policy_type": "privacy_policy", "content": "We keep your email.",
                                              "require_acceptance": True})
    assert r.json()["data"]["attributes"]["version"] == 1

    listing = (await client.get(base, headers=staff.headers)).json()["data"]
    assert [(p["attributes"]["policy_type"], p["attributes"]["version"]) for p in listing] == [
        ("privacy_policy", 1), ("tos", 2)]
    versions = await client.get(f"{base}/tos/versions", headers=staff.headers)
    assert versions.status_code == 200, versions.text
    assert [(v["attributes"]["version"], v["attributes"]["content"]) for v in versions.json()["data"]] == [
        (1, "Be kind."), (2, "Be kind. No spam.")]

    # another hub's policies are its own
    other = await new_hub(client, staff)
    r = await client.get(f"{hubs_url(staff.team_id)}/{other['id']}/policies", headers=staff.headers)
    assert r.json()["data"] == []


async def test_policy_patch_with_a_data_id_must_name_the_current_policy(client):
    # The URL names a policy by the type in the body; a data.id, when sent, must be that policy's id.
    staff = await register(client)
    hub = await new_hub(client, staff)
    base = f"{hubs_url(staff.team_id)}/{hub['id']}/policies"

    async def put(attrs: dict[str, Any], id: str | None) -> Any:
        return await client.patch(base, json=doc("policies", attrs, id=id), headers=w(staff.headers))

    tos = (await set_policy(client, staff, hub, {"policy_type": "tos", "content": "Be kind."})).json()["data"]
    privacy = (await set_policy(client, staff, hub, {"policy_type": "privacy_policy", "content": "Kept."})).json()["data"]
    listing = (await client.get(base, headers=staff.headers)).json()["data"]
    assert_error(await put({"policy_type": "tos", "content": "New terms"}, privacy["id"]), 409, "id_mismatch", "/data/id")
    assert_error(await put({"policy_type": "tos", "content": "New terms"}, str(uuid.uuid4())), 409, "id_mismatch",
                 "/data/id")
    assert (await client.get(base, headers=staff.headers)).json()["data"] == listing
    r = await put({"policy_type": "tos", "content": "New terms"}, tos["id"])
    assert r.status_code == 200 and r.json()["data"]["attributes"]["version"] == 2, r.text

    # no policy of the type yet: no id can name it, and nothing is created
    other = await new_hub(client, staff)
    other_base = f"{hubs_url(staff.team_id)}/{other['id']}/policies"
    r = await client.patch(other_base, json=doc("policies", {"policy_type": "tos", "content": "x"}, id=tos["id"]),
                           headers=w(staff.headers))
    assert_error(r, 409, "id_mismatch", "/data/id")
    assert (await client.get(other_base, headers=staff.headers)).json()["data"] == []


async def test_policy_validation(client):
    staff = await register(client)
    hub = await new_hub(client, staff)
    assert_error(await set_policy(client, staff, hub, {"policy_type": "cookies", "content": "x"}), 422,
                 "invalid_policy_type", "/data/attributes/policy_type")
    assert_error(await set_policy(client, staff, hub, {"policy_type": "tos"}), 422, "missing_field",
                 "/data/attributes/content")
    assert_error(await set_policy(client, staff, hub, {"policy_type": "tos", "content": "   "}), 422,
                 "invalid_content", "/data/attributes/content")
    assert_error(await set_policy(client, staff, hub, {"content": "x"}), 422, "missing_field",
                 "/data/attributes/policy_type")
    assert_error(await set_policy(client, staff, hub, {"policy_type": "tos", "content": "x" * 200_001}), 422,
                 "too_long", "/data/attributes/content")
    r = await client.get(f"{hubs_url(staff.team_id)}/{hub['id']}/policies/cookies/versions", headers=staff.headers)
    assert_error(r, 422, "invalid_policy_type")


# ---- email settings -------------------------------------------------------------------------------


async def test_email_settings(client):
    staff = await register(client)
    hub = await new_hub(client, staff)
    url = f"{hubs_url(staff.team_id)}/{hub['id']}/email-settings"
    r = await client.get(url, headers=staff.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "hub_email_senders" and data["id"] == hub["id"]
    assert (data["attributes"]["from_name"], data["attributes"]["from_email"], data["attributes"]["reply_to"]) == (
        None, None, None)

    r = await client.patch(url, json=doc("hub_email_senders", {
        "from_name": "Creator Lab", "from_email": "Hello@Creator.TEST", "reply_to": "help@creator.test"}),
        headers=w(staff.headers))
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["from_name"], a["from_email"], a["reply_to"]) == ("Creator Lab", "hello@creator.test", "help@creator.test")

    r = await client.patch(url, json=doc("hub_email_senders", {"reply_to": None}), headers=w(staff.headers))
    a = r.json()["data"]["attributes"]
    assert (a["from_name"], a["from_email"], a["reply_to"]) == ("Creator Lab", "hello@creator.test", None)
    assert (await client.get(url, headers=staff.headers)).json()["data"]["attributes"] == a

    for attrs, code, pointer in [
        ({"from_email": "not-an-email"}, "invalid_email", "/data/attributes/from_email"),
        ({"reply_to": "a@b"}, "invalid_email", "/data/attributes/reply_to"),
        ({"from_name": "Evil\r\nBcc: all@victims.test"}, "invalid_from_name", "/data/attributes/from_name"),
        ({"from_name": "x" * 201}, "invalid_from_name", "/data/attributes/from_name"),
        ({"signature": "x"}, "unknown_field", None),
    ]:
        r = await client.patch(url, json=doc("hub_email_senders", attrs), headers=w(staff.headers))
        assert_error(r, 422, code, pointer)
    assert (await client.get(url, headers=staff.headers)).json()["data"]["attributes"] == a


async def test_patch_with_another_hubs_id_is_409_and_changes_nothing(client):
    staff = await register(client)
    hub, other = await new_hub(client, staff), await new_hub(client, staff)
    base, other_url = f"{hubs_url(staff.team_id)}/{hub['id']}", f"{hubs_url(staff.team_id)}/{other['id']}"
    for url, type_name, attrs in [(base, "hubs", {"name": "Renamed"}),
                                  (f"{base}/email-settings", "hub_email_senders", {"from_name": "Renamed"})]:
        before = (await client.get(url, headers=staff.headers)).json()["data"]
        r = await client.patch(url, json=doc(type_name, attrs, id=other["id"]), headers=w(staff.headers))
        assert_error(r, 409, "id_mismatch", "/data/id")
        assert (await client.get(url, headers=staff.headers)).json()["data"] == before
        for id in (hub["id"], None):  # the URL's own id, or none
            r = await client.patch(url, json=doc(type_name, attrs, id=id), headers=w(staff.headers))
            assert r.status_code == 200, r.text
    assert (await client.get(other_url, headers=staff.headers)).json()["data"]["attributes"]["name"] == other[
        "attributes"]["name"]


# ---- isolation, roles and scopes ------------------------------------------------------------------


def hub_routes(team_id: str, hub_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"{hubs_url(team_id)}/{hub_id}"
    return [
        ("GET", base, None),
        ("PATCH", base, doc("hubs", {"name": "Stolen"})),
        ("DELETE", base, None),
        ("GET", f"{base}/policies", None),
        ("PATCH", f"{base}/policies", doc("policies", {"policy_type": "tos", "content": "Mine now"})),
        ("GET", f"{base}/policies/tos/versions", None),
        ("GET", f"{base}/email-settings", None),
        ("PATCH", f"{base}/email-settings", doc("hub_email_senders", {"from_name": "Thief"})),
    ]


async def test_another_teams_hub_is_404_on_every_route(client):
    owner = await register(client, "owner")
    intruder = await register(client, "intruder")
    hub = await new_hub(client, owner, name="Private Hub")
    key = await create_key(client, intruder, intruder.team_id, ["hubs:write"])
    for headers, team_id in [
        (intruder.headers, owner.team_id),               # not their team
        (intruder.headers, intruder.team_id),            # their team, someone else's hub
        (bearer(key["secret"]), intruder.team_id),       # their key, someone else's hub
        (bearer(key["secret"]), owner.team_id),
    ]:
        for method, url, body in hub_routes(team_id, hub["id"]):
            r = await client.request(method, url, json=body, headers=w(headers) if body else headers)
            assert_error(r, 404, "not_found")
    for bad in (str(uuid.uuid4()), "not-an-id"):
        for method, url, body in hub_routes(owner.team_id, bad):
            r = await client.request(method, url, json=body, headers=w(owner.headers) if body else owner.headers)
            assert_error(r, 404, "not_found")
    # nothing changed
    r = await client.get(f"{hubs_url(owner.team_id)}/{hub['id']}", headers=owner.headers)
    assert r.json()["data"]["attributes"]["name"] == "Private Hub"
    r = await client.get(f"{hubs_url(owner.team_id)}/{hub['id']}/policies", headers=owner.headers)
    assert r.json()["data"] == []
    listing = await client.get(hubs_url(intruder.team_id), headers=intruder.headers)
    assert hub["id"] not in [h["id"] for h in listing.json()["data"]]


async def test_roles_staff_can_edit_moderator_only_reads(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, "Roles")
    staff = await add_staff(client, owner, team_id, "staff")
    moderator = await add_staff(client, owner, team_id, "moderator")

    r = await post_hub(client, staff.headers, team_id, name="By staff")
    assert r.status_code == 201, r.text
    hub_id = r.json()["data"]["id"]
    r = await patch_hub(client, staff.headers, team_id, hub_id, {"meta": {"by": "staff"}})
    assert r.status_code == 200, r.text

    assert (await client.get(hubs_url(team_id), headers=moderator.headers)).status_code == 200
    assert (await client.get(f"{hubs_url(team_id)}/{hub_id}", headers=moderator.headers)).status_code == 200
    assert (await client.get(f"{hubs_url(team_id)}/{hub_id}/email-settings", headers=moderator.headers)).status_code == 200
    err = assert_error(await post_hub(client, moderator.headers, team_id), 403, "insufficient_role")
    assert err["meta"]["required_scope"] == "hubs:write"
    for method, url, body in hub_routes(team_id, hub_id):
        if method == "GET":
            continue
        r = await client.request(method, url, json=body, headers=w(moderator.headers) if body else moderator.headers)
        assert_error(r, 403, "insufficient_role")
    r = await client.get(f"{hubs_url(team_id)}/{hub_id}", headers=owner.headers)
    assert r.json()["data"]["attributes"]["name"] == "By staff"


async def test_api_key_scopes(client):
    owner = await register(client)
    hub = await new_hub(client, owner)
    reader = await create_key(client, owner, owner.team_id, ["hubs:read"])
    writer = await create_key(client, owner, owner.team_id, ["hubs:write"])
    unrelated = await create_key(client, owner, owner.team_id, ["contacts:write"])

    assert (await client.get(hubs_url(owner.team_id), headers=bearer(reader["secret"]))).status_code == 200
    err = assert_error(await post_hub(client, bearer(reader["secret"]), owner.team_id), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "hubs:write"
    assert_error(await client.get(hubs_url(owner.team_id), headers=bearer(unrelated["secret"])), 403,
                 "insufficient_scope")
    r = await post_hub(client, bearer(writer["secret"]), owner.team_id)
    assert r.status_code == 201, r.text
    r = await client.delete(f"{hubs_url(owner.team_id)}/{hub['id']}", headers=bearer(writer["secret"]))
    assert r.status_code == 204
    assert_error(await client.get(hubs_url(owner.team_id)), 401, "unauthenticated")


async def test_hub_routes_are_in_the_openapi_schema(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/api/v1/teams/{team_id}/hubs", "/api/v1/teams/{team_id}/hubs/{hub_id}",
                 "/api/v1/teams/{team_id}/hubs/{hub_id}/policies",
                 "/api/v1/teams/{team_id}/hubs/{hub_id}/email-settings",
                 "/api/v1/teams/{team_id}/hubs/{hub_id}/memberships",
                 "/api/v1/teams/{team_id}/hubs/{hub_id}/memberships/{contact_id}/ban",
                 "/api/v1/teams/{team_id}/hubs/{hub_id}/member-tokens"):
        assert path in paths, sorted(p for p in paths if "hubs" in p)
