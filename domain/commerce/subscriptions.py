"""Subscriptions: the provider's state applied in the right order, cancel and resume, and the access
a subscription gives over time.

**Ordering.** Stripe sends a subscription's events in no guaranteed order and sometimes twice. Each
state is applied with its own time ``at`` (the event's ``created``; our own call's time when we
asked the provider ourselves), and :func:`apply_state` keeps ``subscriptions.state_at``:

- an older state (``at < state_at``) is never applied over a newer one;
- at the same second (Stripe's times are whole seconds, and one renewal sends several events in the
  same second), an update applies only if it follows from what we hold: the fields it names in
  ``previous_attributes`` (``status``, ``cancel_at_period_end``) must equal ours. A ``created`` at
  the same second as a state we hold is older by construction and is skipped;
- ``canceled`` is final: once applied, no later state changes it (not even its end).

**Access.** A subscription's deliverables are entitlements with source ``subscription`` and
``source_id`` the subscription's id (granted once, by ``orders.mark_order_paid``). After every
change, :func:`sync_access` sets their ``ends_at`` from the subscription (see :func:`access_ends_at`):
``active``/``trialing`` hold access (until ``current_period_end`` when ``cancel_at_period_end``);
``past_due`` holds it through the grace period (``HUBWIRE_PAST_DUE_GRACE_SECONDS``, three days by
default) counted from the start of the unpaid period; ``invoice.paid`` restores it; ``canceled``,
``unpaid``, ``incomplete_expired`` and ``paused`` end it at ``ended_at``. Each subscription has its
own entitlements, so two subscriptions to the same product keep access while either holds it. The
evaluator applies ``ends_at`` at the time it decides (the cache stays right as time passes); the
lapse job (``lifecycle.py``) makes every instance's live sockets re-check at that second.

**Cancel and resume** (:func:`cancel_subscription`, :func:`resume_subscription`) are staff's and the
member's. A Stripe subscription changes at Stripe first (an idempotency key per audit entry), and
the answer is applied at once; the webhook that follows changes nothing more. A ``manual`` or
``free`` subscription changes here, and the lapse job ends it at its period end.

Events ``subscription.updated`` and ``subscription.canceled`` go to ``team:{id}`` after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.access.invalidation import facts_changed
from domain.commerce.audit import BillingActor
from domain.commerce.providers import PaymentProvider, PaymentProviderUnavailable, ProviderSubscription
from domain.context import Ctx
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import SubscriptionChanged, emit, team_channel
from domain.filters import filter_choice, filter_id
from persistence.ids import new_id
from persistence.models import BillingAuditEntry, Entitlement, Hub, Order, Subscription
from persistence.pagination import Page, PageRequest, paginate

DEFAULT_GRACE = timedelta(days=3)
STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused")
HOLDING = ("active", "trialing")  # access held (to the period end when cancel_at_period_end)
ENDED = ("canceled", "unpaid", "incomplete_expired", "paused")  # access ended at ended_at
LOCAL_PROVIDERS = ("manual", "free")
# Published after the commit of a local subscription's cancel at period end: the lapse job
# (domain/commerce/lifecycle.py) ends it then, and may be asleep until a later time (entitlement
# changes wake it through access:invalidate; a product that grants nothing changes none).
LAPSE_WAKE = "internal:lapse_watcher"
SOURCE = "subscription"


class Actor(Protocol):
    """Who acts (``orders.BillingActor`` has these): written to the billing audit trail."""

    actor_type: str
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    contact_id: uuid.UUID | None


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as the provider has it, in our columns' terms."""

    status: str
    cancel_at_period_end: bool = False
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None
    trial_end: datetime | None = None

    @classmethod
    def from_stripe(cls, obj: dict[str, Any]) -> SubscriptionState:
        """From a Stripe subscription object. Current API versions keep the period on the items;
        older ones at the top level."""
        items = obj.get("items")
        first = (items.get("data") or [{}])[0] if isinstance(items, dict) else {}
        first = first if isinstance(first, dict) else {}
        status = obj.get("status")
        return cls(
            status=status if isinstance(status, str) and status in STATUSES else "incomplete",
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
            current_period_start=timestamp(first.get("current_period_start") or obj.get("current_period_start")),
            current_period_end=timestamp(first.get("current_period_end") or obj.get("current_period_end")),
            canceled_at=timestamp(obj.get("canceled_at")),
            ended_at=timestamp(obj.get("ended_at")),
            trial_end=timestamp(obj.get("trial_end")),
        )

    @classmethod
    def from_provider(cls, sub: ProviderSubscription) -> SubscriptionState:
        return cls(status=sub.status if sub.status in STATUSES else "incomplete",
                   cancel_at_period_end=sub.cancel_at_period_end, current_period_start=sub.current_period_start,
                   current_period_end=sub.current_period_end, canceled_at=sub.canceled_at, ended_at=sub.ended_at,
                   trial_end=sub.trial_end)


