#!/usr/bin/env bash
# `make bench`: install what the benchmarks need (Debian packages as `make test` does, the
# comparison libraries into the venv), then run every benchmark (bench/run.py), which writes
# docs/benchmarks.md and docs/benchmarks.json. At most 30 minutes on a 2-core machine.
# Extra arguments go to bench/run.py (e.g. `make bench ARGS=--quick`).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf '\nmake bench: %s\n' "$*" >&2; exit 1; }

# PostgreSQL for every benchmark's database, Redis for the sweep's broker, nginx for the edge,
# wrk as the load generator.
packages=(postgresql redis-server nginx-light libnginx-mod-http-set-misc wrk)
command -v dpkg-query >/dev/null || die "this script installs Debian packages and needs dpkg (Debian or Ubuntu)."
missing=()
for package in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != installed ]; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}
  Install them as root, then run make bench again:
    apt-get update && apt-get install -y ${missing[*]}"
  printf '\n==> Installing %s\n' "${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [ ! -f .venv/.bench-installed ] || [ bench/requirements.txt -nt .venv/.bench-installed ]; then
  printf '\n==> Installing the benchmarks-only libraries (bench/requirements.txt)\n'
  .venv/bin/pip install -q -r bench/requirements.txt
  touch .venv/.bench-installed
fi

exec .venv/bin/python bench/run.py "$@"
