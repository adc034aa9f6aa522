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
. scripts/debian-packages.sh
install_debian_packages "make bench" postgresql redis-server nginx-light libnginx-mod-http-set-misc wrk

if [ ! -f .venv/.bench-installed ] || [ bench/requirements.txt -nt .venv/.bench-installed ]; then
  printf '\n==> Installing the benchmarks-only libraries (bench/requirements.txt)\n'
  .venv/bin/pip install -q -r bench/requirements.txt
  touch .venv/.bench-installed
fi

exec .venv/bin/python bench/run.py "$@"
