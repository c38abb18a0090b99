"""Subscriptions over the API with Stripe (the stand-in, through the real SDK): a member lists theirs,
cancels at period end and resumes; staff list with filters, read one, cancel now. Each change is
made at Stripe first, applied at once, and the webhook that follows changes nothing more. Another
member's or another team's subscription is a 404; bad input is a 4xx that changes nothing; Stripe
unavailable is a 503 that changes nothing; the audit trail names who acted."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.commerce.matching import provider_subscription_id
from domain.commerce.providers import CheckoutRequest, Recurring
from persistence.ids import new_id
from persistence.models import BillingAuditEntry, Entitlement, Order, Price, Product, Subscription
from server.app import create_app
from server.jobs import provider_event_worker_for
from server.settings import Settings, SettingsError
from tests.support.api import Staff, assert_error, bearer, create_key, doc, register, w
from tests.support.app import Listener, db_rows, db_write, in_app
from tests.support.backends import make_settings
from tests.support.hubs import Hub, join, mint, new_hub
from tests.support.mailbox import migrated_database
from tests.support.payments import SECRET_KEY, WEBHOOK_SECRET, StripeStandin, signed_headers

HOOK = "/api/v1/webhooks/stripe"


@pytest.fixture(scope="session")
async def billing_app(tmp_root: Path, databases: Any, redis_prefix: str, standin: StripeStandin) -> Litestar:
    url = await migrated_database(databases, "subscriptions_api")
    settings = make_settings(tmp_root / "subscriptions-api", url, redis_prefix + "subsapi:",
                             HUBWIRE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, HUBWIRE_STRIPE_SECRET_KEY=SECRET_KEY,
                             HUBWIRE_STRIPE_API_BASE=standin.base)
    return create_app(settings)


@pytest.fixture(scope="session")
async def billing(billing_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(billing_app, base_url="http://testserver.local") as c:
        in_app(c, billing_app.state.provider_event_worker.stop)  # the tests apply events themselves
        yield c


@dataclass
class Bought:
    staff: Staff
    hub: Hub
    contact_id: str
    member: dict[str, str]
    order_id: uuid.UUID
    product_id: uuid.UUID
    stripe_sub: str
    sub_id: str = ""

    @property
    def me(self) -> str:
        return f"/api/v1/hub/{self.hub.id}/me/subscriptions"

    @property
    def staff_url(self) -> str:
        return f"{self.hub.url}/subscriptions"


def apply_events(client: Any, app: Any) -> dict[str, int]:
    worker = provider_event_worker_for(app.state.services)
    totals = {"processed": 0, "ignored": 0, "retried": 0, "failed": 0}
    while (report := in_app(client, worker.run_once)).claimed:
        for k in totals:
            totals[k] += getattr(report, k)
    return totals


async def deliver_new_events(client: Any, standin: StripeStandin, seen: set[str], types: set[str],
                             about: str) -> list[str]:
    """Post the stand-in's events about subscription ``about`` (of ``types``) not posted before,
    signed, as Stripe would."""
    sent = []
    for listed in standin.events():
        if listed["id"] in seen or listed["type"] not in types:
            continue
        event = standin.event(listed["id"])
        if provider_subscription_id(event["data"]["object"]) != about:
            continue
        seen.add(event["id"])
        body = json.dumps(event).encode()
        r = await client.post(HOOK, content=body, headers=signed_headers(body))
        assert r.status_code == 200, r.text
        sent.append(event["type"])
    return sent


SUB_EVENTS = {"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
              "invoice.paid"}


async def bought(client: Any, app: Any, standin: StripeStandin, seen: set[str]) -> Bought:
    """A member of a new hub with a paid monthly Stripe subscription, stored from its webhooks,
    and the hub access it gives."""
    staff = await register(client, "billing")
    hub = await new_hub(client, staff)
    m = await join(client, staff, hub)
    contact_id = m["attributes"]["contact_id"]
    token = (await mint(client, staff.headers, hub, contact_id)).json()["data"]["attributes"]["access_token"]
    now = datetime.now(UTC)
    team_id, hub_id = uuid.UUID(staff.team_id), uuid.UUID(hub.id)
    product = Product(id=new_id(), team_id=team_id, name="Membership", active=True, meta={}, created_at=now,
                      updated_at=now)
    price = Price(id=new_id(), team_id=team_id, product_id=product.id, amount=2500, currency="usd", type="recurring",
                  interval="month", interval_count=1, active=True, created_at=now, updated_at=now)
    order = Order(id=new_id(), team_id=team_id, hub_id=hub_id, contact_id=uuid.UUID(contact_id),
                  product_id=product.id, price_id=price.id, provider="stripe", status="paid", payment_status="paid",
                  currency="usd", amount_subtotal=2500, amount_discount=0, amount_total=2500, amount_refunded=0,
                  paid_at=now, created_at=now, updated_at=now)
    db_write(client, app, product)
    db_write(client, app, price)
    db_write(client, app, order)
    stripe = app.state.services.stripe
    session = in_app(client, stripe.create_checkout_session, CheckoutRequest(
        order_id=order.id, team_id=team_id, hub_id=hub_id, product_id=product.id, price_id=price.id,
        mode="subscription", product_name="Membership", currency="usd", unit_amount=2500,
        recurring=Recurring("month", 1), success_url="https://creator.example/ok", customer_email="m@example.test"))
    stripe_sub = standin.complete(session.id)["subscription"]
    assert await deliver_new_events(client, standin, seen, SUB_EVENTS, stripe_sub) == [
        "customer.subscription.created", "invoice.paid"]
    assert apply_events(client, app)["processed"] == 2
    [sub] = db_rows(client, app, sa.select(Subscription).where(Subscription.order_id == order.id))
    db_write(client, app, Entitlement(
        id=new_id(), hub_id=hub_id, team_id=team_id, contact_id=uuid.UUID(contact_id), kind="hub_access",
        source="subscription", source_id=str(sub.id), created_at=now, updated_at=now))
    return Bought(staff, hub, contact_id, bearer(token), order.id, product.id, stripe_sub, str(sub.id))


def stripe_subscription(standin: StripeStandin, sub_id: str) -> dict[str, Any]:
    r = standin.http.get(f"/v1/subscriptions/{sub_id}", headers={"Authorization": f"Bearer {SECRET_KEY}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def entitlement_ends(client: Any, app: Any, b: Bought) -> list[Any]:
    return [e.ends_at for e in db_rows(client, app, sa.select(Entitlement).where(
        Entitlement.source == "subscription", Entitlement.source_id == b.sub_id))]


@pytest.fixture
def seen() -> set[str]:
    return set()


async def test_a_member_cancels_at_period_end_and_resumes_through_stripe(billing, billing_app, standin, seen):
    b = await bought(billing, billing_app, standin, seen)
    r = await billing.get(b.me, headers=b.member)
    assert r.status_code == 200, r.text
    [listed] = r.json()["data"]
    assert listed["type"] == "subscriptions" and listed["id"] == b.sub_id
    a = listed["attributes"]
    assert (a["status"], a["provider"], a["provider_subscription_id"], a["cancel_at_period_end"]) == (
        "active", "stripe", b.stripe_sub, False)
    assert a["access_ends_at"] is None and a["current_period_end"]
    assert listed["links"]["self"] == f"{b.me}/{b.sub_id}"

    r = await billing.post(f"{b.me}/{b.sub_id}/cancel", headers=b.member)
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert a["cancel_at_period_end"] is True and a["status"] == "active"
    assert a["access_ends_at"] == a["current_period_end"]
    assert stripe_subscription(standin, b.stripe_sub)["cancel_at_period_end"] is True
    [ends] = entitlement_ends(billing, billing_app, b)
    assert ends is not None and ends.isoformat().replace("+00:00", "Z")[:19] == a["current_period_end"][:19]
    # Stripe's webhook for the change comes after: nothing more changes.
    sent = await deliver_new_events(billing, standin, seen, SUB_EVENTS, b.stripe_sub)
    assert sent == ["customer.subscription.updated"]
    apply_events(billing, billing_app)
    assert (await billing.get(f"{b.me}/{b.sub_id}", headers=b.member)).json()["data"]["attributes"] == a

    r = await billing.post(f"{b.me}/{b.sub_id}/resume", headers=b.member)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["cancel_at_period_end"] is False
    assert r.json()["data"]["attributes"]["access_ends_at"] is None
    assert stripe_subscription(standin, b.stripe_sub)["cancel_at_period_end"] is False
    assert entitlement_ends(billing, billing_app, b) == [None]
    audit = db_rows(billing, billing_app, sa.select(BillingAuditEntry).where(
        BillingAuditEntry.target_id == uuid.UUID(b.sub_id), BillingAuditEntry.action.in_(
            ["subscription.cancel_scheduled", "subscription.resumed"])).order_by(BillingAuditEntry.created_at))
    assert [(e.action, e.actor_type, str(e.actor_contact_id)) for e in audit] == [
        ("subscription.cancel_scheduled", "member", b.contact_id), ("subscription.resumed", "member", b.contact_id)]
    keys = {r["idempotency_key"] for r in standin.requests() if r["path"].endswith(b.stripe_sub)
            and r["method"] == "POST"}
    assert len(keys) == 2 and all(k.startswith(f"subscription-{b.sub_id}-") for k in keys)


async def test_staff_list_filter_read_and_cancel_now(billing, billing_app, standin, seen):
    b = await bought(billing, billing_app, standin, seen)
    r = await billing.get(b.staff_url, headers=b.staff.headers)
    assert r.status_code == 200 and [s["id"] for s in r.json()["data"]] == [b.sub_id]
    for params, expected in (({"filter[status]": "active"}, [b.sub_id]), ({"filter[status]": "canceled"}, []),
                             ({"filter[contact_id]": b.contact_id}, [b.sub_id]),
                             ({"filter[product_id]": str(b.product_id)}, [b.sub_id]),
                             ({"filter[product_id]": str(new_id())}, [])):
        r = await billing.get(b.staff_url, params=params, headers=b.staff.headers)
        assert r.status_code == 200 and [s["id"] for s in r.json()["data"]] == expected, params
    assert_error(await billing.get(b.staff_url, params={"filter[status]": "done"}, headers=b.staff.headers),
                 422, "invalid_filter")
    assert_error(await billing.get(b.staff_url, params={"filter[contact_id]": "x"}, headers=b.staff.headers),
                 422, "invalid_filter")

    url = f"{b.staff_url}/{b.sub_id}"
    assert (await billing.get(url, headers=b.staff.headers)).json()["data"]["links"]["self"] == url
    for body in ({"data": {"type": "subscriptions", "attributes": {"at_period_end": False}}},
                 {"data": {"type": "subscription_cancellations", "attributes": {"at_period_end": "no"}}},
                 {"data": {"type": "subscription_cancellations", "attributes": {"now": True}}}):
        r = await billing.post(f"{url}/cancel", json=body, headers=w(b.staff.headers))
        assert 400 <= r.status_code < 500 and r.json()["errors"][0]["code"], r.text
    assert (await billing.get(url, headers=b.staff.headers)).json()["data"]["attributes"]["status"] == "active"

    standin.fail_next(status=500, count=3, path=f"/v1/subscriptions/{b.stripe_sub}")
    r = await billing.post(f"{url}/cancel", json=doc("subscription_cancellations", {"at_period_end": False}),
                           headers=w(b.staff.headers))
    assert_error(r, 503, "payment_provider_unavailable")
    assert (await billing.get(url, headers=b.staff.headers)).json()["data"]["attributes"]["status"] == "active"

    r = await billing.post(f"{url}/cancel", json=doc("subscription_cancellations",
                                                     {"at_period_end": False, "reason": "asked by phone"}),
                           headers=w(b.staff.headers))
    assert r.status_code == 200, r.text
    a = r.json()["data"]["attributes"]
    assert a["status"] == "canceled" and a["ended_at"] and a["access_ends_at"] == a["ended_at"]
    assert stripe_subscription(standin, b.stripe_sub)["status"] == "canceled"
    [ends] = entitlement_ends(billing, billing_app, b)
    assert ends is not None and ends <= datetime.now(UTC)
    assert_error(await billing.post(f"{url}/cancel", json=doc("subscription_cancellations", {}),
                                    headers=w(b.staff.headers)), 409, "subscription_canceled")
    assert_error(await billing.post(f"{b.me}/{b.sub_id}/resume", headers=b.member), 409, "subscription_canceled")
    sent = await deliver_new_events(billing, standin, seen, SUB_EVENTS, b.stripe_sub)
    assert sent == ["customer.subscription.deleted"]
    apply_events(billing, billing_app)
    assert (await billing.get(url, headers=b.staff.headers)).json()["data"]["attributes"]["status"] == "canceled"
    [entry] = db_rows(billing, billing_app, sa.select(BillingAuditEntry).where(
        BillingAuditEntry.target_id == uuid.UUID(b.sub_id), BillingAuditEntry.action == "subscription.canceled"))
    assert entry.actor_type == "staff" and entry.actor_user_id is not None and entry.reason == "asked by phone"


async def test_other_members_teams_and_keys_get_nothing(billing, billing_app, standin, seen):
    b = await bought(billing, billing_app, standin, seen)
    other = await bought(billing, billing_app, standin, seen)
    # Another hub's member, another team's staff: 404, and nothing changes.
    assert_error(await billing.get(f"{b.me}/{other.sub_id}", headers=b.member), 404, "not_found")
    assert_error(await billing.post(f"{b.me}/{other.sub_id}/cancel", headers=b.member), 404, "not_found")
    assert_error(await billing.get(f"{b.staff_url}/{other.sub_id}", headers=b.staff.headers), 404, "not_found")
    assert_error(await billing.get(f"{other.staff_url}/{other.sub_id}", headers=b.staff.headers), 404, "not_found")
    assert_error(await billing.post(f"{b.staff_url}/not-an-id/cancel",
                                    json=doc("subscription_cancellations", {}), headers=w(b.staff.headers)),
                 404, "not_found")
    # A second member of the same hub sees only their own (none).
    m2 = await join(billing, b.staff, b.hub)
    token = (await mint(billing, b.staff.headers, b.hub, m2["attributes"]["contact_id"])).json()["data"]["attributes"]
    r = await billing.get(b.me, headers=bearer(token["access_token"]))
    assert r.status_code == 200 and r.json()["data"] == []
    assert_error(await billing.post(f"{b.me}/{b.sub_id}/cancel", headers=bearer(token["access_token"])),
                 404, "not_found")
    # Staff tokens are not member tokens; a key without billing:write cannot cancel.
    assert_error(await billing.get(b.me, headers=b.staff.headers), 401, "member_token_required")
    key = await create_key(billing, b.staff, b.staff.team_id, ["billing:read"])
    reader = bearer(key["secret"])
    assert (await billing.get(b.staff_url, headers=reader)).status_code == 200
    assert_error(await billing.post(f"{b.staff_url}/{b.sub_id}/cancel", json=doc("subscription_cancellations", {}),
                                    headers=w(reader)), 403, "insufficient_scope")
    for sub in (b, other):
        assert stripe_subscription(standin, sub.stripe_sub)["cancel_at_period_end"] is False


async def test_subscription_updated_and_canceled_reach_the_team_feed(billing, billing_app, standin, seen):
    b = await bought(billing, billing_app, standin, seen)
    url = f"{b.staff_url}/{b.sub_id}"
    with Listener(billing, billing_app, f"team:{b.staff.team_id}") as feed:
        r = await billing.post(f"{url}/cancel", json=doc("subscription_cancellations", {"at_period_end": True}),
                               headers=w(b.staff.headers))
        assert r.status_code == 200, r.text
        [updated] = [e for e in feed.drain() if e["event"].startswith("subscription.")]
        assert updated["event"] == "subscription.updated" and updated["channel"] == f"team:{b.staff.team_id}"
        assert updated["data"] == {
            "id": b.sub_id, "hub_id": b.hub.id, "contact_id": b.contact_id, "order_id": str(b.order_id),
            "product_id": str(b.product_id), "price_id": updated["data"]["price_id"], "provider": "stripe",
            "status": "active", "cancel_at_period_end": True,
            "current_period_end": r.json()["data"]["attributes"]["current_period_end"],
            "canceled_at": r.json()["data"]["attributes"]["canceled_at"], "ended_at": None}
        r = await billing.post(f"{url}/cancel", json=doc("subscription_cancellations", {"at_period_end": False}),
                               headers=w(b.staff.headers))
        assert r.status_code == 200, r.text
        events = [e for e in feed.drain() if e["event"].startswith("subscription.")]
        assert [e["event"] for e in events] == ["subscription.updated", "subscription.canceled"]
        assert all(e["data"]["status"] == "canceled" and e["data"]["ended_at"] for e in events)
        # Stripe's own events for these changes come later and change nothing: no event.
        await deliver_new_events(billing, standin, seen, SUB_EVENTS, b.stripe_sub)
        apply_events(billing, billing_app)
        assert [e for e in feed.drain() if e["event"].startswith("subscription.")] == []


async def test_bad_cancel_input_changes_nothing(billing, billing_app, standin, seen):
    b = await bought(billing, billing_app, standin, seen)
    url = f"{b.staff_url}/{b.sub_id}/cancel"
    assert_error(await billing.post(url, json=doc("subscription_cancellations", {"reason": "x" * 501}),
                                    headers=w(b.staff.headers)), 422, "invalid_reason")
    r = await billing.post(url, json={"at_period_end": True}, headers=w(b.staff.headers))  # not JSON:API
    assert 400 <= r.status_code < 500 and r.json()["errors"][0]["code"]
    r = await billing.post(url, content=b"{", headers=w(b.staff.headers))
    assert 400 <= r.status_code < 500 and r.json()["errors"][0]["code"]
    assert (await billing.get(f"{b.staff_url}/{b.sub_id}", headers=b.staff.headers)).json()["data"][
        "attributes"]["cancel_at_period_end"] is False
    assert stripe_subscription(standin, b.stripe_sub)["cancel_at_period_end"] is False
    assert db_rows(billing, billing_app, sa.select(BillingAuditEntry.id).where(
        BillingAuditEntry.target_id == uuid.UUID(b.sub_id), BillingAuditEntry.actor_type != "provider")) == []


@pytest.mark.parametrize("value", ["-1", "7776001", "three days"])
def test_the_grace_setting_is_checked(tmp_path, value):
    with pytest.raises(SettingsError):
        Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_PAST_DUE_GRACE_SECONDS": value})


def test_the_grace_setting_is_read_with_its_default(tmp_path):
    settings = Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_PAST_DUE_GRACE_SECONDS": "3600"})
    assert settings.past_due_grace_seconds == 3600
    assert Settings.from_env({"HUBWIRE_DATA_DIR": str(tmp_path)}).past_due_grace_seconds == 3 * 24 * 3600
