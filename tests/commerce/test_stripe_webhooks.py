"""POST /api/v1/webhooks/stripe: the signature is checked on the raw body with the SDK's scheme and
tolerance, a verified event is stored once per (provider, event id) and answered at once, and
nothing else happens in the request. Every refusal has its own code. Copies of an event, even ones
sent at the same moment, leave one row. The app refuses to start with a webhook route that does not
say how it authenticates."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar, post

from domain.commerce.provider_events import WAKE_CHANNEL
from persistence.models import PaymentWebhookEvent
from server.app import check_webhook_routes
from server.deps import DEPENDENCIES
from tests.support.api import assert_error
from tests.support.app import db_rows, in_app
from tests.support.community import race
from tests.support.payments import sign, signed_headers, stripe_event

URL = "/api/v1/webhooks/stripe"


def session_object(**extra: Any) -> dict[str, Any]:
    return {"id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session", "mode": "payment",
            "status": "complete", "payment_status": "paid", "metadata": {}, **extra}


def rows_of(client: Any, app: Any, event_id: str) -> list[PaymentWebhookEvent]:
    return db_rows(client, app, sa.select(PaymentWebhookEvent).where(PaymentWebhookEvent.event_id == event_id))


async def test_without_a_webhook_secret_the_route_is_not_found(client):
    body = stripe_event("checkout.session.completed", session_object())
    assert_error(await client.post(URL, content=body, headers=signed_headers(body)), 404, "not_found")


async def test_a_verified_event_is_stored_once_and_answered_at_once(webhook_client, webhook_app, webhook_clock):
    obj = session_object()
    created = int(time.time()) - 3
    body = stripe_event("checkout.session.completed", obj, created=created)
    r = await webhook_client.post(URL, content=body, headers=signed_headers(body))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True}
    event_id = json.loads(body)["id"]
    [row] = rows_of(webhook_client, webhook_app, event_id)
    assert (row.provider, row.type, row.object_id) == ("stripe", "checkout.session.completed", obj["id"])
    assert row.payload == body.decode()  # the raw body, byte for byte
    assert row.event_created == datetime.fromtimestamp(created, timezone.utc)
    assert row.status == "pending" and row.attempts == 0 and row.last_error is None and row.processed_at is None
    assert row.team_id is None and row.hub_id is None  # matching to an order is the worker's job
    assert abs(row.next_attempt_at - webhook_clock.now()) < timedelta(seconds=5)


async def test_storing_an_event_wakes_the_workers_and_a_copy_does_not(webhook_client, webhook_app):
    body = stripe_event("invoice.paid", {"id": "in_test_wake", "object": "invoice"})
    woken: list[bytes] = []

    async def on_wake(_channel: str, payload: bytes) -> None:
        woken.append(payload)

    def wait_for(payload: bytes) -> None:
        for _ in range(200):
            if payload in woken:
                return
            time.sleep(0.02)
        raise AssertionError(f"{payload!r} never came: {woken}")

    broker = webhook_app.state.services.broker
    in_app(webhook_client, broker.subscribe, WAKE_CHANNEL, on_wake)
    try:
        in_app(webhook_client, broker.publish, WAKE_CHANNEL, b"marker")  # with Redis: live once it comes back
        wait_for(b"marker")
        woken.clear()
        r = await webhook_client.post(URL, content=body, headers=signed_headers(body))
        assert r.status_code == 200, r.text
        wait_for(b"wake")
        r = await webhook_client.post(URL, content=body, headers=signed_headers(body))  # a copy: stores nothing
        assert r.status_code == 200, r.text
        in_app(webhook_client, broker.publish, WAKE_CHANNEL, b"marker")  # comes after any wake the copy sent
        wait_for(b"marker")
        assert woken == [b"wake", b"marker"]
    finally:
        in_app(webhook_client, broker.unsubscribe, WAKE_CHANNEL, on_wake)


async def test_a_duplicate_delivery_changes_nothing(webhook_client, webhook_app):
    body = stripe_event("customer.subscription.updated", {"id": "sub_test_dup", "object": "subscription"})
    for _ in range(3):  # Stripe sends again when it missed our answer: each copy newly signed
        r = await webhook_client.post(URL, content=body, headers=signed_headers(body, t=int(time.time())))
        assert r.status_code == 200 and r.json() == {"received": True}, r.text
    [row] = rows_of(webhook_client, webhook_app, json.loads(body)["id"])
    assert row.payload == body.decode() and row.attempts == 0


async def test_two_deliveries_at_the_same_moment_leave_one_row(webhook_client, webhook_app):
    """On PostgreSQL both requests are held behind an uncommitted insert of the same event until
    both wait on it; then it rolls back and they go on together: one inserts, the other's
    ``ON CONFLICT DO NOTHING`` waits for it and does nothing. Both are answered 200."""
    body = stripe_event("charge.refunded", {"id": "ch_test_race", "object": "charge"})
    event_id = json.loads(body)["id"]
    now = datetime.now(timezone.utc)
    hold = sa.insert(PaymentWebhookEvent).values(
        id=uuid.uuid4(), provider="stripe", event_id=event_id, type="charge.refunded", payload="{}", status="pending",
        attempts=0, next_attempt_at=now, received_at=now)
    answers = race(webhook_client, webhook_app, hold, *[("POST", URL, signed_headers(body), body)] * 2)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [a.json() for a in answers] == [{"received": True}] * 2
    [row] = rows_of(webhook_client, webhook_app, event_id)
    assert row.payload == body.decode()


# ---- refusals ----------------------------------------------------------------------------------------


async def test_a_missing_signature_is_400(webhook_client, webhook_app):
    body = stripe_event("checkout.session.completed", session_object())
    r = await webhook_client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "missing_signature")
    assert rows_of(webhook_client, webhook_app, json.loads(body)["id"]) == []


def tampered(body: bytes) -> tuple[bytes, str]:
    return body.replace(b'"paid"', b'"unpaid"'), sign(body)


@pytest.mark.parametrize("make", [
    pytest.param(lambda b: (b, sign(b, "whsec_someone_else")), id="another secret"),
    pytest.param(tampered, id="tampered body"),
    pytest.param(lambda b: (json.dumps(json.loads(b)).encode(), sign(b)), id="re-serialised JSON"),
    pytest.param(lambda b: (b, sign(b, t=int(time.time()) - 301)), id="older than the 300 s tolerance"),
    pytest.param(lambda b: (b, sign(b).replace("v1=", "v0=")), id="no v1 signature"),
    pytest.param(lambda b: (b, "nonsense"), id="unreadable header"),
])
async def test_a_bad_or_stale_signature_is_400(webhook_client, webhook_app, make):
    body = stripe_event("checkout.session.completed", session_object())
    sent, signature = make(body)
    r = await webhook_client.post(URL, content=sent, headers={"Content-Type": "application/json",
                                                              "Stripe-Signature": signature})
    assert_error(r, 400, "invalid_signature")
    assert rows_of(webhook_client, webhook_app, json.loads(body)["id"]) == []


async def test_a_signature_within_the_tolerance_is_accepted(webhook_client):
    body = stripe_event("checkout.session.completed", session_object())
    r = await webhook_client.post(URL, content=body, headers=signed_headers(body, t=int(time.time()) - 290))
    assert r.status_code == 200, r.text


async def test_rotated_secrets_one_matching_signature_is_enough(webhook_client):
    body = stripe_event("checkout.session.completed", session_object())
    header = sign(body) + ",v1=" + "0" * 64
    r = await webhook_client.post(URL, content=body, headers={"Stripe-Signature": header})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("body", [
    pytest.param(b"not json at all", id="not JSON"),
    pytest.param(b"[1, 2, 3]", id="a list"),
    pytest.param(json.dumps({"id": "cus_1", "object": "customer"}).encode(), id="not an event"),
    pytest.param(json.dumps({"object": "event", "type": "x.y", "data": {"object": {}}}).encode(), id="no id"),
    pytest.param(json.dumps({"id": "evt_1", "object": "event", "data": {"object": {}}}).encode(), id="no type"),
    pytest.param(json.dumps({"id": "evt_1", "object": "event", "type": "x.y", "data": {}}).encode(),
                 id="no data.object"),
    pytest.param(json.dumps({"id": "e" * 300, "object": "event", "type": "x.y", "data": {"object": {}}}).encode(),
                 id="id too long"),
])
async def test_a_signed_body_that_is_not_a_stripe_event_is_400(webhook_client, body):
    r = await webhook_client.post(URL, content=body, headers=signed_headers(body))
    assert_error(r, 400, "invalid_event")


# ---- the route kind is checked at startup -------------------------------------------------------------


def test_a_webhook_route_must_declare_how_it_authenticates():
    @post("/api/v1/webhooks/other")
    async def other() -> None:
        return None

    with pytest.raises(RuntimeError, match="declares no authentication"):
        check_webhook_routes(Litestar(route_handlers=[other], dependencies=DEPENDENCIES))

    @post("/api/v1/webhooks/other", opt={"auth": "bearer_token_maybe"})
    async def vague() -> None:
        return None

    with pytest.raises(RuntimeError, match="declares no authentication"):
        check_webhook_routes(Litestar(route_handlers=[vague], dependencies=DEPENDENCIES))


def test_the_real_app_passes_the_webhook_route_check(app):
    check_webhook_routes(app)
    assert any(r.path == URL for r in app.routes)
