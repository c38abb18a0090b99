"""Segments: condition trees compiled to SQL, saved segments, members, counts and previews.

One fixed dataset per module, written straight through the persistence models (the contact routes
are built elsewhere): twelve team contacts in team A with chosen emails, names, stages, creation
times, tags, attribute values of every data type and hub memberships in every status, one of them
soft-deleted, plus team B sharing a global contact with team A. Every expectation below is worked
out by hand from the table in ``DATASET`` — never by running the same logic in Python.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from domain.crm.segment_sql import compile_conditions
from domain.crm.segments import segment_clause
from domain.errors import NotFound
from persistence.db import UnitOfWork, create_engine, session_factory
from persistence.models import (
    Contact,
    ContactAttribute,
    ContactAttributeOption,
    ContactAttributeValue,
    ContactTag,
    Hub,
    HubMembership,
    Tag,
    TeamContact,
)
from tests.support.api import JSONAPI_HEADERS, Staff, assert_error, bearer, create_key, doc, register

pytestmark = pytest.mark.asyncio(loop_scope="session")


def at(day: str) -> datetime:
    """A date (midnight UTC) or a UTC datetime as written in DATASET."""
    moment = datetime.fromisoformat(day)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# label: (email, team-contact first/last, contact first/last, stage, created_at, tags, attributes, hubs)
DATASET: dict[str, dict[str, Any]] = {
    "c01": dict(email="alice@example.test", tc=("Alice", "Smith"), contact=(None, None), stage="lead",
                created="2024-01-01", tags=["vip", "newsletter"],
                attrs={"plan": "Pro Monthly", "score": 10, "signup_day": "2024-03-01", "opt_in": True,
                       "tier": "gold", "interests": ["yoga", "running"]},
                hubs={"h1": "active"}),
    "c02": dict(email="bob@company.test", tc=(None, None), contact=("Bob", "Jones"), stage="customer",
                created="2024-01-02", tags=["newsletter"],
                attrs={"plan": "basic", "score": 20.5, "opt_in": False, "tier": "silver", "interests": ["chess"]},
                hubs={"h1": "soft_banned"}),
    "c03": dict(email="carol@example.test", tc=("Carol", None), contact=("Caroline", "Baker"), stage="member",
                created="2024-01-03", tags=["vip"], attrs={"score": 30, "tier": "bronze"}, hubs={"h1": "banned"}),
    "c04": dict(email="dave@other.test", tc=(None, None), contact=(None, None), stage="alumni",
                created="2024-01-04", tags=[], attrs={}, hubs={"h1": "left"}),
    "c05": dict(email="e_5@example.test", tc=("Erin", "O'Neil"), contact=(None, None), stage="lead",
                created="2024-01-05", tags=["vip"],
                attrs={"score": -5, "signup_day": "2023-12-31", "interests": ["running"]}, hubs={"h2": "active"}),
    "c06": dict(email="e55@example.test", tc=("", None), contact=("Zoë", "Öztürk"), stage="customer",
                created="2024-01-06", tags=[], attrs={"plan": "PRO annual", "opt_in": True, "tier": "gold"},
                hubs={}),
    "c07": dict(email="frank@example.test", tc=("Frank", "Smith"), contact=("Francis", "Smythe"), stage="member",
                created="2024-01-07", tags=["newsletter"], attrs={"score": 10, "signup_day": "2024-06-15"},
                hubs={"h1": "active"}),
    "c08": dict(email="grace@example.test", tc=("Grace", "Smith"), contact=(None, None), stage="lead",
                created="2024-01-08", tags=["vip"], attrs={"plan": "Pro", "tier": "gold", "score": 10},
                hubs={"h1": "active"}, deleted=True),
    "c09": dict(email="heidi@example.test", tc=("Heidi", None), contact=(None, None), stage="lead",
                created="2024-01-09", tags=[], attrs={"plan": "", "interests": ["yoga", "chess"]}, hubs={}),
    "c10": dict(email="ivan@example.test", tc=(None, None), contact=("Ivan", None), stage="customer",
                created="2024-02-01T12:00:00Z", tags=["vip", "newsletter"], attrs={}, hubs={}),
    "c11": dict(email="judy@example.test", tc=(None, None), contact=(None, None), stage="alumni",
                created="2024-01-11", tags=[], attrs={}, hubs={"h2": "left"}),
    "c12": dict(email="50%off@example.test", tc=(None, None), contact=(None, None), stage="lead",
                created="2024-01-12", tags=[], attrs={}, hubs={}),
}
LIVE = frozenset(k for k, v in DATASET.items() if not v.get("deleted"))  # c08 is soft-deleted
ATTRIBUTES = {  # key: (data type, options)
    "plan": ("text", []), "score": ("number", []), "signup_day": ("date", []), "opt_in": ("boolean", []),
    "tier": ("select", ["gold", "silver", "bronze"]), "interests": ("multi_select", ["yoga", "running", "chess"]),
}


@dataclass
class World:
    a: Staff
    b: Staff
    team_a: str
    team_b: str
    labels: dict[str, str] = field(default_factory=dict)  # team contact id -> label
    ids: dict[str, str] = field(default_factory=dict)  # label -> team contact id
    tags: dict[str, str] = field(default_factory=dict)
    hubs: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    b_tag: str = ""
    b_hub: str = ""
    b_attr: str = ""
    b_alice: str = ""  # team B's team contact of alice's global contact
    database_url: str = ""

    @property
    def ha(self) -> dict[str, str]:
        return {**self.a.headers, **JSONAPI_HEADERS}


@pytest.fixture(scope="module")
async def world(client: Any, database_url: str) -> World:
    a, b = await register(client, "seg-a"), await register(client, "seg-b")
    w = World(a=a, b=b, team_a=a.team_id, team_b=b.team_id, database_url=database_url)
    team_a, team_b = uuid.UUID(a.team_id), uuid.UUID(b.team_id)
    now = datetime.now(timezone.utc)
    run = uuid.uuid4().hex[:8]  # contacts are global: keep this module's emails its own
    engine = create_engine(database_url)
    try:
        async with UnitOfWork(session_factory(engine)) as uow:
            s = uow.session
            tags = {name: Tag(team_id=team_a, name=name, created_at=now, updated_at=now)
                    for name in ("vip", "newsletter", "unused")}
            hubs = {key: Hub(team_id=team_a, name=key, slug=f"{key}-{run}", branding={}, navigation={}, settings={},
                             meta={}, allowed_redirect_origins=[], created_at=now, updated_at=now,
                             deleted_at=now if key == "gone" else None)
                    for key in ("h1", "h2", "gone")}
            attrs = {key: ContactAttribute(team_id=team_a, key=key, name=key.title(), data_type=dt, created_at=now,
                                           updated_at=now) for key, (dt, _) in ATTRIBUTES.items()}
            s.add_all([*tags.values(), *hubs.values(), *attrs.values()])
            await s.flush()
            for key, (_, options) in ATTRIBUTES.items():
                s.add_all([ContactAttributeOption(attribute_id=attrs[key].id, value=o, label=o.title(), position=i,
                                                  created_at=now) for i, o in enumerate(options)])
            for label, row in DATASET.items():
                local, domain = row["email"].split("@")
                contact = Contact(email=f"{local}@{run}.{domain}", first_name=row["contact"][0],
                                  last_name=row["contact"][1], created_at=now, updated_at=now)
                s.add(contact)
                await s.flush()
                row["address"] = contact.email
                tc = TeamContact(team_id=team_a, contact_id=contact.id, first_name=row["tc"][0],
                                 last_name=row["tc"][1], lifecycle_stage=row["stage"], created_at=at(row["created"]),
                                 updated_at=now, deleted_at=now if row.get("deleted") else None)
                s.add(tc)
                await s.flush()
                w.labels[str(tc.id)], w.ids[label] = label, str(tc.id)
                s.add_all([ContactTag(team_contact_id=tc.id, tag_id=tags[t].id, created_at=now) for t in row["tags"]])
                for key, value in row["attrs"].items():
                    dt = ATTRIBUTES[key][0]
                    values = value if dt == "multi_select" else [value]
                    for v in values:
                        column = {"text": "value_text", "select": "value_text", "multi_select": "value_text",
                                  "number": "value_number", "boolean": "value_bool", "date": "value_date"}[dt]
                        s.add(ContactAttributeValue(team_contact_id=tc.id, attribute_id=attrs[key].id, updated_at=now,
                                                    **{column: at(v) if dt == "date" else v}))
                for hub_key, status in row["hubs"].items():
                    s.add(HubMembership(hub_id=hubs[hub_key].id, contact_id=contact.id, team_id=team_a, status=status,
                                        onboarding={}, notification_preferences={}, profile={}, joined_at=now,
                                        left_at=now if status == "left" else None, created_at=now, updated_at=now))
                if label == "c01":
                    alice = contact
            # team B: its own tag, hub and attribute, alice's global contact (tagged, a hub member) and one more
            b_tag = Tag(team_id=team_b, name="vip", created_at=now, updated_at=now)
            b_hub = Hub(team_id=team_b, name="B", slug=f"b-{run}", branding={}, navigation={}, settings={}, meta={},
                        allowed_redirect_origins=[], created_at=now, updated_at=now)
            b_attr = ContactAttribute(team_id=team_b, key="plan", name="Plan", data_type="text", created_at=now,
                                      updated_at=now)
            mallory = Contact(email=f"mallory@{run}.example.test", first_name="Alice", last_name="Smith",
                              created_at=now, updated_at=now)
            s.add_all([b_tag, b_hub, b_attr, mallory])
            await s.flush()
            for contact in (alice, mallory):
                tc = TeamContact(team_id=team_b, contact_id=contact.id, lifecycle_stage="lead",
                                 created_at=at("2024-01-01"), updated_at=now)
                s.add(tc)
                await s.flush()
                s.add(ContactTag(team_contact_id=tc.id, tag_id=b_tag.id, created_at=now))
                s.add(ContactAttributeValue(team_contact_id=tc.id, attribute_id=b_attr.id, value_text="Pro Monthly",
                                            updated_at=now))
                s.add(HubMembership(hub_id=b_hub.id, contact_id=contact.id, team_id=team_b, status="active",
                                    onboarding={}, notification_preferences={}, profile={}, joined_at=now,
                                    created_at=now, updated_at=now))
                if contact is alice:
                    w.b_alice = str(tc.id)
            await s.flush()
            w.tags = {k: str(v.id) for k, v in tags.items()}
            w.hubs = {k: str(v.id) for k, v in hubs.items()}
            w.attrs = {k: str(v.id) for k, v in attrs.items()}
            w.b_tag, w.b_hub, w.b_attr = str(b_tag.id), str(b_hub.id), str(b_attr.id)
    finally:
        await engine.dispose()
    return w


# ---- helpers ------------------------------------------------------------------------------------


def c(type_: str, operator: str, value: Any = ..., attribute: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "operator": operator}
    if value is not ...:
        out["value"] = value
    if attribute is not None:
        out["attribute"] = attribute
    return out


def tree(*groups: dict[str, Any], logic: str = "all") -> dict[str, Any]:
    return {"version": 1, "logic": logic, "groups": list(groups)}


def group(*conditions: dict[str, Any], logic: str = "all") -> dict[str, Any]:
    return {"logic": logic, "conditions": list(conditions)}


def one(condition: dict[str, Any]) -> dict[str, Any]:
    return tree(group(condition))


async def search(client: Any, w: World, conditions: Any, page_size: int = 100, team: str | None = None,
                 headers: dict[str, str] | None = None) -> Any:
    body = doc("segment_searches", {"conditions": conditions, "page_size": page_size})
    return await client.post(f"/api/v1/teams/{team or w.team_a}/segments/search", json=body, headers=headers or w.ha)


async def matches(client: Any, w: World, conditions: Any) -> set[str]:
    r = await search(client, w, conditions)
    assert r.status_code == 200, r.text
    body = r.json()
    found = [w.labels[item["id"]] for item in body["data"]]
    assert len(found) == len(set(found)) == body["meta"]["count"], body
    assert body["meta"]["has_more"] is False
    return set(found)


def labels(*names: str) -> set[str]:
    return set(names)


def all_but(*names: str) -> set[str]:
    return set(LIVE) - set(names)


async def create_segment(client: Any, w: World, conditions: Any, name: str = "Segment", **extra: Any) -> Any:
    return await client.post(f"/api/v1/teams/{w.team_a}/segments",
                             json=doc("segments", {"name": name, "conditions": conditions, **extra}), headers=w.ha)


# ---- each type and operator ---------------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # email: case-insensitive; `_` and `%` are literal characters, not wildcards
    ("email eq", c("email", "eq", "ALICE@{run}.Example.test"), labels("c01")),
    ("email neq", c("email", "neq", "alice@{run}.example.test"), all_but("c01")),
    ("email contains domain", c("email", "contains", ".EXAMPLE.test"),
     labels("c01", "c03", "c05", "c06", "c07", "c09", "c10", "c11", "c12")),
    ("email contains underscore", c("email", "contains", "e_5@"), labels("c05")),
    ("email contains percent", c("email", "contains", "50%"), labels("c12")),
    ("email contains a lone percent", c("email", "contains", "%"), labels("c12")),
    ("email contains a backslash", c("email", "contains", "\\"), set()),
    ("email exists", c("email", "exists", True), set(LIVE)),
    ("email exists false", c("email", "exists", False), set()),
    ("email of a deleted contact", c("email", "eq", "grace@{run}.example.test"), set()),
    # name: the team contact's first/last name, each falling back to the contact's own
    ("name contains", c("name", "contains", "smith"), labels("c01", "c07")),
    ("team contact's name wins", c("name", "contains", "SMYTHE"), set()),
    ("name eq from the contact", c("name", "eq", "bob jones"), labels("c02")),
    ("name eq per-field fallback", c("name", "eq", "Carol Baker"), labels("c03")),
    ("empty first name falls back", c("name", "eq", "ZOë Öztürk"), labels("c06")),
    ("name neq includes nameless", c("name", "neq", "alice smith"), all_but("c01")),
    ("name exists", c("name", "exists", True), labels("c01", "c02", "c03", "c05", "c06", "c07", "c09", "c10")),
    ("name exists false", c("name", "exists", False), labels("c04", "c11", "c12")),
    ("exists defaults to true", c("name", "exists"), labels("c01", "c02", "c03", "c05", "c06", "c07", "c09", "c10")),
    ("apostrophe", c("name", "contains", "o'neil"), labels("c05")),
    ("non-ASCII letters compare exactly", c("name", "contains", "ZOë"), labels("c06")),
    ("non-ASCII case is not folded", c("name", "contains", "ZOË"), set()),
    ("nor in the stored name", c("name", "contains", "öztürk"), set()),
    # lifecycle stage
    ("stage eq", c("lifecycle_stage", "eq", "lead"), labels("c01", "c05", "c09", "c12")),
    ("stage neq", c("lifecycle_stage", "neq", "lead"), labels("c02", "c03", "c04", "c06", "c07", "c10", "c11")),
    ("stage in", c("lifecycle_stage", "in", ["customer", "member"]), labels("c02", "c03", "c06", "c07", "c10")),
    ("stage not_in", c("lifecycle_stage", "not_in", ["customer", "member"]),
     labels("c01", "c04", "c05", "c09", "c11", "c12")),
    # tags
    ("has vip", c("tag", "has", "{tag:vip}"), labels("c01", "c03", "c05", "c10")),
    ("has newsletter", c("tag", "has", "{tag:newsletter}"), labels("c01", "c02", "c07", "c10")),
    ("not_has vip includes untagged", c("tag", "not_has", "{tag:vip}"),
     labels("c02", "c04", "c06", "c07", "c09", "c11", "c12")),
    ("has a tag nobody has", c("tag", "has", "{tag:unused}"), set()),
    ("not_has a tag nobody has", c("tag", "not_has", "{tag:unused}"), set(LIVE)),
    # hub membership: active and soft_banned count; banned and left do not
    ("member of h1", c("hub_membership", "has", "{hub:h1}"), labels("c01", "c02", "c07")),
    ("not a member of h1", c("hub_membership", "not_has", "{hub:h1}"),
     labels("c03", "c04", "c05", "c06", "c09", "c10", "c11", "c12")),
    ("member of h2", c("hub_membership", "has", "{hub:h2}"), labels("c05")),
    # created_at: strict bounds; a date is its midnight UTC
    ("created before a date", c("created_at", "before", "2024-01-03"), labels("c01", "c02")),
    ("created after, exact instant excluded", c("created_at", "after", "2024-01-11T00:00:00Z"), labels("c10", "c12")),
    ("created after, with an offset", c("created_at", "after", "2024-02-01T13:00:00+02:00"), labels("c10")),
    ("created before, with an offset", c("created_at", "before", "2024-02-01T13:00:00+02:00"), all_but("c10")),
    ("created after, no offset is UTC", c("created_at", "after", "2024-02-01T11:59:59"), labels("c10")),
    # text attribute
    ("text eq", c("attribute", "eq", "pro monthly", "plan"), labels("c01")),
    ("text contains", c("attribute", "contains", "PRO", "plan"), labels("c01", "c06")),
    ("text neq", c("attribute", "neq", "basic", "plan"), all_but("c02")),
    ("text exists (empty is none)", c("attribute", "exists", True, "plan"), labels("c01", "c02", "c06")),
    ("text exists false", c("attribute", "exists", False, "plan"), all_but("c01", "c02", "c06")),
    # number attribute
    ("number eq", c("attribute", "eq", 10, "score"), labels("c01", "c07")),
    ("number neq", c("attribute", "neq", 10, "score"), all_but("c01", "c07")),
    ("number gt", c("attribute", "gt", 10, "score"), labels("c02", "c03")),
    ("number gte", c("attribute", "gte", 10, "score"), labels("c01", "c02", "c03", "c07")),
    ("number lt", c("attribute", "lt", 10, "score"), labels("c05")),
    ("number lte", c("attribute", "lte", 20.5, "score"), labels("c01", "c02", "c05", "c07")),
    ("number exists", c("attribute", "exists", True, "score"), labels("c01", "c02", "c03", "c05", "c07")),
    ("number exists false", c("attribute", "exists", False, "score"),
     labels("c04", "c06", "c09", "c10", "c11", "c12")),
    # date attribute
    ("date before", c("attribute", "before", "2024-03-01", "signup_day"), labels("c05")),
    ("date after", c("attribute", "after", "2024-03-01", "signup_day"), labels("c07")),
    ("date after long ago", c("attribute", "after", "2023-01-01T00:00:00Z", "signup_day"), labels("c01", "c05", "c07")),
    ("date exists false", c("attribute", "exists", False, "signup_day"), all_but("c01", "c05", "c07")),
    # boolean attribute
    ("boolean true", c("attribute", "eq", True, "opt_in"), labels("c01", "c06")),
    ("boolean false (no value is not false)", c("attribute", "eq", False, "opt_in"), labels("c02")),
    ("boolean exists", c("attribute", "exists", True, "opt_in"), labels("c01", "c02", "c06")),
    # select attribute
    ("select eq", c("attribute", "eq", "gold", "tier"), labels("c01", "c06")),
    ("select neq", c("attribute", "neq", "gold", "tier"), all_but("c01", "c06")),
    ("select in", c("attribute", "in", ["silver", "bronze"], "tier"), labels("c02", "c03")),
    ("select not_in", c("attribute", "not_in", ["gold", "silver"], "tier"), all_but("c01", "c02", "c06")),
    # multi_select attribute
    ("multi has", c("attribute", "has", "yoga", "interests"), labels("c01", "c09")),
    ("multi has running", c("attribute", "has", "running", "interests"), labels("c01", "c05")),
    ("multi not_has", c("attribute", "not_has", "yoga", "interests"), all_but("c01", "c09")),
    ("multi exists", c("attribute", "exists", True, "interests"), labels("c01", "c02", "c05", "c09")),
    # the attribute named by id instead of key
    ("attribute by id", c("attribute", "has", "yoga", "{attr:interests}"), labels("c01", "c09")),
]


def run_of(w: World) -> str:
    """The per-run label in this module's email addresses (contacts are global)."""
    return str(DATASET["c01"]["address"].split("@")[1].split(".")[0])


