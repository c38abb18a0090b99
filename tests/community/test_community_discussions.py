"""Discussions, comments and reactions: every refusal issue 6 names for them, feeds paged under
concurrent inserts, scheduled publishing at the exact second, and each live event — the exact
payload the broker carries after commit, and the exact frames a real WebSocket subscriber gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from domain.clock import FrozenClock
from domain.community import scheduler
from domain.community.scheduler import PublishLoop, publish_due
from domain.context import Ctx
from tests.support.api import assert_error, doc, w
from tests.support.app import Listener, in_app
from tests.support.realtime import Client, make_world
from tests.support.spaces import Community, Who, community

EMOJI = "👍"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def event(d: dict[str, Any], name: str, channel: str) -> dict[str, Any]:
    """The event the broker should carry for discussion resource ``d`` (as the API returned it)."""
    a = d["attributes"]
    return {"channel": channel, "event": name, "data": {
        "id": d["id"], "hub_id": a["hub_id"], "space_id": a["space_id"], "author_contact_id": a["author_contact_id"],
        "title": a["title"], "body": a["body"], "status": a["status"], "is_pinned": a["is_pinned"],
        "is_locked": a["is_locked"], "comment_count": a["comment_count"], "published_at": a["published_at"],
        "last_activity_at": a["last_activity_at"], "edited_at": a["edited_at"], "created_at": a["created_at"]}}


def comment_event(cm: dict[str, Any], name: str) -> dict[str, Any]:
    a = cm["attributes"]
    return {"channel": f"discussion:{a['discussion_id']}", "event": name, "data": {
        "id": cm["id"], "hub_id": a["hub_id"], "discussion_id": a["discussion_id"], "parent_id": a["parent_id"],
        "author_contact_id": a["author_contact_id"], "body": a["body"], "edited_at": a["edited_at"],
        "created_at": a["created_at"]}}


def strip_at(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The broker's frames (stamped by the realtime publisher: ``type``, ``seq``, ``at``) without
    those three, after checking them."""
    for e in events:
        assert ts(e.pop("at"))  # every event carries its time
        assert e.pop("type") == "event" and isinstance(e.pop("seq"), int)
    return events


def scheduler_pass(app: Any) -> Any:
    """One pass of a ``PublishLoop`` on the app's database at a given time: what ``run_once``
    answers (the seconds until the next pass is due)."""
    svc = app.state.services

    async def run(when: datetime) -> float | None:
        @asynccontextmanager
        async def contexts() -> AsyncIterator[Ctx]:
            async with svc.uow() as uow:
                yield Ctx(uow, FrozenClock(when), svc.access_cache, svc.limiter)

        return await PublishLoop(contexts).run_once()

    return run


async def comment(client: Any, c: Community, who: Who, discussion_id: str, **attrs: Any) -> Any:
    attrs.setdefault("body", "A comment")
    return await client.post(f"{c.h}/discussions/{discussion_id}/comments", json=doc("comments", attrs),
                             headers=w(who.headers))


# ---- discussions ---------------------------------------------------------------------------------------


async def test_publishing_announces_on_the_space_and_hub_channels_after_commit(client, app):
    c = await community(client)
    ann = await c.member(client, "ann")
    open_s, private = await c.space(client), await c.space(client, access_level="private")
    await c.add_to_space(client, private["id"], ann)
    with Listener(client, app, f"space:{open_s['id']}") as sp, Listener(client, app, f"hub:{c.hub.id}") as hub, \
            Listener(client, app, f"space:{private['id']}") as priv:
        d = await c.discussion(client, ann, open_s["id"])
        p = await c.discussion(client, ann, private["id"])
        draft = await c.discussion(client, ann, open_s["id"], status="draft")
        assert_error(await c.post(client, ann, open_s["id"], title=""), 422, "invalid_title")
        assert strip_at(sp.drain()) == [event(d, "discussion.created", f"space:{open_s['id']}")]
        # a private space's discussion never goes to the hub-wide channel; a draft goes nowhere
        assert strip_at(hub.drain()) == [event(d, "discussion.created", f"hub:{c.hub.id}")]
        assert strip_at(priv.drain()) == [event(p, "discussion.created", f"space:{private['id']}")]
        r = await client.patch(f"{c.h}/discussions/{draft['id']}", json=doc("discussions", {"status": "published"}),
                               headers=w(ann.headers))
        assert r.status_code == 200, r.text
        assert strip_at(sp.drain()) == [event(r.json()["data"], "discussion.created", f"space:{open_s['id']}")]
        r = await client.patch(f"{c.h}/discussions/{d['id']}", json=doc("discussions", {"body": "Edited"}),
                               headers=w(ann.headers))
        assert r.json()["data"]["attributes"]["edited_at"] is not None
        assert strip_at(sp.drain()) == [event(r.json()["data"], "discussion.updated", f"space:{open_s['id']}")]
        assert_error(await client.patch(f"{c.h}/discussions/{d['id']}", json=doc("discussions", {"status": "draft"}),
                                        headers=w(ann.headers)), 409, "already_published")
        assert sp.drain() == []  # a refused change announces nothing


