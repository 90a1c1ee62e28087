#!/usr/bin/env bash
# `npm test`: installs what is missing (npm and Debian packages), builds, and runs every test. Works on a fresh clone.
# Extra arguments go to vitest (e.g. `npm test -- services/worker`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The Debian packages the tests use (protoc, grpcio, shellcheck, kubectl...): installed when missing, as root;
# otherwise this stops here with the command to run. The list is scripts/system-packages.txt.
bash scripts/system-packages.sh
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
# Three runs apart, after the rest. The load test keeps both cores busy with claude processes for a couple of
# minutes, and the browser tests run Chromium beside claude: beside other end-to-end tests they would starve their
# timing. The quiet-stream test waits 150 s on a silent task and uses next to no CPU, so it shares the load test's
# run rather than adding its 150 s at the end.
LONG=(test/e2e/load.test.ts test/e2e/quiet-stream.test.ts)
vitest run "${LONG[@]/#/--exclude=}" --exclude='test/browser/**' --reporter=default --reporter=json --outputFile.json=.cache/vitest.json || status=$?
vitest run "${LONG[@]}" --reporter=default --reporter=json --outputFile.json=.cache/vitest-load.json || status=$?
# One browser file at a time: four Chromiums, each beside its own cluster and claudes, starved each other on two
# cores (a task page's stream outlived its close for 40 s in two of three parallel runs); one at a time is faster too.
vitest run test/browser --no-file-parallelism --reporter=default --reporter=json --outputFile.json=.cache/vitest-browser.json || status=$?
node scripts/test-summary.mjs .cache/vitest.json .cache/vitest-load.json .cache/vitest-browser.json || true
exit $status