def fill(value: Any, w: World) -> Any:
    if isinstance(value, str):
        value = value.replace("{run}", run_of(w))
        for kind, table in (("tag", w.tags), ("hub", w.hubs), ("attr", w.attrs)):
            for key, id_ in table.items():
                value = value.replace(f"{{{kind}:{key}}}", id_)
        return value
    if isinstance(value, list):
        return [fill(v, w) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, w) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("name", "condition", "expected"), CASES, ids=[case[0] for case in CASES])
async def test_each_operator(client: Any, world: World, name: str, condition: dict[str, Any],
                             expected: set[str]) -> None:
    assert await matches(client, world, one(fill(condition, world))) == expected


# ---- logic at both levels -------------------------------------------------------------------------


async def test_group_any_and_all(client: Any, world: World) -> None:
    vip, customer = c("tag", "has", world.tags["vip"]), c("lifecycle_stage", "eq", "customer")
    assert await matches(client, world, tree(group(vip, customer, logic="any"))) == \
        labels("c01", "c02", "c03", "c05", "c06", "c10")
    assert await matches(client, world, tree(group(vip, c("lifecycle_stage", "eq", "lead")))) == labels("c01", "c05")
    yoga, running = (c("attribute", "has", o, "interests") for o in ("yoga", "running"))
    assert await matches(client, world, tree(group(yoga, running))) == labels("c01")
    assert await matches(client, world, tree(group(yoga, running, logic="any"))) == labels("c01", "c05", "c09")


