"""Routes: the catalog (docs/api.md, "Catalog"; JSON:API types in ``schemas.py``).

Team side, scopes ``catalog:read`` / ``catalog:write`` (owners, admins and staff; API keys given
them): products (``T/products``), their prices and deliverables, what each hub shows
(``T/hubs/{hub_id}/products``) and coupons (``T/coupons``). Another team's ids, deleted rows and
malformed ids are 404. Member side: ``H/catalog``, what the member may buy in the hub
(``access: self``: a hub gated behind a purchase must still show what to buy).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.catalog import coupons, deliverables, displays, prices, products, storefront
from domain.errors import DomainError
from domain.filters import filter_id, parse_bool_filter
from persistence.ids import parse_id
from server.api.catalog.schemas import (
    CatalogProductsListDocument,
    CouponProductsUpdateDocument,
    CouponsCreateDocument,
    CouponsDocument,
    CouponsListDocument,
    CouponsUpdateDocument,
    HubProductDisplaysCreateDocument,
    HubProductDisplaysDocument,
    HubProductDisplaysListDocument,
    HubProductDisplaysUpdateDocument,
    PricesCreateDocument,
    PricesDocument,
    PricesListDocument,
    PricesUpdateDocument,
    ProductDeliverablesCreateDocument,
    ProductDeliverablesDocument,
    ProductDeliverablesListDocument,
    ProductsCreateDocument,
    ProductsDocument,
    ProductsListDocument,
    ProductsUpdateDocument,
    catalog_resource,
    coupon_resource,
    deliverable_resource,
    display_resource,
    price_resource,
    product_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub
from server.jsonapi import check_document_id, jsonapi, parse_list_query, present
from server.paths import HUB_PATH, TEAM_HUB_PATH, TEAM_PATH

READ, WRITE = {"scope": "catalog:read"}, {"scope": "catalog:write"}


def _created(document: Any) -> Response[Any]:
    return jsonapi(document, 201, headers={"Location": document.data.links.self})


class ProductsController(Controller):
    """``T/products``: what the team sells."""

    path = TEAM_PATH + "/products"
    tags = ["catalog"]

    @get("/", opt=READ, summary="List the team's products (filter[active])")
    async def list_products(self, request: Request[Any, Any, Any], team: TeamCtx,
                            ctx: Context) -> Response[ProductsListDocument]:
        q = parse_list_query(request, frozenset({"active"}))
        page = await products.list_products(ctx, team, q.page, active=parse_bool_filter(q.filters, "active"))
        return jsonapi(ProductsListDocument.page(request, [product_resource(p) for p in page.items], page))

    @post("/", opt=WRITE, summary="Create a product")
    async def create_product(self, data: JSONBody[ProductsCreateDocument], team: TeamCtx,
                             ctx: Context) -> Response[ProductsDocument]:
        product = await products.create_product(ctx, team, msgspec.structs.asdict(data.data.attributes))
        return _created(ProductsDocument(data=product_resource(product)))

    @get("/{product_id:str}", opt=READ, summary="Read a product")
    async def get_product(self, product_id: FromPath[str], team: TeamCtx, ctx: Context) -> Response[ProductsDocument]:
        product = await products.get_product(ctx, team, parse_id(product_id))
        return jsonapi(ProductsDocument(data=product_resource(product)))

    @patch("/{product_id:str}", opt=WRITE, summary="Update a product (archive it with active: false)")
    async def update_product(self, product_id: FromPath[str], data: JSONBody[ProductsUpdateDocument], team: TeamCtx,
                             ctx: Context) -> Response[ProductsDocument]:
        check_document_id(data.data.id, product_id)
        product = await products.get_product(ctx, team, parse_id(product_id))
        product = await products.update_product(ctx, team, product, present(data.data.attributes))
        return jsonapi(ProductsDocument(data=product_resource(product)))

    @delete("/{product_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a product (soft delete; 409 product_in_use once it has orders)")
    async def delete_product(self, product_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await products.delete_product(ctx, team, await products.get_product(ctx, team, parse_id(product_id)))


class PricesController(Controller):
    """``T/products/{product_id}/prices``: how a product is sold."""

    path = TEAM_PATH + "/products/{product_id:str}/prices"
    tags = ["catalog"]

    @get("/", opt=READ, summary="List the product's prices (filter[active], filter[type])")
    async def list_prices(self, request: Request[Any, Any, Any], product_id: FromPath[str], team: TeamCtx,
                          ctx: Context) -> Response[PricesListDocument]:
        q = parse_list_query(request, frozenset({"active", "type"}))
        product = await products.get_product(ctx, team, parse_id(product_id))
        page = await prices.list_prices(ctx, team, product, q.page, active=parse_bool_filter(q.filters, "active"),
                                        type=q.filters.get("type"))
        return jsonapi(PricesListDocument.page(request, [price_resource(p) for p in page.items], page))

    @post("/", opt=WRITE, summary="Create a price")
    async def create_price(self, product_id: FromPath[str], data: JSONBody[PricesCreateDocument], team: TeamCtx,
                           ctx: Context) -> Response[PricesDocument]:
        product = await products.get_product(ctx, team, parse_id(product_id))
        price = await prices.create_price(ctx, team, product, msgspec.structs.asdict(data.data.attributes))
        return _created(PricesDocument(data=price_resource(price)))

    @get("/{price_id:str}", opt=READ, summary="Read a price")
    async def get_price(self, product_id: FromPath[str], price_id: FromPath[str], team: TeamCtx,
                        ctx: Context) -> Response[PricesDocument]:
        product = await products.get_product(ctx, team, parse_id(product_id))
        price = await prices.get_price(ctx, team, product, parse_id(price_id))
        return jsonapi(PricesDocument(data=price_resource(price)))

    @patch("/{price_id:str}", opt=WRITE,
           summary="Update a price: active, nickname, trial_period_days (what it charges never changes)")
    async def update_price(self, product_id: FromPath[str], price_id: FromPath[str],
                           data: JSONBody[PricesUpdateDocument], team: TeamCtx, ctx: Context) -> Response[PricesDocument]:
        check_document_id(data.data.id, price_id)
        product = await products.get_product(ctx, team, parse_id(product_id))
        price = await prices.get_price(ctx, team, product, parse_id(price_id))
        price = await prices.update_price(ctx, team, price, present(data.data.attributes))
        return jsonapi(PricesDocument(data=price_resource(price)))

    @delete("/{price_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a price (soft delete; 409 price_in_use once it has orders)")
    async def delete_price(self, product_id: FromPath[str], price_id: FromPath[str], team: TeamCtx,
                           ctx: Context) -> None:
        product = await products.get_product(ctx, team, parse_id(product_id))
        await prices.delete_price(ctx, team, await prices.get_price(ctx, team, product, parse_id(price_id)))


class DeliverablesController(Controller):
    """``T/products/{product_id}/deliverables``: what buying the product delivers."""

    path = TEAM_PATH + "/products/{product_id:str}/deliverables"
    tags = ["catalog"]

    @get("/", opt=READ, summary="List what the product delivers (filter[type])")
    async def list_deliverables(self, request: Request[Any, Any, Any], product_id: FromPath[str], team: TeamCtx,
                                ctx: Context) -> Response[ProductDeliverablesListDocument]:
        q = parse_list_query(request, frozenset({"type"}))
        product = await products.get_product(ctx, team, parse_id(product_id))
        page = await deliverables.list_deliverables(ctx, team, product, q.page, type=q.filters.get("type"))
        return jsonapi(ProductDeliverablesListDocument.page(request, [deliverable_resource(d) for d in page.items],
                                                            page))

    @post("/", opt=WRITE, summary="Add a deliverable (its target checked against the team's data)")
    async def add_deliverable(self, product_id: FromPath[str], data: JSONBody[ProductDeliverablesCreateDocument],
                              team: TeamCtx, ctx: Context) -> Response[ProductDeliverablesDocument]:
        product = await products.get_product(ctx, team, parse_id(product_id))
        row = await deliverables.add_deliverable(ctx, team, product, msgspec.structs.asdict(data.data.attributes))
        return _created(ProductDeliverablesDocument(data=deliverable_resource(row)))

    @get("/{deliverable_id:str}", opt=READ, summary="Read a deliverable")
    async def get_deliverable(self, product_id: FromPath[str], deliverable_id: FromPath[str], team: TeamCtx,
                              ctx: Context) -> Response[ProductDeliverablesDocument]:
        product = await products.get_product(ctx, team, parse_id(product_id))
        row = await deliverables.get_deliverable(ctx, team, product, parse_id(deliverable_id))
        return jsonapi(ProductDeliverablesDocument(data=deliverable_resource(row)))

    @delete("/{deliverable_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Remove a deliverable (past buyers keep what they got)")
    async def remove_deliverable(self, product_id: FromPath[str], deliverable_id: FromPath[str], team: TeamCtx,
                                 ctx: Context) -> None:
        product = await products.get_product(ctx, team, parse_id(product_id))
        row = await deliverables.get_deliverable(ctx, team, product, parse_id(deliverable_id))
        await deliverables.remove_deliverable(ctx, team, row)


class HubProductsController(Controller):
    """``T/hubs/{hub_id}/products``: what the hub's catalog shows, in what order."""

    path = TEAM_HUB_PATH + "/products"
    tags = ["catalog"]

    @get("/", opt=READ, summary="List the hub's product displays in catalog order (filter[product_id], filter[featured])")
    async def list_displays(self, request: Request[Any, Any, Any], team: TeamCtx, hub: TeamHub,
                            ctx: Context) -> Response[HubProductDisplaysListDocument]:
        q = parse_list_query(request, frozenset({"product_id", "featured"}), own_cursor=True)
        product_id = filter_id(q.filters.get("product_id"), "product_id")
        page = await displays.list_displays(ctx, team, hub, q.page, q.after, product_id=product_id,
                                            featured=parse_bool_filter(q.filters, "featured"))
        return jsonapi(HubProductDisplaysListDocument.page(request, [display_resource(d) for d in page.items], page))

    @post("/", opt=WRITE, summary="Show a product in the hub's catalog")
    async def create_display(self, data: JSONBody[HubProductDisplaysCreateDocument], team: TeamCtx, hub: TeamHub,
                             ctx: Context) -> Response[HubProductDisplaysDocument]:
        row = await displays.create_display(ctx, team, hub, msgspec.structs.asdict(data.data.attributes))
        return _created(HubProductDisplaysDocument(data=display_resource(row)))

    @get("/{display_id:str}", opt=READ, summary="Read a product display")
    async def get_display(self, display_id: FromPath[str], team: TeamCtx, hub: TeamHub,
                          ctx: Context) -> Response[HubProductDisplaysDocument]:
        row = await displays.get_display(ctx, team, hub, parse_id(display_id))
        return jsonapi(HubProductDisplaysDocument(data=display_resource(row)))

    @patch("/{display_id:str}", opt=WRITE, summary="Move or (un)feature a product display")
    async def update_display(self, display_id: FromPath[str], data: JSONBody[HubProductDisplaysUpdateDocument],
                             team: TeamCtx, hub: TeamHub, ctx: Context) -> Response[HubProductDisplaysDocument]:
        check_document_id(data.data.id, display_id)
        row = await displays.get_display(ctx, team, hub, parse_id(display_id))
        row = await displays.update_display(ctx, team, row, present(data.data.attributes))
        return jsonapi(HubProductDisplaysDocument(data=display_resource(row)))

    @delete("/{display_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Take a product out of the hub's catalog")
    async def delete_display(self, display_id: FromPath[str], team: TeamCtx, hub: TeamHub, ctx: Context) -> None:
        await displays.delete_display(ctx, team, await displays.get_display(ctx, team, hub, parse_id(display_id)))


