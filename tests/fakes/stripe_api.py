"""A loopback fake of the Stripe API calls we make: it speaks Stripe's wire format (form-encoded requests with
bracketed keys, JSON objects with `object` fields, list envelopes, Idempotency-Key replays, error envelopes) so the
official `stripe` client can be pointed at it with `base_addresses={"api": url}`."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import QuietHandler, serving


def nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`line_items[0][price]=p`) back into nested dicts (lists as index-keyed dicts)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


@dataclass
class FakeStripe:
    prices: dict[str, str] = field(default_factory=dict)  # lookup key -> price id
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # subscription ids Stripe no longer knows
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> subscription object
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> charge object
    requests: list[tuple[str, str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with a 500 api_error
    _replays: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, headers, params))
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
            key = headers.get("idempotency-key")
            if method == "POST" and key and key in self._replays:
                return self._replays[key]
            answer = self._route(method, path, params)
            if method == "POST" and key:
                self._replays[key] = answer
            return answer

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if (method, path) == ("POST", "/v1/customers"):
            customer = {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer", **params}
            self.customers[customer["id"]] = customer
            return 200, customer
        if (method, path) == ("GET", "/v1/prices"):
            keys = list(params.get("lookup_keys", {}).values())
            data = [
                {"id": self.prices[k], "object": "price", "lookup_key": k, "active": True}
                for k in keys
                if k in self.prices
            ]
            return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            session_id = f"cs_test_{uuid.uuid4().hex[:20]}"
            session = {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                **params,
            }
            self.sessions.append(session)
            return 200, session
        if (method, path) == ("POST", "/v1/billing_portal/sessions"):
            session_id = f"bps_{uuid.uuid4().hex[:14]}"
            portal = {
                "id": session_id,
                "object": "billing_portal.session",
                "url": f"https://billing.stripe.com/p/session/{session_id}",
            }
            return 200, {**portal, **params}
        if method in ("GET", "POST") and path.startswith("/v1/subscriptions/"):
            subscription = self.subscriptions.get(path.rsplit("/", 1)[1])
            if subscription is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such subscription",
                    }
                }
            if "cancel_at_period_end" in params:
                subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
            for change in params.get("items", {}).values():
                lookup_keys = {price: key for key, price in self.prices.items()}
                for item in subscription["items"]["data"]:
                    if item.get("id") == change.get("id"):
                        item["price"] = {"id": change["price"], "lookup_key": lookup_keys.get(change["price"])}
            return 200, subscription
        if method == "DELETE" and path.startswith("/v1/subscriptions/"):
            subscription_id = path.rsplit("/", 1)[1]
            if subscription_id in self.missing:
                message = f"No such subscription: '{subscription_id}'"
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": message}}
            self.cancelled.append(subscription_id)
            known = self.subscriptions.get(subscription_id)
            if known is not None:
                known["status"] = "canceled"
                return 200, known
            return 200, {"id": subscription_id, "object": "subscription", "status": "canceled"}
        if method == "GET" and path.startswith("/v1/charges/"):
            charge = self.charges.get(path.rsplit("/", 1)[1])
            if charge is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
            return 200, charge
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}


@contextmanager
def fake_stripe(prices: dict[str, str] | None = None) -> Iterator[tuple[str, FakeStripe]]:
    state = FakeStripe(prices=dict(prices or {}))

    class Handler(QuietHandler):
        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = nested(parse_qsl(url.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = state.handle(method, url.path, headers, params)
            self.reply(status, json.dumps(payload).encode(), headers={"Request-Id": f"req_{uuid.uuid4().hex[:14]}"})

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

    with serving(Handler) as base_url:
        yield base_url, state
