"""The access facts loader and its cache: facts loaded as they are stored, in a fixed number of
queries whatever their size, served from the cache when warm, and forgotten at once — on this
instance before the response that changed them, on another instance through the broker.

Changes go through the existing routes (ban, soft-ban, tags, policies); entitlements and rules are
written as rows with ``facts_changed`` in the same unit of work, as their domain functions do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from domain.access import cache as cache_module
from domain.access.cache import FactsCache
from domain.access.facts import (
    Condition,
    ContactFacts,
    EntitlementFact,
    HubFacts,
    MembershipFacts,
    OverrideFact,
    RuleFact,
    Target,
    TargetFacts,
)
from domain.access.invalidation import FactsChanged, facts_changed
from domain.access.loader import LoadedHub, load_contact_facts, load_hub, load_hub_facts, load_target_facts
from persistence.models import (
    AccessOverride,
    Entitlement,
    HubMembership,
    Space,
    SpaceMember,
)
from server.app import create_app
from tests.support.access_world import NOW, World, check, make_world, node, rule, set_policy, uid, write
from tests.support.api import assert_error, doc, w
from tests.support.app import in_app
from tests.support.backends import REDIS_URL
from tests.support.hubs import act

# ---- tags, segments and entitlements (the world itself: tests/support/access_world.py) ------------


async def new_tag(client: Any, world: World, name: str) -> uuid.UUID:
    r = await client.post(f"{world.team}/tags", json=doc("tags", {"name": name}), headers=w(world.staff.headers))
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["data"]["id"])


async def tag_member(client: Any, world: World, tag_id: uuid.UUID) -> None:
    r = await client.post(f"{world.team}/contacts/{world.team_contact_id}/tags",
                          json=doc("contact_tags", {"tag_id": str(tag_id)}), headers=w(world.staff.headers))
    assert r.status_code in (200, 201), r.text


async def new_segment(client: Any, world: World, tag_id: uuid.UUID) -> uuid.UUID:
    conditions = {"version": 1, "logic": "all",
                  "groups": [{"logic": "all", "conditions": [{"type": "tag", "operator": "has", "value": str(tag_id)}]}]}
    r = await client.post(f"{world.team}/segments", json=doc("segments", {"name": f"S {uid().hex[:6]}",
                                                                          "conditions": conditions}),
                          headers=w(world.staff.headers))
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["data"]["id"])


def entitlement(world: World, kind: str = "content_enrollment", target_id: uuid.UUID | None = None,
                revoked: bool = False) -> Entitlement:
    return Entitlement(id=uid(), hub_id=world.hub_uuid, team_id=uuid.UUID(world.staff.team_id),
                       contact_id=world.contact_uuid, kind=kind, target_id=target_id, source="staff_grant",
                       starts_at=NOW, ends_at=NOW + timedelta(days=30), revoked_at=NOW if revoked else None,
                       created_at=NOW, updated_at=NOW)


class StatementCounter:
    """Counts the statements one unit of work sends (others — the email worker — are ignored)."""

    def __init__(self, app: Any) -> None:
        self.engine = app.state.services.engine.sync_engine
        self.connection: Any = None
        self.statements: list[str] = []

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn is self.connection and not statement.lstrip().upper().startswith(
                ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")):
            self.statements.append(statement)

    async def attach(self, uow: Any) -> None:
        self.connection = (await uow.session.connection()).sync_connection
        sa.event.listen(self.engine, "before_cursor_execute", self._on)

    def detach(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._on)

    def take(self) -> int:
        n = len(self.statements)
        self.statements.clear()
        return n


def counted(client: Any, app: Any, fn: Any) -> Any:
    """Run ``fn(uow, counter)`` in a unit of work on the app's loop with statements counted."""

    async def go() -> Any:
        counter = StatementCounter(app)
        async with app.state.services.uow() as uow:
            await counter.attach(uow)
            try:
                return await fn(uow, counter)
            finally:
                counter.detach()

    return in_app(client, go)


# ---- the loader -----------------------------------------------------------------------------------


