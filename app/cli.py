"""The `cookcam` command: serve, migrate, seed, codegen, config check, jobs run NAME, billing and ops tools."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import logging
import shutil
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.metrics_directory import multiprocess_directory
from app.core.version import VERSION
from app.settings import (
    MissingEnvironmentError,
    Settings,
    SettingsError,
    load_settings,
    read_environment,
    redact_url,
    redacted,
    set_process_environment,
    unknown_variables,
)

# Exit codes of the commands that use the database (docs/operations.md): 2 configuration, 3 migrations.
EXIT_DATABASE_UNREACHABLE = 4
CONNECT_TIMEOUT_SECONDS = 10.0


def _settings_or_problems() -> tuple[Settings | None, list[str]]:
    """The settings (or None, their problems printed) and the warnings about variables that are no setting."""
    environ = read_environment()
    try:
        return load_settings(environ), unknown_variables(environ)
    except MissingEnvironmentError as exc:
        print(exc, file=sys.stderr)  # one line: without APP_ENV nothing else is judged
    except SettingsError as exc:
        for warning in unknown_variables(environ):  # a misspelt name often explains a problem below
            print(f"warning: {warning}", file=sys.stderr)
        print(exc, file=sys.stderr)
    return None, []


def _load_or_exit() -> Settings:
    settings, warnings = _settings_or_problems()
    if settings is None:
        raise SystemExit(2)
    from app.core.logging import configure_logging  # noqa: PLC0415

    configure_logging(settings)  # warnings from the CLI's own steps follow the same format and scrubbing
    for warning in warnings:
        logging.getLogger("cookcam.settings").warning(warning)
    return settings


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set (exit 4 with one line when it cannot be reached); otherwise the embedded PostgreSQL
    (development and test only), stopped on exit."""
    if settings.database.url:
        from app.db.pool import unreachable_reason  # noqa: PLC0415

        reason = asyncio.run(unreachable_reason(settings.database.url, CONNECT_TIMEOUT_SECONDS))
        if reason is not None:
            print(f"Cannot reach the database at {redact_url(settings.database.url)}: {reason}", file=sys.stderr)
            raise SystemExit(EXIT_DATABASE_UNREACHABLE)
        yield settings.database.url
        return
    from app.db.embedded import EmbeddedDatabaseError, start_embedded  # noqa: PLC0415 - heavy, optional

    try:
        server = start_embedded(Path(settings.data_dir))
    except EmbeddedDatabaseError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    # A note on how the command runs, not its output: stdout stays the command's data (e.g. `--json`).
    print(
        f"Using the embedded PostgreSQL under {settings.data_dir}/ (set DATABASE_URL to use your own).",
        file=sys.stderr,
    )
    try:
        yield server.url
    finally:
        server.stop()


def _migrate(dsn: str, settings: Settings) -> None:
    from app.db.migrations import MigrationError, migrate  # noqa: PLC0415

    try:
        applied = asyncio.run(migrate(dsn, lock_timeout_seconds=settings.database.migration_lock_timeout_seconds))
    except MigrationError as exc:
        print(f"Migration failed: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    print(f"Migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", schema current."))
    from app.ops.reference_data import load_reference_data_at  # noqa: PLC0415

    print(asyncio.run(load_reference_data_at(dsn)))


