"""Routes: subscriptions (docs/api.md, "Subscriptions and Stripe webhooks").

- Member side (``access: self``, so a member whose access lapsed can still see and fix their
  billing): ``H/me/subscriptions[/{id}]``, ``POST H/me/subscriptions/{id}/cancel`` (at the end of
  the current period; access is kept until then) and ``POST …/resume`` (undo, before the period ends).
- Staff side: ``T/hubs/{hub_id}/subscriptions[/{id}]`` (``billing:read``; ``filter[status]``,
  ``filter[contact_id]``, ``filter[product_id]``), ``POST …/{id}/cancel`` (``billing:write``, type
  ``subscription_cancellations`` ``{at_period_end, reason?}``) and ``POST …/{id}/resume``.

A Stripe subscription is changed at Stripe first (the ``stripe`` provider of ``Services``); without
it configured, the answer is 503 ``payment_provider_unavailable`` and nothing changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from domain.commerce import subscriptions
from domain.commerce.audit import BillingActor
from persistence.ids import parse_id
from persistence.models import Hub, Subscription
from server.api.commerce.subscriptions_schemas import (
    SubscriptionCancellationsDocument,
    SubscriptionsDocument,
    SubscriptionsListDocument,
    subscription_resource,
)
from server.deps import Context, Member, TeamCtx, TeamHub, services_of
from server.jsonapi import jsonapi, parse_list_query
from server.paths import HUB_PATH, TEAM_HUB_PATH


def _grace(state: State) -> timedelta:
    return timedelta(seconds=services_of(state).settings.past_due_grace_seconds)


def _team_link(team_id: Any, sub: Subscription) -> str:
    return f"/api/v1/teams/{team_id}/hubs/{sub.hub_id}/subscriptions/{sub.id}"


def _member_link(sub: Subscription) -> str:
    return f"/api/v1/hub/{sub.hub_id}/me/subscriptions/{sub.id}"


class MemberSubscriptionsController(Controller):
    path = HUB_PATH + "/me/subscriptions"
    tags = ["billing: subscriptions"]

    async def _hub(self, ctx: Any, member: Any) -> Hub:
        hub = await ctx.uow.session.get(Hub, member.hub_id)
        assert hub is not None  # the member token was checked against it
        return hub  # type: ignore[no-any-return]

    @get("/", opt={"access": "self"}, summary="My subscriptions in this hub, newest first")
    async def list_my_subscriptions(self, request: Request[Any, Any, Any], state: State, member: Member,
                                    ctx: Context) -> Response[SubscriptionsListDocument]:
        q = parse_list_query(request, allowed_filters=None)
        page = await subscriptions.list_contact_subscriptions(ctx, await self._hub(ctx, member), member.contact_id,
                                                             q.page)
        grace = _grace(state)
        return jsonapi(SubscriptionsListDocument.page(
            request, [subscription_resource(s, _member_link(s), grace=grace) for s in page.items], page))

    @get("/{subscription_id:str}", opt={"access": "self"}, summary="One of my subscriptions")
    async def get_my_subscription(self, subscription_id: FromPath[str], state: State, member: Member,
                                  ctx: Context) -> Response[SubscriptionsDocument]:
        sub = await subscriptions.get_subscription(ctx, await self._hub(ctx, member), parse_id(subscription_id),
                                                   contact_id=member.contact_id)
        return jsonapi(SubscriptionsDocument(data=subscription_resource(sub, _member_link(sub), grace=_grace(state))))

    @post("/{subscription_id:str}/cancel", opt={"access": "self"}, status_code=200,
          summary="Cancel my subscription at the end of its current period (access is kept until then)")
    async def cancel_my_subscription(self, subscription_id: FromPath[str], state: State, member: Member,
                                     ctx: Context) -> Response[SubscriptionsDocument]:
        sub = await subscriptions.get_subscription(ctx, await self._hub(ctx, member), parse_id(subscription_id),
                                                   contact_id=member.contact_id)
        sub = await subscriptions.cancel_subscription(
            ctx, sub, at_period_end=True, actor=BillingActor.member(member.contact_id),
            provider=services_of(state).stripe, grace=_grace(state))
        return jsonapi(SubscriptionsDocument(data=subscription_resource(sub, _member_link(sub), grace=_grace(state))))

    @post("/{subscription_id:str}/resume", opt={"access": "self"}, status_code=200,
          summary="Undo my cancel at period end, before the period ends")
    async def resume_my_subscription(self, subscription_id: FromPath[str], state: State, member: Member,
                                     ctx: Context) -> Response[SubscriptionsDocument]:
        sub = await subscriptions.get_subscription(ctx, await self._hub(ctx, member), parse_id(subscription_id),
                                                   contact_id=member.contact_id)
        sub = await subscriptions.resume_subscription(
            ctx, sub, actor=BillingActor.member(member.contact_id), provider=services_of(state).stripe,
            grace=_grace(state))
        return jsonapi(SubscriptionsDocument(data=subscription_resource(sub, _member_link(sub), grace=_grace(state))))


class HubSubscriptionsController(Controller):
    path = TEAM_HUB_PATH + "/subscriptions"
    tags = ["billing: subscriptions"]

    @get("/", opt={"scope": "billing:read"},
         summary="The hub's subscriptions, newest first; filter[status], filter[contact_id], filter[product_id]")
    async def list_subscriptions(self, request: Request[Any, Any, Any], state: State, ctx: Context, team: TeamCtx,
                                 hub: TeamHub) -> Response[SubscriptionsListDocument]:
        q = parse_list_query(request, frozenset({"status", "contact_id", "product_id"}))
        page = await subscriptions.list_hub_subscriptions(
            ctx, hub, q.page, status=q.filters.get("status"), contact_id=q.filters.get("contact_id"),
            product_id=q.filters.get("product_id"))
        grace = _grace(state)
        return jsonapi(SubscriptionsListDocument.page(
            request, [subscription_resource(s, _team_link(team.team_id, s), grace=grace) for s in page.items], page))

    @get("/{subscription_id:str}", opt={"scope": "billing:read"}, summary="One subscription")
    async def get_subscription(self, subscription_id: FromPath[str], state: State, ctx: Context, team: TeamCtx,
                               hub: TeamHub) -> Response[SubscriptionsDocument]:
        sub = await subscriptions.get_subscription(ctx, hub, parse_id(subscription_id))
        return jsonapi(SubscriptionsDocument(
            data=subscription_resource(sub, _team_link(team.team_id, sub), grace=_grace(state))))

    @post("/{subscription_id:str}/cancel", opt={"scope": "billing:write"}, status_code=200,
          summary="Cancel now (access ends now) or at the end of the current period (at_period_end: true)")
    async def cancel_subscription(self, subscription_id: FromPath[str], state: State,
                                  data: JSONBody[SubscriptionCancellationsDocument], ctx: Context, team: TeamCtx,
                                  hub: TeamHub) -> Response[SubscriptionsDocument]:
        sub = await subscriptions.get_subscription(ctx, hub, parse_id(subscription_id))
        attrs = data.data.attributes
        sub = await subscriptions.cancel_subscription(
            ctx, sub, at_period_end=attrs.at_period_end, actor=BillingActor.of_team(team),
            provider=services_of(state).stripe, reason=attrs.reason, grace=_grace(state))
        return jsonapi(SubscriptionsDocument(
            data=subscription_resource(sub, _team_link(team.team_id, sub), grace=_grace(state))))

    @post("/{subscription_id:str}/resume", opt={"scope": "billing:write"}, status_code=200,
          summary="Undo a cancel at period end, before the period ends")
    async def resume_subscription(self, subscription_id: FromPath[str], state: State, ctx: Context, team: TeamCtx,
                                  hub: TeamHub) -> Response[SubscriptionsDocument]:
        sub = await subscriptions.get_subscription(ctx, hub, parse_id(subscription_id))
        sub = await subscriptions.resume_subscription(ctx, sub, actor=BillingActor.of_team(team),
                                                      provider=services_of(state).stripe, grace=_grace(state))
        return jsonapi(SubscriptionsDocument(
            data=subscription_resource(sub, _team_link(team.team_id, sub), grace=_grace(state))))


ROUTES: list[Any] = [MemberSubscriptionsController, HubSubscriptionsController]