async def test_facts_are_loaded_as_stored(client, app):
    world = await make_world(client)
    await set_policy(client, world, "tos", "Be kind.", True)
    await set_policy(client, world, "tos", "Be kinder.", True)  # version 2
    await set_policy(client, world, "privacy_policy", "We keep little.", False)
    r = await client.post(f"/api/v1/hub/{world.hub.id}/me/accept-policies",
                          json=doc("policy_acceptances", {"policy_type": "tos", "version": 2}), headers=w(world.headers))
    assert r.status_code == 201, r.text
    t1, t2, t3 = [await new_tag(client, world, f"Tag {i} {uid().hex[:6]}") for i in range(3)]
    await tag_member(client, world, t1)
    await tag_member(client, world, t2)
    s1, s3 = await new_segment(client, world, t1), await new_segment(client, world, t3)

    course = node(world)
    module = node(world, course.id)
    lesson = node(world, module.id)
    gone = node(world, course.id, deleted=True)
    orphan = node(world, gone.id)  # under a deleted node: not reachable
    secret = Space(id=uid(), hub_id=world.hub_uuid, name="Inner", slug=f"inner-{uid().hex[:6]}",
                   access_level="secret", posting_permission="members", created_at=NOW, updated_at=NOW)
    open_space = Space(id=uid(), hub_id=world.hub_uuid, name="Open", slug=f"open-{uid().hex[:6]}",
                       access_level="open", posting_permission="members", created_at=NOW, updated_at=NOW)
    r_hub = rule(world, "hub", world.hub_uuid, [("has_entitlement", {"kind": "hub_access"})])
    r_course = rule(world, "content_node", course.id, [
        ("available_after", {"at": "2030-01-01T00:00:00Z"}), ("in_segment", {"segment_id": str(s1)}),
        ("in_segment", {"segment_id": str(s3)}), ("has_tag", {"tag_id": str(t1)})], logic="any")
    r_space = rule(world, "space", secret.id, [("role_at_least", {"role": "moderator"})])
    e1 = entitlement(world, "content_enrollment", course.id)
    e2 = entitlement(world, "hub_access", revoked=True)
    override = AccessOverride(id=uid(), hub_id=world.hub_uuid, contact_id=world.contact_uuid, scope="target",
                              target_type="content_node", target_id=module.id, expires_at=NOW + timedelta(days=1),
                              reason="test", created_at=NOW, updated_at=NOW)
    write(client, app, course, module, lesson, gone, orphan, secret, open_space,
          SpaceMember(space_id=secret.id, contact_id=world.contact_uuid, created_at=NOW),
          r_hub, r_course, r_space, e1, e2, override)

    async def load(uow: Any) -> Any:
        loaded = await load_hub(uow, world.hub_uuid)
        contact = await load_contact_facts(uow, loaded.facts, world.contact_uuid)
        membership = await uow.session.scalar(sa.select(HubMembership).where(
            HubMembership.hub_id == world.hub_uuid, HubMembership.contact_id == world.contact_uuid))
        targets = {name: await load_target_facts(uow, loaded.facts, tt, tid, world.contact_uuid,
                                                 node_parents=loaded.node_parents)
                   for name, tt, tid in [("hub", "hub", world.hub_uuid), ("lesson", "content_node", lesson.id),
                                         ("orphan", "content_node", orphan.id), ("gone", "content_node", gone.id),
                                         ("secret", "space", secret.id), ("open", "space", open_space.id),
                                         ("other_hub", "hub", uid()), ("unknown_node", "content_node", uid()),
                                         ("page", "page", uid())]}
        no_map = await load_target_facts(uow, loaded.facts, "content_node", lesson.id, None)
        stranger = await load_target_facts(uow, loaded.facts, "space", secret.id, uid())
        return loaded, contact, membership.joined_at, targets, no_map, stranger

    loaded, contact, joined_at, targets, no_map, stranger = in_app(client, lambda: _with_uow(app, load))

    assert loaded.facts == HubFacts(
        hub_id=world.hub_uuid, team_id=uuid.UUID(world.staff.team_id), is_private=False,
        policy_versions={"tos": 2, "privacy_policy": 1}, required_policies=frozenset({"tos"}),
        rules={
            Target("hub", world.hub_uuid): (RuleFact(r_hub.id, Target("hub", world.hub_uuid), "all",
                                                     (Condition("has_entitlement", {"kind": "hub_access"}),)),),
            Target("content_node", course.id): (RuleFact(r_course.id, Target("content_node", course.id), "any", (
                Condition("available_after", {"at": datetime(2030, 1, 1, tzinfo=timezone.utc)}),
                Condition("in_segment", {"segment_id": s1}), Condition("in_segment", {"segment_id": s3}),
                Condition("has_tag", {"tag_id": t1}))),),
            Target("space", secret.id): (RuleFact(r_space.id, Target("space", secret.id), "all",
                                                  (Condition("role_at_least", {"role": "moderator"}),)),),
        },
    )
    assert set(loaded.segment_clauses) == {s1, s3}
    assert loaded.node_parents == {course.id: None, module.id: course.id, lesson.id: module.id, orphan.id: gone.id}
    assert contact == ContactFacts(
        contact_id=world.contact_uuid,
        membership=MembershipFacts("member", "active", None, joined_at, {"tos": 2}),
        entitlements=tuple(sorted([
            EntitlementFact(e1.id, "content_enrollment", course.id, NOW, NOW + timedelta(days=30), None),
            EntitlementFact(e2.id, "hub_access", None, NOW, NOW + timedelta(days=30), NOW),
        ], key=lambda e: e.id)),
        tag_ids=frozenset({t1, t2}),
        segment_ids=frozenset({s1}),  # in s1 (has t1), not in s3 (t3)
        overrides=(OverrideFact(override.id, "target", Target("content_node", module.id), NOW + timedelta(days=1)),),
    )
    hub_t = Target("hub", world.hub_uuid)
    assert targets["hub"] == TargetFacts(hub_t, path=(hub_t,))
    lesson_path = (hub_t, Target("content_node", course.id), Target("content_node", module.id),
                   Target("content_node", lesson.id))
    assert targets["lesson"] == TargetFacts(Target("content_node", lesson.id), path=lesson_path) == no_map
    assert targets["secret"] == TargetFacts(Target("space", secret.id), path=(hub_t, Target("space", secret.id)),
                                            secret=True, in_target=True)
    assert stranger.secret and not stranger.in_target
    assert targets["open"].exists and not targets["open"].secret and not targets["open"].in_target
    for missing in ("orphan", "gone", "other_hub", "unknown_node", "page"):
        assert targets[missing].exists is False, missing


