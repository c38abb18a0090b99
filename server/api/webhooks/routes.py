"""Routes: payment-provider webhooks (docs/api.md, "Payment webhooks").

- ``POST /api/v1/webhooks/stripe``: Stripe's deliveries. Neither a team route nor a member route:
  the caller proves itself with ``Stripe-Signature``, and the route says so with
  ``opt={"auth": "stripe_signature"}``, which ``create_app`` checks at startup for every route under
  ``/api/v1/webhooks``. The signature is verified on the raw body (server/integrations/stripe.py).
  The event is then stored once, and the answer is 200 ``{"received": true}``. Applying it is the
  worker's job (server/jobs.py). Without ``HUBWIRE_STRIPE_WEBHOOK_SECRET`` the route answers 404.
- ``T/hubs/{hub_id}/payment-webhooks[/{id}]`` (``billing:read``) and ``…/{id}/replay``
  (``billing:write``): the events matched to the hub's orders, and a replay.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from domain.commerce import provider_events
from domain.errors import NotFound
from persistence.ids import parse_id
from server.api.webhooks.schemas import (
    PaymentWebhookEventsDocument,
    PaymentWebhookEventsListDocument,
    WebhookReceipt,
    event_resource,
)
from server.deps import Context, TeamCtx, TeamHub, services_of
from server.integrations import stripe as stripe_integration
from server.jsonapi import jsonapi, parse_list_query
from server.paths import TEAM_HUB_PATH, WEBHOOKS_PATH

# How each kind of webhook route authenticates its caller (create_app refuses any other).
WEBHOOK_AUTH = frozenset({"stripe_signature"})


class StripeWebhookController(Controller):
    path = WEBHOOKS_PATH
    tags = ["billing: payment webhooks"]

    @post("/stripe", opt={"auth": "stripe_signature"}, status_code=200, security=[],
          summary="Receive a Stripe event: Stripe-Signature verified on the raw body, stored once, answered at once")
    async def receive_stripe_event(self, request: Request[Any, Any, Any], state: State,
                                   ctx: Context) -> Response[WebhookReceipt]:
        secret = services_of(state).settings.stripe_webhook_secret
        if not secret:
            raise NotFound("Stripe webhooks are not configured on this server.")
        event = stripe_integration.verify_webhook(await request.body(), request.headers.get("stripe-signature"),
                                                  secret)
        await provider_events.record_provider_event(ctx, event)
        return Response(WebhookReceipt(received=True), status_code=200)


class PaymentWebhooksController(Controller):
    path = TEAM_HUB_PATH + "/payment-webhooks"
    tags = ["billing: payment webhooks"]

    @get("/", opt={"scope": "billing:read"},
         summary="Provider events matched to this hub's orders, newest first; filter[type], filter[status]")
    async def list_payment_webhooks(self, request: Request[Any, Any, Any], ctx: Context, team: TeamCtx,
                                    hub: TeamHub) -> Response[PaymentWebhookEventsListDocument]:
        q = parse_list_query(request, frozenset({"type", "status"}))
        page = await provider_events.list_provider_events(ctx, team, hub, q.page, type=q.filters.get("type"),
                                                          status=q.filters.get("status"))
        return jsonapi(PaymentWebhookEventsListDocument.page(
            request, [event_resource(team.team_id, row) for row in page.items], page))

    @get("/{event_id:str}", opt={"scope": "billing:read"}, summary="One provider event, with its raw payload")
    async def get_payment_webhook(self, event_id: FromPath[str], ctx: Context, team: TeamCtx,
                                  hub: TeamHub) -> Response[PaymentWebhookEventsDocument]:
        row = await provider_events.get_provider_event(ctx, team, hub, parse_id(event_id))
        return jsonapi(PaymentWebhookEventsDocument(data=event_resource(team.team_id, row)))

    @post("/{event_id:str}/replay", opt={"scope": "billing:write"}, status_code=200,
          summary="Apply the event again (its handlers are idempotent: an applied event changes nothing more)")
    async def replay_payment_webhook(self, event_id: FromPath[str], ctx: Context, team: TeamCtx,
                                     hub: TeamHub) -> Response[PaymentWebhookEventsDocument]:
        row = await provider_events.replay_provider_event(ctx, team, hub, parse_id(event_id))
        return jsonapi(PaymentWebhookEventsDocument(data=event_resource(team.team_id, row)))


ROUTES: list[Any] = [StripeWebhookController, PaymentWebhooksController]
