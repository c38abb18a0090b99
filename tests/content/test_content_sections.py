"""Page sections: written as part of the page's draft (If-Match on the page's draft_version, 428
without, 409 stale_draft when it moved, one winner among concurrent writers; invalid writes change
nothing), published with the page (a deleted one leaves the published page then), another team's or
hub's page or section is 404; gated on their own by access rules (target_type section, checked
against the hub's live sections): locked without a body for members and for readers without a
token, unlocked when the rule passes (a tag given, an unlock date reached at its exact second), a
rule on the page covering its sections, a private page's sections secret like it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.api import assert_error, doc
from tests.support.content import Studio, open_studio, uid
from tests.support.sql import counting

A = "/data/attributes/"
BONUS = "<p>the buyers-only bonus</p>"


def freeze(monkeypatch: pytest.MonkeyPatch, clock: Any, at: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: at)


async def new_page(client: Any, studio: Studio, title: str, **attrs: Any) -> dict[str, Any]:
    r = await client.post(f"{studio.hub.url}/pages", json=doc("pages", {"title": title, **attrs}), headers=studio.wh)
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


def sections_url(studio: Studio, page_id: str, section_id: str | None = None) -> str:
    url = f"{studio.hub.url}/pages/{page_id}/sections"
    return f"{url}/{section_id}" if section_id else url


def if_match(studio: Studio, version: Any) -> dict[str, str]:
    return studio.wh if version is None else {**studio.wh, "If-Match": str(version)}


async def add(client: Any, studio: Studio, page_id: str, version: Any, **attrs: Any) -> Any:
    return await client.post(sections_url(studio, page_id), json=doc("page_sections", attrs),
                             headers=if_match(studio, version))


async def added(client: Any, studio: Studio, page_id: str, version: int, title: str, **attrs: Any) -> dict[str, Any]:
    r = await add(client, studio, page_id, version, title=title, **attrs)
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


async def edit(client: Any, studio: Studio, page_id: str, section_id: str, version: Any, **attrs: Any) -> Any:
    return await client.patch(sections_url(studio, page_id, section_id),
                              json={"data": {"type": "page_sections", "id": section_id, "attributes": attrs}},
                              headers=if_match(studio, version))


async def publish(client: Any, studio: Studio, page_id: str) -> None:
    r = await client.post(f"{studio.hub.url}/pages/{page_id}/publish", headers=studio.wh)
    assert r.status_code == 200, r.text


async def draft_state(client: Any, studio: Studio, page_id: str) -> tuple[int, list[tuple[str, str | None, int]]]:
    """The page's draft_version and its sections (title, body, position), in order."""
    r = await client.get(f"{studio.hub.url}/pages/{page_id}", headers=studio.staff.headers)
    version = r.json()["data"]["attributes"]["draft_version"]
    r = await client.get(sections_url(studio, page_id), headers=studio.staff.headers)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{version}"'
    return version, [(s["attributes"]["title"], s["attributes"]["body"], s["attributes"]["position"])
                     for s in r.json()["data"]]