async def _with_uow(app: Any, fn: Any) -> Any:
    async with app.state.services.uow() as uow:
        return await fn(uow)


async def test_a_missing_or_deleted_hub_is_not_found(client, app):
    world = await make_world(client)
    from domain.errors import NotFound

    async def load(uow: Any) -> Any:
        with pytest.raises(NotFound):
            await load_hub_facts(uow, uid())
        return True

    assert in_app(client, lambda: _with_uow(app, load))
    r = await client.delete(world.hub.url, headers=world.staff.headers)
    assert r.status_code == 204, r.text
    assert (await client.get(f"{world.team}/hubs/{world.hub.id}/access/explain",
                             params={"contact_id": world.contact_id, "target_type": "hub",
                                     "target_id": world.hub.id}, headers=world.staff.headers)).status_code == 404


async def _facts_of_size(client: Any, app: Any, n_rules: int, n_entitlements: int, n_tags: int,
                         n_segments: int) -> tuple[World, uuid.UUID]:
    world = await make_world(client)
    tags = [await new_tag(client, world, f"T{i} {uid().hex[:6]}") for i in range(n_tags)]
    r = await client.post(f"{world.team}/contacts/{world.team_contact_id}/tags/bulk",
                          json=doc("contact_tags", {"tag_ids": [str(t) for t in tags]}), headers=w(world.staff.headers))
    assert r.status_code in (200, 201), r.text
    segments = [await new_segment(client, world, tags[i % n_tags]) for i in range(n_segments)]
    root = node(world)
    leaf = node(world, root.id)
    rows: list[Any] = [root, leaf]
    for i in range(n_rules):
        conditions: list[tuple[str, dict[str, Any]]] = [("has_tag", {"tag_id": str(tags[i % n_tags])}),
                                                          ("days_since_join", {"days": i})]
        if segments:
            conditions.append(("in_segment", {"segment_id": str(segments[i % n_segments])}))
        rows.append(rule(world, "content_node", root.id if i % 2 else leaf.id, conditions, logic="any"))
    rows += [entitlement(world, target_id=uid()) for _ in range(n_entitlements)]
    write(client, app, *rows)
    return world, leaf.id


