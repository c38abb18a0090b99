"""Team-side access data: entitlements (grant, revoke, idempotency, ``active`` at the boundary
second), access rules and access overrides (CRUD and validation with pointers), 404 for another
team's or hub's ids on every route, scopes, and one ``access:invalidate`` message per write.

Spaces and content nodes have no routes yet: fixtures insert them with the persistence models, on
the app's loop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from domain.access import entitlements as ent_domain
from domain.access import overrides as ovr_domain
from domain.access.invalidation import INVALIDATE_CHANNEL
from persistence.ids import new_id
from persistence.models import (
    AccessOverride,
    ContentNode,
    Entitlement,
    Hub,
    Segment,
    Space,
    Tag,
    TeamContact,
)
from tests.support.api import Staff, add_staff, assert_error, bearer, create_key, doc, register, w
from tests.support.app import Listener, db_write, in_app
from tests.support.hubs import join, new_hub

ATTR = "/data/attributes/"


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def set_now(clock: Any, at: datetime) -> None:
    """Move the app's clock so that it reads ``at`` now (it keeps running from there)."""
    clock.advance(seconds=(at - clock.now()).total_seconds())


@dataclass
class Place:
    """One hub of a team with what access data can point at."""

    team_id: str
    hub_id: str
    contact_id: str
    space_id: str
    node_id: str  # a lesson under a course
    course_id: str
    tag_id: str
    segment_id: str

    @property
    def url(self) -> str:
        return f"/api/v1/teams/{self.team_id}/hubs/{self.hub_id}"


@dataclass
class World:
    owner: Staff
    a: Place  # the hub under test
    b: Place  # another hub of the same team
    x: Place  # a hub of another team
    writer: str  # an API key of a's team with access:write


def _targets(client: Any, app: Any, team_id: str, hub_id: str) -> tuple[str, str, str, str, str]:
    now = datetime.now(timezone.utc)
    space = Space(id=new_id(), hub_id=uuid.UUID(hub_id), name="Lounge", slug=f"lounge-{uuid.uuid4().hex[:6]}",
                  created_at=now, updated_at=now)
    course = ContentNode(id=new_id(), hub_id=uuid.UUID(hub_id), title="Course", node_type="course",
                         created_at=now, updated_at=now)
    lesson = ContentNode(id=new_id(), hub_id=uuid.UUID(hub_id), parent_id=course.id, title="Lesson 1",
                         created_at=now, updated_at=now)
    tag = Tag(id=new_id(), team_id=uuid.UUID(team_id), name=f"vip-{uuid.uuid4().hex[:6]}", created_at=now,
              updated_at=now)
    segment = Segment(id=new_id(), team_id=uuid.UUID(team_id), name="Fans", conditions={}, created_at=now,
                      updated_at=now)
    db_write(client, app, space, course)
    db_write(client, app, lesson, tag, segment)
    return str(space.id), str(lesson.id), str(course.id), str(tag.id), str(segment.id)


async def _place(client: Any, app: Any, staff: Staff, team_id: str) -> Place:
    hub = await new_hub(client, staff, team_id)
    contact_id = (await join(client, staff, hub))["attributes"]["contact_id"]
    space, node, course, tag, segment = _targets(client, app, team_id, hub.id)
    return Place(team_id, hub.id, contact_id, space, node, course, tag, segment)


@pytest.fixture
async def world(client: Any, app: Any) -> World:
    owner = await register(client, "owner")
    a = await _place(client, app, owner, owner.team_id)
    b = await _place(client, app, owner, owner.team_id)
    stranger = await register(client, "stranger")
    x = await _place(client, app, stranger, stranger.team_id)
    writer = (await create_key(client, owner, owner.team_id, ["access:write", "memberships:write"]))["secret"]
    return World(owner, a, b, x, writer)


async def grant(client: Any, headers: dict[str, str], place: Place, **attrs: Any) -> Any:
    attrs.setdefault("contact_id", place.contact_id)
    attrs.setdefault("kind", "hub_access")
    return await client.post(f"{place.url}/entitlements", json=doc("entitlements", attrs), headers=w(headers))


async def revoke(client: Any, headers: dict[str, str], place: Place, eid: str, reason: Any = "refund") -> Any:
    return await client.post(f"{place.url}/entitlements/{eid}/revoke",
                             json=doc("entitlement_revocations", {"reason": reason}), headers=w(headers))


async def post_rule(client: Any, headers: dict[str, str], place: Place, **attrs: Any) -> Any:
    attrs.setdefault("target_type", "hub")
    attrs.setdefault("target_id", place.hub_id)
    attrs.setdefault("conditions", [{"condition_type": "has_entitlement", "condition_data": {"kind": "hub_access"}}])
    return await client.post(f"{place.url}/access-rules", json=doc("access_rules", attrs), headers=w(headers))