async def test_drafts_are_their_authors_alone(client):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    s = await c.space(client)
    draft = await c.discussion(client, ann, s["id"], status="draft")
    assert (await client.get(f"{c.h}/discussions/{draft['id']}", headers=ann.headers)).status_code == 200
    assert_error(await client.get(f"{c.h}/discussions/{draft['id']}", headers=bob.headers), 404, "not_found")
    r = await client.get(f"{c.h}/spaces/{s['id']}/discussions", params={"filter[status]": "draft"}, headers=bob.headers)
    assert r.json()["data"] == []
    r = await client.get(f"{c.h}/spaces/{s['id']}/discussions", params={"filter[status]": "draft"}, headers=ann.headers)
    assert [x["id"] for x in r.json()["data"]] == [draft["id"]]
    assert (await client.get(f"{c.h}/spaces/{s['id']}/discussions", headers=bob.headers)).json()["data"] == []


async def test_authors_edit_and_delete_moderators_remove_restore_pin_and_lock(client, app):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    mod = await c.member(client, "mod", role="moderator")
    s = await c.space(client)
    d = await c.discussion(client, ann, s["id"])
    url = f"{c.h}/discussions/{d['id']}"
    assert_error(await client.patch(url, json=doc("discussions", {"title": "Mine now"}), headers=w(bob.headers)),
                 403, "not_author")
    assert_error(await client.delete(url, headers=bob.headers), 403, "not_author")
    for path in ("pin", "lock"):
        assert_error(await client.post(f"{url}/{path}", headers=ann.headers), 403, "insufficient_role")
    removal = doc("removals", {"reason": "spam"})
    assert_error(await client.post(f"{url}/remove", json=removal, headers=w(bob.headers)), 403, "insufficient_role")

    with Listener(client, app, f"space:{s['id']}") as sp, Listener(client, app, f"discussion:{d['id']}") as dl:
        r = await client.post(f"{url}/pin", headers=mod.headers)
        assert r.json()["data"]["attributes"]["is_pinned"] is True
        assert (await client.post(f"{url}/pin", headers=mod.headers)).status_code == 200  # idempotent: no event
        r = await client.get(f"{c.h}/spaces/{s['id']}/discussions", params={"filter[pinned]": "true"},
                             headers=bob.headers)
        assert [x["id"] for x in r.json()["data"]] == [d["id"]]
        r = await client.post(f"{url}/remove", json=removal, headers=w(mod.headers))
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removal_reason"] == "spam"
        removed = {"id": d["id"], "hub_id": c.hub.id, "space_id": s["id"], "removed_by": "moderator"}
        events = strip_at(sp.drain())
        assert [e["event"] for e in events] == ["discussion.updated", "discussion.removed"]
        assert events[1] == {"channel": f"space:{s['id']}", "event": "discussion.removed", "data": removed}
        assert strip_at(dl.drain()) == [{"channel": f"discussion:{d['id']}", "event": "discussion.removed",
                                         "data": removed}]
        assert_error(await client.get(url, headers=bob.headers), 404, "not_found")  # gone for others
        assert (await client.get(url, headers=ann.headers)).status_code == 200  # the author still sees it
        r = await client.get(f"{c.h}/spaces/{s['id']}/discussions", params={"filter[status]": "removed"},
                             headers=mod.headers)
        assert [x["id"] for x in r.json()["data"]] == [d["id"]]
        assert_error(await client.get(f"{c.h}/spaces/{s['id']}/discussions", params={"filter[status]": "removed"},
                                      headers=bob.headers), 403, "insufficient_role")
        r = await client.post(f"{url}/restore", headers=mod.headers)
        assert strip_at(sp.drain()) == [event(r.json()["data"], "discussion.updated", f"space:{s['id']}")]
        assert (await client.get(url, headers=bob.headers)).status_code == 200
        assert (await client.delete(f"{url}/pin", headers=mod.headers)).json()["data"]["attributes"]["is_pinned"] is False
        sp.drain()
        assert (await client.delete(url, headers=ann.headers)).status_code == 204
        assert strip_at(sp.drain()) == [{"channel": f"space:{s['id']}", "event": "discussion.removed",
                                         "data": {**removed, "removed_by": "author"}}]
        assert_error(await client.get(url, headers=ann.headers), 404, "not_found")


