#!/usr/bin/env bash
# `make test`: install the Debian packages the tests need, lint, check migrations, then run the
# unit tests on SQLite and the integration tests on a throwaway PostgreSQL and Redis that this
# script starts on 127.0.0.1 and stops again on exit (also on failure and Ctrl-C).
# Several runs can go at once (each takes its own temp dir and free ports); a run that was killed
# leaves a temp dir whose servers the next run stops and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
started=$SECONDS

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nmake test: %s\n' "$*" >&2; exit 1; }

# --- Debian packages ----------------------------------------------------------------------------
# PostgreSQL and Redis for the integration tests, Chromium and a font for the browser tests,
# nginx for the tests behind a reverse proxy (set-misc: the HMAC of the edge cache key).
. scripts/debian-packages.sh
install_debian_packages "make test" redis-server postgresql chromium nginx-light libnginx-mod-http-set-misc \
  fonts-dejavu-core

pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -x "$pg_bin/initdb" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin."

# The environment must not decide which database the first pass uses: it is SQLite, always.
unset DATABASE_URL CELERY_BROKER_URL REDIS_URL CELERY_TASK_ALWAYS_EAGER TEST_SQLITE_NAME

# --- Static checks ------------------------------------------------------------------------------
say "ruff check"
.venv/bin/ruff check .
say "makemigrations --check"
DJANGO_SETTINGS_MODULE=portal.settings_test $py manage.py makemigrations --check --dry-run
say "lint-imports (the architecture's contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache
say "mypy (django-stubs)"
.venv/bin/mypy
say "module sizes (at most 500 lines an app module, migrations aside)"
scripts/check_module_sizes.sh

# --- Services -----------------------------------------------------------------------------------
# PostgreSQL refuses to run as root: as root it runs as the `postgres` system user.
if [ "$(id -u)" = 0 ]; then
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
      --shell /usr/sbin/nologin postgres
  fi
  as_postgres() { (cd / && runuser -u postgres -- "$@"); }
else
  as_postgres() { (cd / && "$@"); }
fi

