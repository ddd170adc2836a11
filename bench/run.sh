#!/usr/bin/env bash
# The load benchmark: bash bench/run.sh [--duration 15] [--connections 32] [--threads 2] [--workers 2]
#                                      [--scenarios baseline,health,me,signin-invalid,refresh,stripe-webhook-unique,
#                                                   stripe-webhook-duplicates,storekit-validate,generate-cached,scan,
#                                                   suggest-100k] [--no-write]
# Installs the locked environment the way ./dev does (./dev cookcam --help is a cheap way to run that step),
# then runs bench/run.py, which installs wrk with apt-get if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/cookcam ]; then
  echo "Preparing the locked environment with ./dev (first run only) ..." >&2
  ./dev cookcam --help >/dev/null
fi
exec .venv/bin/python -m bench.run "$@"
