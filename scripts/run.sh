#!/usr/bin/env bash
# `make run`: migrate, load demo data, then serve the portal with a Celery worker and beat.
# Ctrl-C (or SIGTERM) stops every process this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
mkdir -p var/celery var/staticfiles

$py manage.py migrate --noinput
$py manage.py seed_demo

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping the portal, the worker and beat..."
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true   # runserver's autoreload child, worker processes
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

$py manage.py runserver 127.0.0.1:8000 &
pids+=($!)
.venv/bin/celery -A portal worker --loglevel=INFO --concurrency=2 &
pids+=($!)
.venv/bin/celery -A portal beat --loglevel=INFO --schedule=var/celerybeat-schedule &
pids+=($!)

sleep 3
cat <<MSG

  Portico is running on http://127.0.0.1:8000  (Ctrl-C stops it)
  Demo logins, password "portico-demo": consumer, org-admin, tenant-admin, hub-admin, approver

MSG
# If any of the three exits, stop the others too.
wait -n "${pids[@]}"
