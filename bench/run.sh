#!/usr/bin/env bash
# The load benchmark: bash bench/run.sh [--duration 15] [--connections 32] [--threads 2] [--workers 2]
#                                      [--scenarios baseline,health,tiers,ingredients-search,me,peer-me-minimal,
#                                                   signin-invalid,refresh,stripe-webhook-unique,
#                                                   peer-webhook-fastapi,stripe-webhook-duplicates,
#                                                   peer-webhook-fastapi-duplicates,storekit-validate,generate-cached,scan,suggest-100k,
#                                                   leaderboard-1m,ws-fanout] [--no-write] [--compare FILE]
#                                      [--target URL]
# The default is every scenario but leaderboard-1m, whose data (1,000,000 users, 20,000,000 XP ledger rows) takes
# minutes to build: name it to run it, e.g. --scenarios baseline,me,leaderboard-1m. ws-fanout (10,000 WebSockets,
# about a minute) is in the default set; it drives its own Python client, not wrk. The peer-* scenarios run peers
# (bench/peers/) beside the app in the same run; the report's "vs peer" column compares them.
# Besides the table it writes bench/results/last-run/results.json and results.png (docs/benchmarks.md, "Results
# file"); --target loads a deployed instance with the read-only scenarios (health, tiers, ingredients-search).
# Installs the locked environment the way ./dev does (./dev cookcam --help is a cheap way to run that step), plus the
# bench dependency group (matplotlib, for the chart; FastAPI and SQLAlchemy, for a peer), then runs bench/run.py, which installs wrk with apt-get if it
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

has_bench_group() {
  .venv/bin/python -c 'import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ("matplotlib", "fastapi", "sqlalchemy")))' 2>/dev/null
}

if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/cookcam ] || ! has_bench_group; then
  echo "Preparing the locked environment with ./dev and the bench group (first run only) ..." >&2
  ./dev cookcam --help >/dev/null
  # ./dev installs uv and the default group; `./dev serve` later removes matplotlib again (uv sync is exact).
  .cookcam/tools/bin/uv sync --frozen --quiet --group bench
fi
exec .venv/bin/python -m bench.run "$@"
