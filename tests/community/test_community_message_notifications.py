"""What reaches a member's own channel (``contact:{id}``) for the web app: ``message.received`` for
each message of a conversation they are in (a first message included), never for their own; and
the reason a banned member is given by every member route."""

from __future__ import annotations

from tests.support.community import Listener, act, assert_error, doc, events_of, world


async def test_message_received_goes_to_every_other_participant(client, app):
    wd = await world(client, 3)
    a, b, c = wd.members
    with Listener(client, app, f"contact:{b.contact_id}") as to_b, Listener(client, app, f"contact:{c.contact_id}") as to_c, \
            Listener(client, app, f"contact:{a.contact_id}") as to_a:
        r = await client.post(a.url("/conversations"), json=doc("conversations", {"participant_ids": [b.contact_id]}),
                              headers=a.wh)
        conv = r.json()["data"]["id"]
        r = await client.post(a.url(f"/conversations/{conv}/messages"), json=doc("messages", {"body": "first"}), headers=a.wh)
        assert r.status_code == 201, r.text
        m = r.json()["data"]
        assert events_of(to_b) == [(f"contact:{b.contact_id}", "message.received", {
            "id": m["id"], "conversation_id": conv, "hub_id": wd.hub.id, "author_contact_id": a.contact_id,
            "created_at": m["attributes"]["created_at"]})]
        assert events_of(to_a) == [] and events_of(to_c) == []  # not the author, not outsiders
        group = (await client.post(b.url("/conversations"), headers=b.wh, json=doc(
            "conversations", {"participant_ids": [a.contact_id, c.contact_id]}))).json()["data"]["id"]
        assert (await client.post(b.url(f"/conversations/{group}/messages"), json=doc("messages", {"body": "all"}),
                                  headers=b.wh)).status_code == 201
        assert [(e, d["conversation_id"]) for _, e, d in events_of(to_a)] == [("message.received", group)]
        assert [(e, d["conversation_id"]) for _, e, d in events_of(to_c)] == [("message.received", group)]
        assert events_of(to_b) == []


async def test_a_banned_member_is_told_why(client):
    wd = await world(client, 1)
    m = wd.members[0]
    assert (await act(client, wd.staff.headers, wd.hub, m.contact_id, "ban", reason="Spamming links")).status_code == 200
    err = assert_error(await client.get(m.url("/me"), headers=m.headers), 403, "banned")
    assert err["meta"]["reason"] == "Spamming links" and err["meta"]["expires_at"] is None
