"""Moderation: reports collapse into one queue entry with a count (one reason per reporter), also
when they race each other or the entry's resolution (really at once, on PostgreSQL: ``race``), the
target must exist in the hub and be visible to the reporter, resolving with each action (its
audit row and its exact events), the merged audit log, scopes, and other hubs / teams; and the
discussion's comment count through every removal, restore and deletion, replayed or concurrent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from persistence.models import (
    Comment,
    Discussion,
    HubMembership,
    MembershipAction,
    Message,
    ModerationAction,
    Report,
    ReportReason,
)
from tests.support.api import add_staff, create_key, user_id
from tests.support.community import (
    Listener,
    Member,
    Request,
    add_member,
    assert_error,
    db_rows,
    db_write,
    doc,
    events_of,
    in_app,
    make_comment,
    make_discussion,
    make_space,
    new_hub,
    race,
    row_lock,
    set_me,
    w,
    world,
)


async def report(client: Any, m: Member, target_type: str, target_id: str, reason: str = "Spam") -> Any:
    return await client.post(m.url("/reports"), json=doc("reports", {"target_type": target_type, "target_id": target_id,
                                                                     "reason": reason}), headers=m.wh)


def mod_url(wd: Any, suffix: str = "") -> str:
    return f"{wd.hub.url}/moderation{suffix}"


async def resolve(client: Any, headers: dict[str, str], wd: Any, report_id: str, action: str, reason: str | None = None) -> Any:
    attrs: dict[str, Any] = {"action": action}
    if reason is not None:
        attrs["reason"] = reason
    return await client.post(mod_url(wd, f"/reports/{report_id}/resolve"), json=doc("report_resolutions", attrs),
                             headers=w(headers))


async def setup(client: Any, app: Any, clock: Any) -> tuple[Any, Member, Member, Member, dict[str, str]]:
    """A hub with an author and two reporters; a space with a discussion and a comment by the
    author, and a conversation between the author and the first reporter with one message."""
    wd = await world(client, 3)
    author, r1, r2 = wd.members
    space = make_space(client, app, clock, wd.hub.id)
    disc = make_discussion(client, app, clock, wd.hub.id, space, author.contact_id)
    comment = make_comment(client, app, clock, wd.hub.id, disc, author.contact_id)
    r = await client.post(author.url("/conversations"), json=doc("conversations", {"participant_ids": [r1.contact_id]}),
                          headers=author.wh)
    conv = r.json()["data"]["id"]
    r = await client.post(author.url(f"/conversations/{conv}/messages"), json=doc("messages", {"body": "rude"}),
                          headers=author.wh)
    assert r.status_code == 201, r.text
    items = {"space": space, "discussion": disc, "comment": comment, "conversation": conv,
             "message": r.json()["data"]["id"]}
    return wd, author, r1, r2, items


def report_request(m: Member, target_type: str, target_id: str, reason: str = "Spam") -> Request:
    return ("POST", m.url("/reports"), m.wh, doc("reports", {"target_type": target_type, "target_id": target_id,
                                                            "reason": reason}))


def resolve_request(wd: Any, report_id: str, action: str) -> Request:
    return ("POST", mod_url(wd, f"/reports/{report_id}/resolve"), w(wd.staff.headers),
            doc("report_resolutions", {"action": action}))


async def test_reports_collapse_into_one_entry_with_a_count(client, app, clock):
    wd, author, r1, r2, items = await setup(client, app, clock)
    with Listener(client, app, f"team:{wd.staff.team_id}") as team:
        r = await report(client, r1, "discussion", items["discussion"], "Spam links")
        assert r.status_code == 201, r.text
        entry = r.json()["data"]
        assert entry["type"] == "reports"
        assert {k: entry["attributes"][k] for k in ("target_type", "target_id", "reason", "status")} == {
            "target_type": "discussion", "target_id": items["discussion"], "reason": "Spam links", "status": "open"}
        assert events_of(team) == [(f"team:{wd.staff.team_id}", "member.reported", {
            "report_id": entry["id"], "hub_id": wd.hub.id, "target_type": "discussion",
            "target_id": items["discussion"], "target_author_contact_id": author.contact_id,
            "reporter_contact_id": r1.contact_id, "reason": "Spam links", "report_count": 1,
            "reported_at": entry["attributes"]["reported_at"]})]

        again = await report(client, r1, "discussion", items["discussion"], "Still spam")
        assert again.status_code == 200 and again.json()["data"]["id"] == entry["id"]
        assert again.json()["data"]["attributes"]["reason"] == "Spam links"  # unchanged
        assert events_of(team) == []

        second = await report(client, r2, "discussion", items["discussion"], "Off topic")
        assert second.status_code == 201 and second.json()["data"]["id"] == entry["id"]
        [(_, name, data)] = events_of(team)
        assert (name, data["report_id"], data["report_count"], data["reporter_contact_id"]) == (
            "member.reported", entry["id"], 2, r2.contact_id)

        other = await report(client, r1, "member", author.contact_id, "Harassment")
        assert other.status_code == 201 and other.json()["data"]["id"] != entry["id"]
        [(_, _, data)] = events_of(team)
        assert (data["target_type"], data["target_author_contact_id"], data["report_count"]) == (
            "member", author.contact_id, 1)

    r = await client.get(mod_url(wd, "/reports?filter[status]=open"), headers=wd.staff.headers)
    assert r.status_code == 200, r.text
    queue = r.json()["data"]
    assert [q["id"] for q in queue] == [entry["id"], other.json()["data"]["id"]]  # oldest first
    a = queue[0]["attributes"]
    assert (a["report_count"], a["status"], a["target_author_contact_id"]) == (2, "open", author.contact_id)
    assert [(x["reporter_contact_id"], x["reason"]) for x in a["reasons"]] == [
        (r1.contact_id, "Spam links"), (r2.contact_id, "Off topic")]
    rows = db_rows(client, app, sa.select(Report).where(Report.hub_id == uuid.UUID(wd.hub.id)))
    assert sorted(x.report_count for x in rows) == [1, 2]


async def test_concurrent_reports_of_one_item_make_one_entry(client, app, clock):
    wd, _author, r1, r2, items = await setup(client, app, clock)
    others = [await add_member(client, wd.staff, wd.hub) for _ in range(4)]
    reporters = [r1, r2, *others]
    comment = items["comment"]
    with Listener(client, app, f"team:{wd.staff.team_id}") as team:
        # On PostgreSQL the reports table is held in SHARE mode (reads go on, writes wait) until all
        # seven requests wait: each one has looked for the open entry, or waits to, before any can
        # write one. Only the comment's row lock, taken before that look, keeps them from opening
        # seven entries or losing a count. r1's request is sent twice (a client retrying).
        results = race(client, app, sa.text("LOCK TABLE reports IN SHARE MODE"),
                       *[report_request(m, "comment", comment, f"Spam ({i})") for i, m in enumerate([r1, *reporters])])
        assert sorted(r.status_code for r in results) == [200] + [201] * 6, [r.text for r in results]
        assert {r.json()["data"]["id"] for r in results} == {results[0].json()["data"]["id"]}
        counts = [data["report_count"] for _, name, data in events_of(team) if name == "member.reported"]
        assert sorted(counts) == [1, 2, 3, 4, 5, 6]  # one after the other, none lost
    rows = db_rows(client, app, sa.select(Report).where(Report.hub_id == uuid.UUID(wd.hub.id)))
    assert [(x.target_id, x.report_count) for x in rows] == [(uuid.UUID(comment), 6)]
    reasons = db_rows(client, app, sa.select(ReportReason.reporter_contact_id).where(
        ReportReason.report_id == rows[0].id))
    assert sorted(reasons) == sorted(uuid.UUID(m.contact_id) for m in reporters)


# A member reports an item while the team resolves its open entry: (target type, action).
REPORT_VS_RESOLUTION = [("comment", "remove"), ("discussion", "remove"), ("message", "remove"), ("member", "ban"),
                        ("comment", "dismiss"), ("discussion", "warn")]


async def reported_item(client: Any, app: Any, clock: Any, target_type: str) -> tuple[Any, Member, str, Any, str]:
    """A hub where r1 reported an item of ``target_type`` (by the author; a message of a
    conversation with both reporters). Returns (world, r2, the item's id, the statement that
    locks its row as reporting does, the open entry's id)."""
    wd, author, r1, r2, items = await setup(client, app, clock)
    if target_type == "message":
        r = await client.post(author.url("/conversations"), json=doc("conversations", {
            "participant_ids": [r1.contact_id, r2.contact_id]}), headers=author.wh)
        assert r.status_code == 201, r.text
        r = await client.post(author.url(f"/conversations/{r.json()['data']['id']}/messages"),
                              json=doc("messages", {"body": "rude to you both"}), headers=author.wh)
        assert r.status_code == 201, r.text
        target = r.json()["data"]["id"]
        hold = row_lock(Message, target)
    elif target_type == "member":
        target = author.contact_id
        hold = sa.select(HubMembership.id).where(HubMembership.hub_id == uuid.UUID(wd.hub.id),
                                                 HubMembership.contact_id == uuid.UUID(target)).with_for_update()
    else:
        target = items[target_type]
        hold = row_lock({"comment": Comment, "discussion": Discussion}[target_type], target)
    r = await report(client, r1, target_type, target)
    assert r.status_code == 201, r.text
    return wd, r2, target, hold, str(r.json()["data"]["id"])


@pytest.mark.parametrize(("target_type", "action"), REPORT_VS_RESOLUTION)
async def test_a_report_first_in_line_joins_the_entry_being_resolved(client, app, clock, target_type, action):
    """The report waits for the item's row first, then the resolution: both take the item before
    the entry, so the resolution waits for the report and resolves the entry with it counted.
    (With the entry locked first, the resolution held the entry while waiting for the item the
    report held while waiting for the entry: PostgreSQL aborted one of them, a 500.)"""
    wd, r2, target, hold, rid = await reported_item(client, app, clock, target_type)
    reported, resolved = race(client, app, hold, report_request(r2, target_type, target),
                              resolve_request(wd, rid, action), in_turn=True)
    assert (reported.status_code, resolved.status_code) == (201, 200), (reported.text, resolved.text)
    assert reported.json()["data"]["id"] == rid
    a = resolved.json()["data"]["attributes"]
    assert (a["status"], a["resolution"], a["report_count"], len(a["reasons"])) == ("resolved", action, 2, 2)
    [entry] = db_rows(client, app, sa.select(Report).where(Report.hub_id == uuid.UUID(wd.hub.id)))
    assert (str(entry.id), entry.status, entry.report_count) == (rid, "resolved", 2)


@pytest.mark.parametrize(("target_type", "action"), REPORT_VS_RESOLUTION)
async def test_a_report_behind_a_resolution_sees_it_done(client, app, clock, target_type, action):
    """The resolution waits for the item's row first, then the report: the report comes after the
    entry was resolved, so it opens a new entry (404 when the item is gone)."""
    wd, r2, target, hold, rid = await reported_item(client, app, clock, target_type)
    resolved, reported = race(client, app, hold, resolve_request(wd, rid, action),
                              report_request(r2, target_type, target), in_turn=True)
    assert resolved.status_code == 200, resolved.text
    a = resolved.json()["data"]["attributes"]
    assert (a["status"], a["resolution"], a["report_count"]) == ("resolved", action, 1)
    entries = db_rows(client, app, sa.select(Report).where(Report.hub_id == uuid.UUID(wd.hub.id)).order_by(Report.id))
    if action in ("remove", "ban"):  # the item is gone, or its author no longer in the hub's directory
        assert_error(reported, 404, "not_found")
        assert [(str(e.id), e.report_count) for e in entries] == [(rid, 1)]
    else:
        assert reported.status_code == 201, reported.text
        assert [(str(e.id), e.status, e.report_count) for e in entries] == [
            (rid, "resolved", 1), (reported.json()["data"]["id"], "open", 1)]


async def test_the_target_must_exist_here_and_be_visible(client, app, clock):
    wd, author, r1, r2, items = await setup(client, app, clock)
    secret = make_space(client, app, clock, wd.hub.id, access_level="secret", members=[author.contact_id])
    in_secret = make_discussion(client, app, clock, wd.hub.id, secret, author.contact_id)
    draft = make_discussion(client, app, clock, wd.hub.id, items["space"], author.contact_id, status="draft")
    removed = make_comment(client, app, clock, wd.hub.id, items["discussion"], author.contact_id, removed=True)
    hub2 = await new_hub(client, wd.staff)
    elsewhere = await add_member(client, wd.staff, hub2)
    space2 = make_space(client, app, clock, hub2.id)
    disc2 = make_discussion(client, app, clock, hub2.id, space2, elsewhere.contact_id)
    await set_me(client, r1, profile={"visibility": "hidden"})

    for target_type, target_id in [
        ("discussion", str(uuid.uuid4())), ("discussion", "not-an-id"), ("discussion", disc2),
        ("discussion", in_secret), ("discussion", draft), ("comment", removed), ("comment", items["discussion"]),
        ("message", items["message"]),  # r2 is not in that conversation
        ("member", elsewhere.contact_id), ("member", r1.contact_id),  # another hub's; a hidden profile
    ]:
        assert_error(await report(client, r2, target_type, target_id), 404, "not_found")
    assert_error(await report(client, r2, "member", r2.contact_id), 422, "cannot_report_self",
                 "/data/attributes/target_id")
    assert_error(await report(client, r2, "space", items["space"]), 422, "invalid_value",
                 "/data/attributes/target_type")
    assert_error(await report(client, r2, "comment", items["comment"], "  "), 422, "invalid_reason",
                 "/data/attributes/reason")
    # the author sees their own draft and the secret space; r1 is in the conversation
    assert (await report(client, author, "discussion", draft)).status_code == 201
    assert (await report(client, author, "discussion", in_secret)).status_code == 201
    assert (await report(client, r1, "message", items["message"])).status_code == 201
    # a token for another hub never reaches this one
    assert_error(await client.post(f"/api/v1/hub/{hub2.id}/reports", json=doc("reports", {
        "target_type": "discussion", "target_id": items["discussion"], "reason": "x"}), headers=r1.wh), 404, "not_found")
    r = await client.post(f"/api/v1/hub/{hub2.id}/reports", json=doc("reports", {
        "target_type": "discussion", "target_id": items["discussion"], "reason": "x"}), headers=elsewhere.wh)
    assert_error(r, 404, "not_found")


def action_rows(client: Any, app: Any, report_id: str) -> list[ModerationAction]:
    return db_rows(client, app, sa.select(ModerationAction).where(ModerationAction.report_id == uuid.UUID(report_id)))


def action_event(wd: Any, row: ModerationAction, staff_user: str, at: str) -> tuple[str, str, dict[str, Any]]:
    return (f"team:{wd.staff.team_id}", "moderation.action", {
        "id": str(row.id), "hub_id": wd.hub.id, "action": row.action, "target_type": row.target_type,
        "target_id": str(row.target_id), "reason": row.reason, "report_id": str(row.report_id),
        "actor_user_id": staff_user, "actor_api_key_id": None, "created_at": at})


async def test_resolve_with_each_action(client, app, clock):
    wd, author, r1, r2, items = await setup(client, app, clock)
    staff_user = user_id(wd.staff)
    team_ch, sid, did, conv = f"team:{wd.staff.team_id}", items["space"], items["discussion"], items["conversation"]

    async def entry(target_type: str, target_id: str, who: Member = r1) -> str:
        r = await report(client, who, target_type, target_id)
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])

    def at_of(r: Any) -> str:
        return str(r.json()["data"]["attributes"]["resolved_at"])

    with Listener(client, app, team_ch) as team, Listener(client, app, f"space:{sid}") as space, \
            Listener(client, app, f"discussion:{did}") as disc, Listener(client, app, f"conversation:{conv}") as dm, \
            Listener(client, app, f"contact:{author.contact_id}") as personal:
        # dismiss: nothing happens to the comment
        rid = await entry("comment", items["comment"])
        events_of(team)
        r = await resolve(client, wd.staff.headers, wd, rid, "dismiss", "Not spam")
        assert r.status_code == 200, r.text
        a = r.json()["data"]["attributes"]
        assert (a["status"], a["resolution"], a["resolution_note"], a["resolved_by_user_id"]) == (
            "resolved", "dismiss", "Not spam", staff_user)
        [row] = action_rows(client, app, rid)
        assert (row.action, row.target_type, str(row.target_id), row.reason, str(row.actor_user_id)) == (
            "dismiss", "comment", items["comment"], "Not spam", staff_user)
        assert events_of(team) == [action_event(wd, row, staff_user, at_of(r))]
        assert events_of(disc) == []
        assert db_rows(client, app, sa.select(Comment.removed_at).where(Comment.id == uuid.UUID(items["comment"]))) == [None]
        assert_error(await resolve(client, wd.staff.headers, wd, rid, "remove"), 409, "report_not_open")

        # remove the comment: comment.removed on its discussion's channel
        rid = await entry("comment", items["comment"], r2)  # a new entry: the old one is resolved
        events_of(team)
        r = await resolve(client, wd.staff.headers, wd, rid, "remove", "Abusive")
        [row] = action_rows(client, app, rid)
        assert events_of(disc) == [(f"discussion:{did}", "comment.removed", {
            "id": items["comment"], "hub_id": wd.hub.id, "discussion_id": did, "removed_by": "moderator"})]
        assert [e[1] for e in events_of(space)] == ["discussion.activity"]  # the feed's counter
        assert events_of(team) == [action_event(wd, row, staff_user, at_of(r))]
        [c] = db_rows(client, app, sa.select(Comment).where(Comment.id == uuid.UUID(items["comment"])))
        assert c.removed_at is not None and c.removal_reason == "Abusive"

        # remove the message: message.removed on the conversation, and it leaves the list
        rid = await entry("message", items["message"])
        events_of(team)
        r = await resolve(client, wd.staff.headers, wd, rid, "remove")
        [row] = action_rows(client, app, rid)
        [m] = db_rows(client, app, sa.select(Message).where(Message.id == uuid.UUID(items["message"])))
        assert events_of(dm) == [(f"conversation:{conv}", "message.removed", {
            "id": items["message"], "conversation_id": conv, "hub_id": wd.hub.id,
            "removed_at": at_of(r)})]
        assert m.removed_at is not None
        assert events_of(team) == [action_event(wd, row, staff_user, at_of(r))]
        msgs = await client.get(r1.url(f"/conversations/{conv}/messages"), headers=r1.headers)
        assert msgs.json()["data"] == []

        # warn the author of the discussion: the membership keeps its status, two audit rows
        rid = await entry("discussion", did)
        events_of(team)
        events_of(personal)
        r = await resolve(client, wd.staff.headers, wd, rid, "warn", "First warning")
        [row] = action_rows(client, app, rid)
        assert events_of(team) == [
            (team_ch, "member.warned", {"hub_id": wd.hub.id, "contact_id": author.contact_id,
                                        "reason": "First warning", "expires_at": None}),
            action_event(wd, row, staff_user, at_of(r))]
        assert [e[1] for e in events_of(personal)] == ["member.warned"]
        assert events_of(space) == [] and events_of(disc) == []

        # soft-ban the author (default reason when none is given): they can no longer write
        rid = await entry("member", author.contact_id, r2)
        events_of(team)
        r = await resolve(client, wd.staff.headers, wd, rid, "soft_ban")
        [row] = action_rows(client, app, rid)
        assert row.reason is None
        names = events_of(team)
        assert [n[1] for n in names] == ["member.soft_banned", "moderation.action"]
        assert names[0][2]["reason"] == f"Reported member ({rid})"
        assert_error(await client.post(author.url(f"/conversations/{conv}/messages"),
                                       json=doc("messages", {"body": "x"}), headers=author.wh), 403, "soft_banned")
        assert_error(await resolve(client, wd.staff.headers, wd, await entry("member", author.contact_id),
                                   "remove"), 422, "invalid_action", "/data/attributes/action")

        # remove the discussion: on its space and its own channel
        rid2 = await entry("discussion", did, r2)
        events_of(team)
        r = await resolve(client, wd.staff.headers, wd, rid2, "remove", "Off-topic")
        [row] = action_rows(client, app, rid2)
        removed = {"id": did, "hub_id": wd.hub.id, "space_id": sid, "removed_by": "moderator"}
        assert events_of(space) == [(f"space:{sid}", "discussion.removed", removed)]
        assert events_of(disc) == [(f"discussion:{did}", "discussion.removed", removed)]
        assert events_of(team) == [action_event(wd, row, staff_user, at_of(r))]
        [d] = db_rows(client, app, sa.select(Discussion).where(Discussion.id == uuid.UUID(did)))
        assert d.removed_at is not None and d.removal_reason == "Off-topic"

        # ban the author through an open member report
        [open_member] = [x for x in (await client.get(mod_url(wd, "/reports?filter[status]=open&filter[target_type]=member"),
                                                      headers=wd.staff.headers)).json()["data"]]
        r = await resolve(client, wd.staff.headers, wd, open_member["id"], "ban", "Repeated abuse")
        assert r.status_code == 200, r.text
        [row] = action_rows(client, app, open_member["id"])
        assert events_of(team) == [
            (team_ch, "member.banned", {"hub_id": wd.hub.id, "contact_id": author.contact_id, "status": "banned",
                                        "reason": "Repeated abuse", "expires_at": None}),
            action_event(wd, row, staff_user, at_of(r))]
        assert_error(await client.get(author.url("/me"), headers=author.headers), 403, "banned")

    [status] = db_rows(client, app, sa.select(HubMembership.status).where(
        HubMembership.hub_id == uuid.UUID(wd.hub.id), HubMembership.contact_id == uuid.UUID(author.contact_id)))
    assert status == "banned"
    trail = db_rows(client, app, sa.select(MembershipAction.action).where(
        MembershipAction.contact_id == uuid.UUID(author.contact_id)).order_by(MembershipAction.id))
    assert trail == ["warn", "soft_ban", "ban"]


