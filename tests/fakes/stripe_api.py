"""A loopback fake of the Stripe API calls we make: it speaks Stripe's wire format (form-encoded requests with
bracketed keys, JSON objects with `object` fields, list envelopes, Idempotency-Key replays, error envelopes) so the
official `stripe` client can be pointed at it with `base_addresses={"api": url}`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import QuietHandler, Stall, Traffic, serving

# Stripe's 429 (https://docs.stripe.com/rate-limits, error code `rate_limit` in https://docs.stripe.com/error-codes):
# no Retry-After is documented; Stripe advises exponential backoff.
RATE_LIMITED = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
    }
}


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
    # Connect: Express accounts by id, and the transfers made to them.
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Refuse the next transfer with this error code (400 invalid_request_error), e.g. "balance_insufficient".
    refuse_transfer: str | None = None
    requests: list[tuple[str, str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with a 500 api_error (nothing happens)
    rate_limit_next: int = 0  # answer this many requests with Stripe's 429 (nothing happens)
    lose_next: int = 0  # do this many requests (or replay them) but answer 500: the answer is lost on the way
    stall: Stall = field(default_factory=Stall)  # stall.start() holds every request until stall.release()
    traffic: Traffic = field(default_factory=Traffic)  # latency per request, requests in flight
    _replays: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, headers, params))
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return 429, RATE_LIMITED
            key = headers.get("idempotency-key")
            if method == "POST" and key and key in self._replays:
                answer = self._replays[key]
            else:
                answer = self._route(method, path, params)
                if method == "POST" and key:
                    self._replays[key] = answer
            if self.lose_next > 0:
                self.lose_next -= 1
                return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
            return answer

    def requests_to(self, method: str, path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """The headers and parameters of every request to one address."""
        return [(h, p) for (m, a, h, p) in self.requests if (m, a) == (method, path)]

    def enable_payouts(self, account_id: str) -> dict[str, Any]:
        """What Stripe's account looks like once its owner finished onboarding."""
        account = self.accounts[account_id]
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
        account["capabilities"] = {"transfers": "active"}
        account["requirements"] = {"currently_due": [], "past_due": [], "disabled_reason": None}
        return account

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        if path.startswith(("/v1/accounts", "/v1/account_links", "/v1/transfers")):
            return self._connect(method, path, params)
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

    def _connect(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        now = int(time.time())
        if (method, path) == ("POST", "/v1/accounts"):
            account_id = f"acct_{uuid.uuid4().hex[:16]}"
            self.accounts[account_id] = {
                "id": account_id,
                "object": "account",
                "type": params.get("type"),
                "email": params.get("email"),
                "created": now,
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "capabilities": {"transfers": "inactive"},
                "requirements": {
                    "currently_due": ["external_account", "tos_acceptance.date"],
                    "past_due": [],
                    "disabled_reason": "requirements.past_due",
                },
                "metadata": params.get("metadata", {}),
            }
            return 200, self.accounts[account_id]
        if method == "GET" and path.startswith("/v1/accounts/"):
            account = self.accounts.get(path.rsplit("/", 1)[1])
            if account is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
            return 200, account
        if (method, path) == ("POST", "/v1/account_links"):
            if params.get("account") not in self.accounts:
                return 400, {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "account"}}
            return 200, {
                "object": "account_link",
                "created": now,
                "expires_at": now + 300,
                "url": f"https://connect.stripe.com/setup/e/{params['account']}/{uuid.uuid4().hex[:12]}",
            }
        if (method, path) == ("POST", "/v1/transfers"):
            return self._transfer(params, now)
        if (method, path) == ("GET", "/v1/transfers"):
            group = params.get("transfer_group")
            data = [t for t in self.transfers.values() if group is None or t["transfer_group"] == group]
            return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/transfers"}
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}

    def _transfer(self, params: dict[str, Any], now: int) -> tuple[int, Any]:
        if self.refuse_transfer is not None:
            code, self.refuse_transfer = self.refuse_transfer, None
            return 400, {"error": {"type": "invalid_request_error", "code": code, "message": f"Refused: {code}"}}
        destination = self.accounts.get(params.get("destination", ""))
        if destination is None or destination["capabilities"].get("transfers") != "active":
            message = "Your destination account needs to have the transfers capability enabled."
            return 400, {"error": {"type": "invalid_request_error", "param": "destination", "message": message}}
        transfer_id = f"tr_{uuid.uuid4().hex[:16]}"
        self.transfers[transfer_id] = {
            "id": transfer_id,
            "object": "transfer",
            "amount": int(params["amount"]),
            "amount_reversed": 0,
            "currency": params["currency"],
            "destination": destination["id"],
            "transfer_group": params.get("transfer_group"),
            "metadata": params.get("metadata", {}),
            "reversed": False,
            "created": now,
            "livemode": False,
        }
        return 200, self.transfers[transfer_id]


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
            state.stall.hold()
            with state.traffic.request():
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