async def test_groups_combined_with_all_and_any(client: Any, world: World) -> None:
    tagged = group(c("tag", "has", world.tags["vip"]), c("tag", "has", world.tags["newsletter"]), logic="any")
    h1_or_lead = group(c("hub_membership", "has", world.hubs["h1"]), c("lifecycle_stage", "eq", "lead"), logic="any")
    # tagged = {01,02,03,05,07,10}; h1_or_lead = {01,02,07} | {01,05,09,12}
    assert await matches(client, world, tree(tagged, h1_or_lead, logic="all")) == labels("c01", "c02", "c05", "c07")
    assert await matches(client, world, tree(tagged, h1_or_lead, logic="any")) == \
        labels("c01", "c02", "c03", "c05", "c07", "c09", "c10", "c12")
    both_tags = group(c("tag", "has", world.tags["vip"]), c("tag", "has", world.tags["newsletter"]))
    alumni = group(c("lifecycle_stage", "eq", "alumni"))
    assert await matches(client, world, tree(both_tags, alumni, logic="any")) == labels("c01", "c04", "c10", "c11")
    assert await matches(client, world, tree(both_tags, alumni, logic="all")) == set()


async def test_logic_defaults_to_all(client: Any, world: World) -> None:
    conditions = {"version": 1, "groups": [{"conditions": [c("tag", "has", world.tags["vip"]),
                                                           c("lifecycle_stage", "eq", "lead")]}]}
    assert await matches(client, world, conditions) == labels("c01", "c05")
    r = await create_segment(client, world, conditions)
    assert r.status_code == 201, r.text
    stored = r.json()["data"]["attributes"]["conditions"]
    assert stored["logic"] == "all" and stored["groups"][0]["logic"] == "all"


