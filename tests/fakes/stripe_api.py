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
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> invoice object
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> subscription schedule
    # How a customer's card answers a charge, as Stripe's test cards do: "succeeds" (pm_card_visa), "declines"
    # (pm_card_chargeCustomerFail) or "requires_action" (pm_card_authenticationRequired: a 3-D Secure check).
    payment_outcomes: dict[str, str] = field(default_factory=dict)
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
    # Idempotency-Key -> the first request's parameters and its answer.
    _replays: dict[str, tuple[dict[str, Any], tuple[int, dict[str, Any]]]] = field(default_factory=dict)
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
                # "The idempotency layer compares incoming parameters to those of the original request and errors if
                # they're not the same to prevent accidental misuse." (docs.stripe.com/api/idempotent_requests)
                first_params, answer = self._replays[key]
                if first_params != params:
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters they were first used "
                        f"with. Try using a key other than '{key}' if you meant to execute a different request."
                    )
                    answer = 400, {"error": {"type": "idempotency_error", "message": message}}
            else:
                answer = self._route(method, path, params)
                # "If incoming parameters fail validation ... no idempotent result is saved" (Stripe, idempotency)
                if method == "POST" and key and answer[0] != 400:
                    self._replays[key] = (params, answer)
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
        if (method, path) == ("GET", "/v1/subscriptions"):
            return 200, self._list_subscriptions(params)
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
            if method == "POST":
                refused = self._update_subscription(subscription, params)
                if refused is not None:
                    return 400, {"error": {"type": "invalid_request_error", **refused}}
            return 200, self._expanded(subscription, params)
        if path.startswith("/v1/subscription_schedules"):
            return self._schedules(method, path, params)
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

    # Pending updates (docs.stripe.com/billing/subscriptions/pending-updates and its reference): with
    # payment_behavior=pending_if_incomplete "you can only pass the parameters supported by pending updates"; an update
    # that invoices (proration_behavior=always_invoice) is applied only if its invoice is paid, otherwise "the updated
    # values are added to the pending_update hash on the Subscription object. The latest_invoice for the subscription
    # refers to an unpaid invoice in an open status." The pending update expires at "either the trial end time or the
    # current period end, whichever comes first", at most 23 hours after the update.
    PENDING_UPDATE_PARAMS = frozenset(
        {
            "expand",
            "payment_behavior",
            "proration_behavior",
            "proration_date",
            "billing_cycle_anchor",
            "items",
            "trial_end",
            "trial_from_plan",
            "add_invoice_items",
        }
    )

    def _update_subscription(self, subscription: dict[str, Any], params: dict[str, Any]) -> dict[str, str] | None:
        """Apply POST /v1/subscriptions/{id}; an error's fields when Stripe refuses it."""
        pending = params.get("payment_behavior") == "pending_if_incomplete"
        if pending and (unsupported := sorted(set(params) - self.PENDING_UPDATE_PARAMS)):
            return {
                "param": unsupported[0],
                "message": f"When using `payment_behavior=pending_if_incomplete`, `{unsupported[0]}` is not supported.",
            }
        if "cancel_at_period_end" in params:
            if subscription.get("schedule"):
                schedule = subscription["schedule"]
                return {
                    "message": f"The subscription is managed by the subscription schedule `{schedule}`, and updating "
                    "any cancelation behavior directly is not allowed. Please update the schedule instead."
                }
            subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        changes = [{"id": change.get("id"), "price": change["price"]} for change in params.get("items", {}).values()]
        if not changes:
            return None
        if params.get("proration_behavior") != "always_invoice":
            self._apply_items(subscription, changes)
            return None
        outcome = self.payment_outcomes.get(subscription.get("customer", ""), "succeeds")
        # A declined card leaves the invoice's PaymentIntent requires_payment_method, a 3-D Secure check
        # requires_action; either way the invoice stays open and the change waits.
        self._invoice(subscription, paid=outcome == "succeeds")
        if outcome == "succeeds":
            self._apply_items(subscription, changes)
        elif pending:
            now = int(time.time())
            ends = [t for t in (subscription.get("trial_end"), self._period_end(subscription)) if t]
            expires_at = min([*ends, now + 23 * 3600])
            subscription["pending_update"] = {"expires_at": expires_at, "subscription_items": changes}
        else:  # allow_incomplete, the default: the change applies and the subscription goes past_due
            self._apply_items(subscription, changes)
            subscription["status"] = "past_due"
        return None

    def _apply_items(self, subscription: dict[str, Any], changes: list[dict[str, Any]]) -> None:
        lookup_keys = {price: key for key, price in self.prices.items()}
        for change in changes:
            for item in subscription["items"]["data"]:
                if item.get("id") == change.get("id"):
                    item["price"] = {"id": change["price"], "lookup_key": lookup_keys.get(change["price"])}

    @staticmethod
    def _period_end(subscription: dict[str, Any]) -> int | None:
        items = subscription.get("items", {}).get("data", [])
        end: int | None = subscription.get("current_period_end") or (
            items[0].get("current_period_end") if items else None
        )
        return end

    def _invoice(self, subscription: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        invoice_id = f"in_{uuid.uuid4().hex[:14]}"
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "status": "paid" if paid else "open",
            "customer": subscription.get("customer"),
            "parent": {"subscription_details": {"subscription": subscription["id"]}},
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
        }
        self.invoices[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    def _expanded(self, subscription: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if "latest_invoice" in params.get("expand", {}).values() and subscription.get("latest_invoice"):
            return {**subscription, "latest_invoice": self.invoices[subscription["latest_invoice"]]}
        return subscription

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        """The customer confirms the payment with their bank (3-D Secure) or pays with another card on the invoice's
        page: "If the payment succeeds, the changes are applied and the pending_update hash is cleared." Returns
        the subscription as Stripe's events then carry it."""
        invoice = self.invoices[invoice_id]
        invoice["status"] = "paid"
        subscription = self.subscriptions[invoice["parent"]["subscription_details"]["subscription"]]
        pending = subscription.pop("pending_update", None)
        if pending is not None:
            self._apply_items(subscription, pending["subscription_items"])
        return subscription

    def expire_pending_update(self, subscription_id: str) -> dict[str, Any]:
        """Nobody paid before `expires_at`: "the invoice is voided and the pending update is discarded"."""
        subscription = self.subscriptions[subscription_id]
        subscription.pop("pending_update")
        self.invoices[subscription["latest_invoice"]]["status"] = "void"
        return subscription

    # Subscription schedules (docs.stripe.com/billing/subscriptions/subscription-schedules and the API reference):
    # `from_subscription` "Migrate[s] an existing subscription to be managed by a subscription schedule ... When using
    # this parameter, other parameters (such as phase values) cannot be set"; the current phase's start cannot move;
    # `release` "will end the subscription schedule and keep the underlying subscription running".
    def _schedules(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")  # v1, subscription_schedules[, id[, release]]
        if (method, len(parts)) == ("POST", 2):
            return self._schedule_from(params)
        schedule = self.schedules.get(parts[2]) if len(parts) > 2 else None
        if schedule is None:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        if method == "GET":
            return 200, schedule
        if len(parts) == 4 and parts[3] == "release":
            schedule.update(status="released", released_subscription=schedule["subscription"], subscription=None)
            self.subscriptions[schedule["released_subscription"]]["schedule"] = None
            return 200, schedule
        phases = [params["phases"][k] for k in sorted(params.get("phases", {}), key=int)]
        if phases and int(phases[0].get("start_date", 0)) != schedule["current_phase"]["start_date"]:
            message = "You can not modify the start date of the current phase."
            return 400, {
                "error": {"type": "invalid_request_error", "param": "phases[0][start_date]", "message": message}
            }
        if phases:
            schedule["phases"] = phases
        schedule["end_behavior"] = params.get("end_behavior", schedule["end_behavior"])
        return 200, schedule

    def _schedule_from(self, params: dict[str, Any]) -> tuple[int, Any]:
        if set(params) - {"from_subscription", "expand", "metadata"}:
            message = "You cannot set `phases` if `from_subscription` is set."
            return 400, {"error": {"type": "invalid_request_error", "message": message}}
        subscription = self.subscriptions[params["from_subscription"]]
        if subscription.get("schedule"):
            message = "You cannot migrate a subscription that is already attached to a schedule."
            return 400, {"error": {"type": "invalid_request_error", "message": message}}
        item = subscription["items"]["data"][0]
        phase = {"start_date": item["current_period_start"], "end_date": item["current_period_end"]}
        schedule_id = f"sub_sched_{uuid.uuid4().hex[:14]}"
        self.schedules[schedule_id] = {
            "id": schedule_id,
            "object": "subscription_schedule",
            "status": "active",
            "subscription": subscription["id"],
            "customer": subscription.get("customer"),
            "end_behavior": "release",
            "current_phase": phase,
            "phases": [{**phase, "items": [{"price": item["price"]["id"], "quantity": 1}]}],
        }
        subscription["schedule"] = schedule_id
        return 200, self.schedules[schedule_id]

    def enter_next_phase(self, subscription_id: str) -> dict[str, Any]:
        """The paid period ends: the schedule's next phase starts (its price on the subscription, a new period) and,
        it being the last with end_behavior=release, the schedule releases the subscription."""
        subscription = self.subscriptions[subscription_id]
        schedule = self.schedules[subscription["schedule"]]
        item = subscription["items"]["data"][0]
        following = schedule["phases"][1]
        self._apply_items(subscription, [{"id": item["id"], "price": following["items"]["0"]["price"]}])
        days = 365 if following["duration"]["interval"] == "year" else 30
        start = item["current_period_end"]
        item.update(current_period_start=start, current_period_end=start + days * 86400)
        schedule.update(status="released", released_subscription=subscription_id, subscription=None)
        subscription["schedule"] = None
        return subscription

    def _list_subscriptions(self, params: dict[str, Any]) -> dict[str, Any]:
        """GET /v1/subscriptions: "status ... Passing in a value of `all` will return subscriptions of all statuses.
        If no value is supplied, all subscriptions that have not been canceled are returned." (API reference)"""
        status = params.get("status")
        data = [
            s
            for s in self.subscriptions.values()
            if params.get("customer") in (None, s.get("customer"))
            and (status == "all" or s["status"] == status or (status is None and s["status"] != "canceled"))
        ]
        limit = int(params.get("limit", 10))
        return {"object": "list", "data": data[:limit], "has_more": len(data) > limit, "url": "/v1/subscriptions"}

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
