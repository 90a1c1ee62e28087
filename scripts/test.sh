#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, checks generated code, and runs every test. Works on a fresh clone.
# Extra arguments go to vitest (e.g. `npm test -- services/worker`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
# The build type-checks the services; this covers the CLI (bundled by esbuild, which does not check types), tests
# and benchmarks.
npm run --silent typecheck
mkdir -p .cache
rm -f .cache/vitest.json .cache/vitest-load.json .cache/vitest-browser.json
status=0
if [ $# -gt 0 ]; then
  vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@" || status=$?
  node scripts/test-summary.mjs .cache/vitest.json || true
  exit $status
fi
# The load test keeps both cores busy with claude processes for a couple of minutes, and the browser tests run
# Chromium beside claude; run beside other end-to-end tests they would starve their timing, so each runs on its own
# after them.
vitest run --exclude test/e2e/load.test.ts --exclude 'test/browser/**' --reporter=default --reporter=json --outputFile.json=.cache/vitest.json || status=$?
vitest run test/e2e/load.test.ts --reporter=default --reporter=json --outputFile.json=.cache/vitest-load.json || status=$?
vitest run test/browser --reporter=default --reporter=json --outputFile.json=.cache/vitest-browser.json || status=$?
node scripts/test-summary.mjs .cache/vitest.json .cache/vitest-load.json .cache/vitest-browser.json || true
exit $status