async def test_negations_mixed(client: Any, world: World) -> None:
    # no tags at all: not_has vip and not_has newsletter
    none = group(c("tag", "not_has", world.tags["vip"]), c("tag", "not_has", world.tags["newsletter"]))
    assert await matches(client, world, tree(none)) == labels("c04", "c06", "c09", "c11", "c12")
    never_h1 = group(c("hub_membership", "not_has", world.hubs["h1"]), c("attribute", "exists", False, "score"))
    assert await matches(client, world, tree(never_h1)) == labels("c04", "c06", "c09", "c10", "c11", "c12")


# ---- isolation ------------------------------------------------------------------------------------


async def test_other_teams_contacts_never_match(client: Any, world: World) -> None:
    r = await search(client, world, one(c("email", "eq", f"alice@{run_of(world)}.example.test")))
    assert [item["id"] for item in r.json()["data"]] == [world.ids["c01"]]  # not team B's record of her
    # team B's mallory is named "Alice Smith" and has the same plan value: team A never sees her
    assert await matches(client, world, one(c("name", "eq", "alice smith"))) == labels("c01")
    assert await matches(client, world, one(c("email", "contains", "mallory"))) == set()
    # and team B sees only its own two
    hb = {**world.b.headers, **JSONAPI_HEADERS}
    r = await search(client, world, one(c("tag", "has", world.b_tag)), team=world.team_b, headers=hb)
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["count"] == 2 and world.b_alice in {i["id"] for i in r.json()["data"]}
    r = await search(client, world, one(c("attribute", "eq", "pro monthly", "plan")), team=world.team_b, headers=hb)
    assert r.json()["meta"]["count"] == 2