def _seed(dsn: str, settings: Settings) -> None:
    from app.ops.seed import seed  # noqa: PLC0415

    print(asyncio.run(seed(dsn, settings)))


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load_or_exit()
    from granian import Granian  # noqa: PLC0415
    from granian.constants import Interfaces, Loops  # noqa: PLC0415

    host = args.host or settings.http.host
    port = args.port or settings.http.port
    workers = args.workers or settings.http.workers
    with database_url(settings) as dsn:
        _migrate(dsn, settings)
        if settings.app_env == "development" and not args.no_seed:
            _seed(dsn, settings)
        metrics_dir = multiprocess_directory(settings.data_dir)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        # Workers build their own Settings from the environment; hand them the database and the metrics directory.
        set_process_environment({"DATABASE_URL": dsn, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
        print(f"Serving on http://{host}:{port} with {workers} worker(s); API docs at http://{host}:{port}/schema")
        Granian(
            "app.server:create_app_from_environment",
            factory=True,
            interface=Interfaces.ASGI,
            # The stdlib loop, even where uvloop is installed: app/core/shutdown.py needs asyncio's signal map to
            # close WebSockets with 1001 before granian's own shutdown (uvloop measured ~20 % faster on /auth/me).
            loop=Loops.asyncio,
            address=host,
            port=port,
            workers=workers,
            log_access=False,
            # A worker gets this long after SIGTERM to finish in-flight requests before it is killed.
            workers_kill_timeout=max(1, int(settings.http.shutdown_drain_seconds)),
            # A worker that dies (crash, OOM kill) is replaced while the others keep serving; granian still exits
            # when a replacement dies again within 5.5 s (a crash loop), and the supervisor restarts the server.
            respawn_failed_workers=True,
        ).serve()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _load_or_exit()
    with database_url(settings) as dsn:
        if args.status or args.dry_run:
            return _report_plan(dsn, dry_run=args.dry_run)
        _migrate(dsn, settings)
    return 0


def _report_plan(dsn: str, *, dry_run: bool) -> int:
    """--status: every migration's state, exit 1 when some are pending. --dry-run: what `migrate` would apply, with
    the refusals it would make first, exit 0. Both change nothing and exit 3 where `migrate` would stop."""
    from app.db.migrations import plan  # noqa: PLC0415

    state = asyncio.run(plan(dsn, check_pending=dry_run))
    if state.problem is not None:
        print(f"Migration check failed: {state.problem}", file=sys.stderr)
        return 3
    pending = {m.version: m for m in state.pending}
    for version in sorted(pending.keys() | (set() if dry_run else state.applied.keys())):
        migration = pending.get(version)
        if migration is None:
            note = "  (not in this code: a newer release)" if version in state.ahead else ""
            print(f"{version}  applied {state.applied[version]:%Y-%m-%d %H:%M:%S %Z}{note}")
        elif dry_run:
            mode = "in a transaction" if migration.in_transaction else "outside a transaction (no-transaction marker)"
            print(f"would apply {version} {mode}")
        else:
            print(f"{version}  pending" + ("" if migration.in_transaction else " (no transaction)"))
    summary = f"{len(state.applied)} applied, {len(pending)} pending"
    print(summary + (" (dry run: nothing applied)." if dry_run else "."))
    return 1 if pending and not dry_run else 0


def cmd_seed(_: argparse.Namespace) -> int:
    settings = _load_or_exit()
    if settings.is_production_like:
        print(f"Refusing to seed demo data in {settings.app_env}: its password is public.", file=sys.stderr)
        return 2
    with database_url(settings) as dsn:
        _migrate(dsn, settings)
        _seed(dsn, settings)
    return 0


def cmd_codegen(args: argparse.Namespace) -> int:
    from app.db import codegen  # noqa: PLC0415

    return codegen.main(["--check"] if args.check else [])


def cmd_config_check(_: argparse.Namespace) -> int:
    settings, warnings = _settings_or_problems()
    if settings is None:
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(redacted(settings), indent=2, sort_keys=True))
    print("Configuration is valid.", file=sys.stderr)
    return 0


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from app.ops.jobs import JOBS, run_job  # noqa: PLC0415

    if args.name not in JOBS:
        print(f"Unknown job {args.name!r}; known jobs: {', '.join(sorted(JOBS))}", file=sys.stderr)
        return 2
    settings = _load_or_exit()
    with database_url(settings) as dsn:
        print(asyncio.run(run_job(args.name, dsn, settings)))
    return 0


def cmd_fraud_report(args: argparse.Namespace) -> int:
    from app.billing.fraud import fraud_report_text  # noqa: PLC0415

    settings = _load_or_exit()
    with database_url(settings) as dsn:
        print(asyncio.run(fraud_report_text(dsn, as_json=args.json)))
    return 0


# `cookcam billing customer|grant|revoke`: exit 1 when the account (or the grant to revoke) is not found, 2 when an
# argument is refused; the message goes to stderr, so stdout is only ever the command's output.
EXIT_NOT_FOUND = 1
EXIT_REFUSED = 2


def _billing_support(run: Callable[[], Coroutine[None, None, str]]) -> int:
    from app.core.errors import AppError, NotFound  # noqa: PLC0415

    try:
        print(asyncio.run(run()))
    except AppError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_NOT_FOUND if isinstance(exc, NotFound) else EXIT_REFUSED
    return 0


def cmd_billing_customer(args: argparse.Namespace) -> int:
    from app.ops.billing_customer import customer_text  # noqa: PLC0415

    settings = _load_or_exit()
    with database_url(settings) as dsn:
        return _billing_support(lambda: customer_text(dsn, args.account, as_json=args.json))


def grant_until(text: str) -> datetime.datetime:
    """`--until`: a date grants through that day (to the next midnight UTC); a date and time is taken as given
    (UTC when it names no offset)."""
    try:
        if len(text) == len("2027-01-31"):
            day = datetime.date.fromisoformat(text)
            return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (2027-01-31) or a date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def _operator(args: argparse.Namespace) -> str:
    """Who acts: --operator, else the operating-system user running the command."""
    if args.operator:
        return str(args.operator)
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        print("Name the operator with --operator (no operating-system user name here).", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None


def cmd_billing_grant(args: argparse.Namespace) -> int:
    from app.ops.billing_customer import grant_text  # noqa: PLC0415

    operator = _operator(args)
    settings = _load_or_exit()
    with database_url(settings) as dsn:
        return _billing_support(
            lambda: grant_text(dsn, args.account, args.tier, args.until, operator=operator, reason=args.reason)
        )


def cmd_billing_revoke(args: argparse.Namespace) -> int:
    from app.ops.billing_customer import revoke_text  # noqa: PLC0415

    operator = _operator(args)
    settings = _load_or_exit()
    with database_url(settings) as dsn:
        return _billing_support(lambda: revoke_text(dsn, args.account, operator=operator, reason=args.reason))


def cmd_reencrypt_proofs(_: argparse.Namespace) -> int:
    from app.billing.proofs import reencrypt_proofs_at  # noqa: PLC0415

    settings = _load_or_exit()
    with database_url(settings) as dsn:
        print(asyncio.run(reencrypt_proofs_at(dsn, settings.billing.receipt_keys)))
    return 0


def cmd_ingredients_refresh(args: argparse.Namespace) -> int:
    from app.core.errors import AppError  # noqa: PLC0415
    from app.ingredients.fdc import refresh_file  # noqa: PLC0415

    settings = _load_or_exit()
    try:
        lines = refresh_file(settings, args.names)
    except AppError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    print("\n".join(lines) or "No ingredient with an fdc_id to refresh.")
    return 0


def _ops_tool(run: Callable[[str], str]) -> int:
    from app.ops.backup import BackupError  # noqa: PLC0415

    settings = _load_or_exit()
    with database_url(settings) as dsn:
        try:
            print(run(dsn))
        except BackupError as exc:
            print(exc, file=sys.stderr)
            return 2
    return 0


def cmd_ops_backup(args: argparse.Namespace) -> int:
    from app.ops.backup import backup  # noqa: PLC0415

    return _ops_tool(lambda dsn: backup(dsn, args.file))


def cmd_ops_restore(args: argparse.Namespace) -> int:
    from app.ops.backup import restore  # noqa: PLC0415

    return _ops_tool(lambda dsn: restore(dsn, args.file, allow_non_empty=args.allow_non_empty))


EXPORT_OPTIONS = ("auth_users", "profiles", "identities", "refresh_tokens", "subscriptions")


def cmd_import_supabase(args: argparse.Namespace) -> int:
    from app.importer.cli import run_close_window, run_import  # noqa: PLC0415

    given = [name for name in EXPORT_OPTIONS if getattr(args, name) is not None]
    if args.close_window and given:
        print("--close-window takes no export file.", file=sys.stderr)
        return 2
    if not args.close_window and (args.auth_users is None or args.profiles is None):
        print("--auth-users and --profiles are required (or --close-window).", file=sys.stderr)
        return 2
    settings = _load_or_exit()
    with database_url(settings) as dsn:
        return run_close_window(dsn, settings, args) if args.close_window else run_import(dsn, args)


def _add_ops_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ops = commands.add_parser("ops", help="operations: backup and restore (docs/runbooks/backup-restore.md)")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True)
    backup = ops_commands.add_parser(
        "backup", help="pg_dump --format=custom to FILE (never overwritten) and FILE.manifest.json; exit 2 on failure"
    )
    backup.add_argument("file", type=Path)
    backup.set_defaults(handler=cmd_ops_backup)
    restore = ops_commands.add_parser(
        "restore", help="verify FILE against its manifest, pg_restore it into an empty database in one transaction"
    )
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--allow-non-empty", action="store_true", help="drop and replace the dump's objects in a non-empty database"
    )
    restore.set_defaults(handler=cmd_ops_restore)


