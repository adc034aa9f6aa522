#!/usr/bin/env bash
# `make run`: migrate, load demo data, then serve the portal with a Celery worker and beat, and the
# demo gateway: Debian's nginx with deploy/nginx/portico-gateway.conf on 127.0.0.1:8080, in front
# of a demo upstream per demo API that the same nginx serves (credentials/gateway/demo.py).
# Ctrl-C (or SIGTERM) stops every process this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
mkdir -p var/celery var/staticfiles var/nginx

die() { printf '\nmake run: %s\n' "$*" >&2; exit 1; }

# --- Debian packages: nginx and the set-misc module of the shipped gateway file (as make test) ----
. scripts/debian-packages.sh
install_debian_packages "make run" nginx-light libnginx-mod-http-set-misc

# The ports of the portal, the gateway and the demo APIs (SLUG=PORT, one per demo API).
portico_port=8000
gateway_port=8080
demo_apis=(payments=9001 weather=9002 catalog=9003)
for port in "$portico_port" "$gateway_port" "${demo_apis[@]#*=}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$port; stop it, then run make run again."
  fi
done

# make run only: the demo runtime target is this nginx, which Portico calls over http on loopback
# (deployments, health). Never in production: both default to off, and .env does not set them.
export PORTICO_ALLOW_HTTP_LOOPBACK=true
export PORTICO_OUTBOUND_ALLOW_PRIVATE=true

$py manage.py migrate --noinput
# Also writes var/nginx/gateway-token.conf, the demo runtime target's verify token for nginx.
$py manage.py seed_demo --gateway-dir var/nginx --gateway-port "$gateway_port"

# nginx's workers use the verify cache and temp files: a directory they may enter (they run as
# nobody when this runs as root, and a checkout under /root is closed to them).
nginx_dir=$(mktemp -d /tmp/portico-demo-nginx.XXXXXX)
chmod 755 "$nginx_dir"

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping the portal, the worker, beat and nginx..."
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true   # runserver's autoreload child, worker processes
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$nginx_dir"
}
trap stop INT TERM EXIT

# nginx first: the deployments seed_demo queued wait on the broker until the worker starts.
$py -m credentials.gateway.demo --conf-dir var/nginx --runtime-dir "$nginx_dir" \
  --portico-port "$portico_port" --gateway-port "$gateway_port" "${demo_apis[@]}" &
nginx_pid=$!
pids+=("$nginx_pid")
for ((i = 0; i < 50; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$gateway_port") 2>/dev/null && break
  if ! kill -0 "$nginx_pid" 2>/dev/null; then
    tail -n 20 var/nginx/error.log >&2 || true
    die "nginx did not start (above; its log is var/nginx/error.log)."
  fi
  sleep 0.1
done

$py manage.py runserver "127.0.0.1:$portico_port" &
pids+=($!)
.venv/bin/celery -A portal worker --loglevel=INFO --concurrency=2 &
pids+=($!)
.venv/bin/celery -A portal beat --loglevel=INFO --schedule=var/celerybeat-schedule &
pids+=($!)

sleep 3
paths=$(printf ' /%s/' "${demo_apis[@]%%=*}")
cat <<MSG

  Portico is running on http://127.0.0.1:$portico_port  (Ctrl-C stops it)
  Demo logins, password "portico-demo": consumer, org-admin, tenant-admin, hub-admin, approver
  The demo gateway (nginx) is on http://127.0.0.1:$gateway_port:$paths (log: var/nginx/access.log)
    curl -H "X-API-Key: <the Weather API key printed above>" http://127.0.0.1:$gateway_port/weather/   # 200
    curl http://127.0.0.1:$gateway_port/weather/                                                      # 401

MSG
# If any of them exits, stop the others too.
wait -n "${pids[@]}"