async def test_soft_deleted_never_match(client: Any, world: World) -> None:
    assert "c08" not in await matches(client, world, one(c("tag", "has", world.tags["vip"])))
    assert "c08" not in await matches(client, world, one(c("name", "contains", "grace")))
    assert await matches(client, world, one(c("attribute", "eq", "pro", "plan"))) == set()  # only c08 has "Pro"


# ---- the domain API other contexts call ----------------------------------------------------------


async def test_domain_api_compiles_one_clause(client: Any, world: World) -> None:
    engine = create_engine(world.database_url)
    try:
        async with UnitOfWork(session_factory(engine)) as uow:
            team_a = uuid.UUID(world.team_a)
            clause = await compile_conditions(uow, team_a, one(c("tag", "has", world.tags["newsletter"])))
            rows = (await uow.session.scalars(sa.select(TeamContact.id).where(clause))).all()
            assert {world.labels[str(i)] for i in rows} == labels("c01", "c02", "c07", "c10")
            # composable with the caller's own filters, in one statement
            both = sa.select(TeamContact.id).where(clause, TeamContact.lifecycle_stage == "member")
            assert {world.labels[str(i)] for i in (await uow.session.scalars(both)).all()} == labels("c07")
        # A fresh transaction: on SQLite a transaction reads one snapshot, so it would not see
        # the segment another connection commits meanwhile.
        r = await create_segment(client, world, one(c("tag", "has", world.tags["vip"])), name="VIP")
        saved = uuid.UUID(r.json()["data"]["id"])
        async with UnitOfWork(session_factory(engine)) as uow:
            clause = await segment_clause(uow, team_a, saved)
            rows = (await uow.session.scalars(sa.select(TeamContact.id).where(clause))).all()
            assert {world.labels[str(i)] for i in rows} == labels("c01", "c03", "c05", "c10")
            for bad in (None, uuid.uuid4()):
                with pytest.raises(NotFound):
                    await segment_clause(uow, team_a, bad)
            with pytest.raises(NotFound):  # team B cannot use team A's segment
                await segment_clause(uow, uuid.UUID(world.team_b), saved)
    finally:
        await engine.dispose()


# ---- validation ------------------------------------------------------------------------------------

P = "/data/attributes/conditions"


