"""Seeded tenants for the proof tests (tests/proof): a team with a hub and one of everything the
API has an id for, made over HTTP against a real server, plus the credentials of each kind of
caller (staff, an API key with every scope, a member, a banned member, an expired and a revoked key).

``PATH_PARAMS`` is the one table from a path parameter's name to the seeded object that fills it.
A route with a parameter the table does not know fails the isolation matrix and the schemathesis
run: when you add a route, add its parameter here (and the step of ``seed`` that makes the object).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from domain.teams.permissions import KEY_SCOPES
from persistence.db import create_engine
from persistence.models import ApiKey
from tests.support.api import PASSWORD, unique_email
from tests.support.payments import order_rows, signed_headers, stripe_event

JSONAPI = {"Content-Type": "application/vnd.api+json"}
# The proof server's WebSocket limits (tests/proof/conftest.py), which test_ws_fuzz.py reaches.
MAX_SUBSCRIPTIONS = 3  # HUBWIRE_RT_MAX_SUBSCRIPTIONS
MAX_REPLAY = 5  # HUBWIRE_RT_MAX_REPLAY


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    """One team's world: ``ids`` by object name (see PATH_PARAMS), credentials by identity."""

    team_id: str
    hub_id: str
    ids: dict[str, str] = field(default_factory=dict)
    creds: dict[str, dict[str, str]] = field(default_factory=dict)  # identity -> headers

    def all_ids(self) -> set[str]:
        return {v for k, v in self.ids.items() if k not in NOT_IDS}


# Path parameter -> the key of Tenant.ids that fills it. One line per parameter; a new route's
# parameter goes here (and its object into ``seed``).
PATH_PARAMS: dict[str, str] = {
    "team_id": "team",
    "hub_id": "hub",
    "contact_id": "member_contact",
    "team_contact_id": "team_contact",
    "user_id": "staff_user",
    "key_id": "api_key",
    "tag_id": "tag",
    "attribute_id": "attribute",
    "segment_id": "segment",
    "space_id": "space",
    "discussion_id": "discussion",
    "comment_id": "comment",
    "conversation_id": "conversation",
    "message_id": "message",
    "report_id": "report",
    "emoji": "emoji",
    "rule_id": "access_rule",
    "override_id": "access_override",
    "entitlement_id": "entitlement",
    "policy_type": "policy_type",
    "product_id": "product",
    "price_id": "price",
    "coupon_id": "coupon",
    "display_id": "display",
    "deliverable_id": "deliverable",
    "event_id": "provider_event",
    "order_id": "order",
    "payment_id": "payment",
    "node_id": "content_node",
    "page_id": "page",
    "page": "page",  # H/pages/{page} and the public pages: a page by id or slug
    "section_id": "section",
    "folder_id": "folder",
    "file_id": "file",
    "subscription_id": "subscription",
    "slug": "hub_slug",  # the web app's pages (/hubs/{slug})
    "name": "static_file",  # /static/{name}
    "path": "schema_file",  # /schema/{path}
}
NOT_IDS = {"emoji", "policy_type", "hub_slug", "static_file", "schema_file"}  # path values that are not secret ids of the tenant


def fill(path: str, tenant: Tenant) -> str:
    """``path`` (an OpenAPI or Litestar template) with every parameter filled from ``tenant``;
    KeyError naming the parameter when PATH_PARAMS does not know it."""
    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        name = out[start + 1:end].split(":", 1)[0]
        if name not in PATH_PARAMS:
            raise KeyError(f"no seeded object for the path parameter {name!r} of {path}: add it to "
                           "tests/support/proof.py PATH_PARAMS (and to seed())")
        out = out[:start] + tenant.ids[PATH_PARAMS[name]] + out[end + 1:]
    return out


class _Api:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, method: str, url: str, headers: dict[str, str], body: Any = None,
                   expect: tuple[int, ...] = (200, 201)) -> dict[str, Any]:
        h = {**headers, **(JSONAPI if body is not None else {})}
        r = await self.http.request(method, url, headers=h, content=None if body is None else json.dumps(body))
        assert r.status_code in expect, f"{method} {url}: {r.status_code} {r.text}"
        return r.json() if r.content else {}


