"""A subscription's provider state applied in order, and the access it gives over time
(domain/commerce/subscriptions.py through the real handlers and worker): cancel at period end keeps
access to that second, past_due keeps it through the grace period and invoice.paid restores it,
deleted ends it and nothing brings it back, two subscriptions to one product keep access while
either holds. Out-of-order, stale, same-second and duplicate deliveries. Frozen clock, worker run
by hand on a database of its own."""

from __future__ import annotations

from datetime import timedelta

from tests.support.lifecycle import (
    Published,
    bought,
    drain,
    entitlements_of,
    event_row,
    frozen_at,
    holds_access,
    payments_of,
    second,
    store,
    stripe_invoice,
    stripe_subscription,
    subscribed,
    subscription_of,
    worker,
)

GRACE = timedelta(days=3)


async def test_cancel_at_period_end_keeps_access_until_that_second(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    start, end = second(clock.now()) - timedelta(days=2), second(clock.now()) + timedelta(days=28)
    sub = await subscribed(sessions, clock, b, start=start, end=end)
    published = Published()
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, start=start, end=end, cancel_at_period_end=True, canceled_at=clock.now()),
                created=clock.now(), previous={"cancel_at_period_end": False})
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1

    sub = await subscription_of(sessions, b)
    assert sub.status == "active" and sub.cancel_at_period_end and sub.current_period_end == end
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at == end and e.revoked_at is None
    assert await holds_access(sessions, b, end - timedelta(seconds=1))
    assert not await holds_access(sessions, b, end)
    [updated] = published.events("subscription.updated")
    assert updated["channel"] == f"team:{b.team.id}"
    assert updated["data"]["id"] == str(sub.id) and updated["data"]["cancel_at_period_end"] is True
    assert not published.events("subscription.canceled")
    assert {(i["hub_id"], i["contact_id"]) for i in published.invalidations()} == {(str(b.hub.id), str(b.contact.id))}

    # Stripe ends it at the period end: canceled, access ended at ended_at, subscription.canceled.
    published.clear()
    clock.set(end + timedelta(seconds=2))
    await store(sessions, clock, "customer.subscription.deleted",
                stripe_subscription(b, status="canceled", start=start, end=end, cancel_at_period_end=True,
                                    canceled_at=start, ended_at=end), created=end)
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    sub = await subscription_of(sessions, b)
    assert sub.status == "canceled" and sub.ended_at == end
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at == end
    assert [x["data"]["status"] for x in published.events("subscription.canceled")] == ["canceled"]


async def test_past_due_keeps_access_through_grace_and_invoice_paid_restores(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    renewal = second(clock.now())
    start, end = renewal - timedelta(days=30), renewal
    await subscribed(sessions, clock, b, start=start, end=end)
    new_end = renewal + timedelta(days=30)
    # The renewal failed: Stripe moves the period and says past_due.
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, status="past_due", start=renewal, end=new_end), created=renewal,
                previous={"status": "active"})
    await store(sessions, clock, "invoice.payment_failed",
                stripe_invoice(b, start=renewal, end=new_end, intent="pi_failed_1", paid=False), created=renewal)
    assert (await drain(worker(sessions, clock, grace=GRACE)))["processed"] == 2
    sub = await subscription_of(sessions, b)
    assert sub.status == "past_due"
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at == renewal + GRACE
    assert await holds_access(sessions, b, renewal + GRACE - timedelta(seconds=1))
    assert not await holds_access(sessions, b, renewal + GRACE)
    assert [(p.provider_payment_id, p.status) for p in await payments_of(sessions, b)] == [("pi_failed_1", "failed")]

    # The retry succeeds: invoice.paid restores access at once (its own subscription.updated may come later).
    clock.advance(days=1)
    published = Published()
    await store(sessions, clock, "invoice.paid",
                stripe_invoice(b, start=renewal, end=new_end, intent="pi_retry_2"), created=second(clock.now()))
    assert (await drain(worker(sessions, clock, published, grace=GRACE)))["processed"] == 1
    sub = await subscription_of(sessions, b)
    assert sub.status == "active" and sub.current_period_end == new_end
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at is None
    assert await holds_access(sessions, b, renewal + GRACE + timedelta(days=1))
    assert sorted((p.provider_payment_id, p.status, p.subscription_id == sub.id)
                  for p in await payments_of(sessions, b)) == [("pi_failed_1", "failed", True),
                                                               ("pi_retry_2", "succeeded", True)]
    assert [x["data"]["status"] for x in published.events("subscription.updated")] == ["active"]
    # the renewal's money is announced for the dashboard's revenue (the order was paid long ago)
    [renewed] = published.events("payment.succeeded")
    assert renewed["channel"] == f"team:{b.team.id}"
    assert (renewed["data"]["amount"], renewed["data"]["currency"], renewed["data"]["subscription_id"]) == (
        2500, "usd", str(sub.id))
    assert not published.events("order.paid")
    # Stripe's own update to active, a second later, changes nothing more.
    published.clear()
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, status="active", start=renewal, end=new_end),
                created=second(clock.now()) + timedelta(seconds=1), previous={"status": "past_due"})
    assert (await drain(worker(sessions, clock, published, grace=GRACE)))["processed"] == 1
    assert not published.events("subscription.updated")