async def test_audit_log_merges_both_trails_newest_first(client, app, clock):
    wd, author, r1, r2, items = await setup(client, app, clock)
    rid = (await report(client, r1, "comment", items["comment"])).json()["data"]["id"]
    assert (await resolve(client, wd.staff.headers, wd, rid, "dismiss")).status_code == 200
    r = await client.post(f"{wd.hub.url}/memberships/{r2.contact_id}/warn", json=doc("membership_actions", {
        "reason": "Be nice"}), headers=w(wd.staff.headers))
    assert r.status_code == 200, r.text
    rid = (await report(client, r1, "discussion", items["discussion"])).json()["data"]["id"]
    assert (await resolve(client, wd.staff.headers, wd, rid, "ban", "Spammer")).status_code == 200

    r = await client.get(mod_url(wd, "/audit-log"), headers=wd.staff.headers)
    assert r.status_code == 200, r.text
    log = [(x["attributes"]["source"], x["attributes"]["action"], x["attributes"]["target_type"],
            x["attributes"]["target_id"], x["attributes"]["reason"]) for x in r.json()["data"]]
    assert log == [
        ("moderation_action", "ban", "discussion", items["discussion"], "Spammer"),
        ("membership_action", "ban", "member", author.contact_id, "Spammer"),
        ("membership_action", "warn", "member", r2.contact_id, "Be nice"),
        ("moderation_action", "dismiss", "comment", items["comment"], None),
    ]
    assert {x["attributes"]["actor_user_id"] for x in r.json()["data"]} == {user_id(wd.staff)}
    assert r.json()["data"][0]["type"] == "moderation_audit_entries"
    seen: list[str] = []
    url: str | None = mod_url(wd, "/audit-log?page[size]=1")
    while url:
        page = (await client.get(url, headers=wd.staff.headers)).json()
        seen += [x["id"] for x in page["data"]]
        url = page["links"].get("next")
    assert seen == [x["id"] for x in r.json()["data"]]


