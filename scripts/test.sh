#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, checks generated code, and runs every test. Works on a fresh clone.
# Extra arguments go to vitest (e.g. `npm test -- services/worker`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
mkdir -p .cache
status=0
vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@" || status=$?
node scripts/test-summary.mjs .cache/vitest.json || true
exit $status