async def test_secret_spaces_are_404_for_those_not_in_them(client):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    secret = await c.space(client, access_level="secret")
    await c.add_to_space(client, secret["id"], ann)
    d = await c.discussion(client, ann, secret["id"])
    assert_error(await c.post(client, bob, secret["id"]), 404, "not_found")
    assert_error(await client.get(f"{c.h}/discussions/{d['id']}", headers=bob.headers), 404, "not_found")
    assert_error(await client.get(f"{c.h}/spaces/{secret['id']}/discussions", headers=bob.headers), 404, "not_found")
    assert_error(await comment(client, c, bob, d["id"]), 404, "not_found")
    r = await client.get(f"{c.h}/discussions", headers=bob.headers)
    assert d["id"] not in [x["id"] for x in r.json()["data"]]
    r = await client.get(f"{c.h}/discussions", headers=ann.headers)
    assert d["id"] in [x["id"] for x in r.json()["data"]]
    other = await community(client)  # another hub's discussion is 404 too
    eve = await other.member(client, "eve")
    assert_error(await client.get(f"{other.h}/discussions/{d['id']}", headers=eve.headers), 404, "not_found")


async def test_posting_rate_limits_answer_429_with_retry_after_and_spare_moderators(client):
    c = await community(client)
    await c.settings(client, posts_per_minute=3, posts_per_minute_per_space=2)
    ann = await c.member(client, "ann")
    mod = await c.member(client, "mod", role="moderator")
    s1, s2 = await c.space(client), await c.space(client)
    d = await c.discussion(client, ann, s1["id"])
    assert (await comment(client, c, ann, d["id"])).status_code == 201
    r = await c.post(client, ann, s1["id"])  # third post in this space within the minute
    err = assert_error(r, 429, "rate_limited")
    assert 1 <= int(r.headers["retry-after"]) <= 60 and err["meta"]["limit"] == 2
    assert (await c.post(client, ann, s2["id"])).status_code == 201  # another space: the hub limit (3) has room
    r = await comment(client, c, ann, d["id"])
    assert_error(r, 429, "rate_limited") and r.headers["retry-after"]
    r = await c.post(client, ann, s2["id"])  # now over the hub-wide limit
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    for _ in range(5):
        assert (await c.post(client, mod, s1["id"])).status_code == 201  # moderators are exempt