def _add_billing_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    billing = commands.add_parser("billing", help="billing tools")
    billing_commands = billing.add_subparsers(dest="billing_command", required=True)
    fraud = billing_commands.add_parser("fraud-report", help="accounts the fraud view flags, most recent first")
    fraud.add_argument("--json", action="store_true", help="one JSON object per line")
    fraud.set_defaults(handler=cmd_fraud_report)
    customer = billing_commands.add_parser(
        "customer", help="one account's entitlement, subscriptions and history, provider events, earnings, payouts"
    )
    customer.add_argument(
        "account",
        help="email, account id, Stripe customer or subscription id, Apple original transaction id or "
        "Google purchase token",
    )
    customer.add_argument("--json", action="store_true", help="one JSON object (docs/payments.md lists its keys)")
    customer.set_defaults(handler=cmd_billing_customer)
    operator_help = "who acts (default: the operating-system user running the command)"
    grant = billing_commands.add_parser("grant", help="a promotional tier until a date (replaces the one in force)")
    grant.add_argument("account", help="email, account id or one of its provider ids")
    grant.add_argument("tier", choices=("regular", "creator"))
    grant.add_argument("--until", type=grant_until, required=True, help="a date (through that day, UTC) or date-time")
    grant.add_argument("--reason", required=True, help="why (kept with the grant, shown in the account's export)")
    grant.add_argument("--operator", help=operator_help)
    grant.set_defaults(handler=cmd_billing_grant)
    revoke = billing_commands.add_parser("revoke", help="end the account's promotional grant now")
    revoke.add_argument("account", help="email, account id or one of its provider ids")
    revoke.add_argument("--reason", required=True, help="why (kept with the revocation, shown in the export)")
    revoke.add_argument("--operator", help=operator_help)
    revoke.set_defaults(handler=cmd_billing_revoke)
    billing_commands.add_parser(
        "reencrypt-proofs", help="after rotating BILLING_RECEIPT_KEYS: re-encrypt stored proofs under the first key"
    ).set_defaults(handler=cmd_reencrypt_proofs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cookcam", description="CookCam API")
    parser.add_argument("--version", action="version", version=f"cookcam {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, seed (development) and serve under granian")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--no-seed", action="store_true", help="skip the demo data in development")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations")
    report = migrate.add_mutually_exclusive_group()
    report.add_argument("--status", action="store_true", help="list every migration: applied when, or pending (exit 1)")
    report.add_argument("--dry-run", action="store_true", help="say what would be applied, and check it; apply nothing")
    migrate.set_defaults(handler=cmd_migrate)
    commands.add_parser("seed", help="migrate, then load demo data").set_defaults(handler=cmd_seed)

    codegen = commands.add_parser("codegen", help="regenerate app/db/queries from sql/ with sqlc")
    codegen.add_argument("--check", action="store_true", help="fail when the generated files are stale")
    codegen.set_defaults(handler=cmd_codegen)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("check", help="validate and print the effective configuration").set_defaults(
        handler=cmd_config_check
    )

    jobs = commands.add_parser("jobs", help="periodic jobs")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    run = jobs_commands.add_parser("run", help="run one job now")
    run.add_argument("name")
    run.set_defaults(handler=cmd_jobs_run)

    _add_billing_commands(commands)

    _add_ops_commands(commands)

    ingredients = commands.add_parser("ingredients", help="the shipped ingredient data")
    ingredient_commands = ingredients.add_subparsers(dest="ingredients_command", required=True)
    refresh = ingredient_commands.add_parser(
        "refresh", help="update app/ingredients/data/ingredients.json from USDA FoodData Central (FDC_API_KEY)"
    )
    refresh.add_argument("names", nargs="*", help="ingredient names (default: every one with an fdc_id)")
    refresh.set_defaults(handler=cmd_ingredients_refresh)

    imports = commands.add_parser("import", help="bring the previous backend's data over")
    import_commands = imports.add_subparsers(dest="import_command", required=True)
    supabase = import_commands.add_parser(
        "supabase",
        help="accounts from Supabase exports (CSV or JSON); exit 1 on conflicts, 4 on unreadable rows; "
        "--close-window ends the move",
    )
    supabase.add_argument("--auth-users", type=Path, help="auth.users (psql CSV or JSON); required to import")
    supabase.add_argument("--profiles", type=Path, help="the old public.users profile rows; required to import")
    supabase.add_argument("--identities", type=Path, help="auth.identities (Apple and Google are imported)")
    supabase.add_argument(
        "--refresh-tokens", type=Path, help="auth.refresh_tokens: live ones are exchangeable once (see the runbook)"
    )
    supabase.add_argument(
        "--subscriptions",
        type=Path,
        help="the old subscription rows: provider bindings, fetched from the providers by reconciliation",
    )
    supabase.add_argument(
        "--close-window",
        action="store_true",
        help="once the API refuses Supabase's tokens: delete the imported refresh tokens and Supabase session links",
    )
    supabase.add_argument("--dry-run", action="store_true", help="run everything in a transaction, then roll back")
    supabase.set_defaults(handler=cmd_import_supabase)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
