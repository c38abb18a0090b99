"""Access evaluator benchmark: warm and cold decision latency.

    python bench/access.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                           [--decisions 200000] [--cold 300]

- warm: ``decide()`` over facts already in memory (20 rules on a 4-level path, 10 entitlements,
  15 tags, 3 segments), median and p99 per decision; then ``service.evaluate()`` (what
  ``service.check()`` runs at ``ctx.now()``) through a warm ``FactsCache`` (what a member route pays
  once the facts are cached).
- cold: ``service.evaluate()`` with an empty cache, so the facts load from the database (hub, contact,
  target) — on a throwaway database created on the given server (dropped afterwards), with the
  number of queries per load counted on the connection.
- baseline: a trivial Python function call timed the same way in the same run, and the ratios,
  because the machines this runs on are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from domain.access.cache import FactsCache  # noqa: E402
from domain.access.evaluator import decide  # noqa: E402
from domain.access.facts import (  # noqa: E402
    AccessFacts,
    Condition,
    ContactFacts,
    EntitlementFact,
    HubFacts,
    MembershipFacts,
    RuleFact,
    Subject,
    Target,
    TargetFacts,
)
from domain.access.service import evaluate  # noqa: E402
from persistence import migrate  # noqa: E402
from persistence.db import UnitOfWork, create_engine, session_factory  # noqa: E402
from persistence.models import (  # noqa: E402
    AccessRule,
    Contact,
    ContactTag,
    ContentNode,
    Entitlement,
    Hub,
    HubMembership,
    HubPolicy,
    PolicyAcceptance,
    Segment,
    Tag,
    Team,
    TeamContact,
)

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NOW = datetime.now(timezone.utc)
N_RULES, N_ENTITLEMENTS, N_TAGS, N_SEGMENTS, DEPTH = 20, 10, 15, 3, 3


# ---- the shape of the facts, shared by the warm and cold runs -----------------------------------


class Shape:
    """Ids of one realistic hub: a course → module → lesson path with rules spread over it."""

    def __init__(self, on_path: int = 4) -> None:
        """``on_path`` of the 20 rules sit on the target's path (hub, course, module, lesson); the
        others guard other lessons and spaces of the hub, as in a real course library."""
        self.team_id, self.hub_id, self.contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        self.nodes = [uuid.uuid4() for _ in range(DEPTH)]  # course, module, lesson
        self.tags = [uuid.uuid4() for _ in range(N_TAGS)]
        self.segments = [uuid.uuid4() for _ in range(N_SEGMENTS)]
        self.entitlement_targets = [uuid.uuid4() for _ in range(N_ENTITLEMENTS - 1)] + [self.nodes[0]]
        path = [Target("hub", self.hub_id), *(Target("content_node", n) for n in self.nodes)]
        self.rules: list[tuple[uuid.UUID, Target, str, list[tuple[str, dict[str, Any]]]]] = []
        for i in range(N_RULES):
            conditions: list[tuple[str, dict[str, Any]]] = [
                ("has_tag", {"tag_id": self.tags[i % N_TAGS]}),
                ("role_at_least", {"role": "member"}),
                ("days_since_join", {"days": i}),
            ]
            if i % 4 == 0:
                conditions.append(("has_entitlement", {"kind": "content_enrollment", "target_id": self.nodes[0]}))
            if i % 7 == 0:
                conditions.append(("in_segment", {"segment_id": self.segments[i % N_SEGMENTS]}))
            if i % 5 == 0:
                conditions.append(("available_after", {"at": NOW - timedelta(days=1)}))
            target = path[i % len(path)] if i < on_path else Target("content_node", uuid.uuid4())
            self.rules.append((uuid.uuid4(), target, "all", conditions))
        self.target = path[-1]
        self.path = tuple(path)

    def facts(self) -> AccessFacts:
        rules: dict[Target, list[RuleFact]] = {}
        for rid, target, logic, conds in self.rules:
            rules.setdefault(target, []).append(RuleFact(rid, target, logic, tuple(Condition(t, d) for t, d in conds)))
        hub = HubFacts(self.hub_id, self.team_id, False, {"tos": 1}, frozenset({"tos"}),
                       {t: tuple(r) for t, r in rules.items()})
        contact = ContactFacts(
            self.contact_id, MembershipFacts("member", "active", None, NOW - timedelta(days=60), {"tos": 1}),
            tuple(EntitlementFact(uuid.uuid4(), "content_enrollment", t, NOW - timedelta(days=30), None, None)
                  for t in self.entitlement_targets),
            frozenset(self.tags), frozenset(self.segments), (),
        )
        return AccessFacts(hub, contact, TargetFacts(self.target, path=self.path))


# ---- timing -------------------------------------------------------------------------------------


def per_call(fn: Any, n: int) -> list[int]:
    """Nanoseconds of each of ``n`` calls of ``fn()`` (timer overhead included, as for the baseline)."""
    clock = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out


async def per_await(fn: Any, n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = clock()
        await fn()
        out[i] = clock() - t0
    return out


def summary(samples: list[int]) -> tuple[float, float]:
    """(median, p99) in microseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) / 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def line(label: str, samples: list[int], baseline: float | None = None) -> None:
    med, p99 = summary(samples)
    ratio = f"   {med / baseline:8.1f}x baseline" if baseline else ""
    print(f"  {label:<48} median {med:9.2f} µs   p99 {p99:9.2f} µs{ratio}")