class CouponsController(Controller):
    """``T/coupons``: discounts, and the products each applies to."""

    path = TEAM_PATH + "/coupons"
    tags = ["catalog"]

    @get("/", opt=READ, summary="List the team's coupons (filter[active], filter[code] in any case)")
    async def list_coupons(self, request: Request[Any, Any, Any], team: TeamCtx,
                           ctx: Context) -> Response[CouponsListDocument]:
        q = parse_list_query(request, frozenset({"active", "code"}))
        page = await coupons.list_coupons(ctx, team, q.page, active=parse_bool_filter(q.filters, "active"),
                                          code=q.filters.get("code"))
        return jsonapi(CouponsListDocument.page(request, [coupon_resource(c) for c in page.items], page))

    @post("/", opt=WRITE, summary="Create a coupon (409 duplicate_code: codes ignore case)")
    async def create_coupon(self, data: JSONBody[CouponsCreateDocument], team: TeamCtx,
                            ctx: Context) -> Response[CouponsDocument]:
        view = await coupons.create_coupon(ctx, team, msgspec.structs.asdict(data.data.attributes))
        return _created(CouponsDocument(data=coupon_resource(view)))

    @get("/{coupon_id:str}", opt=READ, summary="Read a coupon")
    async def get_coupon(self, coupon_id: FromPath[str], team: TeamCtx, ctx: Context) -> Response[CouponsDocument]:
        return jsonapi(CouponsDocument(data=coupon_resource(await coupons.get_coupon(ctx, team, parse_id(coupon_id)))))

    @patch("/{coupon_id:str}", opt=WRITE, summary="Update a coupon (its discount never changes)")
    async def update_coupon(self, coupon_id: FromPath[str], data: JSONBody[CouponsUpdateDocument], team: TeamCtx,
                            ctx: Context) -> Response[CouponsDocument]:
        check_document_id(data.data.id, coupon_id)
        coupon = await coupons.find_coupon(ctx, team, parse_id(coupon_id))
        view = await coupons.update_coupon(ctx, team, coupon, present(data.data.attributes))
        return jsonapi(CouponsDocument(data=coupon_resource(view)))

    @delete("/{coupon_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a coupon (orders keep the code they used)")
    async def delete_coupon(self, coupon_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await coupons.delete_coupon(ctx, team, await coupons.find_coupon(ctx, team, parse_id(coupon_id)))

    @get("/{coupon_id:str}/products", opt=READ, summary="The products the coupon applies to (none: every product)")
    async def list_coupon_products(self, request: Request[Any, Any, Any], coupon_id: FromPath[str], team: TeamCtx,
                                   ctx: Context) -> Response[ProductsListDocument]:
        q = parse_list_query(request, allowed_filters=None)
        coupon = await coupons.find_coupon(ctx, team, parse_id(coupon_id))
        page = await coupons.list_coupon_products(ctx, team, coupon, q.page)
        return jsonapi(ProductsListDocument.page(request, [product_resource(p) for p in page.items], page))

    @put("/{coupon_id:str}/products", opt=WRITE,
         summary="Set the products the coupon applies to (resource identifiers; [] for every product)")
    async def set_coupon_products(self, coupon_id: FromPath[str], data: JSONBody[CouponProductsUpdateDocument],
                                  team: TeamCtx, ctx: Context) -> Response[CouponsDocument]:
        coupon = await coupons.find_coupon(ctx, team, parse_id(coupon_id))
        try:
            view = await coupons.set_coupon_products(ctx, team, coupon, [link.id for link in data.data])
        except DomainError as exc:  # the domain names product_ids[i]; in this body that is /data/i/id
            if exc.field and exc.field[0] == "product_ids":
                exc.pointer = "/data" + (f"/{exc.field[1]}/id" if len(exc.field) > 1 else "")
            raise
        return jsonapi(CouponsDocument(data=coupon_resource(view)))


class CatalogController(Controller):
    """``H/catalog``: what the member may buy in the hub (domain/catalog/storefront.py)."""

    path = HUB_PATH + "/catalog"
    tags = ["catalog"]

    @get("/", opt={"access": "self"}, summary="The products on offer to me in this hub, with their active prices")
    async def catalog(self, request: Request[Any, Any, Any], member: Member,
                      ctx: Context) -> Response[CatalogProductsListDocument]:
        q = parse_list_query(request, allowed_filters=None, own_cursor=True)
        page = await storefront.member_catalog(ctx, member, q.page, q.after)
        return jsonapi(CatalogProductsListDocument.page(request, [catalog_resource(e) for e in page.items], page))


ROUTES: list[Any] = [
    ProductsController, PricesController, DeliverablesController, HubProductsController, CouponsController,
    CatalogController,
]
