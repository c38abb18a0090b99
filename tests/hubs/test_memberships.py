"""Hub memberships: adding contacts, reading and filtering, roles and preferences, moderation with
its audit trail and events, member tokens, and what a ban does to a member's token at once.

Member-side checks go through ``GET /api/v1/hub/{hub_id}/me`` when that route exists, and always
through ``domain.identity.members.authenticate_member`` (what every member route depends on), so
the same answers are required of both.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from domain.clock import FrozenClock
from domain.context import Ctx
from domain.errors import DomainError
from domain.identity.members import authenticate_member
from persistence.ids import parse_id
from persistence.models import HubMembership, MembershipAction, PolicyAcceptance, TeamContact
from server.errors import STATUS_BY_KIND
from tests.support.api import (
    PASSWORD,
    Staff,
    add_staff,
    assert_error,
    bearer,
    create_key,
    create_team,
    doc,
    register,
    unique_email,
    user_id,
    w,
)
from tests.support.app import Listener, db_rows, db_write, in_app
from tests.support.hubs import Hub, act, add, join, mint, new_hub

MEMBER_ME = "/api/v1/hub/{hub_id:str}/me"


# ---- helpers ------------------------------------------------------------------------------------


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def relogin(client: Any, staff: Staff) -> None:
    """A fresh staff access token (after the clock moved past the old one's 15 minutes)."""
    r = await client.post("/api/v1/auth/login", json={"email": staff.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    staff.tokens = r.json()


def has_member_route(app: Any) -> bool:
    return any(route.path == MEMBER_ME for route in app.routes)


async def as_member(app: Any, client: Any, clock: Any, token: str, hub_id: str,
                    at: datetime | None = None, same_code: bool = True) -> tuple[int, str | None]:
    """(status, error code) of a member acting in ``hub_id`` with ``token``: asked of
    authenticate_member directly (at ``at``, default now) and, when it exists and ``at`` is not
    given, of ``GET H/me`` too, which must agree."""
    svc = app.state.services

    async def direct() -> tuple[int, str | None]:
        async with svc.uow() as uow:
            try:
                ctx = Ctx(uow, FrozenClock(at or clock.now()), svc.access_cache, svc.limiter)
                await authenticate_member(ctx, token, parse_id(hub_id), tokens=svc.auth.tokens)
                return 200, None
            except DomainError as exc:
                return STATUS_BY_KIND[exc.kind], exc.code

    answer: tuple[int, str | None] = in_app(client, direct)
    if at is None and has_member_route(app):
        r = await client.get(f"/api/v1/hub/{hub_id}/me", headers=bearer(token))
        via_http = (r.status_code, None if r.status_code == 200 else r.json()["errors"][0]["code"])
        assert via_http == answer if same_code else via_http[0] == answer[0], (via_http, answer, r.text)
    return answer


# ---- adding members -------------------------------------------------------------------------------


async def test_add_by_email_creates_contact_and_team_contact(client, app):
    staff = await register(client)
    hub = await new_hub(client, staff)
    email = unique_email("Fan")
    r = await add(client, staff.headers, hub, email=email.upper())
    assert r.status_code == 201, r.text
    m = r.json()["data"]
    assert m["type"] == "hub_memberships"
    a = m["attributes"]
    contact_id = a["contact_id"]
    assert r.headers["location"] == hub.m(contact_id) == m["links"]["self"]
    assert a["email"] == email.lower()
    assert (a["hub_id"], a["role"], a["status"], a["status_reason"], a["status_expires_at"]) == (
        hub.id, "member", "active", None, None)
    assert a["onboarding"] == {"state": "not_started"}
    assert a["notification_preferences"]["mentions"] is True
    assert a["policy_acceptances"] == {} and a["left_at"] is None
    assert ts(a["joined_at"]) <= datetime.now(timezone.utc) + timedelta(seconds=5)

    rows = db_rows(client, app, sa.select(TeamContact).where(TeamContact.contact_id == uuid.UUID(contact_id)))
    assert [(str(t.team_id), t.source) for t in rows] == [(staff.team_id, "hub_membership")]

    # adding again answers the same membership, unchanged, with 200
    again = await add(client, staff.headers, hub, email=email, role="admin")
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == m["id"] and again.json()["data"]["attributes"]["role"] == "member"
    same = await add(client, staff.headers, hub, contact_id=contact_id)
    assert same.status_code == 200 and same.json()["data"]["id"] == m["id"]

    # the same contact joins a second hub of the team by contact id, with a role
    other = await new_hub(client, staff)
    r = await add(client, staff.headers, other, contact_id=contact_id, role="moderator")
    assert r.status_code == 201, r.text
    assert (r.json()["data"]["attributes"]["contact_id"], r.json()["data"]["attributes"]["role"]) == (contact_id, "moderator")
    r = await client.get(hub.m(contact_id), headers=staff.headers)
    assert r.status_code == 200 and r.json()["data"]["id"] == m["id"]


async def test_add_refuses_contacts_outside_the_team(client, app):
    staff = await register(client)
    other_team = await register(client, "other")
    hub = await new_hub(client, staff)
    foreign = await join(client, other_team, await new_hub(client, other_team))
    foreign_id = foreign["attributes"]["contact_id"]

    for contact_id in (foreign_id, str(uuid.uuid4()), "not-an-id"):
        assert_error(await add(client, staff.headers, hub, contact_id=contact_id), 422, "unknown_contact",
                     "/data/attributes/contact_id")

    # a soft-deleted team contact is no contact of the team
    mine = await join(client, staff, await new_hub(client, staff))
    db_write(client, app, sa.update(TeamContact).where(
        TeamContact.contact_id == uuid.UUID(mine["attributes"]["contact_id"]),
        TeamContact.team_id == uuid.UUID(staff.team_id)).values(deleted_at=datetime.now(timezone.utc)))
    assert_error(await add(client, staff.headers, hub, contact_id=mine["attributes"]["contact_id"]), 422,
                 "unknown_contact", "/data/attributes/contact_id")
    assert_error(await add(client, staff.headers, hub, email=mine["attributes"]["email"]), 422, "contact_deleted",
                 "/data/attributes/email")

    assert_error(await add(client, staff.headers, hub), 422, "missing_field", "/data/attributes/contact_id")
    assert_error(await add(client, staff.headers, hub, contact_id=foreign_id, email=unique_email()), 422,
                 "ambiguous_contact", "/data/attributes/contact_id")
    assert_error(await add(client, staff.headers, hub, email="nope"), 422, "invalid_email", "/data/attributes/email")
    assert_error(await add(client, staff.headers, hub, email=unique_email(), role="owner"), 422, "invalid_role",
                 "/data/attributes/role")
    r = await client.get(hub.m(), headers=staff.headers)
    assert r.json()["data"] == []


async def test_member_joined_is_emitted_once(client, app):
    staff = await register(client)
    hub = await new_hub(client, staff)
    email = unique_email("joiner")
    with Listener(client, app, f"team:{staff.team_id}") as team_events:
        first = await join(client, staff, hub, email=email)
        events = team_events.drain()
        joined = [e for e in events if e["event"] == "member.joined"]
        assert len(joined) == 1, events
        assert joined[0]["channel"] == f"team:{staff.team_id}"
        assert joined[0]["data"]["hub_id"] == hub.id
        assert joined[0]["data"]["contact_id"] == first["attributes"]["contact_id"]
        assert joined[0]["data"]["membership_id"] == first["id"]
        assert [e["event"] for e in events].count("contact.signed_up") == 1

        r = await add(client, staff.headers, hub, email=email)
        assert r.status_code == 200
        assert team_events.drain() == []  # an existing membership announces nothing


# ---- reading and listing --------------------------------------------------------------------------


async def test_list_filters_on_effective_status_and_role(client, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    plain = await join(client, staff, hub)
    admin = await join(client, staff, hub, role="admin")
    banned = await join(client, staff, hub)
    lapsing = await join(client, staff, hub)
    soft = await join(client, staff, hub)

    def ids(r: Any) -> list[str]:
        return [m["id"] for m in r.json()["data"]]

    def cid(m: dict[str, Any]) -> str:
        return str(m["attributes"]["contact_id"])

    assert (await act(client, staff.headers, hub, cid(banned), "ban")).status_code == 200
    until = clock.now() + timedelta(hours=2)
    assert (await act(client, staff.headers, hub, cid(lapsing), "ban", expires_at=iso(until))).status_code == 200
    assert (await act(client, staff.headers, hub, cid(soft), "soft-ban")).status_code == 200

    async def listed(**filters: str) -> list[str]:
        r = await client.get(hub.m(), params={f"filter[{k}]": v for k, v in filters.items()}, headers=staff.headers)
        assert r.status_code == 200, r.text
        return ids(r)

    assert await listed() == [plain["id"], admin["id"], banned["id"], lapsing["id"], soft["id"]]
    assert await listed(status="active") == [plain["id"], admin["id"]]
    assert await listed(status="banned") == [banned["id"], lapsing["id"]]
    assert await listed(status="soft_banned") == [soft["id"]]
    assert await listed(status="left") == []
    assert await listed(role="admin") == [admin["id"]]
    assert await listed(role="admin", status="banned") == []

    clock.advance(hours=2, seconds=1)
    await relogin(client, staff)
    assert await listed(status="active") == [plain["id"], admin["id"], lapsing["id"]]
    assert await listed(status="banned") == [banned["id"]]
    r = await client.get(hub.m(), headers=staff.headers)
    by_id = {m["id"]: m["attributes"] for m in r.json()["data"]}
    assert (by_id[lapsing["id"]]["status"], by_id[lapsing["id"]]["status_reason"]) == ("active", None)
    assert (by_id[banned["id"]]["status"], by_id[banned["id"]]["status_reason"]) == ("banned", "ban for a test")

    seen: list[str] = []
    url: str | None = hub.m() + "?page[size]=2"
    while url:
        r = await client.get(url, headers=staff.headers)
        seen += ids(r)
        url = r.json()["links"].get("next")
    assert seen == [plain["id"], admin["id"], banned["id"], lapsing["id"], soft["id"]]

    assert_error(await client.get(hub.m(), params={"filter[status]": "gone"}, headers=staff.headers), 422,
                 "invalid_filter")
    assert_error(await client.get(hub.m(), params={"filter[role]": "owner"}, headers=staff.headers), 422,
                 "invalid_filter")
    assert_error(await client.get(hub.m(), params={"filter[email]": "x"}, headers=staff.headers), 422,
                 "unknown_filter")
    assert_error(await client.get(hub.m(str(uuid.uuid4())), headers=staff.headers), 404, "not_found")


async def test_policy_acceptances_show_the_latest_version_per_type(client, app):
    staff = await register(client)
    hub = await new_hub(client, staff)
    m = await join(client, staff, hub)
    t1 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    db_write(client, app, *(  # accepting is the member side's route; here the rows are made directly
        PolicyAcceptance(membership_id=uuid.UUID(m["id"]), policy_type=policy_type, version=version,
                         accepted_at=t1 + timedelta(days=days))
        for policy_type, version, days in [("tos", 2, 2), ("tos", 1, 0), ("privacy_policy", 1, 1)]))
    r = await client.get(hub.m(m["attributes"]["contact_id"]), headers=staff.headers)
    acc = r.json()["data"]["attributes"]["policy_acceptances"]
    assert {k: (v["version"], ts(v["accepted_at"])) for k, v in acc.items()} == {
        "tos": (2, t1 + timedelta(days=2)), "privacy_policy": (1, t1 + timedelta(days=1))}


# ---- updating -------------------------------------------------------------------------------------


async def test_patch_role_preferences_and_onboarding(client, app):
    staff = await register(client)
    hub = await new_hub(client, staff)
    m = await join(client, staff, hub)
    cid = m["attributes"]["contact_id"]
    url = hub.m(cid)

    async def patch(attrs: dict[str, Any]) -> Any:
        return await client.patch(url, json=doc("hub_memberships", attrs), headers=w(staff.headers))

    with Listener(client, app, f"contact:{cid}") as contact_events:
        r = await patch({"role": "moderator"})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["role"] == "moderator"
        events = contact_events.drain()
        assert [(e["event"], e["data"]["role"], e["data"]["previous_role"]) for e in events] == [
            ("member.role_changed", "moderator", "member")]
        assert (await patch({"role": "moderator"})).status_code == 200
        assert contact_events.drain() == []  # no change, no event

    before = m["attributes"]["notification_preferences"]
    r = await patch({"notification_preferences": {"mentions": False, "email_digest": None, "sms": {"enabled": True}}})
    prefs = r.json()["data"]["attributes"]["notification_preferences"]
    expected = {k: v for k, v in before.items() if k != "email_digest"} | {"mentions": False, "sms": {"enabled": True}}
    assert prefs == expected
    r = await patch({"onboarding": {"state": "in_progress", "step": 2}})
    assert r.json()["data"]["attributes"]["onboarding"] == {"state": "in_progress", "step": 2}
    r = await patch({"onboarding": {"state": "completed", "step": None}})
    assert r.json()["data"]["attributes"]["onboarding"] == {"state": "completed"}

    assert_error(await patch({"role": "owner"}), 422, "invalid_role", "/data/attributes/role")
    assert_error(await patch({"onboarding": {"state": "sleeping"}}), 422, "invalid_onboarding_state",
                 "/data/attributes/onboarding/state")
    assert_error(await patch({"notification_preferences": None}), 422, "invalid_value",
                 "/data/attributes/notification_preferences")
    assert_error(await patch({"notification_preferences": {"x": "y" * 70_000}}), 422, "too_large",
                 "/data/attributes/notification_preferences")
    assert_error(await patch({"status": "banned"}), 422, "unknown_field")  # status changes only by moderation
    r = await client.get(url, headers=staff.headers)
    a = r.json()["data"]["attributes"]
    assert (a["role"], a["status"], a["onboarding"], a["notification_preferences"]) == (
        "moderator", "active", {"state": "completed"}, expected)


# ---- moderation -----------------------------------------------------------------------------------


async def test_patch_with_a_data_id_must_name_the_membership(client):
    # The URL names the membership by its contact; the resource's id is the membership's own.
    staff = await register(client)
    hub = await new_hub(client, staff)
    m, other = await join(client, staff, hub), await join(client, staff, hub)
    cid = m["attributes"]["contact_id"]

    async def patch(id: str | None) -> Any:
        return await client.patch(hub.m(cid), json=doc("hub_memberships", {"role": "moderator"}, id=id),
                                  headers=w(staff.headers))

    for wrong in (other["id"], cid, str(uuid.uuid4())):
        assert_error(await patch(wrong), 409, "id_mismatch", "/data/id")
    r = await client.get(hub.m(cid), headers=staff.headers)
    assert r.json()["data"] == m
    for right in (m["id"], None):
        r = await patch(right)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["role"] == "moderator", r.text
    assert_error(await client.patch(hub.m(str(uuid.uuid4())), json=doc("hub_memberships", {"role": "admin"}, id=m["id"]),
                                    headers=w(staff.headers)), 404, "not_found")


async def test_ban_warn_soft_ban_unban_with_audit_trail_and_events(client, app, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    m = await join(client, staff, hub)
    cid = m["attributes"]["contact_id"]
    until = (clock.now() + timedelta(days=7)).replace(microsecond=0)

    with Listener(client, app, f"team:{staff.team_id}") as team_events, \
            Listener(client, app, f"contact:{cid}") as contact_events:
        r = await act(client, staff.headers, hub, cid, "ban", reason="Spam links", expires_at=iso(until))
        assert r.status_code == 200, r.text
        a = r.json()["data"]["attributes"]
        assert (a["status"], a["status_reason"], ts(a["status_expires_at"])) == ("banned", "Spam links", until)
        for listener, channel in ((team_events, f"team:{staff.team_id}"), (contact_events, f"contact:{cid}")):
            events = listener.drain()
            assert [e["event"] for e in events] == ["member.banned"], events
            assert events[0]["channel"] == channel
            data = events[0]["data"]
            assert (data["hub_id"], data["contact_id"], data["status"], data["reason"], ts(data["expires_at"])) == (
                hub.id, cid, "banned", "Spam links", until)

        r = await act(client, staff.headers, hub, cid, "warn", reason="Second strike")
        assert r.json()["data"]["attributes"]["status"] == "banned"  # a warning changes no status
        assert [e["event"] for e in team_events.drain()] == ["member.warned"]
        assert [e["data"]["reason"] for e in contact_events.drain()] == ["Second strike"]

        r = await act(client, staff.headers, hub, cid, "soft-ban", reason="Cooling off")
        a = r.json()["data"]["attributes"]
        assert (a["status"], a["status_reason"], a["status_expires_at"]) == ("soft_banned", "Cooling off", None)
        assert [e["event"] for e in team_events.drain()] == ["member.soft_banned"]

        r = await act(client, staff.headers, hub, cid, "unban", reason="Appeal accepted")
        a = r.json()["data"]["attributes"]
        assert (a["status"], a["status_reason"], a["status_expires_at"]) == ("active", None, None)
        assert [e["event"] for e in team_events.drain()] == ["member.unbanned"]
        assert [e["event"] for e in contact_events.drain()] == ["member.soft_banned", "member.unbanned"]

        assert_error(await act(client, staff.headers, hub, cid, "unban"), 409, "not_banned")
        assert team_events.drain() == []  # refusals emit nothing

    r = await client.get(hub.m(cid, "/actions"), headers=staff.headers)
    assert r.status_code == 200, r.text
    trail = [x["attributes"] for x in r.json()["data"]]
    assert [(x["action"], x["reason"]) for x in trail] == [
        ("ban", "Spam links"), ("warn", "Second strike"), ("soft_ban", "Cooling off"), ("unban", "Appeal accepted")]
    assert ts(trail[0]["expires_at"]) == until and trail[1]["expires_at"] is None
    assert {x["actor_user_id"] for x in trail} == {user_id(staff)}
    assert {x["actor_api_key_id"] for x in trail} == {None}
    assert {(x["hub_id"], x["contact_id"]) for x in trail} == {(hub.id, cid)}
    rows = db_rows(client, app, sa.select(MembershipAction).where(MembershipAction.contact_id == uuid.UUID(cid)))
    assert len(rows) == 4


async def test_moderation_validation(client, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    cid = (await join(client, staff, hub))["attributes"]["contact_id"]
    naive = (clock.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    cases = [
        ("ban", {"reason": ""}, "invalid_reason", "/data/attributes/reason"),
        ("ban", {"reason": "   "}, "invalid_reason", "/data/attributes/reason"),
        ("warn", {"reason": "x" * 1001}, "invalid_reason", "/data/attributes/reason"),
        ("ban", {"reason": "x", "expires_at": iso(clock.now() - timedelta(seconds=5))}, "expires_in_past",
         "/data/attributes/expires_at"),
        ("soft-ban", {"reason": "x", "expires_at": naive}, "invalid_datetime", "/data/attributes/expires_at"),
        ("ban", {"reason": "x", "expires_at": "tomorrow"}, "invalid_value", "/data/attributes/expires_at"),
        ("ban", {"reason": "x", "until": "x"}, "unknown_field", None),
    ]
    for action, attrs, code, pointer in cases:
        r = await client.post(hub.m(cid, f"/{action}"), json=doc("membership_actions", attrs), headers=w(staff.headers))
        assert_error(r, 422, code, pointer)
    r = await client.post(hub.m(cid, "/ban"), json=doc("membership_actions", {}), headers=w(staff.headers))
    assert_error(r, 422, "missing_field", "/data/attributes/reason")
    r = await client.get(hub.m(cid, "/actions"), headers=staff.headers)
    assert r.json()["data"] == []  # nothing was recorded
    assert (await client.get(hub.m(cid), headers=staff.headers)).json()["data"]["attributes"]["status"] == "active"

    assert (await act(client, staff.headers, hub, cid, "ban", reason="x" * 1000)).status_code == 200
    r = await act(client, staff.headers, hub, cid, "unban", expires_at=iso(clock.now() + timedelta(days=1)))
    assert_error(r, 422, "expiry_not_allowed", "/data/attributes/expires_at")
    assert_error(await act(client, staff.headers, hub, str(uuid.uuid4()), "ban"), 404, "not_found")
    assert_error(await act(client, staff.headers, hub, "nope", "warn"), 404, "not_found")


async def test_moderator_can_ban_but_not_edit_hubs_or_memberships(client):
    owner = await register(client, "owner")
    team_id = await create_team(client, owner, "Community")
    moderator = await add_staff(client, owner, team_id, "moderator")
    staff = await add_staff(client, owner, team_id, "staff")
    hub = await new_hub(client, owner, team_id)
    cid = (await join(client, owner, hub))["attributes"]["contact_id"]

    assert (await client.get(hub.m(), headers=moderator.headers)).status_code == 200
    assert (await client.get(hub.m(cid), headers=moderator.headers)).status_code == 200
    r = await act(client, moderator.headers, hub, cid, "ban", reason="Harassment")
    assert r.status_code == 200, r.text
    assert (await act(client, moderator.headers, hub, cid, "unban")).status_code == 200
    assert (await act(client, moderator.headers, hub, cid, "warn")).status_code == 200
    r = await client.get(hub.m(cid, "/actions"), headers=moderator.headers)
    assert {x["attributes"]["actor_user_id"] for x in r.json()["data"]} == {user_id(moderator)}

    refused = [
        await client.patch(hub.url, json=doc("hubs", {"name": "Mine"}), headers=w(moderator.headers)),
        await client.delete(hub.url, headers=moderator.headers),
        await add(client, moderator.headers, hub, email=unique_email()),
        await client.patch(hub.m(cid), json=doc("hub_memberships", {"role": "admin"}), headers=w(moderator.headers)),
        await mint(client, moderator.headers, hub, cid),
    ]
    for r in refused:
        assert_error(r, 403, "insufficient_role")

    # staff can do all of it
    assert (await act(client, staff.headers, hub, cid, "soft-ban")).status_code == 200
    r = await client.patch(hub.m(cid), json=doc("hub_memberships", {"role": "admin"}), headers=w(staff.headers))
    assert r.status_code == 200
    assert (await mint(client, staff.headers, hub, cid)).status_code == 201


async def test_api_key_scopes_for_memberships_and_moderation(client):
    owner = await register(client)
    hub = await new_hub(client, owner)
    cid = (await join(client, owner, hub))["attributes"]["contact_id"]
    members_rw = await create_key(client, owner, owner.team_id, ["memberships:write"])
    members_r = await create_key(client, owner, owner.team_id, ["memberships:read"])
    moderation = await create_key(client, owner, owner.team_id, ["moderation:write"])

    assert (await client.get(hub.m(), headers=bearer(members_r["secret"]))).status_code == 200
    err = assert_error(await add(client, bearer(members_r["secret"]), hub, email=unique_email()), 403,
                       "insufficient_scope")
    assert err["meta"]["required_scope"] == "memberships:write"
    assert_error(await mint(client, bearer(members_r["secret"]), hub, cid), 403, "insufficient_scope")
    assert (await add(client, bearer(members_rw["secret"]), hub, email=unique_email())).status_code == 201
    err = assert_error(await act(client, bearer(members_rw["secret"]), hub, cid, "ban"), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "moderation:write"
    assert_error(await client.get(hub.m(cid, "/actions"), headers=bearer(members_rw["secret"])), 403,
                 "insufficient_scope")

    assert (await act(client, bearer(moderation["secret"]), hub, cid, "ban")).status_code == 200
    assert_error(await add(client, bearer(moderation["secret"]), hub, email=unique_email()), 403, "insufficient_scope")
    r = await client.get(hub.m(cid, "/actions"), headers=bearer(moderation["secret"]))
    [row] = [x["attributes"] for x in r.json()["data"]]
    assert (row["action"], row["actor_user_id"], row["actor_api_key_id"]) == ("ban", None, moderation["id"])


def membership_routes(hub: Hub, contact_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    action = doc("membership_actions", {"reason": "cross-team"})
    return [
        ("GET", hub.m(), None),
        ("POST", hub.m(), doc("hub_memberships", {"contact_id": contact_id})),
        ("GET", hub.m(contact_id), None),
        ("PATCH", hub.m(contact_id), doc("hub_memberships", {"role": "admin"})),
        ("POST", hub.m(contact_id, "/ban"), action),
        ("POST", hub.m(contact_id, "/unban"), action),
        ("POST", hub.m(contact_id, "/soft-ban"), action),
        ("POST", hub.m(contact_id, "/warn"), action),
        ("GET", hub.m(contact_id, "/actions"), None),
        ("POST", f"{hub.url}/member-tokens", doc("member_tokens", {"contact_id": contact_id})),
    ]


async def test_another_teams_hub_or_membership_is_404_on_every_route(client):
    owner = await register(client, "owner")
    intruder = await register(client, "intruder")
    hub = await new_hub(client, owner)
    cid = (await join(client, owner, hub))["attributes"]["contact_id"]
    intruder_hub = await new_hub(client, intruder)
    key = await create_key(client, intruder, intruder.team_id, ["memberships:write", "moderation:write"])

    attempts = [
        (intruder.headers, Hub(owner.team_id, hub.id)),            # not their team
        (intruder.headers, Hub(intruder.team_id, hub.id)),         # their team path, another team's hub
        (bearer(key["secret"]), Hub(intruder.team_id, hub.id)),
        (bearer(key["secret"]), Hub(owner.team_id, hub.id)),
    ]
    for headers, target in attempts:
        for method, url, body in membership_routes(target, cid):
            r = await client.request(method, url, json=body, headers=w(headers) if body else headers)
            assert_error(r, 404, "not_found")
    # their own hub does not reach the other team's member either
    for method, url, body in membership_routes(intruder_hub, cid):
        r = await client.request(method, url, json=body, headers=w(intruder.headers) if body else intruder.headers)
        if method == "GET" and url == intruder_hub.m():
            assert r.status_code == 200 and r.json()["data"] == []
        elif url == intruder_hub.m():
            assert_error(r, 422, "unknown_contact")
        elif url.endswith("member-tokens"):
            assert_error(r, 422, "not_a_member")
        else:
            assert_error(r, 404, "not_found")
    r = await client.get(hub.m(cid), headers=owner.headers)
    a = r.json()["data"]["attributes"]
    assert (a["role"], a["status"]) == ("member", "active")
    assert (await client.get(hub.m(cid, "/actions"), headers=owner.headers)).json()["data"] == []


# ---- member tokens ----------------------------------------------------------------------------------


async def test_mint_member_token(client, app, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    cid = (await join(client, staff, hub))["attributes"]["contact_id"]
    r = await mint(client, staff.headers, hub, cid)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["type"] == "member_tokens" and data["id"]
    a = data["attributes"]
    assert (a["contact_id"], a["hub_id"], a["token_type"]) == (cid, hub.id, "Bearer")  # one spelling, as login and verify
    assert timedelta(days=6) < ts(a["expires_at"]) - clock.now() <= timedelta(days=7)
    assert await as_member(app, client, clock, a["access_token"], hub.id) == (200, None)

    other_team = await register(client, "other")
    foreign = (await join(client, other_team, await new_hub(client, other_team)))["attributes"]["contact_id"]
    not_here = (await join(client, staff, await new_hub(client, staff)))["attributes"]["contact_id"]
    for contact_id in (foreign, not_here, str(uuid.uuid4()), "nope"):
        assert_error(await mint(client, staff.headers, hub, contact_id), 422, "not_a_member", "/data/attributes/contact_id")
    assert (await act(client, staff.headers, hub, cid, "ban")).status_code == 200
    assert_error(await mint(client, staff.headers, hub, cid), 422, "member_banned", "/data/attributes/contact_id")
    assert (await act(client, staff.headers, hub, cid, "soft-ban")).status_code == 200
    assert (await mint(client, staff.headers, hub, cid)).status_code == 201  # soft-banned members may sign in


async def test_banned_members_token_stops_working_at_once(client, app, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    cid = (await join(client, staff, hub))["attributes"]["contact_id"]
    token = (await mint(client, staff.headers, hub, cid)).json()["data"]["attributes"]["access_token"]

    assert await as_member(app, client, clock, token, hub.id) == (200, None)
    assert (await act(client, staff.headers, hub, cid, "ban", reason="Abuse")).status_code == 200
    assert await as_member(app, client, clock, token, hub.id) == (403, "banned")
    assert (await act(client, staff.headers, hub, cid, "unban", reason="Appeal")).status_code == 200
    assert await as_member(app, client, clock, token, hub.id) == (200, None)
    assert (await act(client, staff.headers, hub, cid, "soft-ban", reason="Quiet")).status_code == 200
    assert await as_member(app, client, clock, token, hub.id) == (200, None)  # soft-banned still signs in


async def test_expired_ban_lets_the_member_in_at_that_exact_second(client, app, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    cid = (await join(client, staff, hub))["attributes"]["contact_id"]
    token = (await mint(client, staff.headers, hub, cid)).json()["data"]["attributes"]["access_token"]
    until = (clock.now() + timedelta(hours=1)).replace(microsecond=0)
    r = await act(client, staff.headers, hub, cid, "ban", reason="Timeout", expires_at=iso(until))
    assert r.status_code == 200, r.text

    assert await as_member(app, client, clock, token, hub.id, at=until - timedelta(microseconds=1)) == (403, "banned")
    assert await as_member(app, client, clock, token, hub.id, at=until) == (200, None)
    assert await as_member(app, client, clock, token, hub.id) == (403, "banned")
    assert (await client.get(hub.m(cid), headers=staff.headers)).json()["data"]["attributes"]["status"] == "banned"

    clock.advance(hours=1, seconds=1)
    assert await as_member(app, client, clock, token, hub.id) == (200, None)
    await relogin(client, staff)
    a = (await client.get(hub.m(cid), headers=staff.headers)).json()["data"]["attributes"]
    assert (a["status"], a["status_reason"], a["status_expires_at"]) == ("active", None, None)
    # the lapsed ban can no longer be lifted: the member is not banned
    assert_error(await act(client, staff.headers, hub, cid, "unban"), 409, "not_banned")


async def test_member_token_never_works_on_team_routes(client, app, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    cid = (await join(client, staff, hub))["attributes"]["contact_id"]
    token = (await mint(client, staff.headers, hub, cid)).json()["data"]["attributes"]["access_token"]
    for url in (f"/api/v1/teams/{staff.team_id}/hubs", hub.url, hub.m(), hub.m(cid), "/api/v1/teams"):
        assert_error(await client.get(url, headers=bearer(token)), 401, "wrong_token_type")
    assert_error(await act(client, bearer(token), hub, cid, "unban"), 401, "wrong_token_type")
    # and a staff token or API key never acts as a member
    key = await create_key(client, staff, staff.team_id, ["memberships:write"])
    for other in (staff.access, key["secret"]):
        # (the route refuses an API key before reading it: its code differs from the direct check's)
        status, code = await as_member(app, client, clock, other, hub.id, same_code=False)
        assert status == 401, code


async def test_member_token_for_one_hub_is_404_on_another(client, app, clock):
    staff = await register(client)
    hub_a = await new_hub(client, staff)
    hub_b = await new_hub(client, staff)
    m = await join(client, staff, hub_a)
    cid = m["attributes"]["contact_id"]
    # a member of both hubs still needs a token per hub
    assert (await add(client, staff.headers, hub_b, contact_id=cid)).status_code == 201
    token_a = (await mint(client, staff.headers, hub_a, cid)).json()["data"]["attributes"]["access_token"]
    assert await as_member(app, client, clock, token_a, hub_a.id) == (200, None)
    assert await as_member(app, client, clock, token_a, hub_b.id) == (404, "not_found")
    # a ban in hub B does not touch hub A
    assert (await act(client, staff.headers, hub_b, cid, "ban")).status_code == 200
    assert await as_member(app, client, clock, token_a, hub_a.id) == (200, None)


async def test_deleting_a_hub_ends_its_member_tokens(client, app, clock):
    staff = await register(client)
    hub = await new_hub(client, staff)
    cid = (await join(client, staff, hub))["attributes"]["contact_id"]
    token = (await mint(client, staff.headers, hub, cid)).json()["data"]["attributes"]["access_token"]
    assert await as_member(app, client, clock, token, hub.id) == (200, None)
    assert (await client.delete(hub.url, headers=staff.headers)).status_code == 204
    assert await as_member(app, client, clock, token, hub.id) == (404, "not_found")
    assert_error(await client.get(hub.m(cid), headers=staff.headers), 404, "not_found")
    rows = db_rows(client, app, sa.select(HubMembership).where(HubMembership.hub_id == uuid.UUID(hub.id)))
    assert len(rows) == 1  # a soft delete keeps the rows
