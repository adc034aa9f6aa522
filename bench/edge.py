"""Benchmark: requests per second through nginx with the shipped auth_request configuration (and its
verify cache) against the same nginx proxying the same upstream with no auth, and how soon the edge
refuses a revoked key.

Run by hand or by `make bench`: ``.venv/bin/python bench/edge.py [--quick] [--figures PATH]``.

In one run, over loopback only:
- a throwaway PostgreSQL with gateway_verify.py's keys (10 APIs x 1,000 consumers: the 1,000 keys
  of one API are used here), and Portico under gunicorn (2 sync workers, bench.settings), as there;
- one nginx (Debian's, with libnginx-mod-http-set-misc) with three servers: the shipped
  deploy/nginx/portico-gateway.conf with its EDIT lines filled in (its cache on a tmpfs), the same
  proxy to the same upstream without auth, and the upstream itself (nginx answering a fixed 200);
- wrk, in interleaved rounds (medians count), with the same requests for both sides:
  auth      the shipped configuration, cycling through 10 keys (each back hundreds of times a second);
  no auth   the same requests (the same keys in X-API-Key) through the proxy without auth;
  warm      (information) the shipped configuration, 100 keys (each back tens of times a second);
  cold      (information) the shipped configuration cycling through the other keys, each back
            less often than once a second, so nearly every request asks Portico;
  every answer's status is checked, and the server side's CPU per answer is counted (/proc);
- keys revoked through Portico's service (api_key_revoke) while the edge is polled with them every
  10 ms: seconds from the service's return (its commit) to the edge's first 401, under the "auth"
  load and with the machine otherwise idle. The figure is the worst of them.
"""

import argparse
import contextlib
import http.client
import logging
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway_verify import Result, Scenario, ServerCpu, check_once, gunicorn, run_wrk, seed
from harness import Postgres, figure, free_port, machine_load, say, wait_for_port, write_figures

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"
NGINX = "/usr/sbin/nginx"
# Debian's libnginx-mod-http-set-misc and the ndk it needs: the key's HMAC, for the verify cache.
MODULES = [
    Path("/usr/lib/nginx/modules/ndk_http_module.so"),
    Path("/usr/lib/nginx/modules/ngx_http_set_misc_module.so"),
]
API = "bench-api-0"  # the API the shipped location protects (gateway_verify.API_SLUGS[0])
HOT_KEYS = 10  # the comparison: a few busy clients, each key back hundreds of times a second
WARM_KEYS = 100  # (information) each key back tens of times a second
PATH = "/forecast"
GOALS = {"edge/upstream": 0.7, "edge/revoked_refused_s": 1.0}
REFUSAL_TIMEOUT = 5.0  # seconds a revoked key is polled for; a trial that runs out counts as this


# --- nginx ------------------------------------------------------------------------------------------
def render(conf: str, replacements: dict[str, str]) -> str:
    """The shipped file with its EDIT lines set for this run; each must be found exactly once."""
    for old, new in replacements.items():
        if conf.count(old) != 1:
            sys.exit(f"portico-gateway.conf no longer has exactly one {old!r}")
        conf = conf.replace(old, new)
    return conf


@dataclass
class Edge:
    pid: int  # nginx's master; its workers are its children
    auth_port: int
    plain_port: int
    access_log: Path  # the shipped server's: verify=HIT|MISS|EXPIRED per request