stop_services() {  # the temp dir of a run
  local dir=$1 pid i
  pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  # Only if that process is still Redis: after a reboot the number may belong to another one.
  if [ -n "$pid" ] && grep -qs redis-server "/proc/$pid/cmdline"; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do grep -qs redis-server "/proc/$pid/cmdline" || break; sleep 0.2; done
    if grep -qs redis-server "/proc/$pid/cmdline"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  if [ -f "$dir/pgdata/postmaster.pid" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$dir/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_postgres "$pg_bin/pg_ctl" -D "$dir/pgdata" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

# Temp dirs of earlier runs whose script is gone (killed, machine suspended): stop and remove.
for old in /tmp/portico-test.*; do
  [ -d "$old" ] || continue
  owner=$(cat "$old/owner.pid" 2>/dev/null || true)
  if [ -n "$owner" ] && [ -e "/proc/$owner" ]; then continue; fi  # another make test, still running
  echo "Removing $old, left by an earlier run"
  stop_services "$old"
  rm -rf "$old"
done

tmp=$(mktemp -d /tmp/portico-test.XXXXXX)
echo $$ >"$tmp/owner.pid"
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  say "Stopping PostgreSQL and Redis"
  stop_services "$tmp"
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {  # the first port from $1 up that nothing on 127.0.0.1 holds
  $py - "$1" <<'PY'
import socket
import sys

first = int(sys.argv[1])
for port in range(first, first + 200):
    with socket.socket() as probe:
        # As the servers do: a port that only has connections in TIME_WAIT is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    sys.exit(f"no free port on 127.0.0.1 from {first} to {first + 199}")
PY
}

show_log() {  # a log file: its last lines, for the reason a server did not start
  echo "--- last lines of $1 ---" >&2
  tail -n 30 "$1" >&2 || true
  echo "---" >&2
}

random_password() { $py -c 'import secrets; print(secrets.token_hex(16))'; }

start_postgres() {
  local pgdata=$tmp/pgdata admin_password attempt
  admin_password=$(random_password)
  db_password=$(random_password)
  # Socket and data in the temp dir, which only its owner can enter.
  if [ "$(id -u)" = 0 ]; then chown postgres: "$tmp"; fi
  chmod 700 "$tmp"
  echo "$admin_password" >"$tmp/pwfile"
  chmod 600 "$tmp/pwfile"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$tmp/pwfile"; fi
  if ! as_postgres "$pg_bin/initdb" -D "$pgdata" -U postgres --pwfile="$tmp/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync >"$tmp/initdb.log" 2>&1; then
    show_log "$tmp/initdb.log"
    die "initdb failed (above)."
  fi
  rm -f "$tmp/pwfile"
  pg_port=55432
  for attempt in 1 2 3 4 5; do
    pg_port=$(free_port "$pg_port")
    rm -f "$tmp/postgres.log"
    # No durability needed for a database that lives as long as this run.
    if as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -l "$tmp/postgres.log" -w -t 60 -o \
      "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      break
    fi
    # Another run took the port between the probe and the start: try the next one.
    if [ "$attempt" -lt 5 ] && grep -q "could not bind\|Address already in use" "$tmp/postgres.log" 2>/dev/null; then
      pg_port=$((pg_port + 1))
      continue
    fi
    show_log "$tmp/postgres.log"
    die "PostgreSQL did not start (log above)."
  done
  # Trust on the private socket for the superuser; the tests log in over TCP with a password.
  # CREATEDB: pytest-django creates and drops test_portico.
  local psql=(as_postgres "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$pg_port" -U postgres -d postgres)
  if ! "${psql[@]}" -c "CREATE ROLE portico LOGIN CREATEDB PASSWORD '$db_password'" ||
    ! "${psql[@]}" -c "CREATE DATABASE portico OWNER portico"; then
    show_log "$tmp/postgres.log"
    die "could not create the portico role and database (log above)."
  fi
}

start_redis() {
  local attempt i
  redis_port=56379
  for attempt in 1 2 3 4 5; do
    redis_port=$(free_port "$redis_port")
    # No persistence: the queue lives as long as this run.
    redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --daemonize yes \
      --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --dir "$tmp"
    for ((i = 0; i < 50; i++)); do
      # Ours only: the pidfile names the process that answers on the port.
      if [ -f "$tmp/redis.pid" ] &&
        redis-cli -h 127.0.0.1 -p "$redis_port" info server 2>/dev/null | grep -q "^process_id:$(cat "$tmp/redis.pid")"; then
        return 0
      fi
      if grep -q "Address already in use" "$tmp/redis.log" 2>/dev/null; then break; fi
      sleep 0.2
    done
    if [ "$attempt" -lt 5 ] && grep -q "Address already in use" "$tmp/redis.log" 2>/dev/null; then
      : >"$tmp/redis.log"
      redis_port=$((redis_port + 1))
      continue
    fi
    show_log "$tmp/redis.log"
    die "Redis did not start on 127.0.0.1:$redis_port (log above)."
  done
}

say "Starting PostgreSQL and Redis in $tmp"
start_postgres
start_redis
echo "PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port"

# --- Tests --------------------------------------------------------------------------------------
run_pytest() {  # a name for the pass, then pytest's arguments; prints why it failed
  local name=$1 status=0
  shift
  .venv/bin/pytest "$@" || status=$?
  case $status in
    0) ;;
    5) echo "make test: the $name pass collected no tests, which counts as a failure" >&2 ;;
    *) echo "make test: the $name pass failed (pytest exit $status)" >&2 ;;
  esac
  return "$status"
}

failed=()
say "Unit and browser tests on SQLite: pytest -m 'not integration'"
run_pytest "SQLite" -m "not integration" || failed+=("SQLite")

say "Integration tests on PostgreSQL and Redis: pytest -m integration"
(
  export DATABASE_URL="postgres://portico:$db_password@127.0.0.1:$pg_port/portico"
  export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0"
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
  # The PostgreSQL restart drill (tests/integration/test_postgres_restart.py) restarts this server
  # with pg_ctl, as its system user, logging where it logged before.
  export PORTICO_TEST_PGDATA="$tmp/pgdata"
  export PORTICO_TEST_PG_BIN="$pg_bin"
  export PORTICO_TEST_PG_LOG="$tmp/postgres.log"
  if [ "$(id -u)" = 0 ]; then export PORTICO_TEST_PG_USER=postgres; else export PORTICO_TEST_PG_USER="$(id -un)"; fi
  run_pytest "integration" -m integration
) || failed+=("integration")

elapsed=$((SECONDS - started))
if ((${#failed[@]})); then
  die "failed: ${failed[*]} (after $((elapsed / 60))m$((elapsed % 60))s)"
fi
say "All tests passed in $((elapsed / 60))m$((elapsed % 60))s"