async def post_override(client: Any, headers: dict[str, str], place: Place, **attrs: Any) -> Any:
    attrs.setdefault("contact_id", place.contact_id)
    attrs.setdefault("scope", "full")
    return await client.post(f"{place.url}/access-overrides", json=doc("access_overrides", attrs),
                             headers=w(headers))


def created(r: Any, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["data"])


# ---- entitlements -------------------------------------------------------------------------------


async def test_entitlement_grant_read_list_and_revoke(client, world):
    a, h = world.a, world.owner.headers
    r = await grant(client, h, a, kind="content_enrollment", target_id=a.course_id)
    e = created(r)
    assert e["type"] == "entitlements"
    assert r.headers["location"] == e["links"]["self"] == f"{a.url}/entitlements/{e['id']}"
    attrs = e["attributes"]
    assert (attrs["hub_id"], attrs["contact_id"], attrs["kind"], attrs["target_id"]) == (
        a.hub_id, a.contact_id, "content_enrollment", a.course_id)
    assert (attrs["source"], attrs["source_id"], attrs["starts_at"], attrs["ends_at"]) == ("staff_grant", None, None, None)
    assert attrs["revoked_at"] is None and attrs["revoke_reason"] is None and attrs["active"] is True
    assert attrs["granted_by_user_id"] == world.owner.tokens["user"]["id"]

    # the same grant while it is active: 200 with the same entitlement, nothing new
    again = await grant(client, h, a, kind="content_enrollment", target_id=a.course_id)
    assert created(again, 200)["id"] == e["id"]
    other = created(await grant(client, h, a, kind="content_enrollment", target_id=a.node_id))
    assert other["id"] != e["id"]
    hub_access = created(await grant(client, bearer(world.writer), a, kind="hub_access"))
    assert hub_access["attributes"]["granted_by_user_id"] is None  # an API key granted it

    r = await client.get(f"{a.url}/entitlements/{e['id']}", headers=h)
    assert r.status_code == 200 and r.json()["data"] == e

    async def ids(query: str = "") -> list[str]:
        r = await client.get(f"{a.url}/entitlements{query}", headers=h)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["data"]]

    assert await ids() == [e["id"], other["id"], hub_access["id"]]
    assert await ids("?filter[kind]=hub_access") == [hub_access["id"]]
    assert await ids(f"?filter[contact_id]={a.contact_id}&page[size]=2") == [e["id"], other["id"]]
    assert await ids(f"?filter[contact_id]={world.b.contact_id}") == []

    r = await revoke(client, h, a, e["id"], "  refunded order  ")
    assert r.status_code == 200, r.text
    rev = r.json()["data"]["attributes"]
    assert rev["revoke_reason"] == "refunded order" and rev["active"] is False and rev["revoked_at"] is not None
    # revoking again is idempotent: the first time and reason stay
    r = await revoke(client, h, a, e["id"], "again")
    assert r.status_code == 200 and r.json()["data"]["attributes"] == rev
    assert await ids("?filter[active]=true") == [other["id"], hub_access["id"]]
    assert await ids("?filter[active]=false") == [e["id"]]
    # once revoked, the same grant is a new entitlement
    fresh = created(await grant(client, h, a, kind="content_enrollment", target_id=a.course_id))
    assert fresh["id"] != e["id"] and fresh["attributes"]["active"] is True


async def test_entitlement_window_is_active_at_the_boundary_seconds(client, clock, world):
    a, h = world.a, bearer(world.writer)  # an API key: staff tokens would expire as the clock moves
    start = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    end = start + timedelta(days=30)
    e = created(await grant(client, h, a, kind="file_download", starts_at=iso(start), ends_at=iso(end)))
    assert (ts(e["attributes"]["starts_at"]), ts(e["attributes"]["ends_at"])) == (start, end)

    async def active() -> bool:
        r = await client.get(f"{a.url}/entitlements/{e['id']}", headers=h)
        assert r.status_code == 200, r.text
        listed = await client.get(f"{a.url}/entitlements?filter[active]=true&filter[kind]=file_download", headers=h)
        in_list = [d["id"] for d in listed.json()["data"]] == [e["id"]]
        assert in_list == r.json()["data"]["attributes"]["active"]
        return bool(r.json()["data"]["attributes"]["active"])

    assert await active() is False
    set_now(clock, start - timedelta(seconds=1))
    assert await active() is False
    set_now(clock, start)
    assert await active() is True
    set_now(clock, end - timedelta(seconds=1))
    assert await active() is True
    set_now(clock, end)
    assert await active() is False  # ends_at is exclusive

    # the domain's rule, to the microsecond
    row = Entitlement(starts_at=start, ends_at=end, revoked_at=None)
    assert [ent_domain.is_active(row, t) for t in (start - timedelta(microseconds=1), start,
                                                   end - timedelta(microseconds=1), end)] == [False, True, True, False]
    row.revoked_at = start + timedelta(days=1)
    assert ent_domain.is_active(row, row.revoked_at - timedelta(microseconds=1))
    assert not ent_domain.is_active(row, row.revoked_at)


