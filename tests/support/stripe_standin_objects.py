"""The Stripe objects of our stand-in (tests/support/stripe_standin.py, which serves them over
HTTP): customers, catalog, coupons, Checkout Sessions, subscriptions, invoices, payment intents,
charges, refunds and disputes, and the events their changes emit. Shapes follow API version
``2026-10-28.endive`` for the fields our flows use; errors are Stripe's envelope."""

from __future__ import annotations

import calendar
import copy
import json
import re
import secrets
import time
from datetime import datetime, timezone
from typing import Any

API_VERSION = "2026-10-28.endive"  # what stripe-python 16.1 pins
CURRENCIES = {"usd", "cad", "gbp", "eur", "aud", "jpy", "chf", "nzd", "sek", "nok", "dkk"}
INTERVALS = {"day", "week", "month", "year"}
Obj = dict[str, Any]


class StripeError(Exception):
    """An answer in Stripe's error envelope."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        error: Obj = {"type": type_, "message": message}
        if code:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            error["param"] = param
        self.body = {"error": error}


def missing(kind: str, id_: Any, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{id_}'", code="resource_missing", param=param)


def invalid(message: str, param: str | None = None, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def required(params: Obj, name: str, param: str | None = None) -> Any:
    value = params.get(name)
    if value in (None, "", {}, []):
        raise StripeError(400, f"Missing required param: {param or name}.", code="parameter_missing",
                          param=param or name)
    return value


def only(params: Any, allowed: set[str], at: str = "") -> Obj:
    """Stripe refuses parameters it does not know; so does the stand-in (a typo in our wrapper fails)."""
    if not isinstance(params, dict):
        raise invalid("Invalid object", at or None, "parameter_invalid_object")
    for name in params:
        if name not in allowed:
            full = f"{at}[{name}]" if at else name
            raise StripeError(400, f"Received unknown parameter: {full}", code="parameter_unknown", param=full)
    return params


def as_int(value: Any, param: str, minimum: int = 0) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", param, "parameter_invalid_integer") from None
    if n < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param, "parameter_invalid_integer")
    return n


def as_bool(value: Any, param: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False, None, ""):
        return False
    raise invalid(f"Invalid boolean: {value}", param, "parameter_invalid_boolean")


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def unflatten(pairs: list[tuple[str, str]]) -> Obj:
    """Stripe's form encoding back to objects: ``a[b][0][c]=v`` → ``{"a": {"b": [{"c": "v"}]}}``."""
    root: Obj = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        if not parts:
            continue
        cur = root
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                cur[part] = value
            else:
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    nxt = cur[part] = {}
                cur = nxt

    def lists(o: Any) -> Any:
        if isinstance(o, dict):
            if o and all(k.isdigit() for k in o):
                return [lists(o[k]) for k in sorted(o, key=int)]
            return {k: lists(v) for k, v in o.items()}
        return o

    return lists(root)  # type: ignore[no-any-return]