def invalid_trees(w: World) -> list[tuple[Any, str, str]]:
    ok = c("lifecycle_stage", "eq", "lead")
    return [
        ("everyone", P, "invalid_shape"),
        ({"version": 2, "groups": [group(ok)]}, P + "/version", "unsupported_version"),
        ({"groups": [group(ok)]}, P + "/version", "missing_field"),
        ({"version": 1, "logic": "either", "groups": [group(ok)]}, P + "/logic", "invalid_logic"),
        (tree(group(ok), group(ok, logic="most")), P + "/groups/1/logic", "invalid_logic"),
        (tree(), P + "/groups", "no_groups"),
        (tree(*[group(ok)] * 21), P + "/groups", "too_many_groups"),
        (tree(group(*[ok] * 51)), P + "/groups/0/conditions", "too_many_conditions"),
        (tree(group()), P + "/groups/0/conditions", "no_conditions"),
        (tree(group(ok, c("phone", "eq", "1"))), P + "/groups/0/conditions/1/type", "unknown_type"),
        (tree(group(ok), group(ok, ok, c("tag", "gt", w.tags["vip"]))),
         P + "/groups/1/conditions/2/operator", "unsupported_operator"),
        (one(c("email", "like", "x")), P + "/groups/0/conditions/0/operator", "unknown_operator"),
        (one({**ok, "negate": True}), P + "/groups/0/conditions/0/negate", "unknown_field"),
        (one({"type": "email", "value": "x"}), P + "/groups/0/conditions/0/operator", "missing_field"),
        (one({"type": "email", "operator": 5, "value": "x"}), P + "/groups/0/conditions/0/operator", "invalid_shape"),
        (one(c("email", "eq")), P + "/groups/0/conditions/0/value", "missing_value"),
        (one(c("email", "contains", "  ")), P + "/groups/0/conditions/0/value", "invalid_value"),
        (one(c("name", "exists", "yes")), P + "/groups/0/conditions/0/value", "invalid_value"),
        (one(c("tag", "has", "not-an-id")), P + "/groups/0/conditions/0/value", "invalid_value"),
        (one(c("tag", "has", str(uuid.uuid4()))), P + "/groups/0/conditions/0/value", "unknown_tag"),
        (one(c("tag", "not_has", w.b_tag)), P + "/groups/0/conditions/0/value", "unknown_tag"),
        (one(c("hub_membership", "has", w.b_hub)), P + "/groups/0/conditions/0/value", "unknown_hub"),
        (one(c("hub_membership", "has", w.hubs["gone"])), P + "/groups/0/conditions/0/value", "unknown_hub"),
        (one(c("attribute", "eq", "x", "nope")), P + "/groups/0/conditions/0/attribute", "unknown_attribute"),
        (one(c("attribute", "eq", "x", w.b_attr)), P + "/groups/0/conditions/0/attribute", "unknown_attribute"),
        (one(c("attribute", "eq", "x")), P + "/groups/0/conditions/0/attribute", "missing_attribute"),
        (one(c("email", "eq", "x", "plan")), P + "/groups/0/conditions/0/attribute", "unexpected_attribute"),
        (one(c("attribute", "contains", "1", "score")), P + "/groups/0/conditions/0/operator",
         "unsupported_operator"),
        (one(c("attribute", "gt", "10", "score")), P + "/groups/0/conditions/0/value", "invalid_value"),
        (one(c("attribute", "eq", "yes", "opt_in")), P + "/groups/0/conditions/0/value", "invalid_value"),
        (one(c("attribute", "in", ["gold", "platinum"], "tier")), P + "/groups/0/conditions/0/value/1",
         "unknown_option"),
        (one(c("attribute", "has", "golf", "interests")), P + "/groups/0/conditions/0/value", "unknown_option"),
        (one(c("lifecycle_stage", "eq", "prospect")), P + "/groups/0/conditions/0/value", "unknown_lifecycle_stage"),
        (one(c("lifecycle_stage", "in", [])), P + "/groups/0/conditions/0/value", "invalid_value"),
        (one(c("created_at", "before", "yesterday")), P + "/groups/0/conditions/0/value", "invalid_datetime"),
        (one(c("attribute", "after", 20240101, "signup_day")), P + "/groups/0/conditions/0/value",
         "invalid_datetime"),
    ]


async def test_invalid_trees_name_the_bad_node(client: Any, world: World) -> None:
    r = await create_segment(client, world, one(c("lifecycle_stage", "eq", "lead")), name="valid")
    assert r.status_code == 201, r.text
    seg = r.json()["data"]["id"]
    for conditions, pointer, reason in invalid_trees(world):
        for response in (
            await create_segment(client, world, conditions),
            await search(client, world, conditions),
            await client.patch(f"/api/v1/teams/{world.team_a}/segments/{seg}",
                               json=doc("segments", {"conditions": conditions}, id=seg), headers=world.ha),
        ):
            err = assert_error(response, 422, "invalid_segment", pointer)
            assert err["meta"]["reason"] == reason, (conditions, err)
    # nothing was saved or changed by any of them
    r = await client.get(f"/api/v1/teams/{world.team_a}/segments/{seg}", headers=world.a.headers)
    assert r.json()["data"]["attributes"]["conditions"]["groups"][0]["conditions"] == \
        [{"type": "lifecycle_stage", "operator": "eq", "value": "lead"}]


async def test_limits_are_inclusive(client: Any, world: World) -> None:
    ok = c("lifecycle_stage", "eq", "alumni")
    assert await matches(client, world, tree(*[group(ok)] * 20)) == labels("c04", "c11")
    assert await matches(client, world, tree(group(*[ok] * 50))) == labels("c04", "c11")


async def test_other_segment_fields_are_validated(client: Any, world: World) -> None:
    ok = one(c("lifecycle_stage", "eq", "lead"))
    assert_error(await create_segment(client, world, ok, name="  "), 422, "invalid_name", "/data/attributes/name")
    assert_error(await create_segment(client, world, ok, description="x" * 1001), 422, "invalid_description",
                 "/data/attributes/description")
    r = await client.post(f"/api/v1/teams/{world.team_a}/segments", json=doc("segments", {"name": "x"}),
                          headers=world.ha)
    assert_error(r, 422, "missing_field", "/data/attributes/conditions")
    assert_error(await search(client, world, ok, page_size=101), 422, "invalid_value", "/data/attributes/page_size")


# ---- saved segments: CRUD, members, count ----------------------------------------------------------


