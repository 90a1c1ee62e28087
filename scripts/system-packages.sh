#!/usr/bin/env bash
# Installs the Debian packages of scripts/system-packages.txt that are missing: as root with apt-get (after an
# apt-get update); anywhere else it fails, printing the exact command to run. Exits 0 when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r package check; do
  case "$package" in '' | '#'*) continue ;; esac
  if ! bash -c "$check" >/dev/null 2>&1; then missing+=("$package"); fi
done < scripts/system-packages.txt
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system packages: missing ${missing[*]}; the tests need them. Install them with:" >&2
  if command -v apt-get >/dev/null; then echo "  sudo sh -c '$command'" >&2; else echo "  (Debian/Ubuntu) sudo sh -c '$command'" >&2; fi
  exit 1
fi
echo "system packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "system packages: apt-get could not install ${missing[*]} (see above); run: $command" >&2
  exit 1
fi
