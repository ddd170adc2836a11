#!/usr/bin/env bash
# The load benchmark: bash bench/run.sh [--duration 15] [--connections 32] [--threads 2] [--workers 2]
#                                      [--scenarios baseline,health,me,signin-invalid,refresh,stripe-webhook-unique,
#                                                   stripe-webhook-duplicates,storekit-validate,generate-cached,scan,
#                                                   suggest-100k,leaderboard-1m,ws-fanout] [--no-write]
# The default is every scenario but leaderboard-1m, whose data (1,000,000 users, 20,000,000 XP ledger rows) takes
# minutes to build: name it to run it, e.g. --scenarios baseline,me,leaderboard-1m. ws-fanout (10,000 WebSockets,
# about a minute) is in the default set; it drives its own Python client, not wrk.
# Installs the locked environment the way ./dev does (./dev cookcam --help is a cheap way to run that step),
# then runs bench/run.py, which installs wrk with apt-get if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/cookcam ]; then
  echo "Preparing the locked environment with ./dev (first run only) ..." >&2
  ./dev cookcam --help >/dev/null
fi
exec .venv/bin/python -m bench.run "$@"