@pytest.mark.parametrize("with_segments", [False, True])
async def test_a_cold_load_takes_a_fixed_number_of_queries(client, app, with_segments):
    """The numbers stated in domain.access.loader: hub 3 (+2 for segments naming tags), contact 4
    (+1 for segments), a content-node target 0 — for 1 rule or 20, 1 entitlement or 10, 1 tag or 15."""
    counts = []
    for size in ((1, 1, 1, 1 if with_segments else 0), (20, 10, 15, 5 if with_segments else 0)):
        world, leaf = await _facts_of_size(client, app, *size)

        async def load(uow: Any, counter: StatementCounter) -> tuple[int, int, int, LoadedHub, ContactFacts]:
            loaded = await load_hub(uow, world.hub_uuid)
            hub_n = counter.take()
            contact = await load_contact_facts(uow, loaded.facts, world.contact_uuid,
                                               segment_clauses=loaded.segment_clauses)
            contact_n = counter.take()
            await load_target_facts(uow, loaded.facts, "content_node", leaf, world.contact_uuid,
                                    node_parents=loaded.node_parents)
            return hub_n, contact_n, counter.take(), loaded, contact

        hub_n, contact_n, target_n, loaded, contact = counted(client, app, load)
        assert sum(len(r) for r in loaded.facts.rules.values()) == size[0]
        assert len(contact.entitlements) == size[1] and len(contact.tag_ids) == size[2]
        assert len(contact.segment_ids) == size[3]
        counts.append((hub_n, contact_n, target_n))
    # segments here name tags only: +1 for the segments, +1 for their tag references
    expected = (5, 5, 0) if with_segments else (3, 4, 0)
    assert counts == [expected, expected], counts


async def test_a_space_target_takes_one_query(client, app):
    world = await make_world(client)
    space = Space(id=uid(), hub_id=world.hub_uuid, name="S", slug=f"s-{uid().hex[:6]}", access_level="private",
                  posting_permission="members", created_at=NOW, updated_at=NOW)
    write(client, app, space)

    async def load(uow: Any, counter: StatementCounter) -> int:
        loaded = await load_hub(uow, world.hub_uuid)
        counter.take()
        facts = await load_target_facts(uow, loaded.facts, "space", space.id, world.contact_uuid)
        assert facts.exists and not facts.secret and not facts.in_target
        return counter.take()

    assert counted(client, app, load) == 1


# ---- the cache ------------------------------------------------------------------------------------


async def test_a_warm_cache_sends_no_query(client, app):
    world, leaf = await _facts_of_size(client, app, 3, 2, 2, 1)
    cache = FactsCache()

    async def twice(uow: Any, counter: StatementCounter) -> tuple[int, int]:
        hub = await cache.hub(uow, world.hub_uuid)
        await cache.contact(uow, hub, world.contact_uuid)
        cold = counter.take()
        hub = await cache.hub(uow, world.hub_uuid)
        await cache.contact(uow, hub, world.contact_uuid)
        return cold, counter.take()

    assert counted(client, app, twice) == (10, 0)
    assert (cache.hits, cache.misses) == (2, 2)


def test_invalidation_scopes_and_bounds():
    cache = FactsCache(max_contacts=3)
    team, other_team = uid(), uid()
    h1, h2, h3 = uid(), uid(), uid()
    c1, c2 = uid(), uid()

    def fill() -> None:
        cache.clear()
        for h, t in ((h1, team), (h2, team), (h3, other_team)):
            cache._team_of_hub[h] = t
            cache._hubs[h] = (time.monotonic() + 60, LoadedHub(HubFacts(h, t, False, {}, frozenset(), {})))
        for h, c in ((h1, c1), (h1, c2), (h2, c1)):
            _store(cache, h, c)

    fill()
    cache.invalidate(FactsChanged(hub_id=str(h1), contact_id=str(c1)))
    assert set(cache._contacts) == {(h1, c2), (h2, c1)} and h1 in cache._hubs
    fill()
    cache.invalidate(FactsChanged(hub_id=str(h1)))
    assert set(cache._contacts) == {(h2, c1)} and h1 not in cache._hubs and h2 in cache._hubs
    fill()
    cache.invalidate(FactsChanged(team_id=str(team), contact_id=str(c1)))
    assert set(cache._contacts) == {(h1, c2)} and {h1, h2, h3} <= set(cache._hubs)
    fill()
    cache.invalidate(FactsChanged(team_id=str(other_team), contact_id=str(c1)))
    assert len(cache._contacts) == 3
    cache.invalidate(FactsChanged(team_id=str(team)))
    assert not cache._contacts and set(cache._hubs) == {h3}
    fill()
    cache.apply(b"not json")
    assert not cache._contacts and not cache._hubs
    # bounded: the least recently used entry goes first, and the indexes follow
    fill()
    _store(cache, h3, c2)
    assert set(cache._contacts) == {(h1, c2), (h2, c1), (h3, c2)}
    assert cache._hub_contacts[h1] == {c2} and cache._contact_hubs[c1] == {h2}