async def test_scopes_other_hubs_and_other_teams(client, app, clock):
    wd, _author, r1, _r2, items = await setup(client, app, clock)
    rid = (await report(client, r1, "comment", items["comment"])).json()["data"]["id"]
    reader = await create_key(client, wd.staff, wd.staff.team_id, ["moderation:read"])
    r = await client.get(mod_url(wd, "/reports"), headers={"Authorization": f"Bearer {reader['secret']}"})
    assert r.status_code == 200 and [x["id"] for x in r.json()["data"]] == [rid]
    r = await resolve(client, {"Authorization": f"Bearer {reader['secret']}"}, wd, rid, "dismiss")
    assert r.status_code == 403, r.text
    moderator = await add_staff(client, wd.staff, wd.staff.team_id, "moderator")
    assert_error(await client.get(mod_url(wd, "/reports?filter[status]=closed"), headers=moderator.headers), 422,
                 "invalid_filter")

    # another hub of the same team: the entry is not there
    hub2 = await new_hub(client, wd.staff)
    for method, suffix, body in [("GET", f"/reports/{rid}", None),
                                 ("POST", f"/reports/{rid}/resolve", doc("report_resolutions", {"action": "dismiss"}))]:
        r = await client.request(method, f"{hub2.url}/moderation{suffix}", json=body,
                                 headers=w(moderator.headers) if body else moderator.headers)
        assert_error(r, 404, "not_found")
    assert (await client.get(f"{hub2.url}/moderation/reports", headers=moderator.headers)).json()["data"] == []
    assert (await client.get(f"{hub2.url}/moderation/audit-log", headers=moderator.headers)).json()["data"] == []
    # another team: every moderation route is 404
    outsider = (await world(client, 0)).staff
    for headers in (outsider.headers,):
        for method, suffix, body in [("GET", "/reports", None), ("GET", f"/reports/{rid}", None),
                                     ("GET", "/audit-log", None),
                                     ("POST", f"/reports/{rid}/resolve", doc("report_resolutions", {"action": "dismiss"}))]:
            r = await client.request(method, mod_url(wd, suffix), json=body, headers=w(headers) if body else headers)
            assert_error(r, 404, "not_found")
    # the team's moderator resolves
    r = await resolve(client, moderator.headers, wd, rid, "remove")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["resolved_by_user_id"] == user_id(moderator)


