"""The routes bench/rest.py loads send a constant number of SQL statements per request, however
many rows are behind them: no statement per row of a page (T/contacts, a space's feed), per
discussion posted before, or per access rule. Counted on the app's engine with SQLAlchemy's
``before_cursor_execute`` event; nothing here is timed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.support.api import bearer, create_key, doc, w
from tests.support.spaces import Community, community
from tests.support.sql import counting

# The most each route may send, per backend: what it sends today (bench/README.md lists them). A
# statement more per request is a change to make on purpose: raise the bound with the reason.
# SQLite counts one more everywhere: its BEGIN IMMEDIATE is a statement of its own. It also reads a
# page's tags, and a feed or comment page's reactions, after the page (PostgreSQL aggregates them in
# the page's statement).
BOUNDS = {"contacts page": 2, "space feed": 3, "comment page": 4, "post": 5, "access check": 2}
SQLITE_MORE = {"contacts page": 1, "space feed": 1, "comment page": 1}


def bound(app: Any, route: str) -> int:
    if app.state.services.engine.dialect.name == "sqlite":
        return BOUNDS[route] + 1 + SQLITE_MORE.get(route, 0)
    return BOUNDS[route]


async def statements(client: Any, app: Any, request: Any) -> int:
    """How many statements one request sends (after checking it succeeded)."""
    with counting(client, app) as seen:
        r = await request()
        assert r.status_code in (200, 201), r.text
    return len(seen)


async def add_contacts(client: Any, headers: dict[str, str], team_id: str, n: int) -> None:
    run = uuid.uuid4().hex[:8]
    for start in range(0, n, 25):
        rs = await asyncio.gather(*(client.post(f"/api/v1/teams/{team_id}/contacts", headers=w(headers),
                                                json=doc("team_contacts", {"email": f"c{i}-{run}@example.test"}))
                                    for i in range(start, min(n, start + 25))))
        assert all(r.status_code == 201 for r in rs)


async def test_team_contacts_page_costs_the_same_for_5_or_50_rows(client: Any, app: Any) -> None:
    c = await community(client)
    key = await create_key(client, c.staff, c.staff.team_id, ["contacts:read", "contacts:write"])
    headers = bearer(key["secret"])
    url = f"{c.team}/contacts?page[size]=50"
    await add_contacts(client, headers, c.staff.team_id, 5)
    await statements(client, app, lambda: client.get(url, headers=headers))  # warm (API key cache, ...)
    few = await statements(client, app, lambda: client.get(url, headers=headers))
    await add_contacts(client, headers, c.staff.team_id, 70)  # a full page, and more behind it
    full = await statements(client, app, lambda: client.get(url, headers=headers))
    r = await client.get(url, headers=headers)
    assert len(r.json()["data"]) == 50 and r.json()["links"]["next"]
    print(f"T/contacts?page[size]=50: {few} statements with 5 rows, {full} with a full page")
    assert full == few <= bound(app, "contacts page")
    nxt = r.json()["links"]["next"]
    assert await statements(client, app, lambda: client.get(nxt, headers=headers)) == full  # the next page too


async def _feed_world(client: Any) -> tuple[Community, Any, str]:
    c = await community(client)
    author = await c.member(client, "author", role="moderator")  # exempt from the posting rate limit
    space = await c.space(client, access_level="open")
    return c, author, space["id"]


async def test_a_space_feed_costs_the_same_for_3_or_40_discussions(client: Any, app: Any) -> None:
    c, author, space_id = await _feed_world(client)
    reader = await c.member(client, "reader")
    url = f"{c.h}/spaces/{space_id}/discussions?page[size]=50"
    for _ in range(3):
        await c.discussion(client, author, space_id)
    await statements(client, app, lambda: client.get(url, headers=reader.headers))  # warm the facts cache
    few = await statements(client, app, lambda: client.get(url, headers=reader.headers))
    for _ in range(37):
        await c.discussion(client, author, space_id)
    many = await statements(client, app, lambda: client.get(url, headers=reader.headers))
    assert len((await client.get(url, headers=reader.headers)).json()["data"]) == 40
    print(f"H/spaces/{{id}}/discussions: {few} statements with 3 discussions, {many} with 40")
    assert many == few <= bound(app, "space feed")


async def test_a_comment_page_costs_the_same_for_3_or_40_comments_with_reactions(client: Any, app: Any) -> None:
    c, author, space_id = await _feed_world(client)
    reader = await c.member(client, "reader")
    d = await c.discussion(client, author, space_id)
    url = f"{c.h}/discussions/{d['id']}/comments?page[size]=50"

    async def add(n: int) -> None:
        for i in range(n):
            r = await client.post(f"{c.h}/discussions/{d['id']}/comments", headers=w(author.headers),
                                  json=doc("comments", {"body": f"Comment {i}"}))
            assert r.status_code == 201, r.text
            if i % 2 == 0:  # reactions on half of them, the reader's own among them
                who = reader if i % 4 == 0 else author
                r = await client.put(f"{c.h}/comments/{r.json()['data']['id']}/reactions/:tada:", headers=who.headers)
                assert r.status_code == 200, r.text

    await add(3)
    await statements(client, app, lambda: client.get(url, headers=reader.headers))  # warm the facts cache
    few = await statements(client, app, lambda: client.get(url, headers=reader.headers))
    await add(37)
    many = await statements(client, app, lambda: client.get(url, headers=reader.headers))
    page = (await client.get(url, headers=reader.headers)).json()["data"]
    assert len(page) == 40 and sum(bool(x["attributes"]["reactions"]) for x in page) == 2 + 19
    print(f"H/discussions/{{id}}/comments: {few} statements with 3 comments, {many} with 40")
    assert many == few <= bound(app, "comment page")


async def test_posting_a_discussion_costs_the_same_each_time(client: Any, app: Any) -> None:
    c, moderator, space_id = await _feed_world(client)
    author = await c.member(client, "poster")  # a plain member: the posting rate limit is checked too
    await c.discussion(client, author, space_id)  # warm
    counts = [await statements(client, app, lambda: c.post(client, author, space_id)) for _ in range(2)]
    for _ in range(20):
        await c.discussion(client, moderator, space_id)
    counts.append(await statements(client, app, lambda: c.post(client, author, space_id)))
    print(f"POST H/spaces/{{id}}/discussions: {counts} statements")
    assert len(set(counts)) == 1 and counts[0] <= bound(app, "post")


async def test_an_access_check_costs_the_same_for_any_target_and_any_number_of_spaces(client: Any, app: Any) -> None:
    c, member, space_id = await _feed_world(client)

    def check(target_type: str, target_id: str) -> Any:
        return lambda: client.get(f"{c.h}/access/check", params={"target_type": target_type, "target_id": target_id,
                                                                  "action": "post"}, headers=member.headers)

    await statements(client, app, check("space", space_id))  # warm the facts cache
    first = await statements(client, app, check("space", space_id))
    others = [(await c.space(client, access_level="open"))["id"] for _ in range(8)]
    # a change of facts (new spaces) reloads the hub's facts once; then every check costs the same
    await statements(client, app, check("space", others[0]))
    counts = [await statements(client, app, check("space", s)) for s in others[1:]]
    hub = await statements(client, app, check("hub", c.hub.id))
    print(f"H/access/check: {first} statements (space), {counts} for 7 other spaces, {hub} for the hub")
    assert set(counts) == {first} and first <= bound(app, "access check")
    assert hub <= first