async def test_an_ended_grant_no_longer_makes_the_same_grant_idempotent(client, clock, world):
    a, h = world.a, bearer(world.writer)
    end = clock.now() + timedelta(hours=1)
    first = created(await grant(client, h, a, ends_at=iso(end)))
    assert created(await grant(client, h, a, ends_at=iso(end)), 200)["id"] == first["id"]
    set_now(clock, end + timedelta(seconds=1))
    second = created(await grant(client, h, a))
    assert second["id"] != first["id"]


@pytest.mark.parametrize(("attrs", "code", "pointer"), [
    ({"kind": "lifetime"}, "invalid_kind", ATTR + "kind"),
    ({"contact_id": "not-an-id"}, "unknown_contact", ATTR + "contact_id"),
    ({"contact_id": str(uuid.uuid4())}, "unknown_contact", ATTR + "contact_id"),
    ({"target_id": "nope"}, "invalid_value", ATTR + "target_id"),
    ({"source": "order"}, "unknown_field", ATTR + "source"),
    ({"revoked_at": "2030-01-01T00:00:00Z"}, "unknown_field", ATTR + "revoked_at"),
    ({"starts_at": "2030-01-01T00:00:00"}, "invalid_datetime", ATTR + "starts_at"),
    ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"}, "invalid_window", ATTR + "ends_at"),
    ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "invalid_window", ATTR + "ends_at"),
    ({"ends_at": "2001-01-01T00:00:00Z"}, "invalid_window", ATTR + "ends_at"),
    ({"kind": None}, "invalid_value", ATTR + "kind"),
])
async def test_entitlement_validation(client, world, attrs, code, pointer):
    assert_error(await grant(client, world.owner.headers, world.a, **attrs), 422, code, pointer)


async def test_entitlement_contact_must_be_a_live_contact_of_the_team(client, app, world):
    a, h = world.a, world.owner.headers
    assert_error(await grant(client, h, a, contact_id=world.x.contact_id), 422, "unknown_contact", ATTR + "contact_id")
    # a contact of the team in another hub, not a member of this one, may be granted access here
    assert created(await grant(client, h, a, contact_id=world.b.contact_id))["attributes"]["contact_id"] == world.b.contact_id
    db_write(client, app, sa.update(TeamContact).where(TeamContact.contact_id == uuid.UUID(a.contact_id))
             .values(deleted_at=datetime.now(timezone.utc)))
    assert_error(await grant(client, h, a), 422, "unknown_contact", ATTR + "contact_id")


async def test_revoke_needs_a_reason(client, world):
    e = created(await grant(client, world.owner.headers, world.a))
    for reason in ("", "   ", "x" * 501):
        assert_error(await revoke(client, world.owner.headers, world.a, e["id"], reason), 422, "invalid_reason",
                     ATTR + "reason")
    r = await client.post(f"{world.a.url}/entitlements/{e['id']}/revoke", json=doc("entitlement_revocations", {}),
                          headers=w(world.owner.headers))
    assert_error(r, 422, "missing_field", ATTR + "reason")


async def test_domain_grant_is_idempotent_per_source_and_revokes_by_source(client, app, world):
    svc = app.state.services
    a, b = world.a, world.b
    order = f"ord_{uuid.uuid4().hex[:8]}"

    async def grant_from_order(place: Place, kind: str) -> tuple[str, list[tuple[str, bytes]]]:
        async with svc.uow() as uow:
            hub = await uow.session.get(Hub, uuid.UUID(place.hub_id))
            e = await ent_domain.grant_entitlement(svc.ctx(uow), hub, contact_id=uuid.UUID(a.contact_id),
                                                   kind=kind, source="order", source_id=order)
        return str(e.id), uow.published

    first, published = in_app(client, grant_from_order, a, "community_access")
    assert [ch for ch, _ in published] == [INVALIDATE_CHANNEL]
    again, published = in_app(client, grant_from_order, a, "community_access")
    assert again == first and published == []  # nothing changed, nothing to invalidate
    # the same contact is a contact of the team, so the order may reach the team's other hub too
    in_b, _ = in_app(client, grant_from_order, b, "hub_access")
    assert in_b != first

    async def revoke_order() -> tuple[list[str], list[tuple[str, bytes]]]:
        async with svc.uow() as uow:
            rows = await ent_domain.revoke_entitlements_from_source(svc.ctx(uow), source="order", source_id=order,
                                                                    reason="refunded")
        return sorted(str(e.id) for e in rows), uow.published

    revoked, published = in_app(client, revoke_order)
    assert revoked == sorted([first, in_b])
    assert len(published) == 2 and all(ch == INVALIDATE_CHANNEL for ch, _ in published)  # one per (hub, contact)
    assert in_app(client, revoke_order) == ([], [])
    r = await client.get(f"{a.url}/entitlements/{first}", headers=world.owner.headers)
    got = r.json()["data"]["attributes"]
    assert (got["source"], got["source_id"], got["revoke_reason"], got["active"]) == ("order", order, "refunded", False)


