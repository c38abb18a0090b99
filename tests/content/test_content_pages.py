"""Pages: drafts and published versions, If-Match optimistic concurrency (428 without it, 409
stale_draft when someone saved first, one winner among concurrent writers), publish, privacy
(public without a token and cacheable with ETag/Last-Modified/304; members through the evaluator;
private hidden), the hub's home page, nesting without cycles; another team's pages are 404."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.api import assert_error, doc
from tests.support.content import Studio, open_studio, uid

A = "/data/attributes/"


async def new_page(client: Any, studio: Studio, title: str, **attrs: Any) -> dict[str, Any]:
    r = await client.post(f"{studio.hub.url}/pages", json=doc("pages", {"title": title, **attrs}), headers=studio.wh)
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == '"1"'
    return dict(r.json()["data"])


async def edit(client: Any, studio: Studio, page_id: str, version: Any, **attrs: Any) -> Any:
    headers = studio.wh if version is None else {**studio.wh, "If-Match": str(version)}
    return await client.patch(f"{studio.hub.url}/pages/{page_id}", json=doc("pages", attrs), headers=headers)


async def publish(client: Any, studio: Studio, page_id: str, version: Any = None) -> Any:
    headers = studio.wh if version is None else {**studio.wh, "If-Match": str(version)}
    return await client.post(f"{studio.hub.url}/pages/{page_id}/publish", headers=headers)


async def test_drafts_versions_and_publishing(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "About us", body="<p>Hi</p><script>x()</script>")
    a = page["attributes"]
    assert (a["slug"], a["privacy"], a["draft_version"], a["body"], a["published_version"], a["is_home"]) == (
        "about-us", "members", 1, "<p>Hi</p>", None, False)
    pid = page["id"]
    err = assert_error(await edit(client, studio, pid, None, title="About"), 428, "if_match_required")
    assert err["meta"]["draft_version"] == 1
    r = await edit(client, studio, pid, 1, title="About", body="<p>Hello</p>")
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["attributes"]["draft_version"], r.headers["etag"]) == (2, '"2"')
    err = assert_error(await edit(client, studio, pid, 1, title="Lost update"), 409, "stale_draft")
    assert err["meta"]["draft_version"] == 2
    assert_error(await edit(client, studio, pid, "garbage", title="x"), 409, "stale_draft")
    r = await edit(client, studio, pid, "*", title="About")  # knowingly over whatever is there
    assert r.json()["data"]["attributes"]["draft_version"] == 3
    r = await client.get(f"{studio.hub.url}/pages/{pid}", headers=studio.staff.headers)
    assert (r.json()["data"]["attributes"]["title"], r.headers["etag"]) == ("About", '"3"')

    assert_error(await publish(client, studio, pid, 1), 409, "stale_draft")
    r = await publish(client, studio, pid, '"3"')
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["published_version"], a["published_title"], a["published_body"]) == (3, "About", "<p>Hello</p>")
    r = await edit(client, studio, pid, 'W/"3"', body="<p>Work in progress</p>")
    a = r.json()["data"]["attributes"]
    assert (a["draft_version"], a["body"], a["published_body"]) == (4, "<p>Work in progress</p>", "<p>Hello</p>")

    learner = await studio.learner(client)
    r = await client.get(f"{studio.h}/pages/about-us", headers=learner.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["attributes"]["title"], r.json()["data"]["attributes"]["body"]) == ("About",
                                                                                                 "<p>Hello</p>")
    assert "Work in progress" not in r.text and "draft_version" not in r.text
    draft = await new_page(client, studio, "Never published")
    assert_error(await client.get(f"{studio.h}/pages/{draft['id']}", headers=learner.headers), 404, "not_found")


async def test_concurrent_writers_of_one_version_have_one_winner(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Shared")
    results = await asyncio.gather(*(edit(client, studio, page["id"], 1, title=f"Writer {i}") for i in range(5)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409, 409], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()["data"]["attributes"]["title"]
    r = await client.get(f"{studio.hub.url}/pages/{page['id']}", headers=studio.staff.headers)
    assert (r.json()["data"]["attributes"]["title"], r.json()["data"]["attributes"]["draft_version"]) == (winner, 2)


async def test_public_pages_need_no_token_and_are_cacheable(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Welcome", privacy="public", is_home=True, body="<p>Come in</p>")
    url = f"/api/v1/public/hubs/{studio.hub.id}/pages/{page['id']}"
    home = f"/api/v1/public/hubs/{studio.hub.id}/home"
    assert_error(await client.get(url), 404, "not_found")  # not published yet
    assert (await publish(client, studio, page["id"])).status_code == 200
    for u in (url, f"/api/v1/public/hubs/{studio.hub.id}/pages/welcome", home):
        r = await client.get(u)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["body"] == "<p>Come in</p>"
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert r.headers["cache-control"].startswith("public")
    r = await client.get(url, headers={"If-None-Match": etag})
    assert (r.status_code, r.content, r.headers["etag"]) == (304, b"", etag)
    r = await client.get(url, headers={"If-Modified-Since": modified})
    assert r.status_code == 304
    r = await client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert r.status_code == 200  # If-None-Match wins over If-Modified-Since

    r = await edit(client, studio, page["id"], 1, body="<p>New</p>")
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304  # the draft is not public
    assert (await publish(client, studio, page["id"])).status_code == 200
    r = await client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag and r.json()["data"]["attributes"]["body"] == "<p>New</p>"

    r = await client.get(f"{studio.hub.url}/pages/home", headers=studio.staff.headers)
    assert r.json()["data"]["id"] == page["id"]
    other = await new_page(client, studio, "New home", privacy="public", is_home=True)
    r = await client.get(f"{studio.hub.url}/pages/home", headers=studio.staff.headers)
    assert r.json()["data"]["id"] == other["id"]
    assert_error(await client.get(home), 404, "not_found")  # the new home page is not published

    members = await new_page(client, studio, "Members only", privacy="members")
    assert (await publish(client, studio, members["id"])).status_code == 200
    assert_error(await client.get(f"/api/v1/public/hubs/{studio.hub.id}/pages/{members['id']}"), 404, "not_found")
    assert_error(await client.get(f"/api/v1/public/hubs/{uid()}/pages/{page['id']}"), 404, "not_found")
    assert_error(await client.get("/api/v1/public/hubs/nope/home"), 404, "not_found")


async def test_private_pages_and_page_rules_go_through_the_evaluator(client: Any, studio: Studio) -> None:
    private = await new_page(client, studio, "Staff notes", privacy="private", body="<p>secret</p>")
    ruled = await new_page(client, studio, "VIP page", body="<p>vip</p>")
    for p in (private, ruled):
        assert (await publish(client, studio, p["id"])).status_code == 200
    tag_id = await studio.tag(client)
    r = await client.post(f"{studio.hub.url}/access-rules", json=doc("access_rules", {
        "target_type": "page", "target_id": ruled["id"],
        "conditions": [{"condition_type": "has_tag", "condition_data": {"tag_id": tag_id}}]}), headers=studio.wh)
    assert r.status_code == 201, r.text
    learner = await studio.learner(client)
    r = await client.get(f"{studio.h}/pages/{private['id']}", headers=learner.headers)
    assert_error(r, 404, "not_found")
    assert "secret" not in r.text
    assert_error(await client.get(f"{studio.h}/pages/vip-page", headers=learner.headers), 403, "missing_tag")
    await studio.tag(client, learner, tag_id)
    r = await client.get(f"{studio.h}/pages/vip-page", headers=learner.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["body"] == "<p>vip</p>"
    r = await client.post(f"{studio.hub.url}/access-overrides", json=doc("access_overrides", {
        "contact_id": learner.contact_id, "scope": "target", "target_type": "page", "target_id": private["id"]}),
        headers=studio.wh)
    assert r.status_code == 201, r.text
    r = await client.get(f"{studio.h}/pages/{private['id']}", headers=learner.headers)
    assert r.status_code == 200 and r.json()["data"]["attributes"]["body"] == "<p>secret</p>"


async def test_pages_nest_without_cycles_and_invalid_writes_change_nothing(client: Any, studio: Studio) -> None:
    docs = await new_page(client, studio, "Docs")
    guide = await new_page(client, studio, "Guide")
    faq = await new_page(client, studio, "FAQ")

    async def place(page: dict[str, Any], version: int, **attrs: Any) -> Any:
        return await client.put(f"{studio.hub.url}/pages/{page['id']}/tree", json=doc("pages", attrs),
                                headers={**studio.wh, "If-Match": str(version)})

    r = await place(guide, 1, parent_id=docs["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["attributes"]["parent_id"], r.json()["data"]["attributes"]["position"]) == (docs["id"], 0)
    r = await place(faq, 1, parent_id=docs["id"], position=0)
    assert r.json()["data"]["attributes"]["position"] == 0
    r = await client.get(f"{studio.hub.url}/pages/{guide['id']}", headers=studio.staff.headers)
    assert r.json()["data"]["attributes"]["position"] == 1
    assert_error(await place(docs, 1, parent_id=guide["id"]), 422, "cycle", A + "parent_id")
    assert_error(await place(docs, 1, parent_id=docs["id"]), 422, "cycle", A + "parent_id")
    assert_error(await place(docs, 7, parent_id=None), 409, "stale_draft")

    for attrs, code, at in (({"title": ""}, "invalid_title", "title"), ({"privacy": "secret"}, "invalid_privacy",
                                                                        "privacy"),
                            ({"slug": "No Slug"}, "invalid_slug", "slug"), ({"slug": "guide"}, "slug_taken", "slug")):
        r = await edit(client, studio, docs["id"], 1, **attrs)
        assert_error(r, 409 if code == "slug_taken" else 422, code, A + at)
    r = await client.get(f"{studio.hub.url}/pages/{docs['id']}", headers=studio.staff.headers)
    assert (r.json()["data"]["attributes"]["title"], r.json()["data"]["attributes"]["draft_version"]) == ("Docs", 1)

    assert (await client.delete(f"{studio.hub.url}/pages/{docs['id']}", headers=studio.staff.headers)).status_code \
        == 204
    for p in (docs, guide, faq):
        assert_error(await client.get(f"{studio.hub.url}/pages/{p['id']}", headers=studio.staff.headers), 404,
                     "not_found")
    r = await client.get(f"{studio.hub.url}/pages", headers=studio.staff.headers)
    assert r.json()["data"] == []

    stranger = await open_studio(client)
    mine = await new_page(client, studio, "Mine")
    for method, url in (("GET", f"{stranger.hub.url}/pages/{mine['id']}"),
                        ("POST", f"{stranger.hub.url}/pages/{mine['id']}/publish"),
                        ("DELETE", f"{stranger.hub.url}/pages/{mine['id']}")):
        assert_error(await client.request(method, url, headers=stranger.wh), 404, "not_found")
    assert_error(await client.get(f"{studio.hub.url}/pages/{mine['id']}", headers=stranger.staff.headers), 404,
                 "not_found")