def timestamp(value: Any) -> datetime | None:
    """A Stripe Unix time as an aware UTC datetime (None for anything else)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


# ---- finding and creating ---------------------------------------------------------------------------------


async def find_subscription(ctx: Ctx, provider: str, provider_subscription_id: str, *,
                            lock: bool = True) -> Subscription | None:
    stmt = sa.select(Subscription).where(Subscription.provider == provider,
                                         Subscription.provider_subscription_id == provider_subscription_id)
    return await ctx.uow.session.scalar(stmt.with_for_update() if lock else stmt)


async def ensure_subscription(ctx: Ctx, order: Order, provider_subscription_id: str, *,
                              status: str = "incomplete") -> Subscription:
    """The order's provider subscription, stored (and locked) once: the first event that names it
    creates the row with ``status`` and no ``state_at``, so any provider state applies over it.
    Two events creating it at the same moment insert once (``ON CONFLICT DO NOTHING``)."""
    found = await find_subscription(ctx, order.provider, provider_subscription_id)
    if found is not None:
        return found
    now = ctx.now()
    s = ctx.uow.session
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Subscription)
    await s.execute(insert.values(
        id=new_id(), team_id=order.team_id, hub_id=order.hub_id, contact_id=order.contact_id, order_id=order.id,
        product_id=order.product_id, price_id=order.price_id, provider=order.provider,
        provider_subscription_id=provider_subscription_id, status=status, cancel_at_period_end=False,
        created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=[Subscription.provider, Subscription.provider_subscription_id]))
    found = await find_subscription(ctx, order.provider, provider_subscription_id)
    assert found is not None
    return found


# ---- applying a state ------------------------------------------------------------------------------------


def is_newer(sub: Subscription, at: datetime, previous: dict[str, Any] | None, *, kind: str = "updated") -> bool:
    """Whether a state of time ``at`` may replace what ``sub`` holds (module docstring)."""
    if sub.state_at is None or at > sub.state_at:
        return True
    if at < sub.state_at:
        return False
    if kind == "created":
        return False
    if kind == "deleted":
        return True
    checks = {"status": sub.status, "cancel_at_period_end": sub.cancel_at_period_end}
    named = {k: v for k, v in (previous or {}).items() if k in checks}
    return bool(named) and all(checks[k] == v for k, v in named.items())


async def apply_state(ctx: Ctx, sub: Subscription, state: SubscriptionState, *, at: datetime, actor: Actor,
                      previous: dict[str, Any] | None = None, kind: str = "updated",
                      grace: timedelta = DEFAULT_GRACE, force: bool = False) -> bool:
    """Apply the provider's ``state`` of time ``at`` to ``sub`` (locked by the caller) unless it is
    older than what we hold; then set the access window and tell the team. True when applied."""
    if sub.status == "canceled":
        return False  # final: a late "active" never brings it back, a later copy never moves its end
    if not force and not is_newer(sub, at, previous, kind=kind):
        return False
    before = _snapshot(sub)
    sub.status = state.status
    sub.cancel_at_period_end = state.cancel_at_period_end
    sub.current_period_start = state.current_period_start or sub.current_period_start
    sub.current_period_end = state.current_period_end or sub.current_period_end
    sub.canceled_at = state.canceled_at
    if state.status == "canceled":
        sub.canceled_at = sub.canceled_at or state.canceled_at or state.ended_at or at
        sub.ended_at = state.ended_at or sub.ended_at or at
    sub.trial_end = state.trial_end or sub.trial_end
    sub.state_at = at if sub.state_at is None else max(at, sub.state_at)
    if _snapshot(sub) != before:
        sub.updated_at = ctx.now()
    await ctx.uow.session.flush()
    if _snapshot(sub) != before:
        if actor.actor_type in ("provider", "system"):  # staff and members have their own action audited
            _audit(ctx, sub, actor, "subscription.state_applied", {
                "from": before["status"], "to": sub.status, "cancel_at_period_end": sub.cancel_at_period_end})
        announce(ctx, sub, canceled=before["status"] != "canceled" and sub.status == "canceled")
    await sync_access(ctx, sub, grace=grace)
    return True


def _snapshot(sub: Subscription) -> dict[str, Any]:
    return {"status": sub.status, "cancel_at_period_end": sub.cancel_at_period_end,
            "current_period_start": sub.current_period_start, "current_period_end": sub.current_period_end,
            "canceled_at": sub.canceled_at, "ended_at": sub.ended_at, "trial_end": sub.trial_end}


class _Unchanged:
    pass


UNCHANGED: Any = _Unchanged()


def access_ends_at(sub: Subscription, *, grace: timedelta = DEFAULT_GRACE) -> datetime | None | Any:
    """When the subscription's entitlements end: None (no end), a time, or ``UNCHANGED`` while the
    first payment is not through (``incomplete``: the order grants when it is paid)."""
    if sub.status in HOLDING:
        return sub.current_period_end if sub.cancel_at_period_end and sub.current_period_end else None
    if sub.status == "past_due":
        start = sub.current_period_start or sub.state_at or sub.updated_at
        grace_end = start + grace
        if sub.cancel_at_period_end and sub.current_period_end is not None:
            return min(grace_end, sub.current_period_end)
        return grace_end
    if sub.status in ENDED:
        return sub.ended_at or sub.canceled_at or sub.state_at or sub.updated_at
    return UNCHANGED


async def sync_access(ctx: Ctx, sub: Subscription, *, grace: timedelta = DEFAULT_GRACE) -> int:
    """Set ``ends_at`` on the subscription's unrevoked entitlements (``access_ends_at``); tell
    every instance for each contact whose window moved. Answers how many changed."""
    ends = access_ends_at(sub, grace=grace)
    if ends is UNCHANGED:
        return 0
    rows = (await ctx.uow.session.scalars(
        sa.select(Entitlement).where(Entitlement.source == SOURCE, Entitlement.source_id == str(sub.id),
                                     Entitlement.team_id == sub.team_id, Entitlement.revoked_at.is_(None))
        .order_by(Entitlement.id).with_for_update())).all()
    now, changed = ctx.now(), set()
    for e in rows:
        if e.ends_at != ends:
            e.ends_at, e.updated_at = ends, now
            changed.add((e.hub_id, e.contact_id))
    await ctx.uow.session.flush()
    for hub_id, contact_id in sorted(changed):
        facts_changed(ctx.uow, hub_id=hub_id, contact_id=contact_id)
    return len(changed)


def announce(ctx: Ctx, sub: Subscription, *, canceled: bool = False) -> None:
    """``subscription.updated`` (and ``subscription.canceled`` when it just ended) on ``team:{id}``,
    after commit."""
    data = SubscriptionChanged(
        id=str(sub.id), hub_id=str(sub.hub_id), contact_id=str(sub.contact_id), order_id=str(sub.order_id),
        product_id=str(sub.product_id), price_id=str(sub.price_id), provider=sub.provider, status=sub.status,
        cancel_at_period_end=sub.cancel_at_period_end, current_period_end=sub.current_period_end,
        canceled_at=sub.canceled_at, ended_at=sub.ended_at)
    at = ctx.now()
    emit(ctx.uow, team_channel(sub.team_id), "subscription.updated", data, at)
    if canceled:
        emit(ctx.uow, team_channel(sub.team_id), "subscription.canceled", data, at)


def _audit(ctx: Ctx, sub: Subscription, actor: Actor, action: str, data: dict[str, Any],
           *, entry_id: uuid.UUID | None = None, reason: str | None = None) -> uuid.UUID:
    entry_id = entry_id or new_id()
    ctx.uow.session.add(BillingAuditEntry(
        id=entry_id, team_id=sub.team_id, hub_id=sub.hub_id, actor_type=actor.actor_type,
        actor_user_id=actor.user_id, actor_api_key_id=actor.api_key_id, actor_contact_id=actor.contact_id,
        action=action, target_type="subscription", target_id=sub.id, reason=reason,
        data={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}, created_at=ctx.now()))
    return entry_id


# ---- cancel and resume -----------------------------------------------------------------------------------


class SubscriptionCanceled(Conflict):
    code = "subscription_canceled"
    title = "Subscription already canceled"


async def lock(ctx: Ctx, sub: Subscription) -> Subscription:
    """``sub`` again, locked for this transaction and fresh."""
    fresh = await ctx.uow.session.scalar(sa.select(Subscription).where(Subscription.id == sub.id)
                                         .with_for_update().execution_options(populate_existing=True))
    if fresh is None:
        raise NotFound("Subscription not found.")
    return fresh


def _provider_for(sub: Subscription, provider: PaymentProvider | None) -> PaymentProvider | None:
    if sub.provider in LOCAL_PROVIDERS:
        return None
    if provider is None or provider.name != sub.provider or not sub.provider_subscription_id:
        raise PaymentProviderUnavailable(f"The {sub.provider} provider is not configured on this server.",
                                         provider=sub.provider, retry_after=300)
    return provider


def _at(ctx: Ctx, sub: Subscription) -> datetime:
    """The time of a state the provider just answered: now, and never before a state we hold."""
    now = ctx.now().replace(microsecond=0)
    return now if sub.state_at is None else max(now, sub.state_at)


async def cancel_subscription(ctx: Ctx, sub: Subscription, *, at_period_end: bool, actor: Actor,
                              provider: PaymentProvider | None = None, reason: str | None = None,
                              grace: timedelta = DEFAULT_GRACE) -> Subscription:
    """Cancel now, or at the end of the current period (access kept until then). Asking again for
    what is already so changes nothing. Through the provider for a provider's subscription."""
    sub = await lock(ctx, sub)
    if sub.status == "canceled":
        raise SubscriptionCanceled("This subscription is already canceled.")
    if reason is not None and len(reason) > 500:
        raise ValidationFailed("reason is at most 500 characters.", code="invalid_reason", field="reason")
    if at_period_end and sub.cancel_at_period_end:
        return sub
    if at_period_end and sub.current_period_end is None:
        raise ValidationFailed("This subscription has no current period to end with; cancel it now instead.",
                               code="no_current_period", field="at_period_end")
    action = "subscription.cancel_scheduled" if at_period_end else "subscription.canceled"
    entry_id = new_id()
    remote = _provider_for(sub, provider)
    if remote is not None:
        assert sub.provider_subscription_id is not None
        key = f"subscription-{sub.id}-{entry_id}"
        answer = (await remote.set_cancel_at_period_end(sub.provider_subscription_id, True, idempotency_key=key)
                  if at_period_end else
                  await remote.cancel_subscription_now(sub.provider_subscription_id, idempotency_key=key))
        state = SubscriptionState.from_provider(answer)
        if not at_period_end:  # canceled now means access ends now, whatever the provider's clock says
            now = ctx.now()
            state = replace(state, ended_at=min(state.ended_at or now, now),
                            canceled_at=min(state.canceled_at or now, now))
    else:
        now = ctx.now()
        state = SubscriptionState(
            status=sub.status if at_period_end else "canceled", cancel_at_period_end=at_period_end,
            current_period_start=sub.current_period_start, current_period_end=sub.current_period_end,
            canceled_at=now, ended_at=None if at_period_end else now, trial_end=sub.trial_end)
    _audit(ctx, sub, actor, action, {"at_period_end": at_period_end, "provider": sub.provider},
           entry_id=entry_id, reason=reason)
    await apply_state(ctx, sub, state, at=_at(ctx, sub), actor=actor, grace=grace, force=True)
    if at_period_end and remote is None:
        ctx.uow.publish(LAPSE_WAKE, b"wake")
    return sub


