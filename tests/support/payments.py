"""Payments in the tests: the Stripe stand-in as a process (tests/support/stripe_standin.py), its
control routes as methods, Stripe's webhook signature made by hand, the rows an order needs, and a
webhook endpoint of the test's own (``WebhookReceiver``).

The control methods are synchronous (httpx). The stand-in answers from its own process, and every
app under test (a `hubwire serve` process, or the in-process app, which the test client serves from
a thread of its own) keeps running while a test waits on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from persistence.ids import new_id
from persistence.models import Contact, Hub, Order, Price, Product, Team

ROOT = Path(__file__).resolve().parents[2]
API_VERSION = "2026-10-28.endive"
SECRET_KEY = "sk_test_hubwire_standin"
WEBHOOK_SECRET = "whsec_hubwire_tests"


class StripeStandin:
    """The stand-in, started as ``python -m tests.support.stripe_standin`` on a free port."""

    def __init__(self, log: Path) -> None:
        self._log = open(log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.stripe_standin", "--port", "0"],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # "stripe stand-in listening on http://127.0.0.1:PORT"
        if not line.startswith("stripe stand-in listening on "):
            self.proc.kill()
            raise AssertionError(f"the stand-in did not start: {line!r}\n{log.read_text()}")
        self.base = line.rsplit(" ", 1)[-1]
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()

    # ---- control routes (see the stand-in's docstring) --------------------------------------------

    def control(self, method: str, path: str, /, **params: Any) -> Any:
        data = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items() if v is not None}
        r = self.http.request(method, "/_test" + path, data=data if method != "GET" else None,
                              params=data if method == "GET" else None)
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        self.control("DELETE", "/data")

    def webhooks(self, url: str, secret: str = WEBHOOK_SECRET, *, hold: bool = False) -> None:
        self.control("POST", "/webhooks", url=url, secret=secret, hold=hold)

    def no_webhooks(self) -> None:
        self.flush()
        self.control("DELETE", "/webhooks")

    def complete(self, session_id: str, outcome: str = "paid") -> dict[str, Any]:
        return dict(self.control("POST", f"/checkout/sessions/{session_id}/complete", outcome=outcome))

    def settle(self, session_id: str, result: str) -> dict[str, Any]:
        return dict(self.control("POST", f"/checkout/sessions/{session_id}/settle", result=result))

    def advance(self, subscription_id: str, *, fail: bool = False) -> dict[str, Any]:
        return dict(self.control("POST", f"/subscriptions/{subscription_id}/advance", fail=fail))

    def dispute(self, charge_id: str) -> dict[str, Any]:
        return dict(self.control("POST", f"/charges/{charge_id}/dispute"))

    def close_dispute(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        return dict(self.control("POST", f"/disputes/{dispute_id}/close", outcome=outcome))

    def flush(self) -> None:
        self.control("POST", "/flush")

    def release(self, *, order: str | None = None, ids: list[str] | None = None) -> list[dict[str, Any]]:
        data: dict[str, Any] = {"order": order} if order else {}
        for i, event_id in enumerate(ids or []):
            data[f"ids[{i}]"] = event_id
        return list(self.control("POST", "/webhooks/release", **data)["data"])

    def deliver(self, event_id: str, *, urls: list[str] | None = None, times: int = 1,
                concurrent: bool = False) -> list[dict[str, Any]]:
        data: dict[str, Any] = {"times": times, "concurrent": concurrent}
        for i, url in enumerate(urls or []):
            data[f"urls[{i}]"] = url
        return list(self.control("POST", f"/events/{event_id}/deliver", **data)["data"])

    def fail_next(self, *, status: int = 0, count: int = 1, delay: float = 0, drop: bool = False,
                  path: str | None = None) -> None:
        self.control("POST", "/faults", status=status, count=count, delay=delay, drop=drop, path=path)

    def events(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/events")["data"])

    def event(self, event_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/events/{event_id}", headers={"Authorization": f"Bearer {SECRET_KEY}"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/deliveries")["data"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/requests")["data"])


# ---- webhook signatures, made by hand ----------------------------------------------------------------


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, t: int | None = None) -> str:
    """Stripe's ``Stripe-Signature`` for ``payload``: ``t=<unix time>,v1=<hex HMAC-SHA256(secret,
    f"{t}.{payload}")>``."""
    t = int(time.time()) if t is None else t
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def stripe_event(type_: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None,
                 previous: dict[str, Any] | None = None) -> bytes:
    """The bytes of a Stripe event around ``obj``, shaped as Stripe sends them."""
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return json.dumps({
        "id": event_id or f"evt_test_{uuid.uuid4().hex}", "object": "event", "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created, "data": data, "livemode": False,
        "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "type": type_,
    }, indent=2).encode()


def signed_headers(payload: bytes, secret: str = WEBHOOK_SECRET, t: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": sign(payload, secret, t)}


# ---- an order's rows, straight into the database (before checkout exists to make them) ------------


def order_rows(*, team_id: uuid.UUID | None = None, hub_id: uuid.UUID | None = None, provider: str = "stripe",
               amount: int = 5000, currency: str = "usd", recurring: bool = False) -> tuple[list[Any], Order]:
    """The rows of a pending order (a contact, a product, a price, the order), in a new team and hub
    unless ``team_id`` and ``hub_id`` name existing ones: rows to add in this order, and the order."""
    now = datetime.now(timezone.utc)
    rows: list[Any] = []
    if team_id is None or hub_id is None:
        team = Team(id=new_id(), name="Payments team", slug=f"pay-{uuid.uuid4().hex[:12]}", is_personal=False,
                    payment_provider=provider, created_at=now, updated_at=now)
        hub = Hub(id=new_id(), team_id=team.id, name="Paid hub", slug="paid", is_private=False, branding={},
                  navigation={}, settings={}, meta={}, allowed_redirect_origins=[], created_at=now, updated_at=now)
        rows += [team, hub]
        team_id, hub_id = team.id, hub.id
    contact = Contact(id=new_id(), email=f"buyer-{uuid.uuid4().hex[:10]}@example.test", created_at=now, updated_at=now)
    product = Product(id=new_id(), team_id=team_id, name="Membership", active=True, meta={}, created_at=now,
                      updated_at=now)
    price = Price(id=new_id(), team_id=team_id, product_id=product.id, amount=amount, currency=currency,
                  type="recurring" if recurring else "one_time", interval="month" if recurring else None,
                  interval_count=1 if recurring else None, active=True, created_at=now, updated_at=now)
    order = Order(id=new_id(), team_id=team_id, hub_id=hub_id, contact_id=contact.id, product_id=product.id,
                  price_id=price.id, provider=provider, status="pending", payment_status="unpaid", currency=currency,
                  amount_subtotal=amount, amount_discount=0, amount_total=amount, amount_refunded=0,
                  created_at=now, updated_at=now)
    return [*rows, contact, product, price, order], order


class WebhookReceiver:
    """A webhook endpoint of the test's own, on a real socket: it checks each delivery's signature
    with the SDK (as the app does) and keeps what came, in order of arrival."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        import stripe

        received: list[dict[str, Any]] = []
        refused: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    stripe.WebhookSignature.verify_header(body.decode(), self.headers.get("Stripe-Signature"),
                                                          secret, stripe.Webhook.DEFAULT_TOLERANCE)
                except stripe.SignatureVerificationError as exc:
                    refused.append(str(exc))
                    status = 400
                else:
                    received.append({"raw": body, **json.loads(body)})
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.received, self.refused = received, refused
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self) -> list[str]:
        return [e["type"] for e in self.received]

    def take(self) -> list[dict[str, Any]]:
        """What came since the last take."""
        out = list(self.received)
        self.received.clear()
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