# ---- the discussion's comment count under moderation -----------------------------------------------


async def thread(client: Any, app: Any, clock: Any, n: int) -> tuple[Any, Member, str, list[tuple[Member, str]]]:
    """A hub with a hub moderator and an open space holding a discussion with ``n`` comments, each
    by another member, all posted through the API (so its ``comment_count`` is the real one).
    Returns (world, moderator, discussion id, [(author, comment id)])."""
    wd = await world(client, n + 1)
    mod = await add_member(client, wd.staff, wd.hub, role="moderator")
    space = make_space(client, app, clock, wd.hub.id)
    starter, *authors = wd.members
    r = await client.post(starter.url(f"/spaces/{space}/discussions"),
                          json=doc("discussions", {"title": "Counting", "body": "Say something"}), headers=starter.wh)
    assert r.status_code == 201, r.text
    did = r.json()["data"]["id"]
    comments = []
    for m in authors:
        comments.append((m, await post_comment(client, m, did)))
    return wd, mod, did, comments


async def post_comment(client: Any, m: Member, did: str, **attrs: Any) -> str:
    r = await client.post(m.url(f"/discussions/{did}/comments"), json=doc("comments", {"body": "Hi", **attrs}),
                          headers=m.wh)
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def comment_count(client: Any, m: Member, did: str) -> int:
    """The count a client refetches: the discussion as the REST API returns it."""
    r = await client.get(m.url(f"/discussions/{did}"), headers=m.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["data"]["attributes"]["comment_count"])