# ---- access rules -------------------------------------------------------------------------------

ALL_CONDITIONS = [
    {"condition_type": "has_entitlement", "condition_data": {"kind": "content_enrollment"}},
    {"condition_type": "role_at_least", "condition_data": {"role": "moderator"}},
    {"condition_type": "days_since_join", "condition_data": {"days": 7}},
    {"condition_type": "available_after", "condition_data": {"at": "2030-06-01T09:30:00+02:00"}},
    {"condition_type": "policy_accepted", "condition_data": {"policy_type": "tos"}},
]


async def test_access_rule_crud(client, world):
    a, h = world.a, world.owner.headers
    conditions = [*ALL_CONDITIONS,
                  {"condition_type": "has_tag", "condition_data": {"tag_id": a.tag_id.upper()}},
                  {"condition_type": "in_segment", "condition_data": {"segment_id": a.segment_id}},
                  {"condition_type": "has_entitlement", "condition_data": {"kind": "file_download",
                                                                           "target_id": a.node_id}}]
    r = await post_rule(client, h, a, target_type="content_node", target_id=a.course_id, logic_operator="any",
                        conditions=conditions, name="Paid course")
    rule = created(r)
    assert rule["type"] == "access_rules" and r.headers["location"] == f"{a.url}/access-rules/{rule['id']}"
    got = rule["attributes"]
    assert (got["hub_id"], got["target_type"], got["target_id"], got["logic_operator"], got["name"]) == (
        a.hub_id, "content_node", a.course_id, "any", "Paid course")
    stored = [c["condition_data"] for c in got["conditions"]]
    assert stored[3] == {"at": "2030-06-01T07:30:00+00:00"}  # normalized to UTC
    assert stored[5] == {"tag_id": a.tag_id}  # canonical id
    assert [c["condition_type"] for c in got["conditions"]] == [c["condition_type"] for c in conditions]

    hub_rule = created(await post_rule(client, h, a))
    assert hub_rule["attributes"]["logic_operator"] == "all" and hub_rule["attributes"]["name"] is None
    space_rule = created(await post_rule(client, h, a, target_type="space", target_id=a.space_id))

    r = await client.get(f"{a.url}/access-rules/{rule['id']}", headers=h)
    assert r.status_code == 200 and r.json()["data"] == rule
    r = await client.get(f"{a.url}/access-rules", headers=h)
    assert [d["id"] for d in r.json()["data"]] == [rule["id"], hub_rule["id"], space_rule["id"]]
    r = await client.get(f"{a.url}/access-rules?filter[target_type]=space", headers=h)
    assert [d["id"] for d in r.json()["data"]] == [space_rule["id"]]
    r = await client.get(f"{a.url}/access-rules?filter[target_id]={a.course_id}", headers=h)
    assert [d["id"] for d in r.json()["data"]] == [rule["id"]]

    # PATCH is partial; conditions are replaced as a whole; a new target type is checked with the id
    r = await client.patch(f"{a.url}/access-rules/{rule['id']}", headers=w(h), json=doc("access_rules", {
        "logic_operator": "all", "name": None,
        "conditions": [{"condition_type": "days_since_join", "condition_data": {"days": 0}}]}, id=rule["id"]))
    assert r.status_code == 200, r.text
    got = r.json()["data"]["attributes"]
    assert (got["logic_operator"], got["name"], got["target_id"]) == ("all", None, a.course_id)
    assert got["conditions"] == [{"condition_type": "days_since_join", "condition_data": {"days": 0}}]
    r = await client.patch(f"{a.url}/access-rules/{rule['id']}", headers=w(h),
                           json=doc("access_rules", {"target_type": "space"}))
    assert_error(r, 422, "unknown_target", ATTR + "target_id")  # the course id is no space
    r = await client.patch(f"{a.url}/access-rules/{rule['id']}", headers=w(h),
                           json=doc("access_rules", {"target_type": "space", "target_id": a.space_id}))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["target_type"] == "space"

    r = await client.delete(f"{a.url}/access-rules/{rule['id']}", headers=h)
    assert r.status_code == 204
    assert_error(await client.get(f"{a.url}/access-rules/{rule['id']}", headers=h), 404, "not_found")
    assert_error(await client.delete(f"{a.url}/access-rules/{rule['id']}", headers=h), 404, "not_found")