# ---- the database -------------------------------------------------------------------------------


async def create_database(admin_url: str) -> tuple[str, str | None]:
    if admin_url.startswith("sqlite"):
        return admin_url, None
    name = f"hubwire_bench_{secrets.token_hex(4)}"
    engine = create_engine(admin_url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


async def drop_database(admin_url: str, name: str | None) -> None:
    if name is None:
        return
    engine = create_engine(admin_url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def seed(factory: Any, shape: Shape) -> None:
    ts = {"created_at": NOW, "updated_at": NOW}
    async with UnitOfWork(factory) as uow:
        s = uow.session
        s.add(Team(id=shape.team_id, name="Bench", slug=f"bench-{secrets.token_hex(4)}", **ts))
        s.add(Contact(id=shape.contact_id, email=f"bench-{secrets.token_hex(4)}@example.test", **ts))
        await s.flush()
        s.add(Hub(id=shape.hub_id, team_id=shape.team_id, name="Bench hub", slug="bench", branding={}, navigation={},
                  settings={}, meta={}, allowed_redirect_origins=[], **ts))
        tc = TeamContact(team_id=shape.team_id, contact_id=shape.contact_id, **ts)
        s.add(tc)
        await s.flush()
        membership = HubMembership(hub_id=shape.hub_id, contact_id=shape.contact_id, team_id=shape.team_id,
                                   onboarding={}, notification_preferences={}, profile={},
                                   joined_at=NOW - timedelta(days=60), **ts)
        s.add(membership)
        s.add(HubPolicy(hub_id=shape.hub_id, policy_type="tos", content="Be kind.", version=1,
                        require_acceptance=True, **ts))
        s.add_all([Tag(id=t, team_id=shape.team_id, name=f"tag {i}", **ts) for i, t in enumerate(shape.tags)])
        await s.flush()
        s.add(PolicyAcceptance(membership_id=membership.id, policy_type="tos", version=1, accepted_at=NOW))
        s.add_all([ContactTag(team_contact_id=tc.id, tag_id=t, created_at=NOW) for t in shape.tags])
        s.add_all([Segment(id=sid, team_id=shape.team_id, name=f"segment {i}", conditions={
            "version": 1, "logic": "all", "groups": [{"logic": "all", "conditions": [
                {"type": "tag", "operator": "has", "value": str(shape.tags[i])},
                {"type": "lifecycle_stage", "operator": "in", "value": ["lead", "customer"]}]}]}, **ts)
            for i, sid in enumerate(shape.segments)])
        parent = None
        for n in shape.nodes:
            s.add(ContentNode(id=n, hub_id=shape.hub_id, parent_id=parent, title="node", **ts))
            await s.flush()
            parent = n
        # siblings, so the node map is not trivially small
        s.add_all([ContentNode(hub_id=shape.hub_id, parent_id=shape.nodes[i % DEPTH], title="other", **ts)
                   for i in range(200)])
        s.add_all([AccessRule(id=rid, hub_id=shape.hub_id, target_type=t.type, target_id=t.id, logic_operator=logic,
                              conditions=[{"condition_type": ct, "condition_data": {
                                  k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID)
                                      else v) for k, v in cd.items()}} for ct, cd in conds], **ts)
                   for rid, t, logic, conds in shape.rules])
        s.add_all([Entitlement(hub_id=shape.hub_id, team_id=shape.team_id, contact_id=shape.contact_id,
                               kind="content_enrollment", target_id=t, source="staff_grant",
                               starts_at=NOW - timedelta(days=30), **ts) for t in shape.entitlement_targets])


