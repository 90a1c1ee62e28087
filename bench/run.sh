#!/usr/bin/env bash
# `npm run bench`: installs what is missing, builds the services, the CLI and the harness, and runs the benchmarks.
# Arguments are figure names (none: all of them), e.g. `bash bench/run.sh cold-start latency`; BENCH_QUICK=1 runs
# each figure minimally. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
tsc -p bench/tsconfig.json
export BENCH_COMMAND="${BENCH_COMMAND:-bash bench/run.sh${*:+ $*}}"
exec node dist/bench/main.js "$@"