async def test_segment_crud(client: Any, world: World) -> None:
    base = f"/api/v1/teams/{world.team_a}/segments"
    conditions = one(c("attribute", "exists", attribute="interests"))
    r = await create_segment(client, world, conditions, name="  Hobbyists ", description="has interests")
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    seg = data["id"]
    assert r.headers["location"] == f"{base}/{seg}"
    assert data["type"] == "segments"
    assert data["attributes"]["name"] == "Hobbyists"
    assert data["attributes"]["description"] == "has interests"
    assert data["attributes"]["conditions"] == {"version": 1, "logic": "all", "groups": [{"logic": "all", "conditions": [
        {"type": "attribute", "operator": "exists", "attribute": "interests", "value": True}]}]}
    assert (await client.get(f"{base}/{seg}", headers=world.a.headers)).json()["data"] == data

    r = await client.patch(f"{base}/{seg}", json=doc("segments", {"name": "Yoga", "description": None,
                                                                  "conditions": one(c("attribute", "has", "yoga",
                                                                                      "interests"))}, id=seg),
                           headers=world.ha)
    assert r.status_code == 200, r.text
    attrs = r.json()["data"]["attributes"]
    assert attrs["name"] == "Yoga" and attrs["description"] is None
    assert attrs["conditions"]["groups"][0]["conditions"][0]["value"] == "yoga"
    r = await client.get(f"{base}/{seg}/members/count", headers=world.a.headers)
    assert r.json() == {"data": {"type": "segment_counts", "id": seg, "attributes": {"count": 2}}}
    # a PATCH of the name only keeps the conditions
    r = await client.patch(f"{base}/{seg}", json=doc("segments", {"name": "Yogis"}), headers=world.ha)
    assert r.json()["data"]["attributes"]["conditions"]["groups"][0]["conditions"][0]["value"] == "yoga"
    r = await client.patch(f"{base}/{seg}", json=doc("segments", {"name": "x"}, id=str(uuid.uuid4())),
                           headers=world.ha)
    assert_error(r, 409, "id_mismatch", "/data/id")

    listed = (await client.get(f"{base}?page[size]=100", headers=world.a.headers)).json()["data"]
    assert seg in {s["id"] for s in listed}
    r = await client.delete(f"{base}/{seg}", headers=world.a.headers)
    assert r.status_code == 204
    assert_error(await client.get(f"{base}/{seg}", headers=world.a.headers), 404, "not_found")
    assert_error(await client.get(f"{base}/{seg}/members", headers=world.a.headers), 404, "not_found")