async def cold_and_warm(url: str, shape: Shape, n_cold: int, n_warm: int, baseline: float) -> None:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    factory = session_factory(engine)
    await seed(factory, shape)
    subject = Subject.member(shape.contact_id)
    statements: list[int] = []
    watched: list[Any] = [None]

    def on_execute(conn: Any, *args: Any) -> None:
        if conn is watched[0]:
            statements.append(1)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    samples, queries = [], []
    decision = None
    for _ in range(n_cold + 10):
        cache = FactsCache()
        async with UnitOfWork(factory) as uow:
            watched[0] = (await uow.session.connection()).sync_connection  # BEGIN is not counted
            statements.clear()
            t0 = time.perf_counter_ns()
            decision = await evaluate(uow, cache, subject, "view", shape.target.type, shape.target.id,
                                      shape.hub_id, datetime.now(timezone.utc))
            samples.append(time.perf_counter_ns() - t0)
            queries.append(len(statements))
    sa.event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    assert decision is not None and decision.allowed, decision
    samples, queries = samples[10:], queries[10:]  # the first loads warm the pool and statement caches
    print(f"\ncold (facts loaded from {engine.dialect.name}; {n_cold} decisions, each with an empty cache)")
    line("evaluate(), cold: hub + contact + target loads", samples, baseline)
    print(f"  queries per cold load: {sorted(set(queries))} "
          f"(hub 2 + node map 1 + segments 1 + their tag refs 1; contact 4 + segments 1; target 0)")

    cache = FactsCache()
    async with UnitOfWork(factory) as uow:
        now = datetime.now(timezone.utc)
        await evaluate(uow, cache, subject, "view", shape.target.type, shape.target.id, shape.hub_id, now)

        async def warm() -> Any:
            return await evaluate(uow, cache, subject, "view", shape.target.type, shape.target.id, shape.hub_id, now)

        warm_samples = await per_await(warm, n_warm)
    print(f"\nwarm through the cache ({n_warm} decisions)")
    line("evaluate(), warm FactsCache, content node target", warm_samples, baseline)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a server to create a throwaway database on")
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--cold", type=int, default=300)
    args = parser.parse_args()

    shape = Shape()
    facts = shape.facts()
    subject = Subject.member(shape.contact_id)
    now = datetime.now(timezone.utc)
    assert decide(subject, "view", facts, now).allowed

    def trivial(x: Any = None) -> Any:
        return x

    print(f"Python {sys.version.split()[0]}; {N_RULES} rules, target on a {DEPTH + 1}-level path, {N_ENTITLEMENTS} "
          f"entitlements, {N_TAGS} tags, {N_SEGMENTS} segments")
    base = per_call(trivial, args.decisions)
    baseline = summary(base)[0]
    print("\nbaseline (same run, same timer)")
    line("trivial Python function call", base)
    print(f"\nwarm (facts in memory, {args.decisions} decisions; target ≤ 20 µs)")
    line("decide(), 4 of the 20 rules on the path, all pass", per_call(lambda: decide(subject, "view", facts, now),
                                                              args.decisions), baseline)
    line("decide(), explain=True (full trace)", per_call(lambda: decide(subject, "view", facts, now, explain=True),
                                                         args.decisions // 10), baseline)
    worst = Shape(on_path=N_RULES).facts()
    assert decide(subject, "view", worst, now).allowed
    line(f"decide(), worst case: all {N_RULES} rules on the path", per_call(lambda: decide(subject, "view", worst, now),
                                                                       args.decisions), baseline)

    async def database() -> None:
        url, name = await create_database(args.database_url)
        try:
            await cold_and_warm(url, shape, args.cold, min(args.decisions, 50_000), baseline)
        finally:
            await drop_database(args.database_url, name)

    asyncio.run(database())


if __name__ == "__main__":
    main()