def _c(ctype: str, data: Any) -> list[dict[str, Any]]:
    return [{"condition_type": ctype, "condition_data": data}]


C0 = ATTR + "conditions/0"


@pytest.mark.parametrize(("attrs", "code", "pointer"), [
    ({"target_type": "course"}, "invalid_target_type", ATTR + "target_type"),
    ({"target_type": "section"}, "unknown_target", ATTR + "target_id"),
    ({"target_type": "section", "target_id": "{space}"}, "unknown_target", ATTR + "target_id"),
    ({"target_type": "page", "target_id": "{space}"}, "unknown_target", ATTR + "target_id"),
    ({"target_type": "media", "target_id": "{space}"}, "unknown_target", ATTR + "target_id"),
    ({"target_id": "{other_hub}"}, "unknown_target", ATTR + "target_id"),
    ({"target_type": "space", "target_id": "{other_space}"}, "unknown_target", ATTR + "target_id"),
    ({"target_type": "content_node", "target_id": "{space}"}, "unknown_target", ATTR + "target_id"),
    ({"target_type": "space", "target_id": "not-an-id"}, "unknown_target", ATTR + "target_id"),
    ({"logic_operator": "xor"}, "invalid_logic_operator", ATTR + "logic_operator"),
    ({"conditions": []}, "no_conditions", ATTR + "conditions"),
    ({"conditions": ALL_CONDITIONS * 4 + ALL_CONDITIONS[:1]}, "too_many_conditions", ATTR + "conditions"),
    ({"conditions": ["has_tag"]}, "invalid_condition", C0),
    ({"conditions": _c("is_vip", {})}, "invalid_condition", C0 + "/condition_type"),
    ({"conditions": [{"condition_type": "has_tag"}]}, "invalid_condition", C0 + "/condition_data"),
    ({"conditions": [{"condition_type": "has_tag", "condition_data": {}, "x": 1}]}, "invalid_condition", C0 + "/x"),
    ({"conditions": _c("has_tag", {"tag_id": "{other_tag}"})}, "unknown_tag", C0 + "/condition_data/tag_id"),
    ({"conditions": _c("has_tag", {"tag_id": str(uuid.uuid4())})}, "unknown_tag", C0 + "/condition_data/tag_id"),
    ({"conditions": _c("has_tag", {"tag_id": 7})}, "invalid_condition", C0 + "/condition_data/tag_id"),
    ({"conditions": _c("in_segment", {"segment_id": "{other_segment}"})}, "unknown_segment",
     C0 + "/condition_data/segment_id"),
    ({"conditions": _c("has_entitlement", {"kind": "vip"})}, "invalid_condition", C0 + "/condition_data/kind"),
    ({"conditions": _c("has_entitlement", {})}, "invalid_condition", C0 + "/condition_data/kind"),
    ({"conditions": _c("has_entitlement", {"kind": "hub_access", "target_id": "x"})}, "invalid_condition",
     C0 + "/condition_data/target_id"),
    ({"conditions": _c("role_at_least", {"role": "owner"})}, "invalid_condition", C0 + "/condition_data/role"),
    ({"conditions": _c("days_since_join", {"days": 3651})}, "invalid_condition", C0 + "/condition_data/days"),
    ({"conditions": _c("days_since_join", {"days": -1})}, "invalid_condition", C0 + "/condition_data/days"),
    ({"conditions": _c("days_since_join", {"days": 1.5})}, "invalid_condition", C0 + "/condition_data/days"),
    ({"conditions": _c("days_since_join", {"days": True})}, "invalid_condition", C0 + "/condition_data/days"),
    ({"conditions": _c("days_since_join", {"days": 3, "hours": 2})}, "invalid_condition",
     C0 + "/condition_data/hours"),
    ({"conditions": _c("available_after", {"at": "2030-01-01T00:00:00"})}, "invalid_condition",
     C0 + "/condition_data/at"),
    ({"conditions": _c("available_after", {"at": "next tuesday"})}, "invalid_condition", C0 + "/condition_data/at"),
    ({"conditions": _c("policy_accepted", {"policy_type": "cookies"})}, "invalid_condition",
     C0 + "/condition_data/policy_type"),
    ({"conditions": [ALL_CONDITIONS[0], *_c("role_at_least", {"role": "king"})]}, "invalid_condition",
     ATTR + "conditions/1/condition_data/role"),
    ({"name": "n" * 201}, "invalid_name", ATTR + "name"),
    ({"priority": 1}, "unknown_field", ATTR + "priority"),
])
async def test_access_rule_validation(client, world, attrs, code, pointer):
    a, b, x = world.a, world.b, world.x
    swap = {"{other_hub}": b.hub_id, "{other_space}": b.space_id, "{space}": a.space_id,
            "{other_tag}": x.tag_id, "{other_segment}": x.segment_id}

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return swap.get(value, value)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    assert_error(await post_rule(client, world.owner.headers, a, **fill(attrs)), 422, code, pointer)


