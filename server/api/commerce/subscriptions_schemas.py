"""Subscriptions as members and staff see them (type ``subscriptions``), and the cancel body (type
``subscription_cancellations``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec

from domain.commerce.subscriptions import DEFAULT_GRACE, UNCHANGED, access_ends_at
from persistence.models import Subscription
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource


class SubscriptionAttributes(msgspec.Struct):
    """Stripe's status vocabulary (``trialing``, ``active``, ``past_due``, ``canceled``, ``unpaid``,
    ``incomplete``, ...). ``access_ends_at``: when the access it gives ends (null: it does not, while
    it renews); ``cancel_at_period_end``: it ends at ``current_period_end`` unless resumed."""

    hub_id: str
    contact_id: str
    order_id: str
    product_id: str
    price_id: str
    provider: str
    provider_subscription_id: str | None
    status: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    trial_end: datetime | None
    access_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionsResource(Resource):
    type: Literal["subscriptions"]
    attributes: SubscriptionAttributes


class SubscriptionsDocument(Document):
    data: SubscriptionsResource


class SubscriptionsListDocument(ListDocument):
    data: list[SubscriptionsResource]


class CancellationAttributes(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``at_period_end`` true: access is kept until the current period ends (undo with ``…/resume``);
    false: canceled now, access ends now. ``reason`` is kept in the audit trail."""

    at_period_end: bool = True
    reason: str | None = None


class SubscriptionCancellationsCreateData(CreateData):
    type: Literal["subscription_cancellations"]
    attributes: CancellationAttributes


class SubscriptionCancellationsDocument(Inbound):
    data: SubscriptionCancellationsCreateData


def subscription_resource(sub: Subscription, self_link: str, *,
                          grace: timedelta = DEFAULT_GRACE) -> SubscriptionsResource:
    ends = access_ends_at(sub, grace=grace)
    attrs = SubscriptionAttributes(
        hub_id=str(sub.hub_id), contact_id=str(sub.contact_id), order_id=str(sub.order_id),
        product_id=str(sub.product_id), price_id=str(sub.price_id), provider=sub.provider,
        provider_subscription_id=sub.provider_subscription_id, status=sub.status,
        current_period_start=sub.current_period_start, current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end, canceled_at=sub.canceled_at, ended_at=sub.ended_at,
        trial_end=sub.trial_end, access_ends_at=None if ends is UNCHANGED else ends, created_at=sub.created_at,
        updated_at=sub.updated_at)
    return SubscriptionsResource.of(sub.id, attrs, self_link=self_link)
