"""Direct messages: one-to-one conversations are never duplicated (even by concurrent requests),
group conversations, participant validation, the refusals (DMs turned off, banned participant,
soft-banned sender), paging, read receipts and unread counts with their exact events, 404 for
non-participants and other hubs, the per-member rate limit, and channel authorization."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from domain.community.messages import can_read_conversation
from persistence.models import Conversation, ConversationParticipant, Message
from tests.support.community import (
    Listener,
    LogLines,
    Member,
    act,
    add_member,
    assert_error,
    db_rows,
    doc,
    events_of,
    in_app,
    new_hub,
    race,
    set_me,
    w,
    world,
)


async def open_conv(client: Any, m: Member, *others: Any) -> Any:
    ids = [o.contact_id if isinstance(o, Member) else o for o in others]
    return await client.post(m.url("/conversations"), json=doc("conversations", {"participant_ids": ids}),
                             headers=m.wh)


async def send(client: Any, m: Member, conv_id: str, body: str = "hello") -> Any:
    return await client.post(m.url(f"/conversations/{conv_id}/messages"), json=doc("messages", {"body": body}),
                             headers=m.wh)


async def conversations(client: Any, m: Member) -> dict[str, dict[str, Any]]:
    r = await client.get(m.url("/conversations"), headers=m.headers)
    assert r.status_code == 200, r.text
    return {x["id"]: x["attributes"] for x in r.json()["data"]}


# ---- opening conversations ---------------------------------------------------------------------------


async def test_one_to_one_conversation_is_never_duplicated(client, app):
    wd = await world(client, 3)
    a, b, _ = wd.members
    r = await open_conv(client, a, b)
    assert r.status_code == 201, r.text
    conv = r.json()["data"]
    assert conv["type"] == "conversations"
    attrs = conv["attributes"]
    assert attrs["is_direct"] is True and attrs["unread_count"] == 0
    assert sorted(attrs["participant_ids"]) == sorted([a.contact_id, b.contact_id])
    assert attrs["created_by_contact_id"] == a.contact_id and attrs["hub_id"] == wd.hub.id
    assert r.headers["location"] == f"/api/v1/hub/{wd.hub.id}/conversations/{conv['id']}"

    for again in (await open_conv(client, a, b), await open_conv(client, b, a),
                  await open_conv(client, a, b, a.contact_id, b.contact_id)):  # the caller and repeats count once
        assert again.status_code == 200, again.text
        assert again.json()["data"]["id"] == conv["id"]
    rows = db_rows(client, app, sa.select(Conversation).where(Conversation.hub_id == uuid.UUID(wd.hub.id)))
    assert [str(c.id) for c in rows] == [conv["id"]]
    assert rows[0].direct_key == ":".join(sorted([a.contact_id, b.contact_id]))
    parts = db_rows(client, app, sa.select(ConversationParticipant)
                    .where(ConversationParticipant.conversation_id == rows[0].id))
    assert sorted(str(p.contact_id) for p in parts) == sorted([a.contact_id, b.contact_id])


async def test_concurrent_opens_make_one_conversation(client, app):
    # Eight opens of the same pair at once. On PostgreSQL the holder inserts that pair's
    # conversation without committing: every request finds no conversation, inserts its own and
    # waits on the unique direct_key behind the holder. The holder rolls back, one insert wins, and
    # the seven others take the duplicate-key branch (domain/community/messages.py), which answers
    # the winner's conversation: its log line is counted. On SQLite write transactions queue whole,
    # so each later open finds the first one's conversation before inserting.
    wd = await world(client, 2)
    a, b = wd.members
    key = ":".join(sorted([a.contact_id, b.contact_id]))
    hold = sa.insert(Conversation).values(id=uuid.uuid4(), hub_id=uuid.UUID(wd.hub.id), direct_key=key,
                                          created_by_contact_id=uuid.UUID(a.contact_id), created_at=now_of(client, app))
    body = {x.contact_id: doc("conversations", {"participant_ids": [y.contact_id]}) for x, y in [(a, b), (b, a)]}
    with LogLines("domain.community.messages") as log:
        results = race(client, app, hold, *[("POST", x.url("/conversations"), x.wh, body[x.contact_id])
                                            for x in [a, b] * 4])
    assert sorted(r.status_code for r in results) == [200] * 7 + [201], [r.text for r in results]
    assert len({r.json()["data"]["id"] for r in results}) == 1
    lost = log.count("conversation open lost the race")
    postgres = app.state.services.engine.dialect.name == "postgresql"
    print(f"\nduplicate-key branch ran {lost} times of 8 opens ({'PostgreSQL' if postgres else 'SQLite'})")
    assert lost == (7 if postgres else 0)
    rows = db_rows(client, app, sa.select(Conversation).where(Conversation.hub_id == uuid.UUID(wd.hub.id)))
    assert len(rows) == 1
    parts = db_rows(client, app, sa.select(ConversationParticipant)
                    .where(ConversationParticipant.conversation_id == rows[0].id))
    assert len(parts) == 2


def now_of(client: Any, app: Any) -> Any:
    return app.state.services.clock.now()


async def test_group_conversations_are_distinct(client):
    wd = await world(client, 3)
    a, b, c = wd.members
    r1, r2 = await open_conv(client, a, b, c), await open_conv(client, a, c, b)
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r1.json()["data"]["id"] != r2.json()["data"]["id"]
    assert r1.json()["data"]["attributes"]["is_direct"] is False
    assert len(r1.json()["data"]["attributes"]["participants"]) == 3


async def test_participants_must_be_members_of_this_hub(client, app):
    wd = await world(client, 1)
    (a,) = wd.members
    other_hub = await new_hub(client, wd.staff)
    outsider = await add_member(client, wd.staff, other_hub)
    b = await add_member(client, wd.staff, wd.hub)
    r = await open_conv(client, a, b, outsider)
    assert_error(r, 422, "unknown_participant", "/data/attributes/participant_ids/1")
    assert_error(await open_conv(client, a, "not-an-id"), 422, "unknown_participant",
                 "/data/attributes/participant_ids/0")
    assert_error(await open_conv(client, a, str(uuid.uuid4())), 422, "unknown_participant",
                 "/data/attributes/participant_ids/0")
    assert_error(await open_conv(client, a), 422, "invalid_participants", "/data/attributes/participant_ids")
    assert_error(await open_conv(client, a, a), 422, "invalid_participants", "/data/attributes/participant_ids")
    many = [str(uuid.uuid4()) for _ in range(20)]
    assert_error(await open_conv(client, a, *many), 422, "too_many_participants", "/data/attributes/participant_ids")
    r = await client.post(a.url("/conversations"), json=doc("conversations", {"participant_ids": [b.contact_id],
                                                                              "title": "x"}), headers=a.wh)
    assert_error(r, 422, "unknown_field")
    assert db_rows(client, app, sa.select(Conversation).where(Conversation.hub_id == uuid.UUID(wd.hub.id))) == []


# ---- refusals ------------------------------------------------------------------------------------------


async def test_messaging_a_member_who_turned_direct_messages_off(client, app):
    wd = await world(client, 3)
    a, b, c = wd.members
    conv = (await open_conv(client, a, b)).json()["data"]["id"]
    await set_me(client, b, notification_preferences={"direct_messages": False})
    with Listener(client, app, f"conversation:{conv}") as events:
        assert_error(await send(client, a, conv), 403, "messages_disabled")
        assert_error(await open_conv(client, a, b), 403, "messages_disabled")
        assert_error(await open_conv(client, c, b), 403, "messages_disabled")
        assert_error(await open_conv(client, c, a, b), 403, "messages_disabled")  # a group with b too
        assert events_of(events) == []
    assert db_rows(client, app, sa.select(Message).where(Message.conversation_id == uuid.UUID(conv))) == []
    # b may still write (their own preference is about receiving), and turning DMs on again reopens
    assert (await send(client, b, conv, "from b")).status_code == 201
    await set_me(client, b, notification_preferences={"direct_messages": True})
    assert (await send(client, a, conv)).status_code == 201


async def test_banned_participant_is_unavailable(client, app):
    wd = await world(client, 3)
    a, b, c = wd.members
    conv = (await open_conv(client, a, b)).json()["data"]["id"]
    assert (await act(client, wd.staff.headers, wd.hub, b.contact_id, "ban")).status_code == 200
    assert_error(await send(client, a, conv), 403, "participant_unavailable")
    assert_error(await open_conv(client, a, b), 403, "participant_unavailable")
    assert_error(await open_conv(client, a, c, b), 403, "participant_unavailable")
    assert_error(await client.get(b.url(f"/conversations/{conv}"), headers=b.headers), 403, "banned")
    assert (await act(client, wd.staff.headers, wd.hub, b.contact_id, "unban")).status_code == 200
    assert (await send(client, a, conv)).status_code == 201


async def test_soft_banned_sender_can_read_but_not_write(client):
    wd = await world(client, 2)
    a, b = wd.members
    conv = (await open_conv(client, a, b)).json()["data"]["id"]
    assert (await send(client, b, conv, "hi a")).status_code == 201
    assert (await act(client, wd.staff.headers, wd.hub, a.contact_id, "soft-ban")).status_code == 200
    assert_error(await send(client, a, conv), 403, "soft_banned")
    assert_error(await open_conv(client, a, b), 403, "soft_banned")
    assert (await client.get(a.url(f"/conversations/{conv}/messages"), headers=a.headers)).status_code == 200
    assert (await client.post(a.url(f"/conversations/{conv}/read"), headers=a.headers)).status_code == 200
    assert (await send(client, b, conv, "a soft-banned member still receives")).status_code == 201


# ---- messages, read receipts, unread counts, events --------------------------------------------------


async def test_messages_pages_read_receipts_and_unread_counts(client, app):
    wd = await world(client, 3)
    a, b, c = wd.members
    direct = (await open_conv(client, a, b)).json()["data"]["id"]
    group = (await open_conv(client, a, b, c)).json()["data"]["id"]
    with Listener(client, app, f"conversation:{direct}") as events:
        sent = []
        for body in ("one", "two", "  three  "):
            r = await send(client, a, direct, body)
            assert r.status_code == 201, r.text
            sent.append(r.json()["data"])
        assert sent[2]["attributes"]["body"] == "three"  # trimmed
        assert events_of(events) == [
            (f"conversation:{direct}", "message.created", {
                "id": m["id"], "conversation_id": direct, "hub_id": wd.hub.id, "author_contact_id": a.contact_id,
                "body": m["attributes"]["body"], "created_at": m["attributes"]["created_at"]}) for m in sent]
    assert (await send(client, c, group, "group hi")).status_code == 201

    # unread counts: b has 3 in the direct conversation and 1 in the group; a read what a wrote
    assert {k: v["unread_count"] for k, v in (await conversations(client, b)).items()} == {direct: 3, group: 1}
    assert {k: v["unread_count"] for k, v in (await conversations(client, a)).items()} == {direct: 0, group: 1}
    assert {k: v["unread_count"] for k, v in (await conversations(client, c)).items()} == {group: 0}
    assert list(await conversations(client, a)) == [group, direct]  # newest first

    # newest first, in pages
    r = await client.get(b.url(f"/conversations/{direct}/messages?page[size]=2"), headers=b.headers)
    body = r.json()
    assert [m["id"] for m in body["data"]] == [sent[2]["id"], sent[1]["id"]] and body["meta"]["has_more"] is True
    r = await client.get(body["links"]["next"], headers=b.headers)
    assert [m["id"] for m in r.json()["data"]] == [sent[0]["id"]] and r.json()["meta"]["has_more"] is False

    # a read receipt: b has read up to the newest message
    with Listener(client, app, f"conversation:{direct}") as events:
        r = await client.post(b.url(f"/conversations/{direct}/read"), headers=b.headers)
        assert r.status_code == 200, r.text
        attrs = r.json()["data"]["attributes"]
        assert attrs["unread_count"] == 0
        mine = next(p for p in attrs["participants"] if p["contact_id"] == b.contact_id)
        assert mine["last_read_message_id"] == sent[2]["id"]
        assert events_of(events) == [(f"conversation:{direct}", "conversation.read", {
            "conversation_id": direct, "hub_id": wd.hub.id, "contact_id": b.contact_id,
            "last_read_message_id": sent[2]["id"], "read_at": mine["last_read_at"]})]
        again = await client.post(b.url(f"/conversations/{direct}/read"), headers=b.headers)
        assert again.status_code == 200 and events_of(events) == []  # nothing moved: nothing announced
    theirs = (await client.get(a.url(f"/conversations/{direct}"), headers=a.headers)).json()["data"]["attributes"]
    assert {p["contact_id"]: p["last_read_message_id"] for p in theirs["participants"]} == {
        a.contact_id: sent[2]["id"], b.contact_id: sent[2]["id"]}

    assert (await send(client, a, direct, "four")).status_code == 201
    assert {k: v["unread_count"] for k, v in (await conversations(client, b)).items()} == {direct: 1, group: 1}
    assert_error(await send(client, a, direct, "   "), 422, "invalid_value", "/data/attributes/body")
    assert_error(await send(client, a, direct, "x" * 10_001), 422, "invalid_value", "/data/attributes/body")


async def test_non_participants_and_other_hubs_get_404(client, app):
    wd = await world(client, 3)
    a, b, c = wd.members
    conv = (await open_conv(client, a, b)).json()["data"]["id"]
    # a is also a member of a second hub of the same team, with a token for it
    hub2 = await new_hub(client, wd.staff)
    r = await client.get(f"/api/v1/teams/{wd.staff.team_id}/hubs/{wd.hub.id}/memberships/{a.contact_id}",
                         headers=wd.staff.headers)
    a2 = await add_member(client, wd.staff, hub2, email=r.json()["data"]["attributes"]["email"])
    assert a2.contact_id == a.contact_id
    routes = [("GET", f"/conversations/{conv}", None), ("GET", f"/conversations/{conv}/messages", None),
              ("POST", f"/conversations/{conv}/messages", doc("messages", {"body": "x"})),
              ("POST", f"/conversations/{conv}/read", None)]
    for who in (c, a2):
        for method, suffix, body in routes:
            r = await client.request(method, who.url(suffix), json=body, headers=w(who.headers) if body else who.headers)
            assert_error(r, 404, "not_found")
        assert (await conversations(client, who)) == {}
    # a token for one hub on another hub's path
    assert_error(await client.get(f"/api/v1/hub/{hub2.id}/conversations/{conv}", headers=b.headers), 404, "not_found")
    assert_error(await client.get(a.url(f"/conversations/{uuid.uuid4()}"), headers=a.headers), 404, "not_found")
    assert_error(await client.get(a.url("/conversations/nope"), headers=a.headers), 404, "not_found")
    assert db_rows(client, app, sa.select(Message).where(Message.conversation_id == uuid.UUID(conv))) == []


async def test_channel_authorization_helper(client, app):
    wd = await world(client, 3)
    a, b, c = wd.members
    conv = uuid.UUID((await open_conv(client, a, b)).json()["data"]["id"])
    svc = app.state.services

    async def ask(contact: str, hub_id: str | None) -> bool:
        async with svc.context() as ctx:
            return await can_read_conversation(ctx, uuid.UUID(contact), conv,
                                               hub_id=uuid.UUID(hub_id) if hub_id else None)

    assert in_app(client, ask, a.contact_id, wd.hub.id) is True
    assert in_app(client, ask, b.contact_id, None) is True
    assert in_app(client, ask, c.contact_id, wd.hub.id) is False
    assert in_app(client, ask, a.contact_id, str(uuid.uuid4())) is False


# ---- rate limit ------------------------------------------------------------------------------------


async def test_message_rate_limit_with_retry_after_and_moderators_exempt(client, app):
    wd = await world(client, 2)
    a, b = wd.members
    r = await client.patch(wd.hub.url, json=doc("hubs", {"settings": {"community": {
        "message_rate_limit": {"limit": 3, "window_seconds": 60}}}}), headers=w(wd.staff.headers))
    assert r.status_code == 200, r.text
    conv = (await open_conv(client, a, b)).json()["data"]["id"]
    for i in range(3):
        assert (await send(client, a, conv, f"m{i}")).status_code == 201
    with Listener(client, app, f"conversation:{conv}") as events:
        r = await send(client, a, conv, "one too many")
        assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert events_of(events) == []
    assert len(db_rows(client, app, sa.select(Message).where(Message.conversation_id == uuid.UUID(conv)))) == 3
    assert (await send(client, b, conv, "b has its own budget")).status_code == 201  # per member

    mod = await add_member(client, wd.staff, wd.hub, role="moderator")
    mconv = (await open_conv(client, mod, b)).json()["data"]["id"]
    for i in range(6):
        assert (await send(client, mod, mconv, f"mod {i}")).status_code == 201