async def counted_right(client: Any, app: Any, m: Member, did: str) -> int:
    """The discussion's comment_count, after checking it against the comments the API lists and
    the comments in the database that are neither deleted nor removed."""
    count = await comment_count(client, m, did)
    r = await client.get(m.url(f"/discussions/{did}/comments?page[size]=100"), headers=m.headers)
    listed = r.json()["data"]
    in_db = db_rows(client, app, sa.select(sa.func.count()).select_from(Comment).where(
        Comment.discussion_id == uuid.UUID(did), Comment.deleted_at.is_(None), Comment.removed_at.is_(None)))
    assert (count, len(listed)) == (in_db[0], in_db[0]), (count, len(listed), in_db)
    return count


async def mod_action(client: Any, mod: Member, comment_id: str, action: str) -> Any:
    body = doc("removals", {"reason": "Off-topic"}) if action == "remove" else None
    return await client.post(mod.url(f"/comments/{comment_id}/{action}"), json=body, headers=mod.wh)


async def test_a_comment_removed_from_the_queue_leaves_the_discussions_count_once(client, app, clock):
    wd, mod, did, comments = await thread(client, app, clock, 3)
    reporter, (_, target) = wd.members[0], comments[0]
    assert await comment_count(client, reporter, did) == 3
    dch = f"discussion:{did}"
    with Listener(client, app, dch) as disc:
        rid = (await report(client, reporter, "comment", target)).json()["data"]["id"]
        r = await resolve(client, wd.staff.headers, wd, rid, "remove", "Abusive")
        assert r.status_code == 200, r.text
        assert events_of(disc) == [(dch, "comment.removed", {
            "id": target, "hub_id": wd.hub.id, "discussion_id": did, "removed_by": "moderator"})]
        # what a client refetches on comment.removed: the discussion, and the feed that lists it
        assert await comment_count(client, reporter, did) == 2
        feed = (await client.get(reporter.url("/discussions"), headers=reporter.headers)).json()["data"]
        assert [x["attributes"]["comment_count"] for x in feed if x["id"] == did] == [2]

        # removed again: the replayed resolution is refused, the hub moderator's removal is a no-op
        assert_error(await resolve(client, wd.staff.headers, wd, rid, "remove"), 409, "report_not_open")
        r = await mod_action(client, mod, target, "remove")
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removed_at"] is not None, r.text
        assert await comment_count(client, reporter, did) == 2
        assert events_of(disc) == []

        # restored by a hub moderator: it counts again, once
        r = await mod_action(client, mod, target, "restore")
        assert r.status_code == 200 and r.json()["data"]["attributes"]["removed_at"] is None, r.text
        assert await comment_count(client, reporter, did) == 3
        assert [e[1] for e in events_of(disc)] == ["comment.updated"]
        assert (await mod_action(client, mod, target, "restore")).status_code == 200
        assert await counted_right(client, app, reporter, did) == 3
        assert events_of(disc) == []