@contextlib.contextmanager
def nginx(portico_port: int, gateway_token: str) -> Iterator[Edge]:
    # Its own temp dir, readable by nginx's workers (nobody, when run as root): they open the
    # cache's files. (PostgreSQL's temp dir is private to its user.) On a tmpfs, as README.md
    # advises for the cache.
    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-nginx.", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    tmp.chmod(0o755)
    auth_port, plain_port, upstream_port = free_port(), free_port(), free_port()
    (tmp / "gateway-token.conf").write_text(f'map "" $portico_gateway_token {{ default "{gateway_token}"; }}\n')
    shipped = render(
        (DEPLOY / "portico-gateway.conf").read_text(),
        {
            "include /etc/nginx/portico/gateway-token.conf;": f"include {tmp / 'gateway-token.conf'};",
            "/run/nginx-portico-verify": str(tmp / "verify-cache"),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{portico_port};",
            "server 127.0.0.1:9000;": f"server 127.0.0.1:{upstream_port};",
            "listen 8080;": f"listen 127.0.0.1:{auth_port};",
            "/var/log/nginx/portico-gateway.log": str(tmp / "auth.log"),
            "set $portico_api weather;": f"set $portico_api {API};",
        },
    )
    (tmp / "portico-gateway.conf").write_text(shipped)
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir()
    load_modules = "\n".join(f"load_module {module};" for module in MODULES)
    (tmp / "nginx.conf").write_text(
        f"""
{load_modules}
worker_processes auto;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {tmp / "client_body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    include {tmp / "portico-gateway.conf"};

    # The same proxy to the same upstream (the shipped `protected_api`), without auth_request;
    # it logs each request too, as the shipped server does.
    server {{
        listen 127.0.0.1:{plain_port};
        access_log {tmp / "plain.log"};
        location / {{
            proxy_pass http://protected_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-API-Key "";
            proxy_set_header apikey "";
        }}
    }}

    # The upstream API: a fixed answer.
    server {{
        listen 127.0.0.1:{upstream_port};
        access_log off;
        default_type text/plain;
        location / {{ return 200 "Sunny, 21 degrees\\n"; }}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        for port in (auth_port, plain_port, upstream_port):
            wait_for_port(port, process, "nginx")
        yield Edge(pid=process.pid, auth_port=auth_port, plain_port=plain_port, access_log=tmp / "auth.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors = (tmp / "error.log").read_text(errors="replace") if (tmp / "error.log").exists() else ""
        if "[error]" in errors or "[crit]" in errors or "[alert]" in errors:
            print(f"nginx's error log:\n{errors[-3000:]}")
        shutil.rmtree(tmp, ignore_errors=True)


def cache_share(access_log: Path) -> float:
    """The share of the shipped server's requests answered from the verify cache (since truncated)."""
    lines = access_log.read_text().splitlines() if access_log.exists() else []
    return sum("verify=HIT" in line for line in lines) / max(len(lines), 1)


# --- Revocation at the edge -------------------------------------------------------------------------
@dataclass
class Trial:
    seconds: float | None  # None: not refused within the timeout
    unexpected: list[int]  # statuses other than 200 before the revocation, 200/401 after


def time_to_refusal(port: int, key: str, timeout: float = REFUSAL_TIMEOUT) -> Trial:
    """Poll the edge with `key` every 10 ms, revoke it through Portico's service, and time the
    first 401 from the service's return (the revocation has committed by then)."""
    from credentials.keys import services as key_services
    from credentials.keys.models import ApiKey
    from credentials.lib import crypto

    api_key = ApiKey.objects.select_related("consumer").get(prefix=crypto.secret_prefix(key, "key"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    unexpected: list[int] = []

    def ask() -> int:
        conn.request("GET", PATH, headers={"X-API-Key": key})
        response = conn.getresponse()
        response.read()
        return response.status

    try:
        warm_until = time.monotonic() + 1.0 + random.random()  # hot in the cache, at a random phase
        while time.monotonic() < warm_until:
            status = ask()
            if status != 200:
                unexpected.append(status)
            time.sleep(0.01)
        key_services.api_key_revoke(api_key_id=api_key.pk, revoked_by=api_key.consumer)
        revoked = time.monotonic()
        while time.monotonic() - revoked < timeout:
            status = ask()
            if status == 401:
                return Trial(time.monotonic() - revoked, unexpected)
            if status != 200:
                unexpected.append(status)
            time.sleep(0.01)
        return Trial(None, unexpected)
    finally:
        conn.close()


def revocation_trials(edge: Edge, keys: list[str], load: Scenario | None, tmp: Path, connections: int) -> list[Trial]:
    """One trial per key, sequentially; with `load`, wrk runs it against the edge meanwhile."""
    background = None
    if load is not None:
        seconds = len(keys) * 4 + 2
        background = threading.Thread(
            target=run_wrk, args=(f"http://127.0.0.1:{edge.auth_port}", load, seconds, connections, tmp)
        )
        background.start()
        time.sleep(1)
    trials = [time_to_refusal(edge.auth_port, key) for key in keys]
    if background is not None:
        background.join()
    return trials


# --- Main -------------------------------------------------------------------------------------------
def portico_env(database_url: str, tmp: Path) -> dict[str, str]:
    """gunicorn's environment, as bench/gateway_verify.py sets it (production settings, plain HTTP on
    loopback); the deployments that revocations queue go to a filesystem queue in the temp dir."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PORTICO_READ_DOTENV": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTICO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "",
        "CELERY_FILESYSTEM_DIR": str(tmp / "celery"),
        "DATABASE_URL": database_url,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over the scenarios; medians count (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent loopback connections (default 8)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: CPUs)")
    parser.add_argument("--trials", type=int, default=5, help="revocations timed, under load and idle (default 5)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 1 s, 1 revocation each way")
    parser.add_argument("--figures", help="write the figures (JSON) to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.trials = 1.0, 1, 1
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10 or not 1 <= args.trials <= 20:
        sys.exit("Keep it bounded: --duration 1..60, --rounds 1..10, --trials 1..20.")
    for needed, package in ((NGINX, "nginx-light"), (str(MODULES[1]), "libnginx-mod-http-set-misc")):
        if not Path(needed).exists():
            sys.exit(f"{needed} not found: apt-get install {package}")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    try:
        import rest_framework_api_key  # noqa: F401  - bench.settings, shared with gateway_verify.py
    except ImportError:
        sys.exit("Install the benchmark's libraries first: .venv/bin/pip install -r bench/requirements.txt")

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench."))
    postgres = Postgres(tmp).require()
    try:
        say(f"Starting PostgreSQL {postgres.version()} in {tmp}")
        postgres.start()
        env = portico_env(postgres.url, tmp)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        # A revocation queues its deployment on the filesystem transport, whose connection logs a
        # notice about a hostname it does not use.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        say("Loading gateway_verify.py's keys")
        data = seed()
        keys = [line.split(" ", 1)[1] for line in data.verify_keys if line.startswith(f"{API} ")]
        # The revoked keys are kept apart, so that no scenario presents one.
        revoked, rest = keys[: 2 * args.trials], keys[2 * args.trials :]
        hot, warm = rest[:HOT_KEYS], rest[:WARM_KEYS]
        scenarios = [
            Scenario("auth", f"auth_request + cache, {len(hot)} keys", PATH, 200, hot, "X-API-Key"),
            Scenario("plain", f"no auth, the same {len(hot)} keys sent", PATH, 200, hot, "X-API-Key"),
            Scenario("warm", f"auth_request + cache, {len(warm)} keys", PATH, 200, warm, "X-API-Key"),
            Scenario("cold", f"auth_request + cache, {len(rest)} keys", PATH, 200, rest, "X-API-Key"),
        ]
        informational = {"warm", "cold"}
        say(f"Starting gunicorn ({args.workers} sync workers) and nginx")
        with (
            gunicorn(env, args.workers, "sync", tmp) as (portico_port, portico_pid),
            nginx(portico_port, data.gateway_token) as edge,
        ):
            # The server side's CPU: nginx (both servers and the upstream), gunicorn and PostgreSQL.
            servers = ServerCpu([edge.pid, portico_pid, postgres.pid()])
            # Portico first, directly: its workers may still be starting (nginx would wait 5 s at most).
            direct = Scenario("direct", "/gateway/verify", "/gateway/verify", 200, [f"{API} {hot[0]}"], "X-Portico-Key")
            direct.headers = {"Authorization": f"Bearer {data.gateway_token}"}
            check_once(portico_port, direct)
            ports = {s.name: edge.plain_port if s.name == "plain" else edge.auth_port for s in scenarios}
            for scenario in scenarios:
                check_once(ports[scenario.name], scenario)
                warm_up = min(2, args.duration)
                run_wrk(f"http://127.0.0.1:{ports[scenario.name]}", scenario, warm_up, args.connections, tmp)
            say(f"Before: {machine_load()}")
            say(f"wrk -t1, {args.connections} connections, {args.rounds} rounds x {args.duration:g} s")
            results: dict[str, list[Result]] = {s.name: [] for s in scenarios}
            shares: dict[str, list[float]] = {s.name: [] for s in scenarios if s.name != "plain"}
            for round_number in range(1, args.rounds + 1):
                for scenario in scenarios:
                    edge.access_log.write_text("")
                    before = servers.snapshot()
                    result = run_wrk(
                        f"http://127.0.0.1:{ports[scenario.name]}", scenario, args.duration, args.connections, tmp
                    )
                    result.cpu_ms = ServerCpu.used(before, servers.snapshot()) * 1000 / max(result.ok, 1)
                    results[scenario.name].append(result)
                    if scenario.name in shares:
                        shares[scenario.name].append(cache_share(edge.access_log))
                    print(
                        f"  round {round_number} {scenario.label:<40} {result.rps:8.0f} req/s"
                        f" {result.cpu_ms * 1000:6.0f} µs server CPU each",
                        flush=True,
                    )
            say("Revoking keys while the edge is under the auth load, then with it idle")
            loaded = revocation_trials(edge, revoked[: args.trials], scenarios[0], tmp, args.connections)
            idle = revocation_trials(edge, revoked[args.trials :], None, tmp, args.connections)
            say(f"After: {machine_load()}")
        figures = report(scenarios, informational, results, shares, loaded, idle, args)
        write_figures(args.figures, figures)
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(
    scenarios: list[Scenario],
    informational: set[str],
    results: dict[str, list[Result]],
    shares: dict[str, list[float]],
    loaded: list[Trial],
    idle: list[Trial],
    args: argparse.Namespace,
) -> list[dict[str, object]]:
    rps = {name: statistics.median(r.rps for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_ms for r in runs) for name, runs in results.items()}
    unexpected = {name: sum(r.bad + r.errors for r in runs) for name, runs in results.items()}
    print()
    print(f"{'scenario':<42}{'req/s':>9}{'CPU µs':>8}{'p50 ms':>8}{'p99 ms':>8}{'from cache':>11}{'unexpected':>11}")
    for scenario in scenarios:
        runs = results[scenario.name]
        middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        share = f"{statistics.median(shares[scenario.name]):.1%}" if scenario.name in shares else "-"
        note = "  (information)" if scenario.name in informational else ""
        print(
            f"{scenario.label:<42}{rps[scenario.name]:>9.0f}{cpu[scenario.name] * 1000:>8.0f}{middle.p50_ms:>8.2f}"
            f"{middle.p99_ms:>8.2f}{share:>11}{unexpected[scenario.name]:>11}{note}"
        )
    print("CPU µs: the server side's CPU per answer (nginx with the upstream, gunicorn, PostgreSQL; not wrk).")
    ratio, by_cpu = rps["auth"] / rps["plain"], cpu["plain"] / cpu["auth"]
    goal = GOALS["edge/upstream"]
    print(
        f"\nedge/upstream (auth / no auth): {ratio:.2f} by req/s, {by_cpu:.2f} by CPU; goal >= {goal:.2f}: "
        + ("met" if ratio >= goal else "NOT MET")
        + " (req/s)"
    )

    def seconds(trials: list[Trial]) -> list[float]:
        return [t.seconds if t.seconds is not None else REFUSAL_TIMEOUT for t in trials]

    refusal_unexpected = sum(len(t.unexpected) for t in loaded + idle)
    worst, limit = max(seconds(loaded)), GOALS["edge/revoked_refused_s"]
    print(
        "Revoked key refused at the edge after (s): under load "
        + ", ".join(f"{s:.2f}" for s in seconds(loaded))
        + "; idle "
        + ", ".join(f"{s:.2f}" for s in seconds(idle))
        + f"; unexpected statuses meanwhile: {refusal_unexpected}"
    )
    if any(t.seconds is None for t in loaded + idle):
        print(f"  ({REFUSAL_TIMEOUT:g}: not refused within {REFUSAL_TIMEOUT:g} s)")
    print(
        f"edge/revoked_refused_s (the worst under load): {worst:.2f}, goal <= {limit:.2f}: "
        + ("met" if worst <= limit else "NOT MET")
    )
    total_unexpected = sum(unexpected.values()) + refusal_unexpected
    detail = (
        f"wrk -t1 -c{args.connections}, median of {args.rounds} interleaved rounds of {args.duration:g} s; "
        f"gunicorn {args.workers} sync workers; nginx worker_processes auto; "
        f"{total_unexpected} unexpected statuses; {machine_load()}"
    )
    return [
        figure(
            "edge/upstream",
            ratio,
            "ratio",
            f"req/s through the shipped auth_request + verify cache over no auth, {HOT_KEYS} keys "
            f"(by server CPU: {by_cpu:.2f}); {detail}",
        ),
        figure("rps/edge auth", rps["auth"], "req/s", f"the shipped configuration, {HOT_KEYS} keys; {detail}"),
        figure("rps/edge no auth", rps["plain"], "req/s", f"the same nginx and upstream, no auth; {detail}"),
        figure(
            "rps/edge auth 100 keys",
            rps["warm"],
            "req/s",
            f"{WARM_KEYS} keys, each back tens of times a second (information; "
            f"{rps['warm'] / rps['plain']:.2f} of no auth); {detail}",
        ),
        figure(
            "rps/edge auth cold",
            rps["cold"],
            "req/s",
            f"{len(scenarios[3].keys)} keys cycling, each back less than once a second: Portico asked on "
            f"nearly every request (information; {rps['cold'] / rps['plain']:.2f} of no auth); {detail}",
        ),
        figure(
            "edge/revoked_refused_s",
            worst,
            "s",
            f"the worst of {len(loaded)} revocations under the auth load (median "
            f"{statistics.median(seconds(loaded)):.2f} s; idle: worst {max(seconds(idle)):.2f} s), "
            f"polled every 10 ms; {machine_load()}",
        ),
    ]


if __name__ == "__main__":
    main()
