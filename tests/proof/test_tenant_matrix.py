"""Tenant isolation matrix: every route of the app (enumerated from its router, so a new route is
probed without anyone listing it) × every identity that must not reach tenant A: another team's
staff and API key, a member of another hub, A's banned member, A's revoked and expired keys, and
nobody. Path parameters are filled by name with A's seeded objects (tests/support/proof.py
PATH_PARAMS: a parameter it does not know fails the test).

Never another tenant's data (no id of A's in a body, but the ones the caller put in the URL), never
a write (every table's row count and latest update unchanged), existence never leaks (each refusal
is the same, status and code, as for the same request on ids nobody has; another team's staff and
keys get 404 on A's team routes), 401 for a key that no longer works and for nobody."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from persistence.db import create_engine
from persistence.models import Base
from server.deps import GUEST_ACCESS
from tests.support.proof import NOT_IDS, PATH_PARAMS, Tenant, example, fill

# Routes that are public by design or carry no tenant in their path: only "no 5xx, no data of A's
# (but the hub a public page names), no write" holds there.
PUBLIC_PAGE = re.compile(r"^/(hubs/\{slug|static/|schema)")
PUBLIC_HUB_DATA = {"/api/v1/public/hubs"}  # lists the hubs that chose to be public (name, slug, id)
# A hub's public pages (docs/api.md "Pages"): served to anyone, token or not, so a caller's
# credentials play no part (no 401 for nobody or a dead key). The seeded page is for members only:
# everyone gets the same 404 as for a page nobody has, which the twin request checks.
PUBLIC_TENANT_ROUTES = {"/api/v1/public/hubs/{hub_id:str}/home", "/api/v1/public/hubs/{hub_id:str}/pages/{page:str}"}

IDENTITIES = ("other_team_staff", "other_team_key", "other_hub_member", "banned_member", "revoked_key",
              "expired_key", "nobody")
TENANT_PARAMS = {"team_id", "hub_id"}
# The probes send a body of the documented shape (required fields only); a route that still refuses
# it (a value the schema cannot say, e.g. a pattern) does so before it looks at who calls, the same
# for every tenant (which the twin request checks): 400, 415 or 422 say nothing.
BODY_REFUSED = {400, 415, 422}


def routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        if isinstance(r, HTTPRoute):
            out += [(m, r.path) for m in sorted(r.methods) if m not in ("HEAD", "OPTIONS")]
    return sorted(out, key=lambda x: (x[1], x[0]))


def guest_routes(app: Any) -> set[tuple[str, str]]:
    """Member routes a guest may call without a token: those whose handler declares
    ``opt={"access": "guest"}`` (server/deps.py; buying). Read from the app, so a new one is never
    left out. A hub is public by id (/api/v1/public/hubs?filter[id]=), so there only the hub may be
    known; every other id must not leak."""
    out = set()
    for r in app.routes:
        for handler in getattr(r, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.opt.get("access") == GUEST_ACCESS:
                out |= {(m, r.path) for m in handler.http_methods}
    return out


async def fingerprint(database_url: str) -> dict[str, tuple[Any, ...]]:
    """Every table's row count and latest created/updated/revoked/deleted time: what any write would
    move (an API key's ``last_used_at`` is the caller's own bookkeeping, so not counted)."""
    engine = create_engine(database_url)
    out: dict[str, tuple[Any, ...]] = {}
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                cols = [sa.func.count()]
                cols += [sa.func.max(table.c[c]) for c in ("created_at", "updated_at", "revoked_at", "deleted_at",
                                                           "banned_at") if c in table.c]
                out[table.name] = tuple((await conn.execute(sa.select(*cols).select_from(table))).one())
    finally:
        await engine.dispose()
    return out


async def test_no_identity_reaches_another_tenant(app: Any, tenants: Any) -> None:
    a, b = tenants.a, tenants.b
    creds = {
        "other_team_staff": b.creds["staff"], "other_team_key": b.creds["api_key"],
        "other_hub_member": b.creds["member"], "banned_member": a.creds["banned_member"],
        "revoked_key": a.creds["revoked_key"], "expired_key": a.creds["expired_key"], "nobody": {},
    }
    assert set(creds) == set(IDENTITIES)
    table = PATH_PARAMS
    all_routes = routes(app)
    guests = guest_routes(app)
    assert guests <= set(all_routes) and ("POST", "/api/v1/hub/{hub_id:str}/checkout") in guests
    unfilled = sorted({n for _, p in all_routes for n in re.findall(r"\{(\w+)", p)} - set(table))
    assert not unfilled, f"path parameters with no seeded object (add them to PATH_PARAMS): {unfilled}"
    secret_ids = a.all_ids()
    own_hub_s = Tenant(a.team_id, a.hub_id, ids={k: (v if k in NOT_IDS | {"hub", "team"} else str(uuid.uuid4()))
                                                 for k, v in a.ids.items()})
    nobody_s = Tenant(a.team_id, a.hub_id, ids={k: (v if k in NOT_IDS else str(uuid.uuid4())) for k, v in a.ids.items()})

    # A body of the documented shape for each write, so that it reaches the caller check.
    async with httpx.AsyncClient(base_url=tenants.base, timeout=30.0) as http:
        spec = (await http.get("/schema/openapi.json")).json()
    components = spec["components"]["schemas"]
    bodies: dict[tuple[str, str], Any] = {}
    for m, p in all_routes:
        if m not in ("POST", "PUT", "PATCH"):
            continue
        op = spec["paths"].get(re.sub(r":\w+\}", "}", p), {}).get(m.lower(), {})
        content = op.get("requestBody", {}).get("content", {})
        media = next(iter(content.values()), None)
        bodies[(m, p)] = example(media["schema"], components) if media else {"data": {"type": "probe"}}

    # The server's own jobs may still be sending the seeds' emails: start from a settled database.
    before = await fingerprint(tenants.database_url)
    for _ in range(40):
        await asyncio.sleep(0.5)
        again = await fingerprint(tenants.database_url)
        if again == before:
            break
        before = again
    else:
        raise AssertionError("the database never settled before the matrix")
    failures: list[str] = []
    counts: dict[str, int] = {}
    sem = asyncio.Semaphore(6)

    async def send(http: httpx.AsyncClient, method: str, url: str, who: str, path: str) -> httpx.Response:
        body = json.dumps(bodies[(method, path)]).encode() if (method, path) in bodies else None
        headers = {**creds[who], **({"Content-Type": "application/vnd.api+json"} if body else {})}
        async with sem:
            return await http.request(method, url, headers=headers, content=body)

    def code(r: httpx.Response) -> tuple[int, str]:
        try:
            return r.status_code, str(r.json()["errors"][0]["code"])
        except (ValueError, KeyError, IndexError, TypeError):
            return r.status_code, ""

    async def probe(http: httpx.AsyncClient, method: str, path: str, who: str) -> None:
        url = fill(path, a) if "{" in path else path
        params = set(re.findall(r"\{(\w+)", path))
        r = await send(http, method, url, who, path)
        status = r.status_code
        counts[f"{status}"] = counts.get(f"{status}", 0) + 1
        where = f"{who:16} {method:6} {path} -> {status}"
        if status >= 500:
            failures.append(f"{where}: a server error {r.text[:200]}")
            return
        shown = {v for v in secret_ids if v in r.text and v not in url}
        if PUBLIC_PAGE.match(path) or path in PUBLIC_HUB_DATA:
            shown -= {a.ids["hub"]}
        if shown:
            failures.append(f"{where}: shows A's ids {sorted(shown)}")
        if not params & TENANT_PARAMS:
            return  # a public route or one of the caller's own: no tenant of A's to be refused
        if status < 400:
            failures.append(f"{where}: went through: {r.text[:200]}")
            return
        # Existence must not leak: the same request with ids nobody has answers the same.
        # (A's banned member knows its own hub: only the other ids change for it.)
        known_hub = who == "banned_member" or (method, path) in guests
        twin = await send(http, method, fill(path, own_hub_s if known_hub else nobody_s), who, path)
        if code(twin) != code(r):
            failures.append(f"{where}: answers {code(r)} on A's ids but {code(twin)} on ids nobody has")
        if status in BODY_REFUSED:
            counts["body refused"] = counts.get("body refused", 0) + 1
            return  # the probe's body is refused before the caller is looked at, for any tenant alike
        if path in PUBLIC_TENANT_ROUTES:
            if status != 404:
                failures.append(f"{where}: expected 404 (a page for members only)")
        elif who in ("nobody", "revoked_key", "expired_key") and status != 401:
            failures.append(f"{where}: expected 401")
        elif who in ("other_team_staff", "other_team_key") and path.startswith("/api/v1/teams/") and status != 404:
            failures.append(f"{where}: expected 404 (another team's ids are not found)")
        elif status not in (401, 403, 404):
            failures.append(f"{where}: expected 401, 403 or 404: {r.text[:200]}")

    tenanted = [(m, p) for m, p in all_routes if set(re.findall(r"\{(\w+)", p)) & TENANT_PARAMS]
    untenanted = [(m, p) for m, p in all_routes if (m, p) not in tenanted]
    async with httpx.AsyncClient(base_url=tenants.base, timeout=30.0) as http:
        await asyncio.gather(*(probe(http, m, p, who) for m, p in tenanted for who in IDENTITIES))
        after = await fingerprint(tenants.database_url)
        # Then the routes that name no tenant (login, logout, register, the public pages): they act
        # on the caller's own account (B's staff may log out), so writes are not A's; only "no 5xx,
        # nothing of A's" holds there, checked in probe().
        await asyncio.gather(*(probe(http, m, p, who) for m, p in untenanted for who in IDENTITIES))
    writes = {t: (before[t], after[t]) for t in before if before[t] != after[t]}

    n = len(all_routes) * len(IDENTITIES)
    print(f"\ntenant matrix: {len(all_routes)} routes ({len(tenanted)} naming a tenant) x {len(IDENTITIES)} "
          f"identities = {n} requests; "
          f"statuses {dict(sorted(counts.items()))}; tables written by the tenant routes: {sorted(writes) or 'none'}")
    assert sum(v for k, v in counts.items() if k.isdigit()) == n
    assert not writes, f"the probes wrote: {writes}"
    assert not failures, "\n".join(failures)