async def test_the_comment_count_is_the_visible_comments_after_any_mix_of_actions(client, app, clock):
    wd, mod, did, comments = await thread(client, app, clock, 5)
    (a0, c0), (_a1, c1), (a2, c2), (_a3, c3), _ = comments
    reader = wd.members[0]
    assert await counted_right(client, app, reader, did) == 5

    async def queue_removes(comment_id: str) -> None:
        rid = (await report(client, reader, "comment", comment_id)).json()["data"]["id"]
        r = await resolve(client, wd.staff.headers, wd, rid, "remove")
        assert r.status_code == 200, r.text

    assert (await mod_action(client, mod, c0, "remove")).status_code == 200
    assert await counted_right(client, app, reader, did) == 4
    assert (await mod_action(client, mod, c0, "remove")).status_code == 200  # a replayed request
    assert await counted_right(client, app, reader, did) == 4
    await queue_removes(c1)
    assert await counted_right(client, app, reader, did) == 3
    # its author deletes the removed c0: it was not counted any more
    assert (await client.delete(a0.url(f"/comments/{c0}"), headers=a0.headers)).status_code == 204
    assert await counted_right(client, app, reader, did) == 3
    assert_error(await mod_action(client, mod, c0, "restore"), 404, "not_found")  # deleted stays deleted
    assert (await client.delete(a2.url(f"/comments/{c2}"), headers=a2.headers)).status_code == 204
    assert await counted_right(client, app, reader, did) == 2
    assert_error(await mod_action(client, mod, c2, "remove"), 404, "not_found")
    assert (await mod_action(client, mod, c1, "restore")).status_code == 200  # removed from the queue
    assert await counted_right(client, app, reader, did) == 3
    # reported, then removed by a hub moderator before the team resolves the report with remove
    rid = (await report(client, reader, "comment", c3)).json()["data"]["id"]
    assert (await mod_action(client, mod, c3, "remove")).status_code == 200
    assert await counted_right(client, app, reader, did) == 2
    assert (await resolve(client, wd.staff.headers, wd, rid, "remove")).status_code == 200
    assert await counted_right(client, app, reader, did) == 2
    await post_comment(client, reader, did, parent_id=c1)
    assert await counted_right(client, app, reader, did) == 3  # c1, c4 and the reply