async def test_scheduled_discussions_publish_at_the_exact_second(client, app):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    s = await c.space(client, access_level="private")
    await c.add_to_space(client, s["id"], ann)
    await c.add_to_space(client, s["id"], bob)
    at = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    assert_error(await c.post(client, ann, s["id"], status="scheduled"), 422, "missing_publish_at")
    assert_error(await c.post(client, ann, s["id"], status="scheduled",
                              publish_at=(datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()),
                 422, "publish_at_in_past")
    with Listener(client, app, f"space:{s['id']}") as sp:
        d = await c.discussion(client, ann, s["id"], status="scheduled", publish_at=at.isoformat())
        assert d["attributes"]["status"] == "scheduled" and ts(d["attributes"]["publish_at"]) == at
        assert_error(await client.get(f"{c.h}/discussions/{d['id']}", headers=bob.headers), 404, "not_found")

        async def run(when: datetime) -> list[str]:
            svc = app.state.services
            async with svc.uow() as uow:
                ctx = Ctx(uow, FrozenClock(when), svc.access_cache, svc.limiter)
                return [str(x.id) for x in await publish_due(ctx)]

        assert in_app(client, run, at - timedelta(microseconds=1)) == []
        assert sp.drain() == []  # nothing announced before its time
        assert in_app(client, run, at) == [d["id"]]
        assert in_app(client, run, at + timedelta(seconds=1)) == []  # published once
        r = await client.get(f"{c.h}/discussions/{d['id']}", headers=bob.headers)
        a = r.json()["data"]["attributes"]
        assert a["status"] == "published" and ts(a["published_at"]) == at and ts(a["last_activity_at"]) == at
        events = sp.drain()
        assert ts(events[0]["at"]) == at
        assert strip_at(events) == [event(r.json()["data"], "discussion.created", f"space:{s['id']}")]


async def test_the_scheduler_waits_for_what_it_can_publish_not_a_discussion_of_a_deleted_space(client, app):
    """A scheduled discussion whose space was deleted is never published; once its time has passed
    the scheduler must not take it for due work again and again (it did: a busy loop of passes),
    and the next wait it answers is for a discussion it will publish."""
    c = await community(client)
    ann = await c.member(client, "ann")
    gone, kept = await c.space(client, access_level="open"), await c.space(client, access_level="open")
    at = (datetime.now(timezone.utc) + timedelta(days=400)).replace(microsecond=0)
    stuck = await c.discussion(client, ann, gone["id"], status="scheduled", publish_at=at.isoformat())
    assert (await client.delete(f"{c.spaces_url}/{gone['id']}", headers=c.staff.headers)).status_code == 204
    later = await c.discussion(client, ann, kept["id"], status="scheduled",
                               publish_at=(at + timedelta(hours=1)).isoformat())

    run = scheduler_pass(app)

    # (Other tests share the database: what is due before these is theirs.) Before its time, the
    # wait is not for the deleted space's discussion but for the next one it will publish.
    until = in_app(client, run, at - timedelta(minutes=1))
    assert until == timedelta(minutes=61).total_seconds()
    until = in_app(client, run, at + timedelta(minutes=1))
    assert until == timedelta(minutes=59).total_seconds()
    r = await client.get(f"{c.h}/discussions/{stuck['id']}", headers=ann.headers)
    assert_error(r, 404, "not_found")
    until = in_app(client, run, at + timedelta(hours=1))
    assert until is None or until > 0
    r = await client.get(f"{c.h}/discussions/{later['id']}", headers=ann.headers)
    assert r.json()["data"]["attributes"]["status"] == "published"


async def test_a_full_batch_of_due_discussions_makes_the_next_pass_due_at_once(client, app, monkeypatch):
    monkeypatch.setattr(scheduler, "BATCH", 1)
    c = await community(client)
    ann = await c.member(client, "ann")
    s = await c.space(client, access_level="open")
    at = (datetime.now(timezone.utc) + timedelta(days=500)).replace(microsecond=0)
    ds = [await c.discussion(client, ann, s["id"], status="scheduled", publish_at=at.isoformat()) for _ in range(2)]

    run = scheduler_pass(app)

    assert in_app(client, run, at) == 0.0  # one published, more may be due: at once
    for _ in range(500):  # (other tests' scheduled discussions are due by then too)
        until = in_app(client, run, at)
        if until != 0.0:
            break
    assert until is None or until > 0
    for d in ds:
        r = await client.get(f"{c.h}/discussions/{d['id']}", headers=ann.headers)
        assert r.json()["data"]["attributes"]["status"] == "published"


async def test_the_running_scheduler_publishes_at_publish_at_woken_by_the_schedule(client, app):
    """The app's own scheduler, no polling every second: it sleeps until the next publish_at (at
    most a minute here) and is woken when a discussion is scheduled or moved earlier, so one moved
    to two seconds from now is published then, not up to a minute later."""
    assert app.state.services.settings.community_scheduler_interval == 60
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    s = await c.space(client, access_level="open")
    await asyncio.sleep(0.5)  # the scheduler has looked, found nothing due, and sleeps
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    d = await c.discussion(client, ann, s["id"], status="scheduled", publish_at=later.isoformat())
    await asyncio.sleep(1)  # woken by that, it has looked again and sleeps for the minute
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    r = await client.patch(f"{c.h}/discussions/{d['id']}", json=doc("discussions", {"publish_at": soon.isoformat()}),
                           headers=w(ann.headers))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["status"] == "scheduled", r.text
    for _ in range(150):  # due in 2-3 s; without the wake it would wait for the minute
        r = await client.get(f"{c.h}/discussions/{d['id']}", headers=bob.headers)
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert a["status"] == "published" and ts(a["published_at"]) == soon
    assert datetime.now(timezone.utc) >= soon


async def test_feeds_page_without_duplicates_or_gaps_while_discussions_arrive(client):
    c = await community(client)
    mod = await c.member(client, "mod", role="moderator")  # exempt from the posting rate limits
    reader = await c.member(client, "reader")
    s1, s2 = await c.space(client), await c.space(client)
    before = [(await c.discussion(client, mod, (s1, s2)[i % 2]["id"]))["id"] for i in range(9)]
    # bump the activity of some older discussions, so the activity order differs from the id order
    for i in (0, 3):
        assert (await comment(client, c, mod, before[i])).status_code == 201

    for url in (f"{c.h}/spaces/{s1['id']}/discussions", f"{c.h}/discussions"):
        for sort in ("newest", "activity"):
            expected_all = await _all_pages(client, reader, url, sort, 100)
            seen: list[str] = []
            next_url: str | None = f"{url}?page[size]=2&sort={sort}"
            while next_url:
                r = await client.get(next_url, headers=reader.headers)
                assert r.status_code == 200, r.text
                seen += [x["id"] for x in r.json()["data"]]
                next_url = r.json()["links"].get("next")
                await c.discussion(client, mod, s1["id"])  # an insert between page fetches
            assert len(seen) == len(set(seen)), "a row came twice"
            assert seen == expected_all, (url, sort)  # every row that was there, in order: no gap
    r = await client.get(f"{c.h}/discussions", params={"sort": "activity", "page[size]": 1}, headers=reader.headers)
    cursor = r.json()["links"]["next"].split("page%5Bafter%5D=")[1]
    assert_error(await client.get(f"{c.h}/discussions", params={"page[after]": cursor}, headers=reader.headers),
                 422, "invalid_cursor")
    assert_error(await client.get(f"{c.h}/discussions", params={"sort": "hot"}, headers=reader.headers),
                 422, "invalid_parameter")


async def _all_pages(client: Any, who: Who, url: str, sort: str, size: int) -> list[str]:
    r = await client.get(url, params={"sort": sort, "page[size]": size}, headers=who.headers)
    assert not r.json()["meta"]["has_more"]
    ids = [x["id"] for x in r.json()["data"]]
    if sort == "newest":
        assert ids == sorted(ids, reverse=True)
    else:
        acts = [x["attributes"]["last_activity_at"] for x in r.json()["data"]]
        assert [ts(a) for a in acts] == sorted((ts(a) for a in acts), reverse=True)
    return ids


# ---- comments ------------------------------------------------------------------------------------------


async def test_comments_threads_counts_locks_and_authorship(client, app):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    mod = await c.member(client, "mod", role="moderator")
    s = await c.space(client)
    d = await c.discussion(client, ann, s["id"])
    other = await c.discussion(client, ann, s["id"])
    dch = f"discussion:{d['id']}"
    with Listener(client, app, dch) as dl:
        r = await comment(client, c, bob, d["id"], body="First")
        first = r.json()["data"]
        r = await comment(client, c, ann, d["id"], body="Reply", parent_id=first["id"])
        reply = r.json()["data"]
        assert reply["attributes"]["parent_id"] == first["id"]
        assert strip_at(dl.drain()) == [comment_event(first, "comment.created"), comment_event(reply, "comment.created")]
        other_c = (await comment(client, c, bob, other["id"])).json()["data"]
        assert_error(await comment(client, c, bob, d["id"], parent_id=other_c["id"]), 422, "invalid_parent",
                     "/data/attributes/parent_id")
        r = await client.get(f"{c.h}/discussions/{d['id']}", headers=bob.headers)
        a = r.json()["data"]["attributes"]
        assert a["comment_count"] == 2 and ts(a["last_activity_at"]) == ts(reply["attributes"]["created_at"])

        cu = f"{c.h}/comments/{first['id']}"
        assert_error(await client.patch(cu, json=doc("comments", {"body": "hijack"}), headers=w(ann.headers)),
                     403, "not_author")
        assert_error(await client.delete(cu, headers=ann.headers), 403, "not_author")
        r = await client.patch(cu, json=doc("comments", {"body": "First (edited)"}), headers=w(bob.headers))
        assert r.json()["data"]["attributes"]["edited_at"] is not None
        assert strip_at(dl.drain()) == [comment_event(r.json()["data"], "comment.updated")]

        r = await client.post(f"{c.h}/comments/{reply['id']}/remove", json=doc("removals", {"reason": "rude"}),
                              headers=w(mod.headers))
        assert r.status_code == 200
        assert strip_at(dl.drain()) == [{"channel": dch, "event": "comment.removed", "data": {
            "id": reply["id"], "hub_id": c.hub.id, "discussion_id": d["id"], "removed_by": "moderator"}}]
        listed = (await client.get(f"{c.h}/discussions/{d['id']}/comments", headers=bob.headers)).json()["data"]
        assert [x["id"] for x in listed] == [first["id"]]
        assert (await client.delete(cu, headers=bob.headers)).status_code == 204
        assert strip_at(dl.drain()) == [{"channel": dch, "event": "comment.removed", "data": {
            "id": first["id"], "hub_id": c.hub.id, "discussion_id": d["id"], "removed_by": "author"}}]
        r = await client.get(f"{c.h}/discussions/{d['id']}", headers=bob.headers)
        assert r.json()["data"]["attributes"]["comment_count"] == 0

        assert (await client.post(f"{c.h}/discussions/{d['id']}/lock", headers=mod.headers)).status_code == 200
        dl.drain()
        assert_error(await comment(client, c, bob, d["id"]), 409, "discussion_locked")
        assert dl.drain() == []
        assert (await comment(client, c, mod, d["id"])).status_code == 201  # moderators may still answer
        assert (await client.delete(f"{c.h}/discussions/{d['id']}/lock", headers=mod.headers)).status_code == 200
        assert (await comment(client, c, bob, d["id"])).status_code == 201


# ---- reactions -----------------------------------------------------------------------------------------


async def test_reactions_are_idempotent_counted_per_emoji_and_announced_once(client, app):
    c = await community(client)
    ann, bob = await c.member(client, "ann"), await c.member(client, "bob")
    s = await c.space(client)
    d = await c.discussion(client, ann, s["id"])
    cm = (await comment(client, c, ann, d["id"])).json()["data"]
    du = f"{c.h}/discussions/{d['id']}/reactions"
    with Listener(client, app, f"discussion:{d['id']}") as dl:
        r = await client.put(f"{du}/{EMOJI}", headers=bob.headers)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["reactions"] == [
            {"emoji": EMOJI, "count": 1, "reacted": True}]
        assert (await client.put(f"{du}/{EMOJI}", headers=bob.headers)).status_code == 200  # idempotent
        assert (await client.put(f"{du}/:tada:", headers=ann.headers)).status_code == 200
        assert (await client.put(f"{du}/{EMOJI}", headers=ann.headers)).status_code == 200
        base = {"hub_id": c.hub.id, "discussion_id": d["id"], "target_type": "discussion", "target_id": d["id"]}
        assert strip_at(dl.drain()) == [
            {"channel": f"discussion:{d['id']}", "event": "reaction.added",
             "data": {**base, "emoji": EMOJI, "contact_id": bob.contact_id, "count": 1}},
            {"channel": f"discussion:{d['id']}", "event": "reaction.added",
             "data": {**base, "emoji": ":tada:", "contact_id": ann.contact_id, "count": 1}},
            {"channel": f"discussion:{d['id']}", "event": "reaction.added",
             "data": {**base, "emoji": EMOJI, "contact_id": ann.contact_id, "count": 2}},
        ]
        r = await client.get(f"{c.h}/spaces/{s['id']}/discussions", headers=bob.headers)
        assert r.json()["data"][0]["attributes"]["reactions"] == [
            {"emoji": EMOJI, "count": 2, "reacted": True}, {"emoji": ":tada:", "count": 1, "reacted": False}]
        r = await client.delete(f"{du}/{EMOJI}", headers=bob.headers)
        assert r.json()["data"]["attributes"]["reactions"] == [  # a tie: the emoji used first comes first
            {"emoji": ":tada:", "count": 1, "reacted": False}, {"emoji": EMOJI, "count": 1, "reacted": False}]
        assert (await client.delete(f"{du}/{EMOJI}", headers=bob.headers)).status_code == 200  # idempotent
        # A feed page says what the discussion's own document says, to each reader, the tie
        # included (on PostgreSQL the page reads them in its own statement, not the same query).
        bare = await c.discussion(client, ann, s["id"])
        for who, reacted in ((ann, [True, True]), (bob, [False, False])):  # ann has both; bob's is gone
            own = (await client.get(f"{c.h}/discussions/{d['id']}", headers=who.headers)).json()["data"]
            assert [x["reacted"] for x in own["attributes"]["reactions"]] == reacted
            for url in (f"{c.h}/spaces/{s['id']}/discussions", f"{c.h}/discussions"):
                page = {x["id"]: x["attributes"]["reactions"]
                        for x in (await client.get(url, headers=who.headers)).json()["data"]}
                assert page[d["id"]] == own["attributes"]["reactions"] and page[bare["id"]] == []
        assert strip_at(dl.drain()) == [{"channel": f"discussion:{d['id']}", "event": "reaction.removed",
                                         "data": {**base, "emoji": EMOJI, "contact_id": bob.contact_id, "count": 1}}]
        r = await client.put(f"{c.h}/comments/{cm['id']}/reactions/❤️", headers=bob.headers)
        assert r.json()["data"]["attributes"]["reactions"] == [{"emoji": "❤️", "count": 1, "reacted": True}]
        assert strip_at(dl.drain())[0]["data"] == {**base, "target_type": "comment", "target_id": cm["id"],
                                                   "emoji": "❤️", "contact_id": bob.contact_id, "count": 1}
    # A comment page says what the comment's own document says, to each reader.
    assert (await client.put(f"{c.h}/comments/{cm['id']}/reactions/:tada:", headers=ann.headers)).status_code == 200
    bare = (await comment(client, c, ann, d["id"])).json()["data"]
    for who, reacted in ((ann, [False, True]), (bob, [True, False])):  # ❤️ (bob's, first), :tada: (ann's)
        own = (await client.get(f"{c.h}/comments/{cm['id']}", headers=who.headers)).json()["data"]
        assert [x["reacted"] for x in own["attributes"]["reactions"]] == reacted
        page = {x["id"]: x["attributes"]["reactions"] for x in (await client.get(
            f"{c.h}/discussions/{d['id']}/comments", headers=who.headers)).json()["data"]}
        assert page[cm["id"]] == own["attributes"]["reactions"] and page[bare["id"]] == []
    for bad in ("thumbsup", ":no spaces:", "a" * 65, "👍 👍", "x" * 3 + "👍" * 20):
        assert_error(await client.put(f"{du}/{bad}", headers=bob.headers), 422, "invalid_emoji")


# ---- live, over real sockets -----------------------------------------------------------------------------


async def test_a_websocket_subscriber_gets_each_event_exactly(cluster):  # noqa: F811
    """Member sockets on instance B subscribe to a space and a discussion; writes go to instance A
    over REST. Each event name arrives as one exact frame, in order, with consecutive seqs."""
    world = make_world(f"http://127.0.0.1:{cluster.a.port}")
    ann_id, ann_token = world.add_member()
    bob_id, bob_token = world.add_member()
    with world.http() as http:
        staff = {**world.staff, "Content-Type": "application/vnd.api+json"}
        r = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/memberships",
                      headers=staff, json=doc("hub_memberships", {"email": f"mod-{ann_id[:8]}@example.test",
                                                                  "role": "moderator"}))
        mod_id = r.json()["data"]["attributes"]["contact_id"]
        r = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/member-tokens", headers=staff,
                      json=doc("member_tokens", {"contact_id": mod_id}))
        mod_token = r.json()["data"]["attributes"]["access_token"]
        space = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/spaces", headers=staff,
                          json=doc("spaces", {"name": "Live"})).json()["data"]
        secret = http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/spaces", headers=staff,
                           json=doc("spaces", {"name": "Hush", "access_level": "secret"})).json()["data"]

    h = f"/api/v1/hub/{world.hub_id}"
    bob = await Client.connect(cluster.b, f"{h}/ws", bob_token)
    try:
        assert (await bob.subscribe(f"space:{space['id']}"))["type"] == "subscribed"
        assert (await bob.subscribe(f"hub:{world.hub_id}"))["type"] == "subscribed"

        def call(method: str, path: str, token: str, body: Any = None) -> httpx.Response:
            with world.http() as http:
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
                return http.request(method, h + path, headers=headers, json=body)

        r = call("POST", f"/spaces/{space['id']}/discussions", ann_token,
                 doc("discussions", {"title": "Live one", "body": "Hi"}))
        assert r.status_code == 201, r.text
        d = r.json()["data"]
        for channel in (f"space:{space['id']}", f"hub:{world.hub_id}"):
            f = await bob.until(lambda f, ch=channel: f["type"] == "event" and f["channel"] == ch)
            assert {k: f[k] for k in ("type", "channel", "event", "seq")} == {
                "type": "event", "channel": channel, "event": "discussion.created", "seq": 1}
            assert f["data"] == event(d, "discussion.created", channel)["data"]
        dch = f"discussion:{d['id']}"
        sub = await bob.subscribe(dch)
        assert sub["type"] == "subscribed" and sub["seq"] == 0

        start, cursor = len(bob.frames), {}

        async def frame(channel: str, name: str, seq: int) -> dict[str, Any]:
            """The next event on ``channel`` (frames on other channels may come in between)."""
            def on_channel() -> list[dict[str, Any]]:
                return [f for f in bob.frames[start:] if f["type"] == "event" and f["channel"] == channel]

            at = cursor.get(channel, 0)
            while len(on_channel()) <= at:
                await bob.next()
            f = on_channel()[at]
            cursor[channel] = at + 1
            assert (f["event"], f["seq"]) == (name, seq), f
            assert set(f) == {"type", "channel", "seq", "event", "data", "at"}
            return f

        sch = f"space:{space['id']}"
        cm = call("POST", f"/discussions/{d['id']}/comments", ann_token, doc("comments", {"body": "c1"})).json()["data"]
        assert (await frame(dch, "comment.created", 1))["data"] == comment_event(cm, "comment.created")["data"]
        activity = (await frame(sch, "discussion.activity", 2))["data"]
        assert (activity["id"], activity["comment_count"]) == (d["id"], 1)
        cm = call("PATCH", f"/comments/{cm['id']}", ann_token, doc("comments", {"body": "c1!"})).json()["data"]
        assert (await frame(dch, "comment.updated", 2))["data"] == comment_event(cm, "comment.updated")["data"]
        assert call("PUT", f"/comments/{cm['id']}/reactions/{EMOJI}", bob_token).status_code == 200
        assert (await frame(dch, "reaction.added", 3))["data"] == {
            "hub_id": world.hub_id, "discussion_id": d["id"], "target_type": "comment", "target_id": cm["id"],
            "emoji": EMOJI, "contact_id": bob_id, "count": 1}
        assert call("DELETE", f"/comments/{cm['id']}/reactions/{EMOJI}", bob_token).status_code == 200
        assert (await frame(dch, "reaction.removed", 4))["data"]["count"] == 0
        assert call("POST", f"/comments/{cm['id']}/remove", mod_token, doc("removals", {})).status_code == 200
        assert (await frame(dch, "comment.removed", 5))["data"] == {
            "id": cm["id"], "hub_id": world.hub_id, "discussion_id": d["id"], "removed_by": "moderator"}
        assert (await frame(sch, "discussion.activity", 3))["data"]["comment_count"] == 0
        r = call("PATCH", f"/discussions/{d['id']}", ann_token, doc("discussions", {"title": "Live (edited)"}))
        assert (await frame(sch, "discussion.updated", 4))["data"] == event(
            r.json()["data"], "discussion.updated", "")["data"]
        assert call("POST", f"/discussions/{d['id']}/remove", mod_token, doc("removals", {"reason": "x"})).status_code == 200
        removed = {"id": d["id"], "hub_id": world.hub_id, "space_id": space["id"], "removed_by": "moderator"}
        assert (await frame(sch, "discussion.removed", 5))["data"] == removed
        assert (await frame(dch, "discussion.removed", 6))["data"] == removed

        # a discussion in a secret space bob is not in, and someone's draft: not found, never forbidden
        with world.http() as http:
            http.post(f"/api/v1/teams/{world.team_id}/hubs/{world.hub_id}/spaces/{secret['id']}/members",
                      headers={**world.staff, "Content-Type": "application/vnd.api+json"},
                      json=doc("space_members", {"contact_id": ann_id}))
        hidden = call("POST", f"/spaces/{secret['id']}/discussions", ann_token,
                      doc("discussions", {"title": "psst", "body": "x"})).json()["data"]
        draft = call("POST", f"/spaces/{space['id']}/discussions", ann_token,
                     doc("discussions", {"title": "later", "body": "x", "status": "draft"})).json()["data"]
        for x in (hidden, draft):
            f = await bob.subscribe(f"discussion:{x['id']}")
            assert (f["type"], f["code"]) == ("error", "not_found"), f
        arrived = await bob.read_for(0.5)  # read the socket for the interval, then look at what came
        assert not [f for f in arrived + bob.frames if f.get("type") == "event" and f.get("event") == "discussion.created"
                    and f["data"]["id"] in (hidden["id"], draft["id"])]  # neither was announced to bob
    finally:
        await bob.close()


@pytest.mark.parametrize("name", ["discussion.created", "discussion.updated", "discussion.removed", "discussion.activity", "comment.created",
                                  "comment.updated", "comment.removed", "reaction.added", "reaction.removed"])
def test_every_community_event_has_a_schema(name):
    from domain.events import EVENT_SCHEMAS

    assert name in EVENT_SCHEMAS