async def test_rule_targets_must_be_live_rows_of_this_hub(client, app, world):
    a, h = world.a, world.owner.headers
    db_write(client, app, sa.update(Space).where(Space.id == uuid.UUID(a.space_id))
             .values(deleted_at=datetime.now(timezone.utc)))
    assert_error(await post_rule(client, h, a, target_type="space", target_id=a.space_id), 422, "unknown_target",
                 ATTR + "target_id")
    assert created(await post_rule(client, h, a, target_type="content_node", target_id=a.node_id))


# ---- access overrides ---------------------------------------------------------------------------


async def test_access_override_crud(client, world):
    a, h = world.a, world.owner.headers
    r = await post_override(client, h, a, reason="beta tester")
    full = created(r)
    assert full["type"] == "access_overrides"
    assert r.headers["location"] == f"{a.url}/access-overrides/{full['id']}"
    got = full["attributes"]
    assert (got["hub_id"], got["contact_id"], got["scope"], got["target_type"], got["target_id"]) == (
        a.hub_id, a.contact_id, "full", None, None)
    assert (got["expires_at"], got["reason"], got["active"]) == (None, "beta tester", True)
    assert got["created_by_user_id"] == world.owner.tokens["user"]["id"]

    target = created(await post_override(client, h, a, scope="target", target_type="space", target_id=a.space_id))
    assert (target["attributes"]["target_type"], target["attributes"]["target_id"]) == ("space", a.space_id)

    r = await client.get(f"{a.url}/access-overrides/{full['id']}", headers=h)
    assert r.status_code == 200 and r.json()["data"] == full
    r = await client.get(f"{a.url}/access-overrides?filter[scope]=target&filter[contact_id]={a.contact_id}", headers=h)
    assert [d["id"] for d in r.json()["data"]] == [target["id"]]

    # from target to full drops the target; back to target needs one
    url = f"{a.url}/access-overrides/{target['id']}"
    r = await client.patch(url, headers=w(h), json=doc("access_overrides", {"target_id": a.course_id,
                                                                            "target_type": "content_node"}))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["target_id"] == a.course_id
    r = await client.patch(url, headers=w(h), json=doc("access_overrides", {"scope": "full", "reason": None}))
    got = r.json()["data"]["attributes"]
    assert r.status_code == 200 and (got["scope"], got["target_type"], got["target_id"], got["reason"]) == (
        "full", None, None, None)
    assert_error(await client.patch(url, headers=w(h), json=doc("access_overrides", {"scope": "target"})), 422,
                 "missing_field", ATTR + "target_type")
    assert_error(await client.patch(url, headers=w(h), json=doc("access_overrides", {"contact_id": a.contact_id})),
                 422, "unknown_field", ATTR + "contact_id")

    assert (await client.delete(url, headers=h)).status_code == 204
    assert_error(await client.get(url, headers=h), 404, "not_found")
    r = await client.get(f"{a.url}/access-overrides", headers=h)
    assert [d["id"] for d in r.json()["data"]] == [full["id"]]