async def shown(client: Any, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The sections of the published page at ``url`` (member or public route)."""
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["attributes"]["sections"])


async def section_rule(client: Any, studio: Studio, target_type: str, target_id: str,
                       *conditions: tuple[str, dict[str, Any]]) -> Any:
    return await client.post(f"{studio.hub.url}/access-rules", headers=studio.wh, json=doc("access_rules", {
        "target_type": target_type, "target_id": target_id,
        "conditions": [{"condition_type": t, "condition_data": d} for t, d in conditions]}))


async def test_sections_are_written_as_part_of_the_page_draft(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Sales page")
    pid = page["id"]
    assert_error(await add(client, studio, pid, None, title="Teaser"), 428, "if_match_required")
    assert_error(await add(client, studio, pid, 7, title="Teaser"), 409, "stale_draft")
    r = await add(client, studio, pid, 1, title="Offer", body="<p>Buy</p><script>x()</script>")
    assert r.status_code == 201, r.text
    offer = r.json()["data"]
    a = offer["attributes"]
    assert (offer["type"], a["title"], a["body"], a["position"], a["published"], a["page_draft_version"],
            a["page_id"]) == ("page_sections", "Offer", "<p>Buy</p>", 0, None, 2, pid)
    assert r.headers["etag"] == '"2"' and r.headers["location"].endswith(f"/sections/{offer['id']}")
    assert_error(await add(client, studio, pid, 1, title="Lost"), 409, "stale_draft")  # the page moved on
    teaser = await added(client, studio, pid, 2, "Teaser", position=0, body="<p>Free</p>")
    bonus = await added(client, studio, pid, 3, "Bonus", body=BONUS)
    assert await draft_state(client, studio, pid) == (4, [("Teaser", "<p>Free</p>", 0), ("Offer", "<p>Buy</p>", 1),
                                                          ("Bonus", BONUS, 2)])
    # a page write and a section write share one draft_version
    r = await client.patch(f"{studio.hub.url}/pages/{pid}", json=doc("pages", {"title": "Sales"}),
                           headers=if_match(studio, 3))
    assert_error(r, 409, "stale_draft")

    r = await edit(client, studio, pid, bonus["id"], 4, title="Buyers' bonus", position=0)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["attributes"]["position"], r.headers["etag"]) == (0, '"5"')
    r = await client.get(sections_url(studio, pid, bonus["id"]), headers=studio.staff.headers)
    assert (r.json()["data"]["attributes"]["title"], r.headers["etag"]) == ("Buyers' bonus", '"5"')
    assert_error(await edit(client, studio, pid, bonus["id"], None, title="x"), 428, "if_match_required")
    assert_error(await edit(client, studio, pid, bonus["id"], 4, title="x"), 409, "stale_draft")

    before = await draft_state(client, studio, pid)
    for attrs, status, code, at in (({"title": ""}, 422, "invalid_title", "title"),
                                    ({"title": "t" * 301}, 422, "invalid_title", "title"),
                                    ({"position": -1}, 422, "invalid_position", "position"),
                                    ({"body": "x" * 200_001}, 422, "invalid_body", "body"),
                                    ({"published": {"title": "x"}}, 422, "unknown_field", "published"),
                                    ({"position": "first"}, 422, "invalid_value", "position")):
        assert_error(await edit(client, studio, pid, bonus["id"], 5, **attrs), status, code, A + at)
        assert_error(await add(client, studio, pid, 5, **{"title": "New", **attrs}), status, code, A + at)
    assert_error(await add(client, studio, pid, 5), 422, "missing_field", A + "title")
    r = await client.patch(sections_url(studio, pid, bonus["id"]), headers=if_match(studio, 5),
                           json={"data": {"type": "page_sections", "id": teaser["id"], "attributes": {}}})
    assert_error(r, 409, "id_mismatch")
    assert await draft_state(client, studio, pid) == before  # nothing changed, not even the draft_version

    assert_error(await client.delete(sections_url(studio, pid, teaser["id"]), headers=studio.wh), 428,
                 "if_match_required")
    r = await client.delete(sections_url(studio, pid, teaser["id"]), headers=if_match(studio, "*"))
    assert (r.status_code, r.headers["etag"]) == (204, '"6"')
    assert_error(await client.get(sections_url(studio, pid, teaser["id"]), headers=studio.staff.headers), 404,
                 "not_found")
    assert_error(await edit(client, studio, pid, teaser["id"], 6, title="x"), 404, "not_found")
    assert await draft_state(client, studio, pid) == (6, [("Buyers' bonus", BONUS, 0), ("Offer", "<p>Buy</p>", 1)])
    r = await client.get(sections_url(studio, pid), params={"page[size]": "1"}, headers=studio.staff.headers)
    assert [s["id"] for s in r.json()["data"]] == [bonus["id"]]
    r = await client.get(r.json()["links"]["next"], headers=studio.staff.headers)
    assert [s["id"] for s in r.json()["data"]] == [offer["id"]]


async def test_concurrent_section_writers_of_one_version_have_one_winner(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Shared")
    results = await asyncio.gather(*(add(client, studio, page["id"], 1, title=f"Writer {i}") for i in range(5)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409], [r.text for r in results]
    version, sections = await draft_state(client, studio, page["id"])
    assert (version, len(sections)) == (2, 1)


async def test_publish_copies_sections_and_a_deleted_one_leaves_then(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Welcome", body="<p>Hello</p>")
    pid = page["id"]
    one = await added(client, studio, pid, 1, "One", body="<p>1</p>")
    two = await added(client, studio, pid, 2, "Two", body="<p>2</p>")
    learner = await studio.learner(client)
    url = f"{studio.h}/pages/{pid}"
    assert_error(await client.get(url, headers=learner.headers), 404, "not_found")  # never published
    await publish(client, studio, pid)
    assert [(s["title"], s["body"], s["locked"], s["lock_reason"], s["unlock_at"])
            for s in await shown(client, url, learner.headers)] == [("One", "<p>1</p>", False, None, None),
                                                                  ("Two", "<p>2</p>", False, None, None)]
    r = await client.get(sections_url(studio, pid, one["id"]), headers=studio.staff.headers)
    assert r.json()["data"]["attributes"]["published"] == {"title": "One", "body": "<p>1</p>", "position": 0}

    r = await edit(client, studio, pid, one["id"], 3, body="<p>1, revised</p>")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["published"]["body"] == "<p>1</p>"
    assert (await client.delete(sections_url(studio, pid, two["id"]), headers=if_match(studio, 4))).status_code == 204
    await added(client, studio, pid, 5, "Three", body="<p>3</p>", position=0)
    # the draft is not published yet: members see the sections as last published
    assert [(s["title"], s["body"]) for s in await shown(client, url, learner.headers)] == [("One", "<p>1</p>"),
                                                                                          ("Two", "<p>2</p>")]
    await publish(client, studio, pid)
    assert [(s["title"], s["body"]) for s in await shown(client, url, learner.headers)] == [
        ("Three", "<p>3</p>"), ("One", "<p>1, revised</p>")]
    assert "<p>2</p>" not in (await client.get(url, headers=learner.headers)).text


async def test_a_rule_on_a_section_locks_it_without_its_body_until_it_passes(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Course offer", body="<p>Read on</p>")
    pid = page["id"]
    teaser = await added(client, studio, pid, 1, "Teaser", body="<p>free part</p>")
    bonus = await added(client, studio, pid, 2, "Bonus", body=BONUS)
    await publish(client, studio, pid)
    tag_id = await studio.tag(client)
    r = await section_rule(client, studio, "section", bonus["id"], ("has_tag", {"tag_id": tag_id}))
    assert r.status_code == 201, r.text
    assert (r.json()["data"]["attributes"]["target_type"], r.json()["data"]["attributes"]["target_id"]) == (
        "section", bonus["id"])
    learner = await studio.learner(client)
    url = f"{studio.h}/pages/{pid}"
    r = await client.get(url, headers=learner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["body"] == "<p>Read on</p>"
    assert [(s["id"], s["title"], s["locked"], s["lock_reason"], s["body"])
            for s in r.json()["data"]["attributes"]["sections"]] == [
        (teaser["id"], "Teaser", False, None, "<p>free part</p>"), (bonus["id"], "Bonus", True, "missing_tag", None)]
    assert "buyers-only" not in r.text
    r = await client.get(f"{studio.h}/access/check", params={"target_type": "section", "target_id": bonus["id"]},
                         headers=learner.headers)
    assert (r.json()["data"]["attributes"]["allowed"], r.json()["data"]["attributes"]["reason"]) == (False,
                                                                                                    "missing_tag")

    await studio.tag(client, learner, tag_id)
    sections = await shown(client, url, learner.headers)
    assert (sections[1]["locked"], sections[1]["lock_reason"], sections[1]["body"]) == (False, None, BONUS)
    other = await studio.learner(client)
    assert (await shown(client, url, other.headers))[1]["body"] is None


async def test_an_unlock_date_on_a_section_opens_it_at_that_second_for_everyone(
        client: Any, clock: Any, studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    page = await new_page(client, studio, "Launch", privacy="public", body="<p>Coming soon</p>")
    pid = page["id"]
    await added(client, studio, pid, 1, "Intro", body="<p>intro</p>")
    launch = await added(client, studio, pid, 2, "Launch day", body=BONUS)
    await publish(client, studio, pid)
    at = clock.now().replace(microsecond=0) + timedelta(seconds=2)
    r = await section_rule(client, studio, "section", launch["id"], ("available_after", {"at": at.isoformat()}))
    assert r.status_code == 201, r.text
    learner = await studio.learner(client)
    member_url = f"{studio.h}/pages/{pid}"
    public_url = f"/api/v1/public/hubs/{studio.hub.id}/pages/{pid}"

    freeze(monkeypatch, clock, at - timedelta(seconds=1))
    for url, headers in ((member_url, learner.headers), (public_url, {})):
        intro, gated = await shown(client, url, headers)
        assert (intro["locked"], intro["body"]) == (False, "<p>intro</p>")
        assert (gated["locked"], gated["lock_reason"], gated["body"]) == (True, "drip_locked", None)
        assert datetime.fromisoformat(gated["unlock_at"]) == at
    r = await client.get(public_url)
    assert "buyers-only" not in r.text
    etag = r.headers["etag"]
    assert r.headers["cache-control"] == "public, no-cache" and "last-modified" not in r.headers
    assert (await client.get(public_url, headers={"If-None-Match": etag})).status_code == 304
    r = await client.get(public_url, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert r.status_code == 200  # a page with sections is never "not modified" by date

    freeze(monkeypatch, clock, at)
    for url, headers in ((member_url, learner.headers), (public_url, {})):
        gated = (await shown(client, url, headers))[1]
        assert (gated["locked"], gated["lock_reason"], gated["unlock_at"], gated["body"]) == (False, None, None, BONUS)
    r = await client.get(public_url, headers={"If-None-Match": etag})  # the cached copy is locked: not current
    assert r.status_code == 200 and r.headers["etag"] != etag
    assert r.json()["data"]["attributes"]["sections"][1]["body"] == BONUS


async def test_a_rule_on_the_page_covers_its_sections(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Members corner", privacy="public", body="<p>everyone</p>")
    pid = page["id"]
    part = await added(client, studio, pid, 1, "Part", body=BONUS)
    await publish(client, studio, pid)
    public_url = f"/api/v1/public/hubs/{studio.hub.id}/pages/{pid}"
    learner = await studio.learner(client)
    assert (await shown(client, public_url, {}))[0]["body"] == BONUS  # no rule: as open as the public page
    cached = (await client.get(public_url)).headers["etag"]
    tag_id = await studio.tag(client)
    r = await section_rule(client, studio, "page", pid, ("has_tag", {"tag_id": tag_id}))
    assert r.status_code == 201, r.text
    r = await client.get(public_url, headers={"If-None-Match": cached})  # a cache's open copy is stale now
    assert r.status_code == 200 and r.headers["etag"] != cached
    assert r.json()["data"]["attributes"]["body"] == "<p>everyone</p>"  # the public page itself stays readable
    assert "buyers-only" not in r.text
    for url, headers in ((public_url, {}), (f"{studio.h}/pages/{pid}", learner.headers)):
        [s] = await shown(client, url, headers)
        assert (s["id"], s["locked"], s["lock_reason"], s["body"]) == (part["id"], True, "missing_tag", None)
    await studio.tag(client, learner, tag_id)
    assert (await shown(client, f"{studio.h}/pages/{pid}", learner.headers))[0]["body"] == BONUS

    # in a private hub a reader without a token sees a gated section locked: log in first
    r = await client.patch(studio.hub.url, json=doc("hubs", {"is_private": True}), headers=studio.wh)
    assert r.status_code == 200, r.text
    [s] = await shown(client, public_url, {})
    assert (s["locked"], s["lock_reason"], s["body"]) == (True, "login_required", None)


async def test_a_private_page_s_sections_are_secret_like_it(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Staff only", privacy="private")
    part = await added(client, studio, page["id"], 1, "Notes", body=BONUS)
    await publish(client, studio, page["id"])
    learner = await studio.learner(client)
    r = await client.get(f"{studio.h}/access/check", params={"target_type": "section", "target_id": part["id"]},
                         headers=learner.headers)
    assert_error(r, 404, "not_found")
    assert_error(await client.get(f"{studio.h}/pages/{page['id']}", headers=learner.headers), 404, "not_found")
    r = await client.post(f"{studio.hub.url}/access-overrides", headers=studio.wh, json=doc("access_overrides", {
        "contact_id": learner.contact_id, "scope": "target", "target_type": "page", "target_id": page["id"]}))
    assert r.status_code == 201, r.text
    [s] = await shown(client, f"{studio.h}/pages/{page['id']}", learner.headers)
    assert (s["locked"], s["body"]) == (False, BONUS)


async def test_section_targets_must_be_live_sections_of_the_hub(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Page")
    part = await added(client, studio, page["id"], 1, "Part")
    gone = await added(client, studio, page["id"], 2, "Gone")
    assert (await client.delete(sections_url(studio, page["id"], gone["id"]), headers=if_match(studio, 3))
            ).status_code == 204
    doomed = await new_page(client, studio, "Doomed")
    orphan = await added(client, studio, doomed["id"], 1, "Orphan")
    assert (await client.delete(f"{studio.hub.url}/pages/{doomed['id']}", headers=studio.wh)).status_code == 204
    stranger = await open_studio(client)
    theirs_page = await new_page(client, stranger, "Theirs")
    theirs = await added(client, stranger, theirs_page["id"], 1, "Their part")
    rule = ("role_at_least", {"role": "member"})
    for target_id in (uid(), "nope", gone["id"], orphan["id"], theirs["id"], page["id"]):
        assert_error(await section_rule(client, studio, "section", target_id, rule), 422, "unknown_target",
                     A + "target_id")
    r = await client.get(f"{studio.hub.url}/access-rules", headers=studio.staff.headers)
    assert r.json()["data"] == []  # nothing was created
    assert (await section_rule(client, studio, "section", part["id"], rule)).status_code == 201


async def test_another_team_s_or_hub_s_pages_and_sections_are_not_found(client: Any, studio: Studio) -> None:
    page = await new_page(client, studio, "Mine")
    part = await added(client, studio, page["id"], 1, "Part")
    other_page = await new_page(client, studio, "Other page of my hub")
    stranger = await open_studio(client)
    theirs_page = await new_page(client, stranger, "Theirs")
    for url in (sections_url(stranger, page["id"]), sections_url(stranger, page["id"], part["id"]),
                sections_url(studio, other_page["id"], part["id"]), sections_url(studio, theirs_page["id"]),
                sections_url(studio, page["id"], uid()), sections_url(studio, page["id"], "nope")):
        for method in (("GET", "POST") if url.endswith("/sections") else ("GET", "PATCH", "DELETE")):
            body = {"data": {"type": "page_sections", "attributes": {"title": "x"}}}
            if method == "PATCH":
                body["data"]["id"] = url.rsplit("/", 1)[-1]
            r = await client.request(method, url, headers=if_match(stranger if stranger.hub.id in url else studio, "*"),
                                     json=body if method in ("PATCH", "POST") else None)
            assert_error(r, 404, "not_found")
    # my URLs with the stranger's credentials
    r = await client.get(sections_url(studio, page["id"], part["id"]), headers=stranger.staff.headers)
    assert_error(r, 404, "not_found")
    assert (await draft_state(client, studio, page["id"])) == (2, [("Part", None, 0)])


async def test_a_page_costs_the_same_statements_for_2_or_30_sections(client: Any, app: Any, studio: Studio) -> None:
    """Every section is decided from facts loaded once: no statement per section or per rule."""
    page = await new_page(client, studio, "Long sales page", privacy="public")
    pid = page["id"]
    tag_id = await studio.tag(client)
    learner = await studio.learner(client)
    member_url = f"{studio.h}/pages/{pid}"
    public_url = f"/api/v1/public/hubs/{studio.hub.id}/pages/{pid}"
    version = 1

    async def grow(n: int) -> None:
        nonlocal version
        for i in range(n):
            part = await added(client, studio, pid, version, f"Part {version}")
            version += 1
            if i % 2:
                assert (await section_rule(client, studio, "section", part["id"], ("has_tag", {"tag_id": tag_id}))
                        ).status_code == 201
        await publish(client, studio, pid)

    async def cost(url: str, headers: dict[str, str]) -> int:
        assert (await client.get(url, headers=headers)).status_code == 200  # warm: the access cache
        with counting(client, app) as seen:
            r = await client.get(url, headers=headers)
            assert r.status_code == 200, r.text
        return len(seen)

    await grow(2)
    few = (await cost(member_url, learner.headers), await cost(public_url, {}))
    await grow(28)
    assert len(await shown(client, member_url, learner.headers)) == 30
    many = (await cost(member_url, learner.headers), await cost(public_url, {}))
    print(f"H/pages and the public page: {few} statements with 2 sections, {many} with 30")
    assert many == few
