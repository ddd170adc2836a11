"""Provider bindings imported from the previous backend (`cookcam import supabase --subscriptions`, migration
0035): nothing is granted at import, reconciliation fetches each one from the loopback fakes of Stripe, the App
Store Server API and Google Play and records what they say; provider errors leave a binding pending; conflicts are
reported and never moved; a second import changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import asyncpg
import msgspec

from app.billing.entitlements import entitlement_for
from app.cli import build_parser
from app.importer.cli import run_import
from app.importer.supabase import EXIT_CONFLICTS, EXIT_OK, EXIT_UNREADABLE, ExportFiles, import_supabase
from tests.integration.billing.test_reconcile import _active, _run, providers  # noqa: F401 (a fixture)
from tests.integration.importer.exports import SUBSCRIPTION_COLUMNS, OldAccount, write_csv, write_exports

# The export's columns, and the old backend's own tier and status, which the import never reads.
COLUMNS = (*SUBSCRIPTION_COLUMNS, "tier", "status")


def _row(account: OldAccount, provider: str, **values: str) -> dict[str, str]:
    # The old backend's own tier and status claim a paid creator subscription for every row: never trusted.
    row = dict.fromkeys(COLUMNS, "") | {"tier": "creator", "status": "active"}
    return row | {"user_id": account.id, "provider": provider, **values}


def _stripe_subscription(subscription_id: str, customer: str, status: str) -> dict:
    now = int(time.time())
    item = {"id": "si_1", "price": {"id": "price_reg_m", "lookup_key": "cookcam_regular_monthly"}}
    item |= {"current_period_start": now, "current_period_end": now + 30 * 86400}
    return {
        "id": subscription_id,
        "object": "subscription",
        "status": status,
        "customer": customer,
        "metadata": {},  # the old backend's subscriptions name no account of ours
        "livemode": False,
        "items": {"object": "list", "data": [item]},
    }


def _files(tmp_path: Path, accounts: list[OldAccount], rows: list[dict[str, str]]) -> ExportFiles:
    exports = write_exports(tmp_path, accounts)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    subscriptions = write_csv(tmp_path / "subscriptions.csv", columns, rows)
    return ExportFiles(exports.auth_users, exports.profiles, subscriptions=subscriptions)


async def _tier(db: asyncpg.Connection, account: OldAccount) -> str:
    return (await entitlement_for(db, uuid.UUID(account.id))).slug


async def _state(db: asyncpg.Connection) -> tuple:
    return (
        [tuple(r) for r in await db.fetch("select * from imported_billing_bindings order by provider_subscription_id")],
        [tuple(r) for r in await db.fetch("select user_id, customer_id from stripe_customers order by customer_id")],
        [tuple(r) for r in await db.fetch("select provider_subscription_id, status from subscriptions order by 1")],
    )


async def test_imported_bindings_get_their_tier_from_the_providers_only(providers, database_url, db, tmp_path) -> None:  # noqa: F811
    settings, fakes = providers
    paying, apple, google, cancelled, expired = accounts = [OldAccount() for _ in range(5)]
    fakes["stripe"].subscriptions["sub_paying"] = _stripe_subscription("sub_paying", "cus_paying", "active")
    fakes["stripe"].subscriptions["sub_gone"] = _stripe_subscription("sub_gone", "cus_gone", "canceled")
    signer = fakes["signer"]
    transaction = signer.transaction()
    original = transaction["originalTransactionId"]
    fakes["apple"].set_subscription(original, 1, transaction, signer.renewal_info(transaction))
    fakes["google"].add_subscription("tok-paying", acknowledged=True)
    fakes["google"].add_subscription("tok-expired", state="SUBSCRIPTION_STATE_EXPIRED")
    rows = [
        _row(paying, "stripe", stripe_customer_id="cus_paying", stripe_subscription_id="sub_paying"),
        _row(apple, "apple", original_transaction_id=original, environment="sandbox"),
        _row(google, "google", purchase_token="tok-paying", product_id="com.cookcam.pro.monthly"),
        _row(cancelled, "stripe", stripe_customer_id="cus_gone", stripe_subscription_id="sub_gone"),
        _row(expired, "android", purchase_token="tok-expired"),
    ]
    files = _files(tmp_path, accounts, rows)

    dry = await import_supabase(db, files, dry_run=True)
    assert (dry.bindings_imported, dry.exit_code) == (5, EXIT_OK)
    assert await db.fetchval("select count(*) from imported_billing_bindings") == 0

    summary = await import_supabase(db, files)
    assert (summary.bindings_imported, summary.stripe_customers_bound, summary.exit_code) == (5, 2, EXIT_OK)
    customers = dict(await db.fetch("select customer_id, user_id::text from stripe_customers"))
    assert customers == {"cus_paying": paying.id, "cus_gone": cancelled.id}
    # Nothing is granted before the provider answers, whatever the old backend said.
    assert await db.fetchval("select count(*) from subscriptions") == 0
    assert [await _tier(db, account) for account in accounts] == ["free"] * 5

    ran = await _run(settings, database_url)
    assert "imported bindings: 5 recorded, 0 unmapped, 0 conflict(s), 0 error(s)" in ran
    statuses = dict(await db.fetch("select provider_subscription_id, status from subscriptions"))
    assert statuses == {
        "sub_paying": "active",
        original: "active",
        "tok-paying": "active",
        "sub_gone": "expired",
        "tok-expired": "expired",
    }
    assert [await _tier(db, account) for account in accounts] == ["regular", "regular", "regular", "free", "free"]
    owners = dict(await db.fetch("select provider_subscription_id, user_id::text from subscriptions"))
    assert owners["sub_paying"] == paying.id and owners[original] == apple.id and owners["tok-paying"] == google.id
    assert await db.fetchval("select count(*) from imported_billing_bindings where outcome = 'recorded'") == 5
    history = await db.fetch("select distinct cause_kind from subscription_status_history")
    assert [r["cause_kind"] for r in history] == ["reconcile"]

    # A second import and a second run change nothing.
    before = await _state(db)
    again = await import_supabase(db, files)
    assert (again.bindings_imported, again.bindings_already, again.exit_code) == (0, 5, EXIT_OK)
    assert "imported bindings: 0 recorded" in await _run(settings, database_url)
    assert await _state(db) == before


async def test_a_provider_error_leaves_the_binding_pending_until_a_later_run(
    providers,  # noqa: F811
    database_url,
    db,
    tmp_path,
) -> None:
    settings, fakes = providers
    account = OldAccount()
    fakes["stripe"].subscriptions["sub_later"] = _stripe_subscription("sub_later", "cus_later", "active")
    row = _row(account, "stripe", customer_id="cus_later", subscription_id="sub_later")  # the other naming
    assert (await import_supabase(db, _files(tmp_path, [account], [row]))).bindings_imported == 1

    fakes["stripe"].fail_next = 100
    assert "0 recorded, 0 unmapped, 0 conflict(s), 1 error(s) (left pending)" in await _run(settings, database_url)
    pending = await db.fetchrow("select outcome, attempts, last_error from imported_billing_bindings")
    assert (pending["outcome"], pending["attempts"], pending["last_error"]) == (
        None,
        1,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    assert await db.fetchval("select count(*) from subscriptions") == 0
    assert await _tier(db, account) == "free"
    assert tuple(await db.fetchrow("select checked, errors from billing_reconciliation_health")) == (0, 1)

    fakes["stripe"].fail_next = 0
    assert "1 recorded" in await _run(settings, database_url)
    assert tuple(await db.fetchrow("select checked, errors from billing_reconciliation_health")) == (1, 0)
    assert await db.fetchval("select outcome from imported_billing_bindings") == "recorded"
    assert await _tier(db, account) == "regular"


async def test_bindings_held_by_another_account_are_conflicts_never_moved(
    providers,  # noqa: F811
    database_url,
    db,
    tmp_path,
) -> None:
    settings, fakes = providers
    taker, holder, customer_thief, wrong_customer = accounts = [OldAccount() for _ in range(4)]
    other = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'Here') returning id",
        f"{uuid.uuid4().hex}@here.test",
    )
    await _active(db, other, "google", "tok-taken")
    await db.execute("insert into stripe_customers (user_id, customer_id) values ($1, 'cus_here')", other)
    fakes["stripe"].subscriptions["sub_other"] = _stripe_subscription("sub_other", "cus_someone_else", "active")
    rows = [
        _row(taker, "google", purchase_token="tok-taken"),
        _row(holder, "google", purchase_token="tok-twice"),
        _row(taker, "google", purchase_token="tok-twice"),
        _row(customer_thief, "stripe", stripe_customer_id="cus_here", stripe_subscription_id="sub_thief"),
        _row(wrong_customer, "stripe", stripe_customer_id="cus_mine", stripe_subscription_id="sub_other"),
    ]
    files = _files(tmp_path, accounts, rows)

    summary = await import_supabase(db, files)
    assert summary.exit_code == EXIT_CONFLICTS
    assert summary.bindings_imported == 2  # holder's tok-twice and wrong_customer's sub_other
    assert len(summary.conflicts) == 3
    assert all("tok-" not in conflict for conflict in summary.conflicts)  # tokens are never printed
    assert f"account {taker.id} is bound to another account here" in summary.conflicts[1]
    assert await db.fetchval("select user_id from subscriptions where provider_subscription_id = 'tok-taken'") == other
    assert await db.fetchval("select user_id from stripe_customers where customer_id = 'cus_here'") == other

    # Stripe says sub_other belongs to another customer than the export's: a conflict, nothing granted.
    fakes["google"].add_subscription("tok-twice", acknowledged=True)
    assert "1 recorded, 0 unmapped, 1 conflict(s)" in await _run(settings, database_url)
    outcomes = dict(await db.fetch("select provider_subscription_id, outcome from imported_billing_bindings"))
    assert outcomes == {"tok-twice": "recorded", "sub_other": "conflict"}
    assert await _tier(db, wrong_customer) == "free" and await _tier(db, holder) == "regular"
    assert (await import_supabase(db, files)).conflicts == summary.conflicts


async def test_malformed_subscription_rows_refuse_the_whole_import(db, tmp_path) -> None:
    account = OldAccount()
    rows = [
        _row(account, "paypal", stripe_subscription_id="x"),
        _row(account, "apple"),  # no original transaction id
        _row(account, "stripe", stripe_subscription_id="sub_1", environment="staging"),
        _row(account, "google", purchase_token="t") | {"user_id": "not-a-uuid"},
    ]
    summary = await import_supabase(db, _files(tmp_path, [account], rows))
    assert summary.exit_code == EXIT_UNREADABLE
    assert [problem.line for problem in summary.unreadable] == [2, 3, 4, 5]
    assert await db.fetchval("select count(*) from users where id = $1", uuid.UUID(account.id)) == 0
    assert await db.fetchval("select count(*) from imported_billing_bindings") == 0


async def test_a_json_export_and_a_product_not_sold_here(providers, database_url, db, tmp_path) -> None:  # noqa: F811
    """JSON is detected by content; a store product this service does not map resolves as `unmapped`, granting
    nothing, and is not asked about again."""
    settings, fakes = providers
    account = OldAccount()
    fakes["google"].add_subscription("tok-other-app", product_id="com.elsewhere.gold", acknowledged=True)
    files = _files(tmp_path, [account], [])
    assert files.subscriptions is not None
    rows = [{"user_id": account.id, "provider": "Google_Play", "google_purchase_token": "tok-other-app"}]
    files.subscriptions.write_text(json.dumps(rows))
    assert (await import_supabase(db, files)).bindings_imported == 1

    assert "0 recorded, 1 unmapped" in await _run(settings, database_url)
    assert await db.fetchval("select outcome from imported_billing_bindings") == "unmapped"
    assert await db.fetchval("select count(*) from subscriptions") == 0
    assert await _tier(db, account) == "free"
    asked = len(fakes["google"].requests)
    assert "0 recorded, 0 unmapped" in await _run(settings, database_url)
    assert len(fakes["google"].requests) == asked  # resolved: not asked again


async def test_the_command_takes_subscriptions_and_says_what_it_did(database_url, db, tmp_path, capsys) -> None:
    """`cookcam import supabase ... --subscriptions FILE`: exit 4 on an unreadable row (nothing written), then 0."""
    account = OldAccount()
    good = _files(tmp_path, [account], [_row(account, "stripe", stripe_subscription_id="sub_cli")])
    bad = write_csv(tmp_path / "bad.csv", ["user_id", "provider"], [{"user_id": account.id, "provider": "stripe"}])

    def command(subscriptions: Path) -> int:
        argv = ["import", "supabase", "--auth-users", str(good.auth_users), "--profiles", str(good.profiles)]
        return run_import(database_url, build_parser().parse_args([*argv, "--subscriptions", str(subscriptions)]))

    assert await asyncio.to_thread(command, bad) == EXIT_UNREADABLE
    assert "bad.csv:2: a stripe row needs stripe_subscription_id or subscription_id" in capsys.readouterr().out
    assert await db.fetchval("select count(*) from users where id = $1", uuid.UUID(account.id)) == 0
    assert good.subscriptions is not None
    assert await asyncio.to_thread(command, good.subscriptions) == EXIT_OK
    out = capsys.readouterr().out
    assert "subscription bindings imported (pending the provider's answer): 1, already there: 0" in out
    assert await db.fetchval("select user_id::text from imported_billing_bindings") == account.id


def _give_up_after(settings, *, refusals: int = 2, days: int = 30):
    billing = msgspec.structs.replace(
        settings.billing, imported_binding_max_refusals=refusals, imported_binding_max_age_days=days
    )
    return msgspec.structs.replace(settings, billing=billing)


async def _bindings(db: asyncpg.Connection) -> dict[str, tuple]:
    rows = await db.fetch(
        "select provider, outcome, attempts, refusals, last_error, resolved_at is not null as resolved,"
        " last_attempt_at is not null as tried from imported_billing_bindings"
    )
    return {r["provider"]: tuple(r)[1:] for r in rows}


def _provider_requests(fakes: dict) -> int:
    return len(fakes["stripe"].requests) + len(fakes["google"].requests) + len(fakes["apple"].requests)


async def test_ids_the_providers_do_not_know_are_given_up_and_no_longer_asked(
    providers,  # noqa: F811
    database_url,
    db,
    tmp_path,
) -> None:
    """Each provider's documented "no such id" answer (Stripe 404 resource_missing, App Store Server API 404
    errorCode 4040010, Google Play 404 purchaseTokenNotFound) is a refusal; after BILLING_IMPORTED_BINDING_MAX_REFUSALS
    of them the binding is dead: visible, never asked about again, nothing granted."""
    settings, fakes = providers
    settings = _give_up_after(settings, refusals=2)
    stripe_account, apple_account, google_account = accounts = [OldAccount() for _ in range(3)]
    rows = [
        _row(stripe_account, "stripe", stripe_customer_id="cus_none", stripe_subscription_id="sub_never_existed"),
        _row(apple_account, "apple", original_transaction_id="2000000999999999", environment="sandbox"),
        _row(google_account, "google", purchase_token="tok-unknown-to-google"),
    ]
    assert (await import_supabase(db, _files(tmp_path, accounts, rows))).bindings_imported == 3

    first = await _run(settings, database_url)
    assert "0 recorded, 0 unmapped, 0 conflict(s), 3 error(s) (left pending), 0 given up (dead)" in first
    assert await _bindings(db) == {
        "stripe": (None, 1, 1, "STRIPE_SUBSCRIPTION_UNKNOWN", False, True),
        "apple": (None, 1, 1, "APPLE_TRANSACTION_UNKNOWN", False, True),
        "google": (None, 1, 1, "PURCHASE_TOKEN_INVALID", False, True),
    }
    second = await _run(settings, database_url)
    assert "0 error(s) (left pending), 3 given up (dead)" in second
    assert await _bindings(db) == {
        "stripe": ("dead", 2, 2, "STRIPE_SUBSCRIPTION_UNKNOWN", True, True),
        "apple": ("dead", 2, 2, "APPLE_TRANSACTION_UNKNOWN", True, True),
        "google": ("dead", 2, 2, "PURCHASE_TOKEN_INVALID", True, True),
    }
    assert tuple(await db.fetchrow("select checked, errors from billing_reconciliation_health")) == (0, 3)

    asked = _provider_requests(fakes)
    assert "0 error(s) (left pending), 0 given up (dead)" in await _run(settings, database_url)
    assert _provider_requests(fakes) == asked  # dead: no provider call any more
    assert await db.fetchval("select count(*) from subscriptions") == 0
    assert [await _tier(db, account) for account in accounts] == ["free"] * 3
    # A second import of the same export does not bring them back.
    assert (await import_supabase(db, _files(tmp_path, accounts, rows))).bindings_already == 3
    assert await db.fetchval("select count(*) from imported_billing_bindings where outcome = 'dead'") == 3


async def test_transient_failures_never_count_as_refusals_but_age_gives_up(
    providers,  # noqa: F811
    database_url,
    db,
    tmp_path,
) -> None:
    """Provider outages (Stripe 500 api_error, App Store 500 errorCode 5000000, Google 503) are attempts, not
    refusals: the binding stays pending however many runs fail, until it is older than
    BILLING_IMPORTED_BINDING_MAX_AGE_DAYS, when its next failed attempt gives it up. An answer still records it."""
    settings, fakes = providers
    settings = _give_up_after(settings, refusals=1, days=30)
    stripe_account, apple_account, google_account = accounts = [OldAccount() for _ in range(3)]
    fakes["google"].add_subscription("tok-paying", acknowledged=True)
    rows = [
        _row(stripe_account, "stripe", stripe_customer_id="cus_later", stripe_subscription_id="sub_later"),
        _row(apple_account, "apple", original_transaction_id="2000000111111111", environment="sandbox"),
        _row(google_account, "google", purchase_token="tok-paying"),
    ]
    assert (await import_supabase(db, _files(tmp_path, accounts, rows))).bindings_imported == 3
    fakes["stripe"].fail_next = 1000
    fakes["apple"].fail_next(500, times=1000)
    fakes["google"].fail_next(503, times=1000)
    for _ in range(3):
        assert "3 error(s) (left pending), 0 given up (dead)" in await _run(settings, database_url)
    states = await _bindings(db)
    assert {provider: state[:3] for provider, state in states.items()} == dict.fromkeys(
        ("stripe", "apple", "google"), (None, 3, 0)
    )
    assert {state[3] for state in states.values()} == {"PAYMENT_PROVIDER_UNAVAILABLE"}

    # Imported 31 days ago: Stripe's and Apple's next failures give them up; Google answers now and is recorded.
    await db.execute("update imported_billing_bindings set created_at = now() - interval '31 days'")
    fakes["google"].reset()  # its queued failures with the rest
    fakes["google"].add_subscription("tok-paying", acknowledged=True)
    summary = await _run(settings, database_url)
    assert "1 recorded, 0 unmapped, 0 conflict(s), 0 error(s) (left pending), 2 given up (dead)" in summary
    outcomes = dict(await db.fetch("select provider, outcome from imported_billing_bindings"))
    assert outcomes == {"stripe": "dead", "apple": "dead", "google": "recorded"}
    assert await _tier(db, google_account) == "regular"
