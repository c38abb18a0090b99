"""Routes: checkout, orders, payments and refunds (docs/api.md, "Selling"; types in ``schemas.py``).

- ``H/checkout`` (``access: guest``): a member (their token) or a guest (an ``email``) buys a price.
- ``H/me/orders[/{id}]`` (``access: self``): the member's own orders in the hub.
- ``T/hubs/{hub_id}/orders[/{id}]`` (``orders:read``; filters ``status``, ``contact_id``,
  ``product_id``) and ``…/orders/{id}/mark-paid`` (``orders:write``, manual provider).
- ``T/hubs/{hub_id}/payments[/{id}]`` (``billing:read``) and ``…/payments/{id}/refund``
  (``billing:write``; type ``refunds``).
Another team's or hub's ids are 404; every money-changing call is in the billing audit log.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from domain.commerce import orders, refunds
from domain.commerce.audit import BillingActor
from domain.commerce.checkout import start_checkout
from domain.errors import NotFound
from persistence.ids import parse_id
from server.api.commerce.schemas import (
    CheckoutsCreateDocument,
    CheckoutsDocument,
    OrdersDocument,
    OrdersListDocument,
    PaymentsDocument,
    PaymentsListDocument,
    RefundsCreateDocument,
    RefundsDocument,
    checkout_resource,
    order_resource,
    payment_resource,
    refund_resource,
)
from server.deps import Context, Member, OptionalMember, TeamCtx, TeamHub, services_of
from server.jsonapi import jsonapi, parse_list_query
from server.paths import HUB_PATH, TEAM_HUB_PATH


class CheckoutController(Controller):
    path = HUB_PATH + "/checkout"
    tags = ["commerce"]

    @post("/", opt={"access": "guest"}, status_code=201,
          summary="Buy a price: free ones complete at once, manual ones wait for staff, Stripe ones get a session_url")
    async def checkout(self, data: JSONBody[CheckoutsCreateDocument], hub_id: FromPath[str], state: State,
                       optional_member: OptionalMember, ctx: Context) -> Response[CheckoutsDocument]:
        hub = parse_id(hub_id)
        if hub is None:
            raise NotFound("Hub not found.")
        order = await start_checkout(ctx, hub, optional_member, msgspec.structs.asdict(data.data.attributes),
                                     stripe=services_of(state).stripe)
        return jsonapi(CheckoutsDocument(data=checkout_resource(order)), 201)


class MyOrdersController(Controller):
    path = HUB_PATH + "/me/orders"
    tags = ["commerce"]

    @get("/", opt={"access": "self"}, summary="My orders in this hub, newest first")
    async def list_my_orders(self, request: Request[Any, Any, Any], member: Member,
                             ctx: Context) -> Response[OrdersListDocument]:
        q = parse_list_query(request)
        page = await orders.list_member_orders(ctx, hub_id=member.hub_id, contact_id=member.contact_id, page=q.page)
        return jsonapi(OrdersListDocument.page(request, [order_resource(o) for o in page.items], page))

    @get("/{order_id:str}", opt={"access": "self"}, summary="One of my orders")
    async def get_my_order(self, order_id: FromPath[str], member: Member, ctx: Context) -> Response[OrdersDocument]:
        order = await orders.get_member_order(ctx, hub_id=member.hub_id, contact_id=member.contact_id,
                                              order_id=parse_id(order_id))
        return jsonapi(OrdersDocument(data=order_resource(order)))


class HubOrdersController(Controller):
    path = TEAM_HUB_PATH + "/orders"
    tags = ["commerce"]

    @get("/", opt={"scope": "orders:read"},
         summary="The hub's orders, newest first; filter[status], filter[contact_id], filter[product_id]")
    async def list_orders(self, request: Request[Any, Any, Any], ctx: Context, team: TeamCtx,
                          hub: TeamHub) -> Response[OrdersListDocument]:
        q = parse_list_query(request, frozenset({"status", "contact_id", "product_id"}))
        page = await orders.list_hub_orders(ctx, hub, q.page, orders.OrderFilters(
            status=q.filters.get("status"), contact_id=q.filters.get("contact_id"),
            product_id=q.filters.get("product_id")))
        return jsonapi(OrdersListDocument.page(request, [order_resource(o, team_id=team.team_id)
                                                         for o in page.items], page))

    @get("/{order_id:str}", opt={"scope": "orders:read"}, summary="One of the hub's orders")
    async def get_order(self, order_id: FromPath[str], ctx: Context, team: TeamCtx,
                        hub: TeamHub) -> Response[OrdersDocument]:
        order = await orders.get_hub_order(ctx, hub, parse_id(order_id))
        return jsonapi(OrdersDocument(data=order_resource(order, team_id=team.team_id)))

    @post("/{order_id:str}/mark-paid", opt={"scope": "orders:write"}, status_code=200,
          summary="A manual order's money arrived: paid, delivered, audited")
    async def mark_paid(self, order_id: FromPath[str], ctx: Context, team: TeamCtx,
                        hub: TeamHub) -> Response[OrdersDocument]:
        order = await orders.mark_manual_order_paid(ctx, hub, parse_id(order_id), actor=BillingActor.of_team(team))
        return jsonapi(OrdersDocument(data=order_resource(order, team_id=team.team_id)))


class HubPaymentsController(Controller):
    path = TEAM_HUB_PATH + "/payments"
    tags = ["commerce"]

    @get("/", opt={"scope": "billing:read"},
         summary="The hub's payments, newest first; filter[status], filter[order_id], filter[contact_id]")
    async def list_payments(self, request: Request[Any, Any, Any], ctx: Context, team: TeamCtx,
                            hub: TeamHub) -> Response[PaymentsListDocument]:
        q = parse_list_query(request, frozenset({"status", "order_id", "contact_id"}))
        page = await refunds.list_hub_payments(ctx, hub, q.page, status=q.filters.get("status"),
                                               order_id=q.filters.get("order_id"),
                                               contact_id=q.filters.get("contact_id"))
        return jsonapi(PaymentsListDocument.page(request, [payment_resource(team.team_id, p)
                                                           for p in page.items], page))

    @get("/{payment_id:str}", opt={"scope": "billing:read"}, summary="One of the hub's payments")
    async def get_payment(self, payment_id: FromPath[str], ctx: Context, team: TeamCtx,
                          hub: TeamHub) -> Response[PaymentsDocument]:
        payment = await refunds.get_hub_payment(ctx, hub, parse_id(payment_id))
        return jsonapi(PaymentsDocument(data=payment_resource(team.team_id, payment)))

    @post("/{payment_id:str}/refund", opt={"scope": "billing:write"}, status_code=201,
          summary="Refund all or part of a payment, with a reason (through Stripe for Stripe payments)")
    async def refund(self, payment_id: FromPath[str], data: JSONBody[RefundsCreateDocument], state: State,
                     ctx: Context, team: TeamCtx, hub: TeamHub) -> Response[RefundsDocument]:
        attrs = data.data.attributes
        refund = await refunds.refund_payment(ctx, hub, parse_id(payment_id), reason=attrs.reason,
                                              amount=attrs.amount, actor=BillingActor.of_team(team),
                                              provider=services_of(state).stripe)
        return jsonapi(RefundsDocument(data=refund_resource(team.team_id, refund)), 201)


ROUTES: list[Any] = [CheckoutController, MyOrdersController, HubOrdersController, HubPaymentsController]