def metadata(params: Obj, name: str = "metadata") -> dict[str, str]:
    value = params.get(name) or {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", name, "parameter_invalid_object")
    return {str(k): str(v) for k, v in value.items()}


def add_months(ts: int, months: int) -> int:
    d = datetime.fromtimestamp(ts, timezone.utc)
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return int(d.replace(year=y, month=m, day=min(d.day, calendar.monthrange(y, m)[1])).timestamp())


def period_end(start: int, recurring: Obj) -> int:
    n, unit = int(recurring.get("interval_count") or 1), recurring["interval"]
    if unit in {"month", "year"}:
        return add_months(start, n * (12 if unit == "year" else 1))
    return start + n * (86400 if unit == "day" else 7 * 86400)


def public(obj: Obj) -> Obj:
    """A deep copy without our bookkeeping (keys starting with ``_``)."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}  # type: ignore[misc]
    if isinstance(obj, list):
        return [public(v) for v in obj]  # type: ignore[return-value]
    return obj


class StripeObjects:
    """Every object by id, the events in the order they were emitted, and the stand-in's clock.
    ``publish(event)`` is the transport's: it is called with each event as it is emitted."""

    def reset(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.events: list[Obj] = []
        self.payloads: dict[str, bytes] = {}
        self.offset = 0
        self.request_ctx: Obj = {"id": None, "idempotency_key": None}  # the API request being served

    def publish(self, event: Obj) -> None:
        raise NotImplementedError

    # ---- objects and time -------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time()) + self.offset

    def put(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, kind: str, id_: Any, param: str = "id") -> Obj:
        obj = self.objects.get(str(id_))
        if obj is None or obj["object"] != kind:
            raise missing(kind.split(".")[-1].replace("_", " "), id_, param)
        return obj

    def expand(self, obj: Obj, fields: Any) -> Obj:
        out = public(obj)
        for field in fields if isinstance(fields, list) else []:
            head, _, rest = field.partition(".")
            if isinstance(out.get(head), str) and out[head] in self.objects:
                out[head] = self.expand(self.objects[out[head]], [rest] if rest else [])
        return out

    def emit(self, type_: str, obj: Obj, previous: Obj | None = None) -> Obj:
        """Record the event of ``obj``'s change (``previous``: the attributes before it) and publish it."""
        data: Obj = {"object": public(obj)}
        if previous:
            data["previous_attributes"] = public(previous)
        event = {"id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": self.now(),
                 "data": data, "livemode": False, "pending_webhooks": 1, "request": dict(self.request_ctx),
                 "type": type_}
        self.put(event)
        self.events.append(event)
        self.payloads[event["id"]] = json.dumps(event, indent=2).encode()  # the same bytes on every delivery
        self.publish(event)
        return event

    # ---- customers, catalog, coupons --------------------------------------------------------------

    def create_customer(self, p: Obj) -> Obj:
        only(p, {"email", "name", "metadata", "description"})
        return self.put({"id": new_id("cus"), "object": "customer", "created": self.now(), "email": p.get("email"),
                         "name": p.get("name"), "metadata": metadata(p), "livemode": False,
                         "invoice_settings": {"default_payment_method": None}})

    def create_product(self, p: Obj, param: str = "name") -> Obj:
        return self.put({"id": p.get("id") or new_id("prod"), "object": "product", "created": self.now(),
                         "name": required(p, "name", param), "description": p.get("description"), "active": True,
                         "metadata": metadata(p), "livemode": False})

    def create_price(self, p: Obj, prefix: str = "") -> Obj:
        def at(name: str) -> str:  # the parameter's name as Stripe reports it
            return f"{prefix}[{name}]" if prefix else name

        currency = str(required(p, "currency", at("currency"))).lower()
        if currency not in CURRENCIES:
            raise invalid(f"Invalid currency: {currency}.", at("currency"))
        if "product_data" in p:
            product = self.create_product(p["product_data"], at("product_data") + "[name]")["id"]
        else:
            product = self.get("product", required(p, "product", at("product")), at("product"))["id"]
        recurring = p.get("recurring")
        if recurring:
            if recurring.get("interval") not in INTERVALS:
                raise invalid("Invalid recurring[interval]: must be one of day, month, week, or year",
                              at("recurring") + "[interval]")
            recurring = {"interval": recurring["interval"], "usage_type": "licensed", "interval_count": as_int(
                recurring.get("interval_count", 1), at("recurring") + "[interval_count]", 1)}
        return self.put({"id": new_id("price"), "object": "price", "created": self.now(), "active": True,
                         "currency": currency, "product": product, "livemode": False, "metadata": metadata(p),
                         "unit_amount": as_int(required(p, "unit_amount", at("unit_amount")), at("unit_amount")),
                         "type": "recurring" if recurring else "one_time", "recurring": recurring or None})

    def create_coupon(self, p: Obj) -> Obj:
        only(p, {"id", "name", "percent_off", "amount_off", "currency", "duration", "duration_in_months",
                 "max_redemptions", "redeem_by", "metadata"})
        if ("percent_off" in p) == ("amount_off" in p):
            raise invalid("You must pass exactly one of percent_off or amount_off.", "percent_off")
        if p.get("id") and p["id"] in self.objects:
            raise StripeError(400, "Coupon already exists.", code="resource_already_exists", param="id")
        duration = p.get("duration", "once")
        if duration not in {"once", "repeating", "forever"}:
            raise invalid("Invalid duration: must be one of forever, once, or repeating", "duration")
        months = as_int(p["duration_in_months"], "duration_in_months", 1) if p.get("duration_in_months") else None
        if (duration == "repeating") != (months is not None):
            raise invalid("duration_in_months goes with duration=repeating, and only with it.", "duration_in_months")
        coupon: Obj = {"id": p.get("id") or secrets.token_hex(4), "object": "coupon", "created": self.now(),
                       "name": p.get("name"), "duration": duration, "duration_in_months": months,
                       "percent_off": None, "amount_off": None, "currency": None, "livemode": False, "valid": True,
                       "max_redemptions": as_int(p["max_redemptions"], "max_redemptions", 1)
                       if p.get("max_redemptions") else None,
                       "times_redeemed": 0, "metadata": metadata(p)}
        if "percent_off" in p:
            try:
                coupon["percent_off"] = float(p["percent_off"])
            except ValueError:
                raise invalid(f"Invalid decimal: {p['percent_off']}", "percent_off",
                              "parameter_invalid_decimal") from None
            if not 0 < coupon["percent_off"] <= 100:
                raise invalid("percent_off must be greater than 0 and at most 100.", "percent_off")
        else:
            coupon["amount_off"] = as_int(p["amount_off"], "amount_off", 1)
            coupon["currency"] = str(required(p, "currency")).lower()
        return self.put(coupon)

    def discount(self, amount: int, coupon: Obj | None) -> int:
        if coupon is None:
            return 0
        if coupon["percent_off"] is not None:
            return min(amount, round(amount * coupon["percent_off"] / 100))
        return min(amount, coupon["amount_off"])

    # ---- checkout ---------------------------------------------------------------------------------

    def create_session(self, p: Obj) -> Obj:
        only(p, {"mode", "line_items", "success_url", "cancel_url", "customer", "customer_email", "client_reference_id",
                 "metadata", "discounts", "subscription_data", "payment_intent_data", "expires_at", "locale"})
        only(p.get("subscription_data") or {}, {"metadata", "trial_period_days", "description"}, "subscription_data")
        only(p.get("payment_intent_data") or {}, {"metadata", "description"}, "payment_intent_data")
        mode = required(p, "mode")
        if mode not in {"payment", "subscription"}:
            raise invalid(f"Invalid mode: {mode} (the stand-in serves payment and subscription).", "mode")
        success_url = required(p, "success_url")
        if p.get("customer") and p.get("customer_email"):
            raise invalid("You may only specify one of these parameters: customer, customer_email.", "customer_email")
        if p.get("customer"):
            self.get("customer", p["customer"], "customer")
        if mode == "payment" and "subscription_data" in p:
            raise invalid("You can not pass `subscription_data` in `payment` mode.", "subscription_data")
        if mode == "subscription" and "payment_intent_data" in p:
            raise invalid("You can not pass `payment_intent_data` in `subscription` mode.", "payment_intent_data")
        items = required(p, "line_items")
        if not isinstance(items, list):
            raise invalid("Invalid array", "line_items", "parameter_invalid_array")
        lines = []
        for i, item in enumerate(items):
            at = f"line_items[{i}]"
            only(item, {"price", "price_data", "quantity"}, at)
            only(item.get("price_data") or {}, {"currency", "unit_amount", "product", "product_data", "recurring"},
                 f"{at}[price_data]")
            if "price_data" in item:
                price = self.create_price(item["price_data"], f"{at}[price_data]")
                price["active"] = False  # an inline price, as Stripe makes one
            else:
                price = self.get("price", required(item, "price", f"{at}[price]"), f"{at}[price]")
            if mode == "payment" and price["type"] == "recurring":
                raise invalid("You specified `payment` mode but passed a recurring price. Either switch to "
                              "`subscription` mode or use only one-time prices.", f"{at}[price]")
            lines.append((price, as_int(item.get("quantity", 1), f"{at}[quantity]", 1)))
        if mode == "subscription" and not any(pr["type"] == "recurring" for pr, _ in lines):
            raise invalid("You must specify at least one recurring price in `subscription` mode.", "line_items")
        currency = lines[0][0]["currency"]
        coupon = None
        for i, d in enumerate(p.get("discounts") or []):
            only(d, {"coupon"}, f"discounts[{i}]")
            coupon = self.get("coupon", required(d, "coupon", f"discounts[{i}][coupon]"), f"discounts[{i}][coupon]")
            if coupon["currency"] not in (None, currency):
                raise invalid(f"The coupon's currency ({coupon['currency']}) is not the session's ({currency}).",
                              f"discounts[{i}][coupon]")
        sub_data = p.get("subscription_data") or {}
        trial = as_int(sub_data["trial_period_days"], "subscription_data[trial_period_days]", 1) \
            if sub_data.get("trial_period_days") else None
        subtotal = sum(pr["unit_amount"] * q for pr, q in lines)
        off = self.discount(subtotal, coupon)
        sid = new_id("cs")
        return self.put({
            "id": sid, "object": "checkout.session", "created": self.now(), "expires_at": self.now() + 24 * 3600,
            "livemode": False, "mode": mode, "status": "open", "payment_status": "unpaid", "ui_mode": "hosted",
            "url": f"http://127.0.0.1:{self.port}/_test/pay/{sid}", "success_url": success_url,
            "cancel_url": p.get("cancel_url"), "client_reference_id": p.get("client_reference_id"),
            "customer": p.get("customer"), "customer_email": p.get("customer_email"), "customer_details": None,
            "metadata": metadata(p), "currency": currency, "amount_subtotal": subtotal,
            "amount_total": 0 if trial else subtotal - off,
            "total_details": {"amount_discount": 0 if trial else off, "amount_shipping": 0, "amount_tax": 0},
            "discounts": [{"coupon": coupon["id"], "promotion_code": None}] if coupon else [],
            "payment_method_types": ["card"], "subscription": None, "payment_intent": None, "invoice": None,
            "_lines": [(pr["id"], q) for pr, q in lines], "_coupon": coupon["id"] if coupon else None,
            "_trial_days": trial, "_sub_metadata": metadata(sub_data),
            "_pi_metadata": metadata(p.get("payment_intent_data") or {}),
        })

    def expire_session(self, sid: str) -> Obj:
        s = self.get("checkout.session", sid)
        if s["status"] != "open":
            raise invalid(f"Only open Checkout Sessions can be expired; this one is {s['status']}.")
        s["status"] = "expired"
        self.emit("checkout.session.expired", s)
        return s

    def payment(self, customer: str, amount: int, currency: str, outcome: str, meta: dict[str, str]) -> Obj:
        """A PaymentIntent and its Charge: ``succeeded``, ``failed`` (declined) or ``processing``."""
        pi = self.put({"id": new_id("pi"), "object": "payment_intent", "created": self.now(), "amount": amount,
                       "amount_received": 0, "currency": currency, "customer": customer, "status": "processing",
                       "latest_charge": None, "last_payment_error": None, "metadata": dict(meta), "livemode": False})
        ch = self.put({"id": new_id("ch"), "object": "charge", "created": self.now(), "amount": amount,
                       "amount_captured": 0, "amount_refunded": 0, "currency": currency, "customer": customer,
                       "payment_intent": pi["id"], "paid": False, "status": "pending", "refunded": False,
                       "disputed": False, "captured": False, "failure_code": None, "failure_message": None,
                       "metadata": dict(meta), "livemode": False,
                       "refunds": {"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}})
        pi["latest_charge"] = ch["id"]
        if outcome == "processing":
            self.emit("payment_intent.processing", pi)
        else:
            self.settle(pi, outcome == "succeeded")
        return pi

    def settle(self, pi: Obj, ok: bool) -> None:
        ch = self.objects[pi["latest_charge"]]
        if ok:
            ch.update(status="succeeded", paid=True, captured=True, amount_captured=ch["amount"])
            pi.update(status="succeeded", amount_received=pi["amount"])
            self.emit("charge.succeeded", ch)
            self.emit("payment_intent.succeeded", pi)
            return
        ch.update(status="failed", failure_code="card_declined", failure_message="Your card was declined.")
        pi.update(status="requires_payment_method", last_payment_error={
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.", "charge": ch["id"]})
        self.emit("charge.failed", ch)
        self.emit("payment_intent.payment_failed", pi)

    def complete_session(self, sid: str, outcome: str = "paid") -> Obj:
        s = self.get("checkout.session", sid)
        if s["status"] != "open":
            raise invalid(f"Checkout Session {sid} is {s['status']}, not open.")
        if outcome not in {"paid", "async", "declined", "no_payment_required"}:
            raise invalid("outcome is paid, async, declined or no_payment_required.", "outcome")
        if outcome == "declined":
            return s  # Checkout shows the decline to the payer and keeps the session open
        due = s["amount_total"]
        if outcome == "no_payment_required" and due:
            raise invalid(f"{due} is due on this session: complete it as paid.", "outcome")
        if outcome == "async" and (s["mode"] != "payment" or not due):
            raise invalid("async completion is for payment mode with an amount due.", "outcome")
        if not s["customer"]:
            s["customer"] = self.create_customer({"email": s["customer_email"]})["id"]
            self.emit("customer.created", self.objects[s["customer"]])
        s["customer_details"] = {"email": s["customer_email"] or self.objects[s["customer"]]["email"], "name": None}
        if s["mode"] == "payment":
            if due:
                s["payment_intent"] = self.payment(s["customer"], due, s["currency"],
                                                   "processing" if outcome == "async" else "succeeded",
                                                   s["_pi_metadata"])["id"]
        else:
            sub = self.start_subscription(s)
            s["subscription"], s["invoice"] = sub["id"], sub["latest_invoice"]
        s.update(status="complete", payment_status="unpaid" if outcome == "async" else
                 "paid" if due else "no_payment_required")
        self.emit("checkout.session.completed", s)
        return s

    def settle_session(self, sid: str, result: str) -> Obj:
        s = self.get("checkout.session", sid)
        pi = self.objects.get(s["payment_intent"] or "")
        if s["status"] != "complete" or s["payment_status"] != "unpaid" or pi is None or pi["status"] != "processing":
            raise invalid(f"Checkout Session {sid} has no payment in progress.")
        if result not in {"succeeded", "failed"}:
            raise invalid("result is succeeded or failed.", "result")
        self.settle(pi, result == "succeeded")
        if result == "succeeded":
            s["payment_status"] = "paid"
        self.emit(f"checkout.session.async_payment_{result}", s)
        return s

    # ---- subscriptions and invoices ---------------------------------------------------------------

    def start_subscription(self, s: Obj) -> Obj:
        price_id, qty = next((pid, q) for pid, q in s["_lines"] if self.objects[pid]["type"] == "recurring")
        price, start, trial = self.objects[price_id], self.now(), s["_trial_days"]
        end = start + trial * 86400 if trial else period_end(start, price["recurring"])
        coupon = self.objects.get(s["_coupon"] or "")
        repeating = coupon is not None and coupon["duration"] == "repeating"
        sub = self.put({
            "id": new_id("sub"), "object": "subscription", "created": start, "customer": s["customer"],
            "status": "trialing" if trial else "active", "cancel_at_period_end": False, "cancel_at": None,
            "canceled_at": None, "ended_at": None, "start_date": start, "trial_start": start if trial else None,
            "trial_end": end if trial else None, "metadata": dict(s["_sub_metadata"]), "latest_invoice": None,
            "currency": price["currency"], "collection_method": "charge_automatically", "livemode": False,
            "discounts": [], "items": {"object": "list", "has_more": False, "data": [{
                "id": new_id("si"), "object": "subscription_item", "created": start, "price": public(price),
                "quantity": qty, "current_period_start": start, "current_period_end": end, "metadata": {}}]},
            "_coupon": coupon["id"] if coupon else None, "_invoices": 0,
            "_discount_until": add_months(start, coupon["duration_in_months"]) if repeating else None,
        })
        self.emit("customer.subscription.created", sub)
        self.invoice(sub, "subscription_create", fail=False, amount=0 if trial else None)
        return sub

    def invoice(self, sub: Obj, reason: str, *, fail: bool, amount: int | None = None) -> Obj:
        item = sub["items"]["data"][0]
        if amount is None:
            gross = item["price"]["unit_amount"] * item["quantity"]
            coupon = self.objects.get(sub["_coupon"] or "")
            applies = coupon is not None and (
                coupon["duration"] == "forever" or (coupon["duration"] == "once" and sub["_invoices"] == 0) or
                (coupon["duration"] == "repeating" and item["current_period_start"] < sub["_discount_until"]))
            amount = gross - (self.discount(gross, coupon) if applies else 0)
        sub["_invoices"] += 1
        inv = self.put({
            "id": new_id("in"), "object": "invoice", "created": self.now(), "customer": sub["customer"],
            "billing_reason": reason, "currency": sub["currency"], "amount_due": amount, "amount_paid": 0,
            "amount_remaining": amount, "attempt_count": 0, "attempted": False, "status": "open", "livemode": False,
            "period_start": item["current_period_start"], "period_end": item["current_period_end"],
            "collection_method": "charge_automatically", "metadata": {},
            "parent": {"type": "subscription_details", "quote_details": None, "subscription_details": {
                "subscription": sub["id"], "metadata": dict(sub["metadata"])}},
            "lines": {"object": "list", "has_more": False, "data": [{
                "id": new_id("il"), "object": "line_item", "amount": amount, "currency": sub["currency"],
                "pricing": {"type": "price_details", "price_details": {"price": item["price"]["id"],
                                                                       "product": item["price"]["product"]}},
                "period": {"start": item["current_period_start"], "end": item["current_period_end"]}}]},
            "payments": {"object": "list", "has_more": False, "data": []},
        })
        sub["latest_invoice"] = inv["id"]
        self.emit("invoice.created", inv)
        self.emit("invoice.finalized", inv)
        self.pay_invoice(inv, fail=fail)
        return inv

    def pay_invoice(self, inv: Obj, *, fail: bool) -> None:
        inv.update(attempt_count=inv["attempt_count"] + 1, attempted=True)
        if inv["amount_due"]:
            outcome = "failed" if fail else "succeeded"
            pi = self.payment(inv["customer"], inv["amount_due"], inv["currency"], outcome, {})
            inv["payments"]["data"].append({
                "id": new_id("inpay"), "object": "invoice_payment", "amount_paid": 0 if fail else inv["amount_due"],
                "amount_requested": inv["amount_due"], "currency": inv["currency"], "invoice": inv["id"],
                "is_default": True, "status": "open" if fail else "paid",
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]}})
        if fail:
            self.emit("invoice.payment_failed", inv)
            return
        inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0)
        self.emit("invoice.paid", inv)
        self.emit("invoice.payment_succeeded", inv)

    def advance(self, sub_id: str, fail: bool) -> Obj:
        sub = self.get("subscription", sub_id)
        if sub["status"] == "canceled":
            raise invalid(f"Subscription {sub_id} is canceled.")
        item = sub["items"]["data"][0]
        self.offset = max(self.offset, item["current_period_end"] - int(time.time()))  # time reaches the period end
        if sub["cancel_at_period_end"]:
            sub.update(status="canceled", ended_at=item["current_period_end"])
            self.emit("customer.subscription.deleted", sub)
            return sub
        before = {"status": sub["status"], "latest_invoice": sub["latest_invoice"],
                  "items": copy.deepcopy(sub["items"])}
        start = item["current_period_end"]
        item.update(current_period_start=start, current_period_end=period_end(start, item["price"]["recurring"]))
        if sub["status"] == "trialing":
            sub["status"] = "active"
        self.emit("customer.subscription.updated", sub, before)
        self.invoice(sub, "subscription_cycle", fail=fail)
        if fail and sub["status"] != "past_due":
            previous = {"status": sub["status"]}
            sub["status"] = "past_due"
            self.emit("customer.subscription.updated", sub, previous)
        return sub

    def retry_invoice(self, inv_id: str, fail: bool) -> Obj:
        inv = self.get("invoice", inv_id)
        if inv["status"] != "open":
            raise invalid(f"Invoice {inv_id} is {inv['status']}, not open.")
        self.pay_invoice(inv, fail=fail)
        sub = self.objects[inv["parent"]["subscription_details"]["subscription"]]
        if not fail and sub["status"] == "past_due" and sub["latest_invoice"] == inv_id:
            sub["status"] = "active"
            self.emit("customer.subscription.updated", sub, {"status": "past_due"})
        return inv

    def trial_will_end(self, sub_id: str) -> Obj:
        sub = self.get("subscription", sub_id)
        if sub["status"] != "trialing":
            raise invalid(f"Subscription {sub_id} is not trialing.")
        self.emit("customer.subscription.trial_will_end", sub)
        return sub

    def update_subscription(self, sub_id: str, p: Obj) -> Obj:
        only(p, {"cancel_at_period_end", "metadata"})
        sub = self.get("subscription", sub_id)
        if sub["status"] == "canceled":
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        before: Obj = {}
        if "cancel_at_period_end" in p:
            cancel = as_bool(p["cancel_at_period_end"], "cancel_at_period_end")
            if cancel != sub["cancel_at_period_end"]:
                before.update(cancel_at_period_end=sub["cancel_at_period_end"], cancel_at=sub["cancel_at"],
                              canceled_at=sub["canceled_at"])
                end = sub["items"]["data"][0]["current_period_end"]
                sub.update(cancel_at_period_end=cancel, cancel_at=end if cancel else None,
                           canceled_at=self.now() if cancel else None)
        if "metadata" in p:
            before["metadata"] = dict(sub["metadata"])
            sub["metadata"].update(metadata(p))
        if before:
            self.emit("customer.subscription.updated", sub, before)
        return sub

    def cancel_subscription(self, sub_id: str) -> Obj:
        sub = self.get("subscription", sub_id)
        if sub["status"] == "canceled":
            raise invalid(f"Subscription {sub_id} is already canceled.")
        sub.update(status="canceled", canceled_at=self.now(), ended_at=self.now())
        self.emit("customer.subscription.deleted", sub)
        return sub

    # ---- refunds and disputes ---------------------------------------------------------------------

    def create_refund(self, p: Obj) -> Obj:
        only(p, {"charge", "payment_intent", "amount", "reason", "metadata"})
        if p.get("payment_intent"):
            charge_id = self.get("payment_intent", p["payment_intent"], "payment_intent")["latest_charge"]
        else:
            charge_id = required(p, "charge")
        ch = self.get("charge", charge_id, "charge")
        if ch["status"] != "succeeded":
            raise invalid(f"Charge {ch['id']} has not succeeded: there is nothing to refund.", "charge")
        left = ch["amount"] - ch["amount_refunded"]
        if left == 0:
            raise StripeError(400, f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded")
        amount = as_int(p["amount"], "amount", 1) if p.get("amount") is not None else left
        if amount > left:
            raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                              code="amount_too_large", param="amount")
        if p.get("reason") not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise invalid("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer", "reason")
        refund = self.put({"id": new_id("re"), "object": "refund", "created": self.now(), "amount": amount,
                           "charge": ch["id"], "currency": ch["currency"], "payment_intent": ch["payment_intent"],
                           "reason": p.get("reason"), "status": "succeeded", "metadata": metadata(p)})
        before = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] == ch["amount"]
        ch["refunds"]["data"].insert(0, public(refund))
        self.emit("refund.created", refund)
        self.emit("charge.refunded", ch, before)
        return refund

    def open_dispute(self, charge_id: str, p: Obj) -> Obj:
        ch = self.get("charge", charge_id)
        if ch["status"] != "succeeded" or ch["disputed"]:
            raise invalid(f"Charge {charge_id} cannot be disputed now.")
        ch["disputed"] = True
        dp = self.put({"id": new_id("dp"), "object": "dispute", "created": self.now(), "charge": ch["id"],
                       "amount": as_int(p.get("amount", ch["amount"]), "amount", 1), "currency": ch["currency"],
                       "payment_intent": ch["payment_intent"], "reason": p.get("reason", "fraudulent"),
                       "status": "needs_response", "is_charge_refundable": False, "livemode": False, "metadata": {},
                       "evidence_details": {"due_by": self.now() + 7 * 86400, "has_evidence": False,
                                            "past_due": False, "submission_count": 0}})
        self.emit("charge.dispute.created", dp)
        return dp

    def close_dispute(self, dp_id: str, outcome: str) -> Obj:
        dp = self.get("dispute", dp_id)
        if outcome not in {"won", "lost"}:
            raise invalid("outcome is won or lost.", "outcome")
        if dp["status"] in {"won", "lost"}:
            raise invalid(f"Dispute {dp_id} is already closed ({dp['status']}).")
        before = {"status": dp["status"]}
        dp["status"] = outcome
        self.emit("charge.dispute.closed", dp, before)
        if outcome == "won":
            self.emit("charge.dispute.funds_reinstated", dp)
        return dp
