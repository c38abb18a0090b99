"""The catalog's JSON:API types: ``products``, ``prices``, ``product_deliverables``,
``hub_product_displays`` and ``coupons`` (team side), and the member side's ``products`` with their
prices (``H/catalog``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from domain.catalog.coupons import CouponView
from domain.catalog.storefront import CatalogEntry
from persistence.models import HubProductDisplay, Price, Product, ProductDeliverable
from server.jsonapi import CreateData, Document, Inbound, ListDocument, Resource, UpdateData

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


def _team(team_id: uuid.UUID | str) -> str:
    return f"/api/v1/teams/{team_id}"


# ---- products ------------------------------------------------------------------------------------


class ProductAttributes(msgspec.Struct, kw_only=True):
    name: str
    description: str | None
    image_url: str | None
    active: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ProductCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    description: str | None = None
    image_url: str | None = None
    active: bool = True
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ProductUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | Unset = UNSET
    description: str | None | Unset = UNSET
    image_url: str | None | Unset = UNSET
    active: bool | Unset = UNSET
    metadata: dict[str, Any] | Unset = UNSET


class ProductsResource(Resource):
    type: Literal["products"]
    attributes: ProductAttributes


class ProductsDocument(Document):
    data: ProductsResource


class ProductsListDocument(ListDocument):
    data: list[ProductsResource]


class ProductsCreateData(CreateData):
    type: Literal["products"]
    attributes: ProductCreate


class ProductsCreateDocument(Inbound):
    data: ProductsCreateData


class ProductsUpdateData(UpdateData):
    type: Literal["products"]
    attributes: ProductUpdate


class ProductsUpdateDocument(Inbound):
    data: ProductsUpdateData


def product_resource(p: Product) -> ProductsResource:
    return ProductsResource.of(p.id, ProductAttributes(
        name=p.name, description=p.description, image_url=p.image_url, active=p.active, metadata=p.meta,
        created_at=p.created_at, updated_at=p.updated_at), self_link=f"{_team(p.team_id)}/products/{p.id}")


# ---- prices ----------------------------------------------------------------------------------------


class PriceAttributes(msgspec.Struct, kw_only=True):
    product_id: str
    amount: int
    currency: str
    type: str
    interval: str | None
    interval_count: int | None
    trial_period_days: int | None
    nickname: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class PriceCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: int
    currency: str
    type: str = "one_time"
    interval: str | None = None
    interval_count: int | None = None
    trial_period_days: int | None = None
    nickname: str | None = None
    active: bool = True


class PriceUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # amount, currency, type, interval and interval_count never change: accepted only with the
    # price's current value (a client may send back what it read), 422 price_immutable otherwise.
    amount: int | Unset = UNSET
    currency: str | Unset = UNSET
    type: str | Unset = UNSET
    interval: str | None | Unset = UNSET
    interval_count: int | None | Unset = UNSET
    trial_period_days: int | None | Unset = UNSET
    nickname: str | None | Unset = UNSET
    active: bool | Unset = UNSET


class PricesResource(Resource):
    type: Literal["prices"]
    attributes: PriceAttributes


class PricesDocument(Document):
    data: PricesResource


class PricesListDocument(ListDocument):
    data: list[PricesResource]


class PricesCreateData(CreateData):
    type: Literal["prices"]
    attributes: PriceCreate


class PricesCreateDocument(Inbound):
    data: PricesCreateData


class PricesUpdateData(UpdateData):
    type: Literal["prices"]
    attributes: PriceUpdate


class PricesUpdateDocument(Inbound):
    data: PricesUpdateData


def price_resource(p: Price) -> PricesResource:
    return PricesResource.of(p.id, PriceAttributes(
        product_id=str(p.product_id), amount=p.amount, currency=p.currency, type=p.type, interval=p.interval,
        interval_count=p.interval_count, trial_period_days=p.trial_period_days, nickname=p.nickname,
        active=p.active, created_at=p.created_at, updated_at=p.updated_at),
        self_link=f"{_team(p.team_id)}/products/{p.product_id}/prices/{p.id}")


# ---- deliverables ----------------------------------------------------------------------------------


class DeliverableAttributes(msgspec.Struct, kw_only=True):
    product_id: str
    type: str
    target_id: str | None
    created_at: datetime


class DeliverableCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: str
    target_id: str


class ProductDeliverablesResource(Resource):
    type: Literal["product_deliverables"]
    attributes: DeliverableAttributes


class ProductDeliverablesDocument(Document):
    data: ProductDeliverablesResource


class ProductDeliverablesListDocument(ListDocument):
    data: list[ProductDeliverablesResource]


class ProductDeliverablesCreateData(CreateData):
    type: Literal["product_deliverables"]
    attributes: DeliverableCreate


class ProductDeliverablesCreateDocument(Inbound):
    data: ProductDeliverablesCreateData


def deliverable_resource(d: ProductDeliverable) -> ProductDeliverablesResource:
    return ProductDeliverablesResource.of(d.id, DeliverableAttributes(
        product_id=str(d.product_id), type=d.type, target_id=str(d.target_id) if d.target_id else None,
        created_at=d.created_at), self_link=f"{_team(d.team_id)}/products/{d.product_id}/deliverables/{d.id}")


# ---- hub product displays ----------------------------------------------------------------------------


class DisplayAttributes(msgspec.Struct, kw_only=True):
    hub_id: str
    product_id: str
    position: int
    featured: bool
    created_at: datetime
    updated_at: datetime


class DisplayCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    product_id: str
    position: int = 0
    featured: bool = False


class DisplayUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    position: int | Unset = UNSET
    featured: bool | Unset = UNSET


class HubProductDisplaysResource(Resource):
    type: Literal["hub_product_displays"]
    attributes: DisplayAttributes


class HubProductDisplaysDocument(Document):
    data: HubProductDisplaysResource


class HubProductDisplaysListDocument(ListDocument):
    data: list[HubProductDisplaysResource]


class HubProductDisplaysCreateData(CreateData):
    type: Literal["hub_product_displays"]
    attributes: DisplayCreate


class HubProductDisplaysCreateDocument(Inbound):
    data: HubProductDisplaysCreateData


class HubProductDisplaysUpdateData(UpdateData):
    type: Literal["hub_product_displays"]
    attributes: DisplayUpdate


class HubProductDisplaysUpdateDocument(Inbound):
    data: HubProductDisplaysUpdateData


def display_resource(d: HubProductDisplay) -> HubProductDisplaysResource:
    return HubProductDisplaysResource.of(d.id, DisplayAttributes(
        hub_id=str(d.hub_id), product_id=str(d.product_id), position=d.position, featured=d.featured,
        created_at=d.created_at, updated_at=d.updated_at), self_link=f"{_team(d.team_id)}/hubs/{d.hub_id}/products/{d.id}")


# ---- coupons -------------------------------------------------------------------------------------------


class CouponAttributes(msgspec.Struct, kw_only=True):
    code: str
    name: str | None
    percent_off: float | None
    amount_off: int | None
    currency: str | None
    duration: str
    duration_in_months: int | None
    max_redemptions: int | None
    times_redeemed: int
    redeem_by: datetime | None
    product_ids: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class CouponCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: str
    name: str | None = None
    percent_off: float | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration: str = "once"
    duration_in_months: int | None = None
    max_redemptions: int | None = None
    redeem_by: datetime | None = None
    product_ids: list[str] = msgspec.field(default_factory=list)
    active: bool = True


class CouponUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: str | Unset = UNSET
    name: str | None | Unset = UNSET
    # the discount never changes: accepted only with its current value (422 coupon_immutable)
    percent_off: float | None | Unset = UNSET
    amount_off: int | None | Unset = UNSET
    currency: str | None | Unset = UNSET
    duration: str | Unset = UNSET
    duration_in_months: int | None | Unset = UNSET
    max_redemptions: int | None | Unset = UNSET
    redeem_by: datetime | None | Unset = UNSET
    product_ids: list[str] | Unset = UNSET
    active: bool | Unset = UNSET


class CouponsResource(Resource):
    type: Literal["coupons"]
    attributes: CouponAttributes


class CouponsDocument(Document):
    data: CouponsResource


class CouponsListDocument(ListDocument):
    data: list[CouponsResource]


class CouponsCreateData(CreateData):
    type: Literal["coupons"]
    attributes: CouponCreate


class CouponsCreateDocument(Inbound):
    data: CouponsCreateData


class CouponsUpdateData(UpdateData):
    type: Literal["coupons"]
    attributes: CouponUpdate


class CouponsUpdateDocument(Inbound):
    data: CouponsUpdateData


class ProductLinkage(msgspec.Struct, forbid_unknown_fields=True):
    """A resource identifier: ``{"type": "products", "id": ...}``."""

    type: Literal["products"]
    id: str


class CouponProductsUpdateDocument(Inbound):
    """``PUT T/coupons/{id}/products``: the products the coupon applies to, as resource
    identifiers (an empty list: every product)."""

    data: list[ProductLinkage]


def coupon_resource(v: CouponView) -> CouponsResource:
    c = v.coupon
    return CouponsResource.of(c.id, CouponAttributes(
        code=c.code, name=c.name, percent_off=v.percent_off, amount_off=c.amount_off, currency=c.currency,
        duration=c.duration, duration_in_months=c.duration_in_months, max_redemptions=c.max_redemptions,
        times_redeemed=c.times_redeemed, redeem_by=c.redeem_by, product_ids=[str(p) for p in v.product_ids],
        active=c.active, created_at=c.created_at, updated_at=c.updated_at),
        self_link=f"{_team(c.team_id)}/coupons/{c.id}")


# ---- the member side: H/catalog -------------------------------------------------------------------------


class CatalogPrice(msgspec.Struct, kw_only=True):
    """A price on offer: what ``H/checkout`` takes as ``price_id``."""

    id: str
    amount: int
    currency: str
    type: str
    interval: str | None
    interval_count: int | None
    trial_period_days: int | None
    nickname: str | None


class CatalogProductAttributes(msgspec.Struct, kw_only=True):
    name: str
    description: str | None
    image_url: str | None
    featured: bool
    position: int
    prices: list[CatalogPrice]


class CatalogProductsResource(Resource):
    type: Literal["products"]
    attributes: CatalogProductAttributes


class CatalogProductsListDocument(ListDocument):
    data: list[CatalogProductsResource]


def catalog_resource(e: CatalogEntry) -> CatalogProductsResource:
    p = e.product
    return CatalogProductsResource.of(p.id, CatalogProductAttributes(
        name=p.name, description=p.description, image_url=p.image_url, featured=e.display.featured,
        position=e.display.position, prices=[CatalogPrice(
            id=str(x.id), amount=x.amount, currency=x.currency, type=x.type, interval=x.interval,
            interval_count=x.interval_count, trial_period_days=x.trial_period_days, nickname=x.nickname)
            for x in e.prices]))