async def test_members_pages_and_count(client: Any, world: World) -> None:
    base = f"/api/v1/teams/{world.team_a}/segments"
    r = await create_segment(client, world, one(c("email", "contains", "example.test")), name="Example")
    seg = r.json()["data"]["id"]
    expected = labels("c01", "c03", "c05", "c06", "c07", "c09", "c10", "c11", "c12")
    seen: list[str] = []
    url: str | None = f"{base}/{seg}/members?page[size]=4"
    sizes = []
    while url:
        r = await client.get(url, headers=world.a.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        sizes.append(len(body["data"]))
        seen += [item["id"] for item in body["data"]]
        assert body["meta"]["has_more"] is (body["links"].get("next") is not None)
        url = body["links"].get("next")
    assert sizes == [4, 4, 1]
    assert seen == sorted(seen, key=uuid.UUID)  # oldest first, no repeats
    assert {world.labels[i] for i in seen} == expected and len(seen) == len(expected)
    r = await client.get(f"{base}/{seg}/members/count", headers=world.a.headers)
    assert r.json()["data"]["attributes"]["count"] == 9

    first = (await client.get(f"{base}/{seg}/members?page[size]=1", headers=world.a.headers)).json()["data"][0]
    assert first["type"] == "team_contacts" and first["id"] == world.ids["c01"]
    assert first["attributes"]["email"] == DATASET["c01"]["address"]
    assert first["attributes"]["first_name"] == "Alice" and first["attributes"]["last_name"] == "Smith"
    assert first["attributes"]["lifecycle_stage"] == "lead"
    assert first["attributes"]["created_at"].startswith("2024-01-01T00:00:00")
    assert_error(await client.get(f"{base}/{seg}/members?page[size]=0", headers=world.a.headers), 422,
                 "invalid_page_size")
    r = await client.get(f"{base}/{seg}/members?filter[x]=1", headers=world.a.headers)
    assert_error(r, 422, "unknown_filter")


async def test_member_names_fall_back(client: Any, world: World) -> None:
    r = await search(client, world, one(c("lifecycle_stage", "in", ["customer", "member"])))
    by_label = {world.labels[i["id"]]: i["attributes"] for i in r.json()["data"]}
    assert (by_label["c02"]["first_name"], by_label["c02"]["last_name"]) == ("Bob", "Jones")
    assert (by_label["c03"]["first_name"], by_label["c03"]["last_name"]) == ("Carol", "Baker")
    assert (by_label["c06"]["first_name"], by_label["c06"]["last_name"]) == ("Zoë", "Öztürk")
    assert (by_label["c07"]["first_name"], by_label["c07"]["last_name"]) == ("Frank", "Smith")


async def test_search_preview_pages_size_and_count(client: Any, world: World) -> None:
    r = await search(client, world, one(c("lifecycle_stage", "neq", "lead")), page_size=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"] == {"count": 7, "has_more": True}
    assert [world.labels[i["id"]] for i in body["data"]] == ["c02", "c03", "c04"]  # oldest first
    r = await search(client, world, one(c("lifecycle_stage", "eq", "member")), page_size=3)
    assert r.json()["meta"] == {"count": 2, "has_more": False}
    # a preview saves nothing
    listed = (await client.get(f"/api/v1/teams/{world.team_b}/segments", headers=world.b.headers)).json()["data"]
    assert listed == []


async def test_saved_segment_with_a_deleted_tag_still_answers(client: Any, world: World) -> None:
    engine = create_engine(world.database_url)
    now = datetime.now(timezone.utc)
    try:
        async with UnitOfWork(session_factory(engine)) as uow:
            temp = Tag(team_id=uuid.UUID(world.team_a), name=f"temp-{uuid.uuid4().hex[:6]}", created_at=now,
                       updated_at=now)
            uow.session.add(temp)
            await uow.session.flush()
            uow.session.add(ContactTag(team_contact_id=uuid.UUID(world.ids["c04"]), tag_id=temp.id, created_at=now))
        r = await create_segment(client, world, tree(group(c("tag", "has", str(temp.id))),
                                                     group(c("tag", "not_has", str(temp.id)),
                                                           c("lifecycle_stage", "eq", "alumni")), logic="any"))
        seg = r.json()["data"]["id"]
        count = f"/api/v1/teams/{world.team_a}/segments/{seg}/members/count"
        assert (await client.get(count, headers=world.a.headers)).json()["data"]["attributes"]["count"] == 2
        async with UnitOfWork(session_factory(engine)) as uow:
            await uow.session.execute(sa.delete(Tag).where(Tag.id == temp.id))
        # has -> nobody, not_has -> everybody: the alumni c04 and c11
        assert (await client.get(count, headers=world.a.headers)).json()["data"]["attributes"]["count"] == 2
        r = await client.get(f"/api/v1/teams/{world.team_a}/segments/{seg}/members", headers=world.a.headers)
        assert {world.labels[i["id"]] for i in r.json()["data"]} == labels("c04", "c11")
    finally:
        await engine.dispose()


# ---- access: other teams, scopes -------------------------------------------------------------------


async def test_cross_team_is_404_everywhere(client: Any, world: World) -> None:
    r = await create_segment(client, world, one(c("lifecycle_stage", "eq", "lead")), name="A only")
    seg = r.json()["data"]["id"]
    hb = {**world.b.headers, **JSONAPI_HEADERS}
    body = doc("segments", {"name": "stolen"}, id=seg)
    search_body = doc("segment_searches", {"conditions": one(c("lifecycle_stage", "eq", "lead"))})
    for team in (world.team_a, world.team_b):  # team A's path (not B's team) and B's own path (not B's segment)
        base = f"/api/v1/teams/{team}/segments"
        calls = [
            ("GET", f"{base}/{seg}", None), ("PATCH", f"{base}/{seg}", body), ("DELETE", f"{base}/{seg}", None),
            ("GET", f"{base}/{seg}/members", None), ("GET", f"{base}/{seg}/members/count", None),
        ]
        if team == world.team_a:
            calls += [("GET", base, None), ("POST", base, doc("segments", {"name": "x", "conditions": one(
                c("lifecycle_stage", "eq", "lead"))})), ("POST", f"{base}/search", search_body)]
        for method, url, json in calls:
            r = await client.request(method, url, json=json, headers=hb)
            assert_error(r, 404, "not_found")
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        r = await client.get(f"/api/v1/teams/{world.team_a}/segments/{bad}/members/count", headers=world.a.headers)
        assert_error(r, 404, "not_found")
    # still there for its own team
    r = await client.get(f"/api/v1/teams/{world.team_a}/segments/{seg}", headers=world.a.headers)
    assert r.json()["data"]["attributes"]["name"] == "A only"


async def test_scopes(client: Any, world: World) -> None:
    base = f"/api/v1/teams/{world.team_a}/segments"
    reader = await create_key(client, world.a, world.team_a, ["segments:read"])
    hr = {**bearer(reader["secret"]), **JSONAPI_HEADERS}
    assert (await client.get(base, headers=hr)).status_code == 200
    r = await search(client, world, one(c("lifecycle_stage", "eq", "member")), headers=hr)
    assert r.status_code == 200 and r.json()["meta"]["count"] == 2
    r = await client.post(base, json=doc("segments", {"name": "x", "conditions": one(
        c("lifecycle_stage", "eq", "lead"))}), headers=hr)
    err = assert_error(r, 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "segments:write"
    other = await create_key(client, world.a, world.team_a, ["contacts:read"])
    ho = bearer(other["secret"])
    assert_error(await client.get(base, headers=ho), 403, "insufficient_scope")
    assert_error(await client.get(base), 401, "unauthenticated")


async def test_saved_segment_with_a_deleted_option_still_answers(client: Any, world: World) -> None:
    engine = create_engine(world.database_url)
    try:
        async with UnitOfWork(session_factory(engine)) as uow:
            temp = ContactAttributeOption(attribute_id=uuid.UUID(world.attrs["tier"]), value="temp", label="Temp",
                                          created_at=datetime.now(timezone.utc))
            uow.session.add(temp)
        r = await create_segment(client, world, tree(group(c("attribute", "eq", "temp", "tier"),
                                                           c("attribute", "neq", "temp", "tier"), logic="any")))
        assert r.status_code == 201, r.text
        count = f"/api/v1/teams/{world.team_a}/segments/{r.json()['data']['id']}/members/count"
        assert (await client.get(count, headers=world.a.headers)).json()["data"]["attributes"]["count"] == 11
        async with UnitOfWork(session_factory(engine)) as uow:
            await uow.session.execute(sa.delete(ContactAttributeOption).where(ContactAttributeOption.id == temp.id))
        assert (await client.get(count, headers=world.a.headers)).json()["data"]["attributes"]["count"] == 11
        # a new tree naming the deleted option is refused
        err = assert_error(await search(client, world, one(c("attribute", "eq", "temp", "tier"))), 422,
                           "invalid_segment", P + "/groups/0/conditions/0/value")
        assert err["meta"]["reason"] == "unknown_option"
    finally:
        await engine.dispose()
