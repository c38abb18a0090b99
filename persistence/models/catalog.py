"""Catalog: what a team sells. Products and their prices (amounts in minor units), what a purchase
delivers (deliverables), what each hub's catalog shows (displays), and coupons (Stripe's names)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence.models.base import Base, id_column
from persistence.types import JSONType


class Product(Base):
    """Something a team sells. Archived (``active`` false) products stay on existing orders and
    subscriptions; a product is only ever soft-deleted."""

    __tablename__ = "products"
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text())
    image_url: Mapped[str | None] = mapped_column(sa.String(2000))
    active: Mapped[bool] = mapped_column(default=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Price(Base):
    """How a product is sold: ``amount`` in the currency's minor units, once or every
    ``interval_count`` × ``interval``. A price that has orders is never deleted, only archived."""

    __tablename__ = "prices"
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    type: Mapped[str] = mapped_column(sa.String(20))  # one_time | recurring
    interval: Mapped[str | None] = mapped_column(sa.String(10))  # day | week | month | year
    interval_count: Mapped[int | None]
    trial_period_days: Mapped[int | None]
    nickname: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class ProductDeliverable(Base):
    """What buying the product delivers: an entitlement of ``type`` on ``target_id`` (a hub, a
    space, a content node, a file) or a tag on the buyer."""

    __tablename__ = "product_deliverables"
    __table_args__ = (sa.UniqueConstraint("product_id", "type", "target_id", name="uq_product_deliverables_target"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(sa.String(30))
    target_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid())
    created_at: Mapped[datetime]


class HubProductDisplay(Base):
    """A product shown in a hub's catalog, at a position, possibly featured."""

    __tablename__ = "hub_product_displays"
    __table_args__ = (sa.UniqueConstraint("hub_id", "product_id", name="uq_hub_product_displays_product"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("hubs.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    featured: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Coupon(Base):
    """A discount: ``percent_off`` (stored in hundredths of a percent) or ``amount_off`` in
    ``currency``, applied ``once``, for ``duration_in_months`` (``repeating``) or ``forever``.
    ``code_key`` is the code lowercased: codes match case-insensitively, one per team.
    ``times_redeemed`` counts redemptions (one per order, released when the order never completes)."""

    __tablename__ = "coupons"
    __table_args__ = (sa.UniqueConstraint("team_id", "code_key", name="uq_coupons_team_code"),)
    id: Mapped[uuid.UUID] = id_column()
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    code_key: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    percent_off_hundredths: Mapped[int | None]
    amount_off: Mapped[int | None] = mapped_column(sa.BigInteger())
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    duration: Mapped[str] = mapped_column(sa.String(20))  # once | repeating | forever
    duration_in_months: Mapped[int | None]
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    redeem_by: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CouponProduct(Base):
    """The products a coupon applies to (none listed: every product of the team)."""

    __tablename__ = "coupon_products"
    coupon_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True,
                                                  index=True)