def _store(cache: FactsCache, hub_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    """Store an entry the way FactsCache.contact does, without a database."""

    async def loader(uow: Any, hub: Any, cid: uuid.UUID, **kw: Any) -> ContactFacts:
        return ContactFacts(cid, None)

    original = cache_module.load_contact_facts
    cache_module.load_contact_facts = loader  # type: ignore[assignment]
    try:
        hub = LoadedHub(HubFacts(hub_id, cache._team_of_hub[hub_id], False, {}, frozenset(), {}))
        asyncio.run(cache.contact(None, hub, contact_id))  # type: ignore[arg-type]
    finally:
        cache_module.load_contact_facts = original  # type: ignore[assignment]


async def test_a_load_that_raced_an_invalidation_is_not_stored(monkeypatch):
    cache = FactsCache()
    hub_id, team_id, contact_id = uid(), uid(), uid()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_hub(uow: Any, hid: uuid.UUID) -> LoadedHub:
        started.set()
        await release.wait()  # the old rows were read; meanwhile the change commits
        return LoadedHub(HubFacts(hid, team_id, False, {}, frozenset(), {}))

    async def slow_contact(uow: Any, hub: Any, cid: uuid.UUID, **kw: Any) -> ContactFacts:
        started.set()
        await release.wait()
        return ContactFacts(cid, None)

    monkeypatch.setattr(cache_module, "load_hub", slow_hub)
    monkeypatch.setattr(cache_module, "load_contact_facts", slow_contact)
    for load, change in ((lambda: cache.hub(None, hub_id), FactsChanged(hub_id=str(hub_id))),  # type: ignore[arg-type]
                         (lambda: cache.contact(None, LoadedHub(HubFacts(hub_id, team_id, False, {}, frozenset(), {})),  # type: ignore[arg-type]
                                                contact_id), FactsChanged(hub_id=str(hub_id), contact_id=str(contact_id)))):
        started.clear()
        release.clear()
        task = asyncio.create_task(load())
        await started.wait()
        cache.invalidate(change)
        release.set()
        await task  # the caller still gets its answer...
    assert not cache._hubs and not cache._contacts  # ...but it is not kept
    # without a race, it is kept
    release.set()
    await cache.hub(None, hub_id)  # type: ignore[arg-type]
    assert hub_id in cache._hubs


async def test_entries_expire_after_the_ttl():
    now = [100.0]
    cache = FactsCache(ttl=60, monotonic=lambda: now[0])
    calls = []

    async def loader(uow: Any, hid: uuid.UUID) -> LoadedHub:
        calls.append(hid)
        return LoadedHub(HubFacts(hid, uid(), False, {}, frozenset(), {}))

    original = cache_module.load_hub
    cache_module.load_hub = loader  # type: ignore[assignment]
    try:
        hub_id = uid()
        await cache.hub(None, hub_id)  # type: ignore[arg-type]
        now[0] += 59.9
        await cache.hub(None, hub_id)  # type: ignore[arg-type]
        now[0] += 0.2
        await cache.hub(None, hub_id)  # type: ignore[arg-type]
    finally:
        cache_module.load_hub = original  # type: ignore[assignment]
    assert len(calls) == 2


# ---- the very next decision reflects a change -------------------------------------------------------


async def explain(client: Any, world: World, target_type: str, target_id: Any, action: str = "view") -> dict[str, Any]:
    r = await client.get(f"{world.team}/hubs/{world.hub.id}/access/explain",
                         params={"contact_id": world.contact_id, "target_type": target_type,
                                 "target_id": str(target_id), "action": action}, headers=world.staff.headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"]["attributes"])


def decision(r: Any) -> tuple[bool, str]:
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    return a["allowed"], a["reason"]


async def test_the_next_check_reflects_every_change(client, app):
    world = await make_world(client)
    tag = await new_tag(client, world, f"VIP {uid().hex[:6]}")
    tagged, enrolled = node(world), node(world)
    write(client, app, tagged, enrolled,
          rule(world, "content_node", tagged.id, [("has_tag", {"tag_id": str(tag)})]),
          rule(world, "content_node", enrolled.id, [("has_entitlement", {"kind": "content_enrollment",
                                                                          "target_id": str(enrolled.id)})]))
    # rules arrive through facts_changed (hub-wide) like the access-rules routes do
    in_app(client, _changed(app, hub_id=world.hub_uuid))

    assert decision(await check(client, world, "content_node", tagged.id)) == (False, "missing_tag")
    await tag_member(client, world, tag)
    assert decision(await check(client, world, "content_node", tagged.id)) == (True, "allowed")
    r = await client.delete(f"{world.team}/contacts/{world.team_contact_id}/tags/{tag}", headers=world.staff.headers)
    assert r.status_code == 204, r.text
    assert decision(await check(client, world, "content_node", tagged.id)) == (False, "missing_tag")
    await tag_member(client, world, tag)
    r = await client.delete(f"{world.team}/tags/{tag}", headers=world.staff.headers)  # the tag itself goes
    assert r.status_code == 204, r.text
    assert decision(await check(client, world, "content_node", tagged.id)) == (False, "missing_tag")

    assert decision(await check(client, world, "content_node", enrolled.id)) == (False, "missing_entitlement")
    write(client, app, entitlement(world, "content_enrollment", enrolled.id),
          changed={"hub_id": world.hub_uuid, "contact_id": world.contact_uuid})
    assert decision(await check(client, world, "content_node", enrolled.id)) == (True, "allowed")

    assert decision(await check(client, world, "hub", world.hub.id, "post")) == (True, "allowed")
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "soft-ban")).status_code == 200
    assert decision(await check(client, world, "hub", world.hub.id, "post")) == (False, "soft_banned")
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "unban")).status_code == 200
    assert decision(await check(client, world, "hub", world.hub.id, "post")) == (True, "allowed")

    # the staff-side explanation reads the same cache: a ban shows at once there too
    assert (await explain(client, world, "hub", world.hub.id))["reason"] == "allowed"
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "ban")).status_code == 200
    assert (await explain(client, world, "hub", world.hub.id))["reason"] == "banned"
    assert_error(await check(client, world, "hub", world.hub.id), 403, "banned")
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "unban")).status_code == 200

    # a policy that now requires acceptance
    await set_policy(client, world, "tos", "Be kind.", True)
    assert_error(await check(client, world, "hub", world.hub.id), 403, "policy_not_accepted")
    r = await client.post(f"/api/v1/hub/{world.hub.id}/me/accept-policies",
                          json=doc("policy_acceptances", {"policy_type": "tos", "version": 1}), headers=w(world.headers))
    assert r.status_code == 201, r.text
    assert decision(await check(client, world, "hub", world.hub.id)) == (True, "allowed")


