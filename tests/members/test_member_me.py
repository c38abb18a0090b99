"""Member self-service: ``H/me`` reads and merges the member's profile and notification
preferences and shows the hub's current policies with what the member accepted;
``H/me/accept-policies`` accepts the current version only. Staff tokens and API keys never act as a
member; a banned member gets 403 ``banned``.

Runs on the shared test app; hubs, memberships and policies are set up straight through the models,
and member tokens are minted with the app's token service (the login itself is tested in
test_member_login.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.identity.members import issue_member_token
from persistence.models import HubMembership
from tests.support.api import JSONAPI_HEADERS, assert_error, bearer, create_key, doc, register
from tests.support.mailbox import AppDb, unique_email

pytest_plugins = ["tests.support.mailbox"]


def member_of(db: AppDb, hub: Any, **kw: Any) -> tuple[Any, dict[str, str]]:
    contact, membership = db.make_member(hub, unique_email("me"), **kw)
    token, _ = issue_member_token(db.services.auth.tokens, contact_id=contact.id, hub_id=hub.id)
    return membership, bearer(token)


async def patch_me(client: Any, hub: Any, headers: dict[str, str], attributes: dict[str, Any]) -> Any:
    return await client.patch(f"/api/v1/hub/{hub.id}/me", json=doc("members", attributes),
                              headers={**headers, **JSONAPI_HEADERS})


async def accept(client: Any, hub: Any, headers: dict[str, str], policy_type: Any, version: Any) -> Any:
    return await client.post(f"/api/v1/hub/{hub.id}/me/accept-policies",
                             json=doc("policy_acceptances", {"policy_type": policy_type, "version": version}),
                             headers={**headers, **JSONAPI_HEADERS})


async def test_me_shows_membership_profile_preferences_and_policies(client, app_db):
    hub = app_db.make_hub()
    app_db.set_policy(hub, "tos", 2, require_acceptance=True, content="Be kind.")
    app_db.set_policy(hub, "privacy_policy", 1, require_acceptance=False)
    membership, headers = member_of(app_db, hub, role="moderator")

    r = await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    data = r.json()["data"]
    assert data["type"] == "members" and data["id"] == str(membership.contact_id)
    a = data["attributes"]
    assert (a["contact_id"], a["membership_id"], a["role"], a["status"]) == (
        str(membership.contact_id), str(membership.id), "moderator", "active")
    assert a["profile"] == {"display_name": None, "bio": None, "avatar_media_id": None, "links": [],
                            "visibility": "everyone"}
    assert a["notification_preferences"] == {"email_digest": "weekly", "mentions": True, "replies": True,
                                             "direct_messages": True, "announcements": True}
    assert a["onboarding"] == {"state": "not_started"}
    assert [(p["policy_type"], p["version"], p["require_acceptance"], p["accepted_version"], p["accepted_current"])
            for p in a["policies"]] == [("privacy_policy", 1, False, None, False), ("tos", 2, True, None, False)]
    assert a["policies"][1]["content"] == "Be kind."


async def test_patch_me_merges_profile_and_preferences(client, app_db):
    hub = app_db.make_hub()
    _, headers = member_of(app_db, hub)

    r = await patch_me(client, hub, headers, {"profile": {"display_name": "  Ada  ", "visibility": "shared_spaces",
                                                          "links": [{"label": "Site", "url": "https://ada.example"}]},
                                              "notification_preferences": {"mentions": False}})
    assert r.status_code == 200, r.text
    r = await patch_me(client, hub, headers, {"profile": {"bio": "Potter."},
                                              "notification_preferences": {"email_digest": "off"}})
    assert r.status_code == 200, r.text

    a = (await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)).json()["data"]["attributes"]
    assert a["profile"] == {"display_name": "Ada", "bio": "Potter.", "avatar_media_id": None,
                            "links": [{"label": "Site", "url": "https://ada.example"}], "visibility": "shared_spaces"}
    assert a["notification_preferences"] == {"email_digest": "off", "mentions": False, "replies": True,
                                             "direct_messages": True, "announcements": True}

    r = await patch_me(client, hub, headers, {"profile": {"display_name": None}})  # null clears
    assert r.json()["data"]["attributes"]["profile"]["display_name"] is None
    assert r.json()["data"]["attributes"]["profile"]["bio"] == "Potter."


async def test_patch_me_validates_every_field(client, app_db):
    hub = app_db.make_hub()
    _, headers = member_of(app_db, hub)
    base = "/data/attributes"
    cases = [
        ({"notification_preferences": {"push": True}}, "unknown_field", f"{base}/notification_preferences/push"),
        ({"notification_preferences": {"mentions": "yes"}}, "invalid_value", f"{base}/notification_preferences/mentions"),
        ({"notification_preferences": {"email_digest": "hourly"}}, "invalid_value",
         f"{base}/notification_preferences/email_digest"),
        ({"profile": {"visibility": "public"}}, "invalid_value", f"{base}/profile/visibility"),
        ({"profile": {"display_name": "   "}}, "invalid_value", f"{base}/profile/display_name"),
        ({"profile": {"avatar_media_id": "nope"}}, "invalid_value", f"{base}/profile/avatar_media_id"),
        ({"profile": {"links": [{"label": "x", "url": "javascript:alert(1)"}]}}, "invalid_value",
         f"{base}/profile/links/0/url"),
        ({"profile": {"nickname": "x"}}, "unknown_field", f"{base}/profile/nickname"),
        ({"role": "admin"}, "unknown_field", f"{base}/role"),
    ]
    for attributes, code, pointer in cases:
        assert_error(await patch_me(client, hub, headers, attributes), 422, code, pointer)
    a = (await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)).json()["data"]["attributes"]
    assert a["role"] == "member" and a["profile"]["visibility"] == "everyone"  # nothing changed


async def test_accept_policies_takes_only_the_current_version(client, app_db):
    hub = app_db.make_hub()
    app_db.set_policy(hub, "tos", 3)
    _, headers = member_of(app_db, hub)

    err = assert_error(await accept(client, hub, headers, "tos", 2), 409, "stale_policy_version",
                       "/data/attributes/version")
    assert err["meta"]["current_version"] == 3
    assert_error(await accept(client, hub, headers, "cookie_policy", 1), 422, "invalid_value",
                 "/data/attributes/policy_type")
    assert_error(await accept(client, hub, headers, "privacy_policy", 1), 422, "unknown_policy",
                 "/data/attributes/policy_type")

    r = await accept(client, hub, headers, "tos", 3)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["type"] == "policy_acceptances"
    assert r.json()["data"]["attributes"]["version"] == 3
    again = await accept(client, hub, headers, "tos", 3)
    assert again.status_code == 200 and again.json()["data"]["id"] == r.json()["data"]["id"]

    [tos] = (await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)).json()["data"]["attributes"]["policies"]
    assert (tos["accepted_version"], tos["accepted_current"]) == (3, True)

    app_db.set_policy(hub, "tos", 4, content="New terms.")  # the hub changes its terms
    [tos] = (await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)).json()["data"]["attributes"]["policies"]
    assert (tos["version"], tos["accepted_version"], tos["accepted_current"]) == (4, 3, False)
    assert_error(await accept(client, hub, headers, "tos", 3), 409, "stale_policy_version")


async def test_a_banned_member_gets_403_banned_until_the_ban_expires(client, app_db):
    hub = app_db.make_hub()
    membership, headers = member_of(app_db, hub)
    assert (await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)).status_code == 200

    app_db.update(HubMembership, membership.id, status="banned", status_expires_at=app_db.services.clock.now() + timedelta(hours=1))
    assert_error(await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers), 403, "banned")
    assert_error(await patch_me(client, hub, headers, {"profile": {"bio": "x"}}), 403, "banned")
    assert_error(await accept(client, hub, headers, "tos", 1), 403, "banned")

    app_db.update(HubMembership, membership.id, status_expires_at=app_db.services.clock.now() - timedelta(seconds=1))
    r = await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["status"] == "active"

    app_db.update(HubMembership, membership.id, status="left")
    assert_error(await client.get(f"/api/v1/hub/{hub.id}/me", headers=headers), 403, "not_a_member")


async def test_only_a_member_token_for_this_hub_acts_as_the_member(client, app_db):
    hub, other = app_db.make_hub(), app_db.make_hub()
    _, headers = member_of(app_db, hub)
    staff = await register(client, "staff")
    key = await create_key(client, staff, staff.team_id, ["contacts:read"])

    assert_error(await client.get(f"/api/v1/hub/{hub.id}/me", headers=staff.headers), 401, "member_token_required")
    assert_error(await client.get(f"/api/v1/hub/{hub.id}/me", headers=bearer(key["secret"])), 401, "member_token_required")
    assert_error(await client.get(f"/api/v1/hub/{hub.id}/me"), 401, "unauthenticated")
    assert_error(await client.get(f"/api/v1/hub/{other.id}/me", headers=headers), 404, "not_found")
    assert_error(await client.get("/api/v1/hub/not-an-id/me", headers=headers), 404, "not_found")
    for path in ["/api/v1/teams", f"/api/v1/teams/{hub.team_id}", "/api/v1/auth/me"]:
        assert (await client.get(path, headers=headers)).status_code == 401, path