async def test_a_stale_update_after_a_newer_one_is_ignored(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    t0 = second(clock.now())
    start, end = t0 - timedelta(days=1), t0 + timedelta(days=29)
    await subscribed(sessions, clock, b, start=start, end=end)
    newer = await store(sessions, clock, "customer.subscription.updated",
                        stripe_subscription(b, start=start, end=end, cancel_at_period_end=True, canceled_at=t0),
                        created=t0 + timedelta(seconds=5), previous={"cancel_at_period_end": False})
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    # Delivered late: a state from before the cancel.
    stale = await store(sessions, clock, "customer.subscription.updated",
                        stripe_subscription(b, start=start, end=end), created=t0, previous={"status": "trialing"})
    assert (await drain(worker(sessions, clock)))["ignored"] == 1
    row = await event_row(sessions, stale)
    assert row.status == "ignored" and "older than the state we hold" in (row.last_error or "")
    sub = await subscription_of(sessions, b)
    assert sub.cancel_at_period_end and sub.state_at == t0 + timedelta(seconds=5)
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at == end
    assert (await event_row(sessions, newer)).status == "processed"


async def test_same_second_updates_apply_in_the_order_their_previous_attributes_say(sessions):
    """A failed renewal sends, in the same second: updated (new period) then updated (past_due).
    Delivered the other way round, the first one is older and must not undo past_due."""
    clock = frozen_at(second())
    b = await bought(sessions)
    t = second(clock.now())
    await subscribed(sessions, clock, b, start=t - timedelta(days=30), end=t)
    new_end = t + timedelta(days=30)
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, status="past_due", start=t, end=new_end), created=t,
                previous={"status": "active"})
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    await store(sessions, clock, "customer.subscription.updated", stripe_subscription(b, start=t, end=new_end),
                created=t, previous={"status": "active", "items": {}})
    assert (await drain(worker(sessions, clock)))["ignored"] == 1
    sub = await subscription_of(sessions, b)
    assert sub.status == "past_due" and sub.current_period_end == new_end


async def test_deleted_before_updated_stays_canceled(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    t = second(clock.now())
    start, end = t - timedelta(days=1), t + timedelta(days=29)
    await subscribed(sessions, clock, b, start=start, end=end)
    published = Published()
    await store(sessions, clock, "customer.subscription.deleted",
                stripe_subscription(b, status="canceled", start=start, end=end, canceled_at=t + timedelta(seconds=10),
                                    ended_at=t + timedelta(seconds=10)), created=t + timedelta(seconds=10))
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    # The update that came before the deletion, delivered after it; and a newer-looking one too.
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, start=start, end=end, cancel_at_period_end=True), created=t,
                previous={"cancel_at_period_end": False})
    await store(sessions, clock, "customer.subscription.updated", stripe_subscription(b, start=start, end=end),
                created=t + timedelta(seconds=20), previous={"status": "canceled"})
    assert (await drain(worker(sessions, clock, published)))["ignored"] == 2
    sub = await subscription_of(sessions, b)
    assert sub.status == "canceled" and sub.ended_at == t + timedelta(seconds=10)
    [e] = await entitlements_of(sessions, sub)
    assert e.ends_at == t + timedelta(seconds=10)
    assert not await holds_access(sessions, b, t + timedelta(seconds=10))
    assert len(published.events("subscription.canceled")) == 1


