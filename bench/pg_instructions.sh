#!/usr/bin/env bash
# PostgreSQL's instructions per unique Stripe subscription event: bash bench/pg_instructions.sh [--checkout DIR]
#                                                                   [--warmup 300] [--events 1000]
# Counts, with valgrind's callgrind, the instructions a single-user PostgreSQL backend executes for the webhook's one
# statement (cookcam_store_subscription_event, migration 0057) on a scratch cluster migrated by DIR's own
# `cookcam migrate` (default: this checkout), so two checkouts compare without the machine's noise: the same
# binaries and inputs give the same count, whatever else the machine is doing (docs/benchmarks.md, "PostgreSQL's
# side of a webhook"). Event i moves subscription i mod 2,000 between the regular and creator tiers, as the HTTP
# bench's do, with a 2 kB body. Per event = (count after warmup + events - count after warmup) / events, so the
# backend's start and the first plans are left out. The outer statement is sent as simple queries (parsed and
# planned each time; the app prepares it), the same for every checkout. Installs valgrind with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD warmup=300 events=1000
while [ $# -gt 0 ]; do
  case $1 in
    --checkout) checkout=$(cd "$2" && pwd); shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$checkout/.venv/bin/cookcam" ] || (cd "$checkout" && ./dev cookcam --help >/dev/null)

work=$(mktemp -d /tmp/cookcam-pg-instructions.XXXXXX)
trap 'as_owner "$bindir/pg_ctl" -D "$work/data" stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# PostgreSQL refuses to run as root: the cluster belongs to the postgres user then.
as_owner() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$work"; su postgres -c "$(printf '%q ' "$@")"; else "$@"; fi; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

as_owner "$bindir/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_owner "$bindir/pg_ctl" -D "$work/data" -o "-p $port -k $work -c listen_addresses=127.0.0.1" -l "$work/log" -w start \
  >/dev/null
dsn=postgresql://postgres@127.0.0.1:$port
psql -q "$dsn/postgres" -c "create database bench"
(cd "$checkout" && APP_ENV=test DATABASE_URL=$dsn/bench .venv/bin/cookcam migrate >/dev/null)
psql -q -v ON_ERROR_STOP=1 "$dsn/bench" <<'SQL'
create table bench_users (k integer primary key, id uuid not null);
insert into bench_users select k, gen_random_uuid() from generate_series(0, 1999) k;
insert into users (id, email, password_hash, name)
select id, 'bench-' || k || '@example.com', '!unusable', 'Bench' from bench_users;
insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status, environment,
                           billing_period, current_period_start, current_period_end, provider_updated_at)
select id, 'stripe', 'sub_bench_' || k, 'regular', 'active', 'sandbox', 'monthly', now() - interval '1 day',
       now() + interval '29 days', '2026-01-01' from bench_users;
create sequence bench_events;
create table bench_payload (body text not null);
insert into bench_payload values ('{"object":"event","type":"customer.subscription.updated","data":{"object":{'
    || '"object":"subscription","status":"active","padding":"' || repeat('x', 2000) || '"}}}');
analyze;
SQL
as_owner "$bindir/pg_ctl" -D "$work/data" -w stop >/dev/null

event="with n as (select nextval('bench_events') as n) select cookcam_store_subscription_event('stripe', \
'evt_bench_' || n.n, 'customer.subscription.updated', (select body from bench_payload), u.id, 'stripe', \
'sub_bench_' || (n.n % 2000), case when n.n / 2000 % 2 = 0 then 'creator' else 'regular' end, 'active', 'sandbox', \
'monthly', null, now() - interval '1 day', now() + interval '29 days', false, \
timestamptz '2026-01-02' + make_interval(secs => (n.n / 2000)::integer), null, 'stripe_event', \
jsonb_build_object('revenue_share', jsonb_build_object('hold_days', 30, 'family_shared', false, 'order_id', null))) \
from n join bench_users u on u.k = n.n % 2000;"

# The instructions of a fresh copy of the cluster running `count` events; every one must have changed its
# subscription.
instructions() {
  local count=$1 copy=$work/run-$1 i
  cp -a "$work/data" "$copy"
  # A loop, not `yes | head`: under pipefail the SIGPIPE that stops `yes` would count as a failure.
  for ((i = 0; i < count; i++)); do printf '%s\n' "$event"; done > "$work/events-$count.sql"
  as_owner valgrind --tool=callgrind --callgrind-out-file="$work/callgrind-$count" \
    "$bindir/postgres" --single -D "$copy" bench < "$work/events-$count.sql" > "$work/out-$count" 2> "$work/valgrind-$count"
  local changed
  changed=$(grep -c '= "changed"' "$work/out-$count" || true)
  [ "$changed" = "$count" ] || { echo "only $changed of $count events changed their subscription:" >&2; tail "$work/out-$count" >&2; exit 1; }
  grep -o 'Collected : [0-9]*' "$work/valgrind-$count" | awk '{print $3}'
}

before=$(instructions "$warmup")
after=$(instructions $((warmup + events)))
echo "PostgreSQL instructions per unique Stripe subscription event ($(git -C "$checkout" rev-parse --short HEAD)," \
  "$("$bindir/postgres" --version), $events events after $warmup): $(((after - before) / events))"