async def resume_subscription(ctx: Ctx, sub: Subscription, *, actor: Actor, provider: PaymentProvider | None = None,
                              grace: timedelta = DEFAULT_GRACE) -> Subscription:
    """Undo a cancel at period end, before the period ends. A subscription not set to cancel is
    left as it is."""
    sub = await lock(ctx, sub)
    if sub.status == "canceled":
        raise SubscriptionCanceled("This subscription is canceled; buy again to subscribe.")
    if not sub.cancel_at_period_end:
        return sub
    if sub.current_period_end is not None and sub.current_period_end <= ctx.now():
        raise Conflict("The period this subscription was set to end with is over.", code="subscription_period_over")
    entry_id = new_id()
    remote = _provider_for(sub, provider)
    if remote is not None:
        assert sub.provider_subscription_id is not None
        answer = await remote.set_cancel_at_period_end(sub.provider_subscription_id, False,
                                                       idempotency_key=f"subscription-{sub.id}-{entry_id}")
        state = SubscriptionState.from_provider(answer)
    else:
        state = SubscriptionState(status=sub.status, cancel_at_period_end=False,
                                  current_period_start=sub.current_period_start,
                                  current_period_end=sub.current_period_end, trial_end=sub.trial_end)
    _audit(ctx, sub, actor, "subscription.resumed", {"provider": sub.provider}, entry_id=entry_id)
    await apply_state(ctx, sub, state, at=_at(ctx, sub), actor=actor, grace=grace, force=True)
    return sub