async def test_two_subscriptions_to_one_product_keep_access_when_one_ends(sessions):
    clock = frozen_at(second())
    first = await bought(sessions)
    other = await bought(sessions, like=first)
    t = second(clock.now())
    start, end = t - timedelta(days=1), t + timedelta(days=29)
    await subscribed(sessions, clock, first, start=start, end=end)
    await subscribed(sessions, clock, other, start=start, end=end)
    await store(sessions, clock, "customer.subscription.deleted",
                stripe_subscription(first, status="canceled", start=start, end=end, canceled_at=t, ended_at=t),
                created=t)
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    assert (await subscription_of(sessions, first)).status == "canceled"
    assert (await subscription_of(sessions, other)).status == "active"
    assert await holds_access(sessions, first, t + timedelta(days=10))  # the other subscription's
    await store(sessions, clock, "customer.subscription.deleted",
                stripe_subscription(other, status="canceled", start=start, end=end, canceled_at=t, ended_at=t),
                created=t + timedelta(seconds=1))
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    assert not await holds_access(sessions, first, t + timedelta(seconds=1))


async def test_an_update_before_anything_else_stores_the_subscription_from_its_order(sessions):
    """customer.subscription.updated before checkout.session.completed (and before created): the
    subscription is stored from the order its metadata names; it grants nothing by itself."""
    clock = frozen_at(second())
    b = await bought(sessions, order_status="pending")
    t = second(clock.now())
    await store(sessions, clock, "customer.subscription.updated",
                stripe_subscription(b, start=t, end=t + timedelta(days=30), cancel_at_period_end=True),
                created=t + timedelta(seconds=1), previous={"cancel_at_period_end": False})
    assert (await drain(worker(sessions, clock)))["processed"] == 1
    await store(sessions, clock, "customer.subscription.created",
                stripe_subscription(b, start=t, end=t + timedelta(days=30)), created=t)
    assert (await drain(worker(sessions, clock)))["ignored"] == 1  # older than what we hold
    sub = await subscription_of(sessions, b)
    assert sub.provider_subscription_id == b.provider_sub_id and sub.status == "active" and sub.cancel_at_period_end
    assert await entitlements_of(sessions, sub) == []


async def test_an_event_for_an_unknown_subscription_waits_and_then_applies(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    t = second(clock.now())
    obj = stripe_subscription(b, start=t, end=t + timedelta(days=30))
    obj["metadata"] = {}  # names no order: nothing of ours to attach it to yet
    event_id = await store(sessions, clock, "customer.subscription.updated", obj, created=t,
                           previous={"status": "incomplete"})
    assert (await drain(worker(sessions, clock)))["retried"] == 1
    row = await event_row(sessions, event_id)
    assert row.status == "pending" and "not yet known" in (row.last_error or "")
    await subscribed(sessions, clock, b, start=t, end=t + timedelta(days=30))  # the checkout stores it
    clock.advance(seconds=10)
    assert (await drain(worker(sessions, clock)))["processed"] == 1


async def test_duplicate_deliveries_apply_once(sessions):
    clock = frozen_at(second())
    b = await bought(sessions)
    t = second(clock.now())
    start, end = t - timedelta(days=1), t + timedelta(days=29)
    await subscribed(sessions, clock, b, start=start, end=end)
    obj = stripe_subscription(b, start=start, end=end, cancel_at_period_end=True, canceled_at=t)
    event_id = "evt_dup_" + b.provider_sub_id
    for _ in range(3):
        await store(sessions, clock, "customer.subscription.updated", obj, created=t,
                    previous={"cancel_at_period_end": False}, event_id=event_id)
    published = Published()
    assert (await drain(worker(sessions, clock, published)))["processed"] == 1
    assert len(published.events("subscription.updated")) == 1
