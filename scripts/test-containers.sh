#!/usr/bin/env bash
# `npm run test:containers`: builds Dockerfile.worker and Dockerfile.router and runs them against the host
# (Docker, or the buildah/podman scripts of shared/containers where there is no Docker engine).
# Prints "N passed, N failed" like `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
mkdir -p .cache
status=0
vitest run --config vitest.containers.config.ts --reporter=default --reporter=json --outputFile.json=.cache/vitest-containers.json "$@" || status=$?
node scripts/test-summary.mjs .cache/vitest-containers.json || true
exit $status