def _changed(app: Any, **scope: Any) -> Any:
    async def go() -> None:
        async with app.state.services.uow() as uow:
            facts_changed(uow, **scope)

    return go


@pytest.fixture
async def second_client(settings, clock, client) -> AsyncIterator[AsyncTestClient[Any]]:
    """Another app instance on the same database and Redis prefix (its own facts cache). The
    embedded default serves one process (its broker is in-process), so there the "other" instance
    is the same one and the test checks that instance's own cache."""
    if not REDIS_URL:
        yield client
        return
    other = create_app(settings, clock=clock)
    async with AsyncTestClient(other, base_url="http://second.local") as c:
        yield c


async def test_every_instance_reflects_a_change_promptly(client, app, second_client):
    world = await make_world(client)
    tag = await new_tag(client, world, f"VIP {uid().hex[:6]}")
    tagged = node(world)
    write(client, app, tagged, rule(world, "content_node", tagged.id, [("has_tag", {"tag_id": str(tag)})]),
          changed={"hub_id": world.hub_uuid})

    async def poll(expected: tuple[bool, str], target_type: str = "content_node", target_id: Any = tagged.id,
                   action: str = "view") -> float:
        """Seconds until the second instance answers ``expected``. Typically tens of
        milliseconds; the bound is generous so a loaded CI machine does not make it flaky."""
        start = time.monotonic()
        while True:
            got = await explain(second_client, world, target_type, target_id, action)
            if (got["allowed"], got["reason"]) == expected:
                return time.monotonic() - start
            assert time.monotonic() - start < 3.0, (got, expected)
            await asyncio.sleep(0.01)

    await poll((False, "missing_tag"))  # warm on the second instance
    await tag_member(client, world, tag)  # through the first
    await poll((True, "allowed"))
    assert decision(await check(second_client, world, "content_node", tagged.id)) == (True, "allowed")

    await poll((True, "allowed"), "hub", world.hub.id, "post")
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "soft-ban")).status_code == 200
    await poll((False, "soft_banned"), "hub", world.hub.id, "post")
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "ban")).status_code == 200
    await poll((False, "banned"), "hub", world.hub.id)
    assert_error(await check(second_client, world, "hub", world.hub.id), 403, "banned")