async def test_concurrent_removals_of_one_comment_count_once(client, app, clock):
    wd, mod, did, comments = await thread(client, app, clock, 3)
    reader = wd.members[0]
    (_, c0), (a1, c1), _ = comments
    rid = (await report(client, reader, "comment", c0)).json()["data"]["id"]
    removal = doc("removals", {"reason": "Spam"})
    dch = f"discussion:{did}"
    with Listener(client, app, dch) as disc:
        # a moderator's request sent twice (a client retrying), and the team resolving its report
        results = race(client, app, row_lock(Comment, c0), ("POST", mod.url(f"/comments/{c0}/remove"), mod.wh, removal),
                       ("POST", mod.url(f"/comments/{c0}/remove"), mod.wh, removal),
                       ("POST", mod_url(wd, f"/reports/{rid}/resolve"), w(wd.staff.headers),
                        doc("report_resolutions", {"action": "remove"})))
        assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
        assert await counted_right(client, app, reader, did) == 2
        assert [(e[1], e[2]["id"]) for e in events_of(disc)] == [("comment.removed", c0)]

        # the author deletes while a moderator removes: whoever comes first takes it down, once
        results = race(client, app, row_lock(Comment, c1), ("DELETE", a1.url(f"/comments/{c1}"), a1.headers, None),
                       ("POST", mod.url(f"/comments/{c1}/remove"), mod.wh, removal))
        assert results[0].status_code == 204, results[0].text
        assert results[1].status_code in (200, 404), results[1].text  # 404: deleted before the moderator came
        assert await counted_right(client, app, reader, did) == 1
        assert [(e[1], e[2]["id"]) for e in events_of(disc)] == [("comment.removed", c1)]


