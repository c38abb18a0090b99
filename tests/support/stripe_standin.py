"""Our Stripe stand-in: a real HTTP server that the tests start as a subprocess on a free port.
The official SDK talks to it through ``HUBWIRE_STRIPE_API_BASE`` (``base_addresses={"api": ...}``),
so production code runs unchanged.

Why not localstripe: it has no Checkout Sessions, Prices or disputes, ignores idempotency keys,
sends few of the events our flows need, and uses pre-2020 object shapes. It is also GPL-3.0,
while Hubwire is Apache-2.0. We do not depend on it and copy nothing from it. This file was
written from Stripe's public API reference and the SDK's type stubs.

Object shapes follow API version ``2026-10-28.endive`` (what stripe-python 16.1 pins), but only
for the fields our flows read or write. Current-version details it keeps: periods on the
subscription items, ``latest_charge`` as an id, invoices that name their subscription under
``parent.subscription_details`` and their payments under ``payments``.

Errors use Stripe's envelope ``{"error": {"type", "code", "message", "param"}}`` with Stripe's
4xx statuses: 400 ``parameter_missing``/``parameter_invalid_*``, 404 ``resource_missing``,
400 ``idempotency_error``, 401 for a key that is not ``sk_test_…``. Unknown routes get a JSON 404.

Run: ``python -m tests.support.stripe_standin [--port 0]``. It prints
``stripe stand-in listening on http://127.0.0.1:PORT``. tests/support/payments.py starts it and
drives the control routes.

Stripe API (``/v1``, form-encoded as the SDK sends it):
  customers                     create, retrieve
  products, prices              create, retrieve (``line_items[].price``; we send ``price_data``)
  coupons                       create (own ``id`` optional, duplicate → ``resource_already_exists``), retrieve
  checkout/sessions             create, retrieve, ``/{id}/expire``: mode ``payment``/``subscription``,
                                ``line_items`` with ``price_data`` (``product_data``, ``recurring``),
                                ``discounts[][coupon]``, ``customer``/``customer_email``,
                                ``client_reference_id``, ``metadata``, ``subscription_data``
                                (``metadata``, ``trial_period_days``), ``payment_intent_data.metadata``,
                                ``success_url``/``cancel_url``; answers with ``url``
  subscriptions                 retrieve, update (``cancel_at_period_end``, ``metadata``), cancel (DELETE)
  invoices, payment_intents, charges, disputes, events   retrieve
  refunds                       create (``charge`` or ``payment_intent``, ``amount`` optional =
                                the remainder; over-refund → 400 ``amount_too_large``; nothing left →
                                400 ``charge_already_refunded``), retrieve
  ``expand[]``                  one level, on any retrieve
  Idempotency-Key               same key + same params → the same answer (``Idempotent-Replayed:
                                true``); same key + other params → 400 ``idempotency_error``. Only
                                successes are kept; an error is not replayed, as at Stripe for
                                requests refused before they ran.

Test control (``/_test``: JSON answers; it plays the payer, time and the webhook transport):
  POST /_test/checkout/sessions/{id}/complete   ``outcome``: ``paid`` (the default; ``no_payment_required``
                                 when nothing is due now: a trial, a 100 % coupon), ``async`` (payment
                                 mode: completed ``unpaid``, settled later), ``declined`` (the card is
                                 declined; the session stays open)
  GET  {session.url}             the same as ``paid``, then 303 to ``success_url`` (browser-style tests)
  POST /_test/checkout/sessions/{id}/settle     ``result``: ``succeeded``/``failed`` → async_payment_*
  POST /_test/subscriptions/{id}/advance        go to the end of the period: renewal (``fail=true`` →
                                 ``past_due`` and ``invoice.payment_failed``), the end of a trial, or,
                                 with ``cancel_at_period_end``, ``customer.subscription.deleted``. The
                                 stand-in's clock moves to the period end.
  POST /_test/subscriptions/{id}/trial_will_end customer.subscription.trial_will_end
  POST /_test/invoices/{id}/pay                 retry an open invoice (``fail=true``: fails again)
  POST /_test/charges/{id}/dispute              charge.dispute.created (``amount``, ``reason``)
  POST /_test/disputes/{id}/close               ``outcome`` ``won``/``lost`` → charge.dispute.closed
  GET/POST /_test/clock                         the stand-in's time (``advance`` seconds); object times
                                 use it, webhook signatures use real time
  POST /_test/webhooks           ``url``, ``secret``, ``hold``: where signed events go (DELETE: nowhere;
                                 events are still recorded). Each one is
                                 POSTed in order by one delivery thread, signed as Stripe signs them
                                 (``Stripe-Signature: t=…,v1=hex(HMAC-SHA256(secret, f"{t}.{body}"))``).
                                 A failed delivery is logged and not retried.
  POST /_test/webhooks/hold · GET /_test/webhooks/held · POST /_test/webhooks/release
                                 keep events back, then deliver them now in ``order`` ``fifo`` or
                                 ``reverse`` or the ``ids[]`` given (the rest stay held)
  POST /_test/events/{id}/deliver                again, now: ``times``, ``concurrent=true`` (all
                                 copies start together, one thread each), ``urls[]`` (default: the
                                 configured url; each url gets ``times`` copies)
  POST /_test/flush              wait until every queued event has been delivered
  GET  /_test/events · /_test/deliveries · /_test/requests   what was emitted, delivered, requested
  POST /_test/faults             the next ``count`` /v1 requests (to ``path`` prefix, if given)
                                 answer ``status`` (5xx: ``api_error``; 429: rate limited; 402: a
                                 declined card), or wait ``delay`` seconds first, or ``drop`` the
                                 connection
  DELETE /_test/data             forget everything (objects, events, logs, faults, clock, webhooks)

Not served (add them when a flow needs them): promotion codes, list endpoints, proration and plan
changes, more than one subscription item, async payment methods in subscription mode, automatic
retries of failed webhook deliveries. Checkout creates a Customer in both modes. A ``once``
coupon discounts the first invoice and ``repeating`` discounts the invoices that start within its
months.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.stripe_standin_objects import (
    API_VERSION,
    Obj,
    StripeError,
    StripeObjects,
    as_bool,
    as_int,
    missing,
    new_id,
    required,
    unflatten,
)


class Standin(StripeObjects):
    """The objects, plus what only the stand-in has: the webhook transport (configuration, the
    queue one thread delivers in order, held events, the delivery log), idempotency records, the
    request log and injected faults."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.RLock()
        self.outbox: queue.Queue[Obj] = queue.Queue()
        self.reset()
        threading.Thread(target=self._deliver_forever, daemon=True, name="webhooks").start()

    def reset(self) -> None:
        super().reset()
        self.idempotency: dict[tuple[str, str | None], tuple[Any, Obj]] = {}
        self.held: list[Obj] = []
        self.deliveries: list[Obj] = []
        self.requests: list[Obj] = []
        self.faults: list[Obj] = []
        self.webhook: Obj = {"url": None, "secret": None, "hold": False}

    def publish(self, event: Obj) -> None:
        if self.webhook["hold"]:
            self.held.append(event)
        else:
            self.outbox.put(event)

    def sign(self, body: bytes, secret: str) -> str:
        t = int(time.time())  # real time: receivers check it against their clock (300 s tolerance)
        return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"

    def deliver(self, event: Obj, url: str | None = None) -> Obj:
        """POST ``event`` to ``url`` (default: the configured one), signed; the outcome is logged."""
        url = url or self.webhook["url"]
        body = self.payloads[event["id"]]
        record: Obj = {"event_id": event["id"], "type": event["type"], "url": url, "status": None, "error": None}
        request = urllib.request.Request(url or "", data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": self.sign(body, self.webhook["secret"] or "")})
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                record["status"] = answer.status
                answer.read()
        except urllib.error.HTTPError as exc:
            record["status"] = exc.code
            exc.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            record["error"] = str(exc)
        with self.lock:
            self.deliveries.append(record)
        return record

    def _deliver_forever(self) -> None:
        while True:
            event = self.outbox.get()
            try:
                if self.webhook["url"]:
                    self.deliver(event)
            except Exception as exc:  # keep the thread alive whatever one delivery does
                print("stand-in: delivery failed:", exc, flush=True)
            finally:
                self.outbox.task_done()

    def deliver_now(self, event: Obj, urls: list[str], times: int, concurrent: bool) -> list[Obj]:
        """Deliver ``event`` ``times`` to each of ``urls`` now; ``concurrent``: all copies start together."""
        jobs = [u for u in urls for _ in range(times)]
        if not concurrent:
            return [self.deliver(event, u) for u in jobs]
        results: list[Obj] = [{} for _ in jobs]
        start = threading.Barrier(len(jobs))

        def one(i: int, url: str) -> None:
            start.wait()
            results[i] = self.deliver(event, url)

        threads = [threading.Thread(target=one, args=(i, u)) for i, u in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results


# ---- HTTP -----------------------------------------------------------------------------------------

Route = tuple[str, str, Callable[..., Any]]


def routes(st: Standin) -> list[Route]:
    """(method, path pattern, handler(params, *groups)) for the Stripe API and the control routes."""
    return [
        ("POST", r"/v1/customers", st.create_customer),
        ("GET", r"/v1/customers/([^/]+)", lambda p, i: st.get("customer", i)),
        ("POST", r"/v1/products", st.create_product),
        ("GET", r"/v1/products/([^/]+)", lambda p, i: st.get("product", i)),
        ("POST", r"/v1/prices", st.create_price),
        ("GET", r"/v1/prices/([^/]+)", lambda p, i: st.get("price", i)),
        ("POST", r"/v1/coupons", st.create_coupon),
        ("GET", r"/v1/coupons/([^/]+)", lambda p, i: st.get("coupon", i)),
        ("POST", r"/v1/checkout/sessions", st.create_session),
        ("GET", r"/v1/checkout/sessions/([^/]+)", lambda p, i: st.get("checkout.session", i)),
        ("POST", r"/v1/checkout/sessions/([^/]+)/expire", lambda p, i: st.expire_session(i)),
        ("GET", r"/v1/subscriptions/([^/]+)", lambda p, i: st.get("subscription", i)),
        ("POST", r"/v1/subscriptions/([^/]+)", lambda p, i: st.update_subscription(i, p)),
        ("DELETE", r"/v1/subscriptions/([^/]+)", lambda p, i: st.cancel_subscription(i)),
        ("GET", r"/v1/invoices/([^/]+)", lambda p, i: st.get("invoice", i)),
        ("GET", r"/v1/payment_intents/([^/]+)", lambda p, i: st.get("payment_intent", i)),
        ("GET", r"/v1/charges/([^/]+)", lambda p, i: st.get("charge", i)),
        ("POST", r"/v1/refunds", st.create_refund),
        ("GET", r"/v1/refunds/([^/]+)", lambda p, i: st.get("refund", i)),
        ("GET", r"/v1/disputes/([^/]+)", lambda p, i: st.get("dispute", i)),
        ("GET", r"/v1/events/([^/]+)", lambda p, i: st.get("event", i)),
        # ---- test control
        ("POST", r"/_test/checkout/sessions/([^/]+)/complete",
         lambda p, i: st.complete_session(i, p.get("outcome", "paid"))),
        ("POST", r"/_test/checkout/sessions/([^/]+)/settle", lambda p, i: st.settle_session(i, p.get("result", ""))),
        ("POST", r"/_test/subscriptions/([^/]+)/advance", lambda p, i: st.advance(i, as_bool(p.get("fail"), "fail"))),
        ("POST", r"/_test/subscriptions/([^/]+)/trial_will_end", lambda p, i: st.trial_will_end(i)),
        ("POST", r"/_test/invoices/([^/]+)/pay", lambda p, i: st.retry_invoice(i, as_bool(p.get("fail"), "fail"))),
        ("POST", r"/_test/charges/([^/]+)/dispute", lambda p, i: st.open_dispute(i, p)),
        ("POST", r"/_test/disputes/([^/]+)/close", lambda p, i: st.close_dispute(i, p.get("outcome", ""))),
        ("GET", r"/_test/clock", lambda p: {"now": st.now()}),
        ("POST", r"/_test/clock", lambda p: setattr(st, "offset", st.offset + as_int(p.get("advance", 0), "advance"))
         or {"now": st.now()}),
        ("POST", r"/_test/webhooks", lambda p: st.webhook.update(
            url=required(p, "url"), secret=required(p, "secret"), hold=as_bool(p.get("hold"), "hold")) or st.webhook),
        ("DELETE", r"/_test/webhooks", lambda p: st.webhook.update(url=None, hold=False) or st.webhook),
        ("POST", r"/_test/webhooks/hold", lambda p: st.webhook.update(hold=True) or st.webhook),
        ("GET", r"/_test/webhooks/held", lambda p: {"data": [{"id": e["id"], "type": e["type"]} for e in st.held]}),
        ("POST", r"/_test/faults", lambda p: st.faults.extend(
            [{"status": as_int(p.get("status", 0), "status"), "delay": float(p.get("delay", 0)),
              "drop": as_bool(p.get("drop"), "drop"), "path": p.get("path", "/v1/")}]
            * as_int(p.get("count", 1), "count", 1)) or {"pending": len(st.faults)}),
        ("DELETE", r"/_test/faults", lambda p: st.faults.clear() or {"pending": 0}),
        ("GET", r"/_test/events", lambda p: {"data": [{"id": e["id"], "type": e["type"]} for e in st.events]}),
        ("GET", r"/_test/deliveries", lambda p: {"data": list(st.deliveries)}),
        ("GET", r"/_test/requests", lambda p: {"data": list(st.requests)}),
        ("DELETE", r"/_test/data", lambda p: st.reset() or {"ok": True}),
    ]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: Standin
    table: list[Route]

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", self.standin.request_ctx.get("id") or new_id("req"))
        self.send_header("Stripe-Version", self.headers.get("Stripe-Version") or API_VERSION)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        params = unflatten(parse_qsl(raw or url.query, keep_blank_values=True))
        path = url.path
        if path.startswith("/_test/"):
            return self._control(path, params)
        if path.startswith("/v1/"):
            return self._api(path, params)
        self._send(404, {"error": {"type": "invalid_request_error",
                                   "message": f"Unrecognized request URL ({self.command}: {path})."}})

    def _control(self, path: str, params: Obj) -> None:
        st = self.standin
        if path == "/_test/flush":
            st.outbox.join()
            return self._send(200, {"delivered": len(st.deliveries)})
        if m := re.fullmatch(r"/_test/pay/([^/]+)", path):  # the payer's browser on session.url
            try:
                with st.lock:
                    st.request_ctx = {"id": None, "idempotency_key": None}
                    s = st.complete_session(m.group(1))
            except StripeError as exc:
                return self._send(exc.status, exc.body)
            self.send_response(303)
            self.send_header("Location", s["success_url"].replace("{CHECKOUT_SESSION_ID}", s["id"]))
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if path == "/_test/webhooks/release":
            with st.lock:
                ids = params.get("ids") or []
                if ids:
                    chosen = [e for i in ids for e in st.held if e["id"] == i]
                else:
                    chosen = list(reversed(st.held)) if params.get("order") == "reverse" else list(st.held)
                st.held = [e for e in st.held if e not in chosen]
                if not as_bool(params.get("keep_holding"), "keep_holding"):
                    st.webhook["hold"] = False
            return self._send(200, {"data": [st.deliver(e) for e in chosen]})
        if m := re.fullmatch(r"/_test/events/([^/]+)/deliver", path):
            with st.lock:
                event = st.objects.get(m.group(1))
            if event is None or event["object"] != "event":
                return self._send(404, missing("event", m.group(1)).body)
            urls = params.get("urls") or [st.webhook["url"]]
            results = st.deliver_now(event, urls, as_int(params.get("times", 1), "times", 1),
                                     as_bool(params.get("concurrent"), "concurrent"))
            return self._send(200, {"data": results})
        with st.lock:
            st.request_ctx = {"id": None, "idempotency_key": None}  # what the payer or time does, not an API call
            self._route(path, params)

    def _api(self, path: str, params: Obj) -> None:
        st = self.standin
        auth = self.headers.get("Authorization", "")
        key = self.headers.get("Idempotency-Key")
        record = {"method": self.command, "path": path, "idempotency_key": key,
                  "stripe_version": self.headers.get("Stripe-Version"), "status": None, "replayed": False}
        with st.lock:
            st.requests.append(record)
            fault = next((f for f in st.faults if path.startswith(f["path"])), None)
            if fault is not None:
                st.faults.remove(fault)
        if fault is not None:
            time.sleep(fault["delay"])
            if fault["drop"]:
                self.close_connection = True
                return
            if fault["status"]:
                record["status"] = fault["status"]
                error = {"type": {429: "rate_limit_error", 402: "card_error"}.get(fault["status"], "api_error"),
                         "message": "Your card was declined." if fault["status"] == 402 else "Told to fail (stand-in)."}
                if fault["status"] == 402:
                    error.update(code="card_declined", decline_code="generic_decline")
                return self._send(fault["status"], {"error": error})
        if not auth.startswith("Bearer sk_test_"):
            record["status"] = 401
            return self._send(401, {"error": {"type": "invalid_request_error",
                                              "message": "Invalid API Key provided: only sk_test_ keys here."}})
        with st.lock:  # a key is looked up and its request run under one lock: a second copy waits, then replays
            fingerprint = (path, json.dumps(params, sort_keys=True))
            hit = st.idempotency.get((auth, key)) if key and self.command == "POST" else None
            if hit is not None and hit[0] != fingerprint:
                record["status"] = 400
                return self._send(400, {"error": {
                    "type": "idempotency_error", "message": "Keys for idempotent requests can only be used with "
                    f"the same parameters they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request."}})
            if hit is not None:
                record.update(status=200, replayed=True)
                return self._send(200, hit[1], {"Idempotent-Replayed": "true", "Idempotency-Key": key or ""})
            st.request_ctx = {"id": new_id("req"), "idempotency_key": key if self.command == "POST" else None}
            status, body = self._route(path, params)
            if key and self.command == "POST" and status == 200:
                st.idempotency[(auth, key)] = (fingerprint, body)
            record["status"] = status

    def _route(self, path: str, params: Obj) -> tuple[int, Any]:
        st = self.standin
        for method, pattern, fn in self.table:
            m = re.fullmatch(pattern, path)
            if m is None or method != self.command:
                continue
            fields = params.pop("expand", None)
            try:
                with st.lock:
                    body = st.expand(fn(params, *m.groups()), fields)
            except StripeError as exc:
                self._send(exc.status, exc.body)
                return exc.status, exc.body
            except Exception as exc:  # a bug of the stand-in: say so in Stripe's envelope rather than hang up
                body = {"error": {"type": "api_error", "message": f"stand-in failure: {exc!r}"}}
                self._send(500, body)
                return 500, body
            self._send(200, body)
            return 200, body
        body = {"error": {"type": "invalid_request_error",
                          "message": f"Unrecognized request URL ({self.command}: {path})."}}
        self._send(404, body)
        return 404, body

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="Hubwire's Stripe stand-in (tests only)")
    parser.add_argument("--port", type=int, default=0)
    server = ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler)
    server.daemon_threads = True
    standin = Standin(server.server_address[1])
    Handler.standin, Handler.table = standin, routes(standin)
    print(f"stripe stand-in listening on http://127.0.0.1:{standin.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
