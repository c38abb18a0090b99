"""The member guard: every member route (``/api/v1/hub/{hub_id}/...``) goes through the access
evaluator, and the app refuses to start with one that could skip it."""

from __future__ import annotations

import re
import uuid

import pytest
from litestar import Litestar, get, post
from litestar.handlers import HTTPRouteHandler

from server.app import HUB_PATH, check_member_routes
from server.deps import DEPENDENCIES, GUEST_ACCESS, MEMBER_ACCESS, Member
from tests.support.access_world import check, make_world, set_policy
from tests.support.api import assert_error, doc, w
from tests.support.hubs import act

MEMBER_PREFIX = "/api/v1/hub/"


def member_routes(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    """(method, path, handler) of every HTTP route under /api/v1/hub/."""
    out = []
    for route in app.routes:
        if not route.path.startswith(MEMBER_PREFIX):
            continue
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                out.append((method, route.path, handler))
    return out


def test_every_member_route_takes_member_and_declares_access(app):
    routes = member_routes(app)
    paths = {(m, p) for m, p, _ in routes}
    assert {("GET", HUB_PATH + "/me"), ("POST", HUB_PATH + "/me/accept-policies"),
            ("GET", HUB_PATH + "/access/check")} <= paths, paths
    # a guest may also buy (an email instead of a token): that route alone takes optional_member
    guests = {p for _, p, h in routes if h.opt.get("access") == GUEST_ACCESS}
    assert guests == {HUB_PATH + "/checkout"}
    assert all("optional_member" in h.parsed_fn_signature.parameters for _, p, h in routes if p in guests)
    missing = [(m, p, h.handler_name) for m, p, h in routes if p not in guests and (
        "member" not in h.parsed_fn_signature.parameters or h.opt.get("access") not in MEMBER_ACCESS)]
    assert not missing, f"member routes that skip the access evaluator: {missing}"
    # "self" stops after the membership check: only where a member the hub locks out must still
    # get through (their own profile, policies, orders and subscriptions — a member whose access
    # lapsed must still see and fix their billing — and the catalog of what unlocks the hub)
    assert {p for _, p, h in routes if h.opt["access"] == "self"} == {
        HUB_PATH + "/me", HUB_PATH + "/me/accept-policies", HUB_PATH + "/catalog",
        HUB_PATH + "/me/orders", HUB_PATH + "/me/orders/{order_id:str}", HUB_PATH + "/me/subscriptions",
        HUB_PATH + "/me/subscriptions/{subscription_id:str}",
        HUB_PATH + "/me/subscriptions/{subscription_id:str}/cancel",
        HUB_PATH + "/me/subscriptions/{subscription_id:str}/resume"}


def test_the_app_refuses_a_member_route_that_could_skip_the_check():
    @get(HUB_PATH + "/no-access")
    async def no_access(member: Member) -> None:
        return None

    @get(HUB_PATH + "/no-member", opt={"access": "view"})
    async def no_member() -> None:
        return None

    @get(HUB_PATH + "/odd-access", opt={"access": "everything"})
    async def odd_access(member: Member) -> None:
        return None

    @post(HUB_PATH + "/guest-without-optional-member", opt={"access": "guest"})
    async def guest_member(member: Member) -> None:
        return None

    for handler, message in ((no_access, "declares no access"), (no_member, "does not take `member`"),
                             (odd_access, "declares no access"), (guest_member, "does not take `optional_member`")):
        with pytest.raises(RuntimeError, match=re.escape(message)):
            check_member_routes(Litestar(route_handlers=[handler], dependencies=DEPENDENCIES))


def _url(path: str, hub_id: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: hub_id if m.group(1) == "hub_id" else str(uuid.uuid4()), path)


async def test_a_banned_member_is_refused_on_every_member_route(client, app):
    world = await make_world(client)
    assert (await act(client, world.staff.headers, world.hub, world.contact_id, "ban")).status_code == 200
    routes = member_routes(app)
    for method, path, _ in routes:
        r = await client.request(method, _url(path, world.hub.id), headers=world.headers)
        assert_error(r, 403, "banned")
    # a member of another hub is refused too (their token names another hub: 404, no probing)
    for method, path, _ in routes:
        r = await client.request(method, _url(path, str(uuid.uuid4())), headers=world.headers)
        assert_error(r, 404, "not_found")


async def test_an_unaccepted_required_policy_locks_the_hub_but_not_h_me(client, app):
    world = await make_world(client)
    assert (await check(client, world, "hub", world.hub.id)).status_code == 200
    await set_policy(client, world, "tos", "Be kind.", True)

    assert_error(await check(client, world, "hub", world.hub.id), 403, "policy_not_accepted")
    me = await client.get(f"/api/v1/hub/{world.hub.id}/me", headers=world.headers)
    assert me.status_code == 200, me.text
    [tos] = me.json()["data"]["attributes"]["policies"]
    assert (tos["policy_type"], tos["accepted_current"]) == ("tos", False)
    r = await client.post(f"/api/v1/hub/{world.hub.id}/me/accept-policies",
                          json=doc("policy_acceptances", {"policy_type": "tos", "version": tos["version"]}),
                          headers=w(world.headers))
    assert r.status_code == 201, r.text
    assert (await check(client, world, "hub", world.hub.id)).status_code == 200


async def test_check_answers_the_decision_and_hides_secret_targets(client, app):
    from persistence.models import Space
    from tests.support.access_world import NOW, node, rule, uid, write

    world = await make_world(client)
    lesson = node(world)
    secret = Space(id=uid(), hub_id=world.hub_uuid, name="Inner", slug=f"inner-{uid().hex[:6]}",
                   access_level="secret", posting_permission="members", created_at=NOW, updated_at=NOW)
    write(client, app, lesson, secret,
          rule(world, "content_node", lesson.id, [("days_since_join", {"days": 7})]),
          changed={"hub_id": world.hub_uuid})

    r = await check(client, world, "content_node", lesson.id)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "access_decisions" and data["id"] == f"content_node:{lesson.id}:view"
    assert data["attributes"]["allowed"] is False and data["attributes"]["reason"] == "drip_locked"
    assert data["attributes"]["unlock_at"] is not None
    r = await check(client, world, "hub", world.hub.id, "post")
    assert r.json()["data"]["attributes"] == {"allowed": True, "reason": "allowed", "unlock_at": None}

    assert_error(await check(client, world, "space", secret.id), 404, "not_found")
    assert_error(await check(client, world, "content_node", uuid.uuid4()), 404, "not_found")

    base = f"/api/v1/hub/{world.hub.id}/access/check"
    for params, parameter in (({"target_id": world.hub.id}, "target_type"),
                              ({"target_type": "galaxy", "target_id": world.hub.id}, "target_type"),
                              ({"target_type": "hub"}, "target_id"),
                              ({"target_type": "hub", "target_id": "nope"}, "target_id"),
                              ({"target_type": "hub", "target_id": world.hub.id, "action": "fly"}, "action"),
                              ({"target_type": "hub", "target_id": world.hub.id, "colour": "red"}, "colour")):
        err = assert_error(await client.get(base, params=params, headers=world.headers), 422,
                           "missing_parameter" if parameter not in params and parameter != "colour"
                           else "unknown_parameter" if parameter == "colour" else "invalid_parameter")
        assert err["source"]["parameter"] == parameter, err


async def test_explain_returns_the_trace_as_that_member(client, app):
    from tests.support.access_world import node, rule, write

    world = await make_world(client)
    lesson = node(world)
    tag_rule = rule(world, "content_node", lesson.id, [("has_tag", {"tag_id": str(uuid.uuid4())}),
                                                        ("role_at_least", {"role": "member"})], logic="any")
    write(client, app, lesson, tag_rule, changed={"hub_id": world.hub_uuid})
    url = f"{world.team}/hubs/{world.hub.id}/access/explain"
    r = await client.get(url, params={"contact_id": world.contact_id, "target_type": "content_node",
                                      "target_id": str(lesson.id)}, headers=world.staff.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["type"] == "access_explanations"
    a = data["attributes"]
    assert (a["allowed"], a["reason"], a["action"], a["contact_id"]) == (True, "allowed", "view", world.contact_id)
    steps = [(s["step"], s["outcome"]) for s in a["trace"]]
    assert ("condition", "fail") in steps and ("condition", "pass") in steps
    failed = next(s for s in a["trace"] if s["step"] == "condition" and s["outcome"] == "fail")
    assert failed["rule_id"] == str(tag_rule.id)
    assert failed["condition"]["condition_type"] == "has_tag"
    for params, parameter in (({"target_type": "hub", "target_id": world.hub.id}, "contact_id"),
                              ({"contact_id": "x", "target_type": "hub", "target_id": world.hub.id}, "contact_id")):
        err = assert_error(await client.get(url, params=params, headers=world.staff.headers), 422,
                           "missing_parameter" if "contact_id" not in params else "invalid_parameter")
        assert err["source"]["parameter"] == parameter
    # a member token is no staff credential
    assert (await client.get(url, params={"contact_id": world.contact_id, "target_type": "hub",
                                          "target_id": world.hub.id}, headers=world.headers)).status_code == 401