@pytest.mark.parametrize(("attrs", "code", "pointer"), [
    ({"scope": "product", "target_id": "{space}"}, "unsupported_scope", ATTR + "scope"),
    ({"scope": "everything"}, "invalid_scope", ATTR + "scope"),
    ({"scope": "target"}, "missing_field", ATTR + "target_type"),
    ({"scope": "target", "target_type": "space"}, "missing_field", ATTR + "target_id"),
    ({"scope": "target", "target_type": "space", "target_id": "{other_space}"}, "unknown_target", ATTR + "target_id"),
    ({"scope": "target", "target_type": "section", "target_id": "{space}"}, "unknown_target", ATTR + "target_id"),
    ({"scope": "full", "target_type": "space"}, "target_not_allowed", ATTR + "target_type"),
    ({"contact_id": "{other_contact}"}, "unknown_contact", ATTR + "contact_id"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_in_past", ATTR + "expires_at"),
    ({"expires_at": "2040-01-01T00:00:00"}, "invalid_datetime", ATTR + "expires_at"),
    ({"reason": "r" * 1001}, "invalid_reason", ATTR + "reason"),
    ({"product_id": "x"}, "unknown_field", ATTR + "product_id"),
])
async def test_access_override_validation(client, world, attrs, code, pointer):
    swap = {"{space}": world.a.space_id, "{other_space}": world.b.space_id, "{other_contact}": world.x.contact_id}
    attrs = {k: swap.get(v, v) if isinstance(v, str) else v for k, v in attrs.items()}
    assert_error(await post_override(client, world.owner.headers, world.a, **attrs), 422, code, pointer)


async def test_override_expires_at_the_exact_second(client, clock, world):
    a, h = world.a, bearer(world.writer)
    expires = (clock.now() + timedelta(days=3)).replace(microsecond=0)
    o = created(await post_override(client, h, a, expires_at=iso(expires)))

    async def active() -> bool:
        r = await client.get(f"{a.url}/access-overrides/{o['id']}", headers=h)
        listed = await client.get(f"{a.url}/access-overrides?filter[active]=false", headers=h)
        flag = bool(r.json()["data"]["attributes"]["active"])
        assert (o["id"] in [d["id"] for d in listed.json()["data"]]) is not flag
        return flag

    set_now(clock, expires - timedelta(seconds=1))
    assert await active() is True
    set_now(clock, expires)
    assert await active() is False
    row = AccessOverride(expires_at=expires)
    assert ovr_domain.is_active(row, expires - timedelta(microseconds=1)) and not ovr_domain.is_active(row, expires)


# ---- another team's or hub's ids: 404 everywhere ------------------------------------------------


async def _resources(client: Any, headers: dict[str, str], place: Place) -> dict[str, str]:
    return {
        "entitlements": created(await grant(client, headers, place))["id"],
        "access-rules": created(await post_rule(client, headers, place))["id"],
        "access-overrides": created(await post_override(client, headers, place))["id"],
    }


def _calls(base: str, ids: dict[str, str], place: Place) -> list[tuple[str, str, Any]]:
    """Every route of this module, on ``base`` (a hub URL), with the given resource ids."""
    e, r, o = ids["entitlements"], ids["access-rules"], ids["access-overrides"]
    return [
        ("GET", f"{base}/entitlements", None),
        ("POST", f"{base}/entitlements", doc("entitlements", {"contact_id": place.contact_id, "kind": "hub_access"})),
        ("GET", f"{base}/entitlements/{e}", None),
        ("POST", f"{base}/entitlements/{e}/revoke", doc("entitlement_revocations", {"reason": "x"})),
        ("GET", f"{base}/access-rules", None),
        ("POST", f"{base}/access-rules", doc("access_rules", {
            "target_type": "hub", "target_id": place.hub_id,
            "conditions": _c("role_at_least", {"role": "member"})})),
        ("GET", f"{base}/access-rules/{r}", None),
        ("PATCH", f"{base}/access-rules/{r}", doc("access_rules", {"name": "x"})),
        ("DELETE", f"{base}/access-rules/{r}", None),
        ("GET", f"{base}/access-overrides", None),
        ("POST", f"{base}/access-overrides", doc("access_overrides", {"contact_id": place.contact_id, "scope": "full"})),
        ("GET", f"{base}/access-overrides/{o}", None),
        ("PATCH", f"{base}/access-overrides/{o}", doc("access_overrides", {"reason": "x"})),
        ("DELETE", f"{base}/access-overrides/{o}", None),
    ]


async def _call(client: Any, headers: dict[str, str], method: str, url: str, body: Any) -> Any:
    return await client.request(method, url, json=body, headers=w(headers) if body is not None else headers)


async def test_other_teams_and_hubs_ids_are_404_on_every_route(client, world):
    a, b, x, h = world.a, world.b, world.x, world.owner.headers
    in_b = await _resources(client, h, b)
    stranger_headers = (await register(client, "intruder")).headers
    cases = [
        # another team's hub in the path (and its team), as the owner of a
        *[(h, m, u, body) for m, u, body in _calls(x.url, in_b, x)],
        *[(h, m, u, body) for m, u, body in _calls(f"/api/v1/teams/{a.team_id}/hubs/{x.hub_id}", in_b, a)],
        # a's hub in the path, asked by someone outside the team
        *[(stranger_headers, m, u, body) for m, u, body in _calls(a.url, in_b, a)],
        # the hub is ours, the entitlement, rule, override belongs to hub b of the same team
        *[(h, m, u, body) for m, u, body in _calls(a.url, in_b, a) if u.count("/") > a.url.count("/") + 1],
        # a malformed hub id and resource ids
        *[(h, m, u, body) for m, u, body in _calls(f"/api/v1/teams/{a.team_id}/hubs/nope",
                                                   {k: "nope" for k in in_b}, a)],
        *[(h, m, u, body) for m, u, body in _calls(a.url, {k: "nope" for k in in_b}, a)
          if u.count("/") > a.url.count("/") + 1],
    ]
    assert len(cases) == 14 * 4 + 8 * 2
    for headers, method, url, body in cases:
        assert_error(await _call(client, headers, method, url, body), 404, "not_found")

    # hub b's resources are untouched, and still there
    for kind, rid in in_b.items():
        r = await client.get(f"{b.url}/{kind}/{rid}", headers=h)
        assert r.status_code == 200, r.text
    ent = (await client.get(f"{b.url}/entitlements/{in_b['entitlements']}", headers=h)).json()["data"]["attributes"]
    assert ent["revoked_at"] is None
    rule = (await client.get(f"{b.url}/access-rules/{in_b['access-rules']}", headers=h)).json()["data"]["attributes"]
    assert rule["name"] is None


# ---- scopes -------------------------------------------------------------------------------------


async def test_scopes(client, world):
    a, owner = world.a, world.owner
    ids = await _resources(client, owner.headers, a)
    moderator = await add_staff(client, owner, a.team_id, "moderator")
    staff = await add_staff(client, owner, a.team_id, "staff")
    reader = bearer((await create_key(client, owner, a.team_id, ["access:read"]))["secret"])
    unrelated = bearer((await create_key(client, owner, a.team_id, ["hubs:write", "memberships:write"]))["secret"])

    calls = _calls(a.url, ids, a)
    reads = [c for c in calls if c[0] == "GET"]
    writes = [c for c in calls if c[0] != "GET"]
    for headers, code in ((moderator.headers, "insufficient_role"), (unrelated, "insufficient_scope")):
        for method, url, body in calls:
            assert_error(await _call(client, headers, method, url, body), 403, code)
    for method, url, body in reads:
        assert (await _call(client, reader, method, url, body)).status_code == 200
    for method, url, body in writes:
        assert_error(await _call(client, reader, method, url, body), 403, "insufficient_scope")
    # team staff (and a key with access:write) may write
    for method, url, body in writes:
        r = await _call(client, staff.headers, method, url, body)
        assert r.status_code in (200, 201, 204), (method, url, r.text)
    assert_error(await client.get(f"{a.url}/entitlements"), 401, "unauthenticated")


# ---- invalidation -------------------------------------------------------------------------------


async def test_every_write_publishes_one_invalidation(client, app, world):
    a, h = world.a, world.owner.headers
    hub_only = {"hub_id": a.hub_id}
    for_contact = {"hub_id": a.hub_id, "contact_id": a.contact_id}

    with Listener(client, app, INVALIDATE_CHANNEL) as listener:
        async def expect(response: Any, status: int, messages: list[dict[str, str]]) -> Any:
            assert response.status_code == status, response.text
            assert listener.drain() == messages, response.request.url
            return response.json()["data"] if status != 204 else None

        e = await expect(await grant(client, h, a), 201, [for_contact])
        await expect(await grant(client, h, a), 200, [])  # the same active grant: nothing changed
        await expect(await revoke(client, h, a, e["id"]), 200, [for_contact])
        await expect(await revoke(client, h, a, e["id"]), 200, [])  # already revoked
        r = await expect(await post_rule(client, h, a), 201, [hub_only])
        rule_url = f"{a.url}/access-rules/{r['id']}"
        await expect(await client.patch(rule_url, headers=w(h), json=doc("access_rules", {"name": "n"})), 200,
                     [hub_only])
        await expect(await client.delete(rule_url, headers=h), 204, [hub_only])
        o = await expect(await post_override(client, h, a), 201, [for_contact])
        override_url = f"{a.url}/access-overrides/{o['id']}"
        await expect(await client.patch(override_url, headers=w(h), json=doc("access_overrides", {"reason": "r"})),
                     200, [for_contact])
        await expect(await client.delete(override_url, headers=h), 204, [for_contact])

        # refused writes and reads publish nothing
        assert_error(await post_rule(client, h, a, target_type="space", target_id=world.b.space_id), 422,
                     "unknown_target")
        assert_error(await post_override(client, h, a, scope="product"), 422, "unsupported_scope")
        assert_error(await grant(client, h, a, kind="nope"), 422, "invalid_kind")
        for kind in ("entitlements", "access-rules", "access-overrides"):
            assert (await client.get(f"{a.url}/{kind}", headers=h)).status_code == 200
        assert listener.drain() == []


async def test_access_routes_are_in_the_openapi_schema(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    base = "/api/v1/teams/{team_id}/hubs/{hub_id}"
    for suffix, methods in [("/entitlements", {"get", "post"}), ("/entitlements/{entitlement_id}", {"get"}),
                            ("/entitlements/{entitlement_id}/revoke", {"post"}),
                            ("/access-rules", {"get", "post"}), ("/access-rules/{rule_id}", {"get", "patch", "delete"}),
                            ("/access-overrides", {"get", "post"}),
                            ("/access-overrides/{override_id}", {"get", "patch", "delete"})]:
        assert methods <= set(paths[base + suffix]), suffix