def _doc(type_: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": type_, "attributes": attributes}}


async def seed(http: httpx.AsyncClient, database_url: str, label: str, webhook_secret: str) -> Tenant:
    """A team with one of everything, over HTTP (``http`` talks to a running server)."""
    api = _Api(http)
    email = unique_email(label)
    tokens = await api.call("POST", "/api/v1/auth/register", {}, {"email": email, "password": PASSWORD})
    staff = bearer(tokens["access_token"])
    team_id = (await api.call("GET", "/api/v1/teams", staff))["data"][0]["id"]
    me = await api.call("GET", "/api/v1/auth/me", staff, expect=(200,))
    T = f"/api/v1/teams/{team_id}"
    hub = (await api.call("POST", f"{T}/hubs", staff, _doc("hubs", name=f"Hub {label}")))["data"]
    hub_id = hub["id"]
    TH = f"{T}/hubs/{hub_id}"
    H = f"/api/v1/hub/{hub_id}"
    t = Tenant(team_id, hub_id)
    ids = t.ids
    ids.update(team=team_id, hub=hub_id, staff_user=me["user"]["id"],
               emoji="👍", policy_type="tos", hub_slug=hub["attributes"]["slug"], static_file="app.css",
               schema_file="openapi.json")

    key = await api.call("POST", f"{T}/api-keys", staff, {"name": "all", "scopes": sorted(KEY_SCOPES)})
    ids["api_key"] = key["id"]

    async def member(name: str) -> tuple[str, dict[str, str]]:
        m = await api.call("POST", f"{TH}/memberships", staff, _doc("hub_memberships", email=unique_email(name)))
        cid = m["data"]["attributes"]["contact_id"]
        tok = await api.call("POST", f"{TH}/member-tokens", staff, _doc("member_tokens", contact_id=cid))
        return cid, bearer(tok["data"]["attributes"]["access_token"])

    cid, member_h = await member(f"{label}-member")
    other_cid, other_h = await member(f"{label}-peer")
    banned_cid, banned_h = await member(f"{label}-banned")
    ids["member_contact"] = cid
    contacts = await api.call("GET", f"{T}/contacts?page%5Bsize%5D=100", staff)
    by_contact = {c["attributes"]["contact_id"]: c["id"] for c in contacts["data"]}
    ids["team_contact"] = by_contact[cid]

    await api.call("PATCH", f"{TH}/policies", staff, _doc("policies", policy_type="tos", content="Be kind.",
                                                          require_acceptance=False))
    tag = (await api.call("POST", f"{T}/tags", staff, _doc("tags", name=f"vip-{label}")))["data"]["id"]
    ids["tag"] = tag
    await api.call("POST", f"{T}/contacts/{ids['team_contact']}/tags", staff, _doc("contact_tags", tag_id=tag))
    ids["attribute"] = (await api.call("POST", f"{T}/contact-attributes", staff, _doc(
        "contact_attributes", key="plan", name="Plan", data_type="select", options=[{"value": "basic"}])))["data"]["id"]
    ids["segment"] = (await api.call("POST", f"{T}/segments", staff, _doc(
        "segments", name="VIPs", conditions={"version": 1, "logic": "all", "groups": [
            {"logic": "all", "conditions": [{"type": "tag", "operator": "has", "value": tag}]}]})))["data"]["id"]

    space = (await api.call("POST", f"{TH}/spaces", staff, _doc("spaces", name="General")))["data"]["id"]
    ids["space"] = space
    locked = (await api.call("POST", f"{TH}/spaces", staff, _doc("spaces", name="Locked")))["data"]["id"]
    ids["access_rule"] = (await api.call("POST", f"{TH}/access-rules", staff, _doc(
        "access_rules", name="VIPs", target_type="space", target_id=locked, logic_operator="all",
        conditions=[{"condition_type": "has_tag", "condition_data": {"tag_id": tag}}])))["data"]["id"]
    ids["access_override"] = (await api.call("POST", f"{TH}/access-overrides", staff, _doc(
        "access_overrides", contact_id=other_cid, scope="full", reason="guest")))["data"]["id"]
    ids["entitlement"] = (await api.call("POST", f"{TH}/entitlements", staff, _doc(
        "entitlements", contact_id=cid, kind="community_access")))["data"]["id"]

    ids["discussion"] = (await api.call("POST", f"{H}/spaces/{space}/discussions", member_h, _doc(
        "discussions", title="Hello", body="First post")))["data"]["id"]
    ids["comment"] = (await api.call("POST", f"{H}/discussions/{ids['discussion']}/comments", other_h, _doc(
        "comments", body="A reply")))["data"]["id"]
    ids["conversation"] = (await api.call("POST", f"{H}/conversations", member_h, _doc(
        "conversations", participant_ids=[other_cid])))["data"]["id"]
    ids["message"] = (await api.call("POST", f"{H}/conversations/{ids['conversation']}/messages", member_h, _doc(
        "messages", body="Hi there")))["data"]["id"]
    await api.call("POST", f"{H}/reports", member_h, _doc("reports", target_type="comment", target_id=ids["comment"],
                                                          reason="spam"))
    ids["report"] = (await api.call("GET", f"{TH}/moderation/reports", staff))["data"][0]["id"]

    ids["product"] = (await api.call("POST", f"{T}/products", staff, _doc("products", name="Membership")))["data"]["id"]
    ids["price"] = (await api.call("POST", f"{T}/products/{ids['product']}/prices", staff, _doc(
        "prices", amount=1500, currency="usd")))["data"]["id"]
    ids["deliverable"] = (await api.call("POST", f"{T}/products/{ids['product']}/deliverables", staff, _doc(
        "product_deliverables", type="tag", target_id=tag)))["data"]["id"]
    ids["display"] = (await api.call("POST", f"{TH}/products", staff, _doc(
        "hub_product_displays", product_id=ids["product"])))["data"]["id"]
    ids["coupon"] = (await api.call("POST", f"{T}/coupons", staff, _doc(
        "coupons", code=f"SAVE{uuid.uuid4().hex[:6].upper()}", percent_off=10)))["data"]["id"]

    # Content: a published lesson the member may read, a page published for members (not public:
    # the public page routes answer 404 for it, as for a page nobody has) with a section, a folder and
    # a file in it given to the hub.
    ids["content_node"] = (await api.call("POST", f"{TH}/content", staff, _doc(
        "content_nodes", title="Lesson one", node_type="lesson", status="published",
        body="<p>Welcome</p>")))["data"]["id"]
    page = (await api.call("POST", f"{TH}/pages", staff, _doc("pages", title="About", body="<p>Us</p>",
                                                               privacy="members")))["data"]
    ids["page"] = page["id"]
    section = (await api.call("POST", f"{TH}/pages/{page['id']}/sections",
                              {**staff, "If-Match": f'"{page["attributes"]["draft_version"]}"'},
                              _doc("page_sections", title="Bonus", body="<p>For buyers</p>")))["data"]
    ids["section"] = section["id"]
    r = await http.post(f"{TH}/pages/{page['id']}/publish",
                        headers={**staff, "If-Match": f'"{section["attributes"]["page_draft_version"]}"'})
    assert r.status_code == 200, r.text
    ids["folder"] = (await api.call("POST", f"{T}/folders", staff, _doc("folders", name="Handouts")))["data"]["id"]
    r = await http.post(f"{T}/files", headers=staff, data={"folder_id": ids["folder"], "hub_id": hub_id},
                        files={"file": ("notes.txt", b"lesson notes\n", "text/plain")})
    assert r.status_code == 201, r.text
    ids["file"] = r.json()["data"]["id"]

    # A manual order bought by the member through checkout and marked paid by staff: its payment.
    bought = await api.call("POST", f"{H}/checkout", member_h, _doc("checkouts", price_id=ids["price"]))
    manual_order = bought["data"]["attributes"]["order_id"]
    await api.call("POST", f"{TH}/orders/{manual_order}/mark-paid", staff)
    ids["payment"] = (await api.call("GET", f"{TH}/payments?filter%5Border_id%5D={manual_order}", staff))[
        "data"][0]["id"]
    # A monthly price of the same product, bought and marked paid the same way: a manual subscription.
    monthly = (await api.call("POST", f"{T}/products/{ids['product']}/prices", staff, _doc(
        "prices", amount=900, currency="usd", type="recurring", interval="month", interval_count=1)))["data"]["id"]
    subscribed = await api.call("POST", f"{H}/checkout", member_h, _doc("checkouts", price_id=monthly))
    await api.call("POST", f"{TH}/orders/{subscribed['data']['attributes']['order_id']}/mark-paid", staff)
    ids["subscription"] = (await api.call("GET", f"{H}/me/subscriptions", member_h))["data"][0]["id"]

    # An order straight into the database (a Stripe one, so that a provider event can name it) and
    # a provider event about it, delivered through the signed webhook.
    rows, order = order_rows(team_id=uuid.UUID(team_id), hub_id=uuid.UUID(hub_id))
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for row in rows:
                await conn.execute(sa.insert(type(row)).values(**{
                    c.key: getattr(row, c.key) for c in sa.inspect(type(row)).mapper.column_attrs
                    if getattr(row, c.key) is not None}))
        ids["order"] = str(order.id)
        body = stripe_event("checkout.session.completed", {
            "id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session",
            "metadata": {"hubwire_order_id": str(order.id)}, "client_reference_id": str(order.id),
            "payment_status": "paid"})
        r = await http.post("/api/v1/webhooks/stripe", content=body, headers=signed_headers(body, webhook_secret))
        assert r.status_code == 200, r.text
        event_id = json.loads(body)["id"]

        # Keys that no longer work: one revoked, one expired (expiry is set in the past directly:
        # the API refuses to create a key that is already expired).
        revoked = await api.call("POST", f"{T}/api-keys", staff, {"name": "revoked", "scopes": sorted(KEY_SCOPES)})
        await api.call("DELETE", f"{T}/api-keys/{revoked['id']}", staff)
        expired = await api.call("POST", f"{T}/api-keys", staff, {"name": "expired", "scopes": sorted(KEY_SCOPES)})
        async with engine.begin() as conn:
            await conn.execute(sa.update(ApiKey).where(ApiKey.id == uuid.UUID(expired["id"]))
                               .values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    finally:
        await engine.dispose()
    for _ in range(100):  # the provider-event worker matches the event to the order
        events = await api.call("GET", f"{TH}/payment-webhooks", staff)
        found = [e["id"] for e in events["data"] if e["attributes"]["event_id"] == event_id]
        if found:
            ids["provider_event"] = found[0]
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the provider event {event_id} never showed on the hub")

    ban = await http.post(f"{TH}/memberships/{banned_cid}/ban", headers={**staff, **JSONAPI},
                          content=json.dumps(_doc("membership_actions", reason="proof")))
    assert ban.status_code == 200, ban.text

    t.creds = {
        "staff": staff,
        "api_key": bearer(key["secret"]),
        "member": member_h,
        "banned_member": banned_h,
        "revoked_key": bearer(revoked["secret"]),
        "expired_key": bearer(expired["secret"]),
    }
    return t



def example(schema: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """A small value that satisfies ``schema`` (an OpenAPI schema): the required fields only, the
    first of each enum and union. The isolation matrix sends it so that a write reaches the
    caller check rather than stopping at the body's shape."""
    if depth > 12:
        return None
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth + 1)
    for union in ("oneOf", "anyOf"):
        if union in schema:
            options = [o for o in schema[union] if o.get("type") != "null"] or schema[union]
            return example(options[0], components, depth + 1)
    if "allOf" in schema:
        out: dict[str, Any] = {}
        for part in schema["allOf"]:
            out.update(example(part, components, depth + 1) or {})
        return out
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example(props.get(k, {}), components, depth + 1) for k in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), components, depth + 1) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2099-01-01T00:00:00Z"
        if fmt == "date":
            return "2099-01-01"
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "email":
            return "probe@example.com"
        return "x" * max(int(schema.get("minLength", 1)), 1)
    return None
