"""The content tree, team side: create (slug, position, status, sanitized body), read, list,
children in position order, update, move without cycles, reorder all or nothing, soft delete with
the subtree and restore; invalid input refused with its code and pointer, changing nothing;
another team's nodes are 404."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.api import assert_error, doc
from tests.support.content import Studio, open_studio, uid

A = "/data/attributes/"


def ids(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["id"] for n in nodes]


def positions(nodes: list[dict[str, Any]]) -> list[int]:
    return [n["attributes"]["position"] for n in nodes]


async def test_a_course_is_built_read_listed_and_updated(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Python 101", node_type="course", status="draft")
    a = course["attributes"]
    assert (a["title"], a["slug"], a["node_type"], a["parent_id"], a["position"], a["status"], a["body"]) == (
        "Python 101", "python-101", "course", None, 0, "draft", None)
    assert course["links"]["self"] == f"{studio.c}/{course['id']}"
    module = await studio.node(client, "Basics", course, node_type="module")
    l1 = await studio.node(client, "Variables", module, body="<p>x = <b>1</b></p>")
    l2 = await studio.node(client, "Loops", module)
    l0 = await studio.node(client, "Welcome", module, position=0)
    assert l1["attributes"]["body"] == "<p>x = <b>1</b></p>"
    kids = await studio.children(client, module["id"])
    assert ids(kids) == [l0["id"], l1["id"], l2["id"]] and positions(kids) == [0, 1, 2]

    again = await studio.node(client, "Python 101", node_type="course")
    assert again["attributes"]["slug"].startswith("python-101-")
    assert_error(await client.post(studio.c, json=doc("content_nodes", {"title": "X", "slug": "python-101"}),
                                   headers=studio.wh), 409, "slug_taken", A + "slug")

    r = await studio.patch(client, course["id"], title="Python One", status="published", slug="py-1")
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["title"], a["status"], a["slug"]) == ("Python One", "published", "py-1")
    r = await client.get(f"{studio.c}/{course['id']}", headers=studio.staff.headers)
    assert r.json()["data"]["attributes"]["title"] == "Python One"

    r = await client.get(studio.c, params={"filter[parent_id]": "root"}, headers=studio.staff.headers)
    assert ids(r.json()["data"]) == [course["id"], again["id"]]
    r = await client.get(studio.c, params={"filter[parent_id]": module["id"], "page[size]": 2},
                         headers=studio.staff.headers)
    assert ids(r.json()["data"]) == [l1["id"], l2["id"]] and r.json()["meta"]["has_more"]
    r = await client.get(studio.c, params={"filter[status]": "draft"}, headers=studio.staff.headers)
    assert ids(r.json()["data"]) == [again["id"]] if again["attributes"]["status"] == "draft" else True
    assert_error(await client.get(studio.c, params={"filter[status]": "gone"}, headers=studio.staff.headers), 422,
                 "invalid_filter")


async def test_bodies_are_sanitized_on_the_way_in(client: Any, studio: Studio) -> None:
    cases = {
        "<p>hi</p><script>alert(1)</script>": "<p>hi</p>",
        '<img src="x.png" onerror="alert(1)">': '<img src="x.png">',
        '<a href="javascript:alert(1)">go</a>': '<a rel="noopener noreferrer nofollow">go</a>',
        '<a href="JaVaScRiPt:alert(1)">go</a>': '<a rel="noopener noreferrer nofollow">go</a>',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">': "<img>",
        '<svg><script>alert(1)</script><circle onload="alert(1)"/></svg>ok': "ok",
        '<p style="background:url(javascript:alert(1))" onclick="x()">t</p>': "<p>t</p>",
        '<iframe src="https://evil.example"></iframe><form><input></form>': "",
        '<a href="https://example.com/a?b=1" target="_blank">l</a>':
            '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">l</a>',
    }
    for dirty, clean in cases.items():
        node = await studio.node(client, "Lesson", body=dirty)
        assert node["attributes"]["body"] == clean, dirty
        r = await studio.patch(client, node["id"], body=dirty)
        assert r.json()["data"]["attributes"]["body"] == clean
    assert_error(await client.post(studio.c, json=doc("content_nodes", {"title": "L", "body": "x" * 200_001}),
                                   headers=studio.wh), 422, "invalid_body", A + "body")


async def test_invalid_nodes_are_refused_and_change_nothing(client: Any, studio: Studio) -> None:
    parent = await studio.node(client, "Course", node_type="course")
    for attrs, status, code, at in (
        ({"title": "  "}, 422, "invalid_title", "title"),
        ({"title": "x" * 301}, 422, "invalid_title", "title"),
        ({"title": "L", "node_type": "video"}, 422, "invalid_node_type", "node_type"),
        ({"title": "L", "status": "live"}, 422, "invalid_status", "status"),
        ({"title": "L", "slug": "Not A Slug"}, 422, "invalid_slug", "slug"),
        ({"title": "L", "position": -1}, 422, "invalid_position", "position"),
        ({"title": "L", "parent_id": "nope"}, 422, "invalid_parent", "parent_id"),
        ({"title": "L", "parent_id": uid()}, 404, "not_found", "parent_id"),
    ):
        assert_error(await client.post(studio.c, json=doc("content_nodes", attrs), headers=studio.wh), status, code,
                     A + at)
    assert await studio.children(client, parent["id"]) == []
    r = await client.get(studio.c, headers=studio.staff.headers)
    assert ids(r.json()["data"]) == [parent["id"]]
    assert_error(await client.get(f"{studio.c}/{uid()}", headers=studio.staff.headers), 404, "not_found")
    assert_error(await client.get(f"{studio.c}/nope", headers=studio.staff.headers), 404, "not_found")


async def test_moves_keep_positions_dense_and_refuse_cycles(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    m1 = await studio.node(client, "M1", course, node_type="module")
    m2 = await studio.node(client, "M2", course, node_type="module")
    a, b, c = [await studio.node(client, t, m1) for t in ("A", "B", "C")]
    r = await studio.patch(client, b["id"], parent_id=m2["id"])
    assert r.status_code == 200 and r.json()["data"]["attributes"]["position"] == 0
    kids = await studio.children(client, m1["id"])
    assert ids(kids) == [a["id"], c["id"]] and positions(kids) == [0, 1]
    r = await studio.patch(client, c["id"], parent_id=m2["id"], position=0)
    kids = await studio.children(client, m2["id"])
    assert ids(kids) == [c["id"], b["id"]] and positions(kids) == [0, 1]
    r = await studio.patch(client, b["id"], position=0)
    assert ids(await studio.children(client, m2["id"])) == [b["id"], c["id"]]

    for target in (course, m1, a):  # under itself or a descendant
        node = course if target is not a else m1
        err = assert_error(await studio.patch(client, node["id"], parent_id=(m1 if target is course else a)["id"]),
                           422, "cycle", A + "parent_id")
        assert err
    assert_error(await studio.patch(client, m1["id"], parent_id=m1["id"]), 422, "cycle", A + "parent_id")
    assert ids(await studio.children(client, course["id"])) == [m1["id"], m2["id"]]
    r = await studio.patch(client, m2["id"], parent_id=None)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["parent_id"] is None
    assert ids(await studio.children(client, course["id"])) == [m1["id"]]


async def test_reorder_is_all_or_nothing(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    a, b, c = [await studio.node(client, t, course) for t in ("A", "B", "C")]
    other = await studio.node(client, "Other", node_type="course")
    url = f"{studio.c}/reorder"

    def body(*nodes: Any) -> dict[str, Any]:
        return {"data": [{"type": "content_nodes", "id": n if isinstance(n, str) else n["id"]} for n in nodes]}

    r = await client.post(url, json=body(c, a, b), headers=studio.wh)
    assert r.status_code == 200, r.text
    assert ids(r.json()["data"]) == [c["id"], a["id"], b["id"]] and positions(r.json()["data"]) == [0, 1, 2]
    for nodes, status, code, pointer in (
        ((c, a), 422, "incomplete_reorder", "/data"),
        ((c, a, a), 422, "duplicate_node", "/data/2/id"),
        ((c, a, other), 422, "mixed_parents", "/data/2/id"),
        ((c, a, uid()), 404, "not_found", "/data/2/id"),
        ((), 422, "incomplete_reorder", "/data"),
    ):
        assert_error(await client.post(url, json=body(*nodes), headers=studio.wh), status, code, pointer)
    assert ids(await studio.children(client, course["id"])) == [c["id"], a["id"], b["id"]]

    stranger = await open_studio(client)
    assert_error(await client.post(f"{stranger.c}/reorder", json=body(c, a, b), headers=stranger.wh), 404,
                 "not_found", "/data/0/id")


async def test_concurrent_reorders_and_inserts_never_lose_or_duplicate_positions(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    kids = [await studio.node(client, f"L{i}", course) for i in range(6)]
    url = f"{studio.c}/reorder"

    async def shuffle(k: int) -> Any:
        order = kids[k:] + kids[:k]
        return await client.post(url, json={"data": [{"type": "content_nodes", "id": n["id"]} for n in order]},
                                 headers=studio.wh)

    async def insert(i: int) -> Any:
        return await client.post(studio.c, json=doc("content_nodes", {"title": f"N{i}", "parent_id": course["id"],
                                                                      "position": 0}), headers=studio.wh)

    results = await asyncio.gather(*(shuffle(k) for k in range(6)), *(insert(i) for i in range(4)))
    statuses = sorted(r.status_code for r in results)
    # a reorder that ran after an insert no longer names every child: refused whole, never half applied
    assert set(statuses) <= {200, 201, 422}, statuses
    assert statuses.count(201) == 4
    final = await studio.children(client, course["id"])
    assert len(final) == 10 and positions(final) == list(range(10))
    assert len(set(ids(final))) == 10


async def test_delete_takes_the_subtree_and_restore_brings_back_what_it_took(client: Any, studio: Studio) -> None:
    course = await studio.node(client, "Course", node_type="course")
    m1 = await studio.node(client, "M1", course, node_type="module")
    m2 = await studio.node(client, "M2", course, node_type="module")
    early = await studio.node(client, "Early", m1)
    kept = await studio.node(client, "Kept", m1)
    assert (await client.delete(f"{studio.c}/{early['id']}", headers=studio.staff.headers)).status_code == 204
    assert (await client.delete(f"{studio.c}/{m1['id']}", headers=studio.staff.headers)).status_code == 204
    for node in (m1, kept, early):
        assert_error(await client.get(f"{studio.c}/{node['id']}", headers=studio.staff.headers), 404, "not_found")
    kids = await studio.children(client, course["id"])
    assert ids(kids) == [m2["id"]] and positions(kids) == [0]
    assert_error(await client.post(f"{studio.c}/{kept['id']}/restore", headers=studio.wh), 409, "parent_deleted")
    r = await client.get(studio.c, params={"filter[deleted]": "true"}, headers=studio.staff.headers)
    assert set(ids(r.json()["data"])) == {m1["id"], early["id"], kept["id"]}

    r = await client.post(f"{studio.c}/{m1['id']}/restore", headers=studio.wh)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["deleted_at"] is None and r.json()["data"]["attributes"]["position"] == 1
    assert ids(await studio.children(client, m1["id"])) == [kept["id"]]  # Early was deleted before: stays deleted
    assert_error(await client.post(f"{studio.c}/{uid()}/restore", headers=studio.wh), 404, "not_found")


async def test_another_teams_nodes_are_404(client: Any, studio: Studio) -> None:
    node = await studio.node(client, "Mine")
    stranger = await open_studio(client)
    for method, url in (("GET", f"{stranger.c}/{node['id']}"), ("DELETE", f"{stranger.c}/{node['id']}"),
                        ("GET", f"{stranger.c}/{node['id']}/children"),
                        ("POST", f"{stranger.c}/{node['id']}/restore")):
        assert_error(await client.request(method, url, headers=stranger.wh), 404, "not_found")
    assert_error(await client.get(f"{studio.c}/{node['id']}", headers=stranger.staff.headers), 404, "not_found")
    assert_error(await client.post(stranger.c, json=doc("content_nodes", {"title": "x", "parent_id": node["id"]}),
                                   headers=stranger.wh), 404, "not_found", A + "parent_id")
