"""Staff and the events received: ``T/hubs/{hub_id}/payment-webhooks`` lists the events matched to
the hub's orders (filters by type and status), shows one with its raw payload, and replays one
(``billing:read`` / ``billing:write``). Another hub's or team's events stay hidden."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from persistence.ids import new_id
from persistence.models import BillingAuditEntry
from server.jobs import provider_event_worker_for
from tests.support.api import add_staff, assert_error, create_key, register
from tests.support.app import db_rows, db_write, in_app
from tests.support.hubs import Hub, new_hub
from tests.support.payments import order_rows, signed_headers, stripe_event

URL = "/api/v1/webhooks/stripe"


async def deliver(client: Any, type_: str, obj: dict[str, Any]) -> str:
    body = stripe_event(type_, obj)
    r = await client.post(URL, content=body, headers=signed_headers(body))
    assert r.status_code == 200, r.text
    return str(json.loads(body)["id"])


def apply_events(client: Any, app: Any) -> dict[str, int]:
    """Everything due, applied by a provider-event worker of the app's (its own is stopped in these
    tests); how many events ended in each state."""
    worker = provider_event_worker_for(app.state.services)
    totals = {"processed": 0, "ignored": 0, "retried": 0, "failed": 0}
    while (report := in_app(client, worker.run_once)).claimed:
        for k in totals:
            totals[k] += getattr(report, k)
    return totals


async def setup(client: Any, app: Any) -> tuple[Any, Hub, dict[str, str]]:
    """A staff owner with a hub and a Stripe order in it; a checkout.session.completed and an
    invoice.paid for that order, and an event for nobody's order, all delivered and applied.
    Returns (staff, hub, {name: event id})."""
    staff = await register(client, "billing")
    hub = await new_hub(client, staff)
    rows, order = order_rows(team_id=uuid.UUID(staff.team_id), hub_id=uuid.UUID(hub.id))
    for row in rows:  # one at a time: the models declare no relationships to order the inserts by
        db_write(client, app, row)
    meta = {"hubwire_order_id": str(order.id)}
    ids = {
        "completed": await deliver(client, "checkout.session.completed", {
            "id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session", "metadata": meta,
            "client_reference_id": str(order.id), "payment_status": "paid"}),
        "invoice": await deliver(client, "invoice.paid", {
            "id": f"in_test_{uuid.uuid4().hex}", "object": "invoice", "parent": {
                "type": "subscription_details", "subscription_details": {"subscription": "sub_x", "metadata": meta}}}),
        "nobody": await deliver(client, "customer.created", {"id": f"cus_{uuid.uuid4().hex}", "object": "customer"}),
    }
    apply_events(client, app)
    return staff, hub, ids


async def test_staff_see_the_events_of_their_hubs_orders(webhook_client, webhook_app):
    staff, hub, ids = await setup(webhook_client, webhook_app)
    r = await webhook_client.get(f"{hub.url}/payment-webhooks", headers=staff.headers)
    assert r.status_code == 200, r.text
    listed = r.json()["data"]
    assert [e["attributes"]["event_id"] for e in listed] == [ids["invoice"], ids["completed"]]  # newest first
    first = listed[1]
    assert first["type"] == "payment_webhook_events"
    a = first["attributes"]
    assert (a["provider"], a["type"], a["status"], a["attempts"]) == ("stripe", "checkout.session.completed",
                                                                      "processed", 1)
    assert a["last_error"] is None and a["processed_at"] and a["received_at"]
    assert a["payload"]["id"] == ids["completed"] and a["payload"]["data"]["object"]["object"] == "checkout.session"
    assert first["links"]["self"] == f"{hub.url}/payment-webhooks/{first['id']}"
    one = await webhook_client.get(first["links"]["self"], headers=staff.headers)
    assert one.status_code == 200 and one.json()["data"] == first


async def test_filters_by_type_and_status(webhook_client, webhook_app):
    staff, hub, ids = await setup(webhook_client, webhook_app)
    url = f"{hub.url}/payment-webhooks"
    r = await webhook_client.get(url, params={"filter[type]": "invoice.paid"}, headers=staff.headers)
    assert [e["attributes"]["event_id"] for e in r.json()["data"]] == [ids["invoice"]]
    r = await webhook_client.get(url, params={"filter[status]": "ignored"}, headers=staff.headers)
    assert r.json()["data"] == []
    r = await webhook_client.get(url, params={"filter[status]": "processed", "page[size]": "1"}, headers=staff.headers)
    assert len(r.json()["data"]) == 1 and r.json()["meta"]["has_more"] is True
    assert_error(await webhook_client.get(url, params={"filter[status]": "done"}, headers=staff.headers),
                 422, "invalid_filter")
    assert_error(await webhook_client.get(url, params={"filter[hub]": "x"}, headers=staff.headers),
                 422, "unknown_filter")


async def test_a_replay_puts_the_event_back_and_it_is_applied_again(webhook_client, webhook_app):
    staff, hub, ids = await setup(webhook_client, webhook_app)
    listed = (await webhook_client.get(f"{hub.url}/payment-webhooks", params={"filter[type]": "invoice.paid"},
                                       headers=staff.headers)).json()["data"]
    url = listed[0]["links"]["self"]
    r = await webhook_client.post(f"{url}/replay", headers=staff.headers)
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert (a["status"], a["attempts"], a["last_error"]) == ("pending", 0, None)
    audit_before = len(db_rows(webhook_client, webhook_app, sa.select(BillingAuditEntry.id).where(
        BillingAuditEntry.hub_id == uuid.UUID(hub.id))))
    assert apply_events(webhook_client, webhook_app)["processed"] == 1
    again = (await webhook_client.get(url, headers=staff.headers)).json()["data"]["attributes"]
    assert (again["status"], again["attempts"]) == ("processed", 1)
    # Applied again with no second effect: only the replay itself is audited.
    assert len(db_rows(webhook_client, webhook_app, sa.select(BillingAuditEntry.id).where(
        BillingAuditEntry.hub_id == uuid.UUID(hub.id)))) == audit_before


async def test_other_hubs_teams_and_unmatched_events_stay_hidden(webhook_client, webhook_app):
    staff, hub, ids = await setup(webhook_client, webhook_app)
    event = (await webhook_client.get(f"{hub.url}/payment-webhooks", headers=staff.headers)).json()["data"][0]
    other_hub = await new_hub(webhook_client, staff)
    assert (await webhook_client.get(f"{other_hub.url}/payment-webhooks", headers=staff.headers)).json()["data"] == []
    assert_error(await webhook_client.get(f"{other_hub.url}/payment-webhooks/{event['id']}", headers=staff.headers),
                 404, "not_found")
    assert_error(await webhook_client.post(f"{other_hub.url}/payment-webhooks/{event['id']}/replay",
                                           headers=staff.headers), 404, "not_found")
    assert_error(await webhook_client.get(f"{hub.url}/payment-webhooks/{new_id()}", headers=staff.headers),
                 404, "not_found")
    assert_error(await webhook_client.get(f"{hub.url}/payment-webhooks/not-an-id", headers=staff.headers),
                 404, "not_found")
    stranger = await register(webhook_client, "stranger")
    assert_error(await webhook_client.get(f"{hub.url}/payment-webhooks", headers=stranger.headers), 404, "not_found")


async def test_billing_scopes_guard_the_routes(webhook_client, webhook_app):
    staff, hub, _ = await setup(webhook_client, webhook_app)
    event_url = (await webhook_client.get(f"{hub.url}/payment-webhooks", headers=staff.headers)
                 ).json()["data"][0]["links"]["self"]
    reader = await create_key(webhook_client, staff, staff.team_id, ["billing:read"])
    reads = {"Authorization": f"Bearer {reader['secret']}"}
    assert (await webhook_client.get(event_url, headers=reads)).status_code == 200
    err = assert_error(await webhook_client.post(f"{event_url}/replay", headers=reads), 403, "insufficient_scope")
    assert err["meta"]["required_scope"] == "billing:write"
    writer = await create_key(webhook_client, staff, staff.team_id, ["billing:write"])
    r = await webhook_client.post(f"{event_url}/replay", headers={"Authorization": f"Bearer {writer['secret']}"})
    assert r.status_code == 200, r.text
    moderator = await add_staff(webhook_client, staff, staff.team_id, "moderator")
    assert_error(await webhook_client.get(f"{hub.url}/payment-webhooks", headers=moderator.headers),
                 403, "insufficient_role")
    member_of_staff = await add_staff(webhook_client, staff, staff.team_id, "staff")
    assert (await webhook_client.get(f"{hub.url}/payment-webhooks", headers=member_of_staff.headers)).status_code == 200