async def test_migration_0006_recounts_what_is_visible(client, app, clock):
    """Counts already wrong before the fix (a report resolved with "remove" left them as they were)
    are repaired on upgrade: migration 0006 recounts from the comments neither deleted nor removed."""
    from persistence import migrate

    wd, mod, did, comments = await thread(client, app, clock, 3)
    reader = wd.members[0]
    r = await mod_action(client, mod, comments[0][1], "remove")
    assert r.status_code == 200, r.text
    db_write(client, app, sa.update(Discussion).where(Discussion.id == uuid.UUID(did)).values(comment_count=7))
    assert await comment_count(client, reader, did) == 7  # as a deployment could have it

    async def upgrade_through_0006() -> None:
        engine = app.state.services.engine
        await migrate.downgrade(engine, "0005")  # 0006 has nothing to undo
        await migrate.upgrade(engine)

    in_app(client, upgrade_through_0006)
    assert await counted_right(client, app, reader, did) == 2


async def test_feeds_get_a_discussions_new_comment_count_live(client, app, clock):
    """Every change of a shown discussion's comment_count goes to the channels its feed is on
    (``discussion.activity``: the space's, and the hub's for an open space), once per change;
    a discussion no longer shown announces nothing."""
    wd, mod, did, comments = await thread(client, app, clock, 2)
    [d] = db_rows(client, app, sa.select(Discussion).where(Discussion.id == uuid.UUID(did)))
    author = comments[0][0]

    def activity(listener: Any) -> list[dict[str, Any]]:
        return [data for _, name, data in events_of(listener) if name == "discussion.activity"]

    with Listener(client, app, f"space:{d.space_id}") as sp, Listener(client, app, f"hub:{wd.hub.id}") as hb:
        cid = await post_comment(client, author, did)
        assert (await mod_action(client, mod, cid, "remove")).status_code == 200
        assert (await mod_action(client, mod, cid, "remove")).status_code == 200  # no change: no event
        assert (await mod_action(client, mod, cid, "restore")).status_code == 200
        r = await client.delete(author.url(f"/comments/{cid}"), headers=author.headers)
        assert r.status_code == 204, r.text
        on_space, on_hub = activity(sp), activity(hb)
        assert [a["comment_count"] for a in on_space] == [3, 2, 3, 2]
        assert on_hub == on_space
        assert set(on_space[0]) == {"id", "hub_id", "space_id", "comment_count", "last_activity_at"}
        assert (on_space[0]["id"], on_space[0]["hub_id"], on_space[0]["space_id"]) == (did, wd.hub.id, str(d.space_id))
        assert await counted_right(client, app, author, did) == 2

        r = await client.post(mod.url(f"/discussions/{did}/remove"), json=doc("removals", {"reason": "x"}),
                              headers=mod.wh)
        assert r.status_code == 200, r.text
        assert (await mod_action(client, mod, comments[1][1], "remove")).status_code == 200
        assert activity(sp) == [] and activity(hb) == []  # the discussion left the feed already