async def end_local_at_period_end(ctx: Ctx, sub: Subscription) -> bool:
    """A ``manual``/``free`` subscription set to cancel whose period is over: canceled, ended at
    its period end (what Stripe's ``customer.subscription.deleted`` does for its own)."""
    if (sub.provider not in LOCAL_PROVIDERS or sub.status == "canceled" or not sub.cancel_at_period_end
            or sub.current_period_end is None or sub.current_period_end > ctx.now()):
        return False
    end = sub.current_period_end
    state = SubscriptionState(status="canceled", cancel_at_period_end=True,
                              current_period_start=sub.current_period_start,
                              current_period_end=end, canceled_at=sub.canceled_at or end, ended_at=end)
    return await apply_state(ctx, sub, state, at=_at(ctx, sub), actor=SYSTEM, force=True)


SYSTEM: Actor = BillingActor.system()
PROVIDER: Actor = BillingActor.provider()


# ---- reading ---------------------------------------------------------------------------------------------


async def list_hub_subscriptions(ctx: Ctx, hub: Hub, page: PageRequest, *, status: str | None = None,
                                 contact_id: str | None = None, product_id: str | None = None) -> Page[Subscription]:
    """A hub's subscriptions, newest first, filtered by ``status``, ``contact_id``, ``product_id``."""
    stmt = sa.select(Subscription).where(Subscription.hub_id == hub.id, Subscription.team_id == hub.team_id)
    if filter_choice(status, "status", STATUSES) is not None:
        stmt = stmt.where(Subscription.status == status)
    for name, value, column in (("contact_id", contact_id, Subscription.contact_id),
                                ("product_id", product_id, Subscription.product_id)):
        if (parsed := filter_id(value, name)) is not None:
            stmt = stmt.where(column == parsed)
    return await paginate(ctx.uow.session, stmt, Subscription.id, page, newest_first=True)


async def list_contact_subscriptions(ctx: Ctx, hub: Hub, contact_id: uuid.UUID,
                                     page: PageRequest) -> Page[Subscription]:
    """The member's own subscriptions in this hub, newest first."""
    stmt = sa.select(Subscription).where(Subscription.hub_id == hub.id, Subscription.contact_id == contact_id)
    return await paginate(ctx.uow.session, stmt, Subscription.id, page, newest_first=True)


async def get_subscription(ctx: Ctx, hub: Hub, subscription_id: uuid.UUID | None, *,
                           contact_id: uuid.UUID | None = None) -> Subscription:
    """One of the hub's subscriptions (only the contact's own when ``contact_id`` is given); 404
    for another hub's, another member's, a malformed id."""
    stmt = sa.select(Subscription).where(Subscription.id == subscription_id, Subscription.hub_id == hub.id,
                                         Subscription.team_id == hub.team_id)
    if contact_id is not None:
        stmt = stmt.where(Subscription.contact_id == contact_id)
    found = None if subscription_id is None else await ctx.uow.session.scalar(stmt)
    if found is None:
        raise NotFound("Subscription not found.")
    return found
