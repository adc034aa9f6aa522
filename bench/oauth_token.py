"""Benchmark: token requests per second of POST /oauth/token, side by side with a bare view.

Run by hand, never by the tests: ``.venv/bin/python bench/oauth_token.py [--seconds 10]``.

In one run, on one gunicorn (gthread) with one settings module (bench.oauth_settings: Portico's
settings plus a bare view), over loopback only, each for the same number of seconds:
- bare:          POST /bench/oauth-bare, a view that reads the form and answers, behind the whole
                 middleware stack (the limit);
- token basic:   POST /oauth/token, client credentials with HTTP Basic (authenticates the client
                 by its keyed hash, stores a hashed token, answers JSON), cycling over 3 clients;
- token form:    the same with client_id and client_secret in the body;
- wrong secret:  401 invalid_client answers (the failure limit is lifted for this run);
- api/me:        GET /api/me with a bearer token (the resource side: one indexed read).
Plus, in this process, the cost of checking one client secret: Portico's HMAC-SHA256 against
Django's default password hasher (PBKDF2), which django-oauth-toolkit uses for client secrets.

It starts its own throwaway PostgreSQL (as scripts/test.sh does; SQLite in WAL mode with
--sqlite or when PostgreSQL is not installed) and stops it, and gunicorn, at the end.
"""

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Postgres, free_port, say, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCENARIOS = ["bare", "token basic", "token form", "wrong secret", "api/me"]


# --- Data -------------------------------------------------------------------------------------------
def seed() -> dict:
    """Three connection API credentials of one organization, and a bearer token of the first."""
    from django.core.management import call_command
    from django.db import connections

    from credentials.integration import services as integration_services
    from credentials.lib import crypto
    from portal.models import Organization

    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench", slug="bench")
    clients, credentials = [], []
    for number in range(3):
        credential, secret = integration_services.api_credential_create(
            organization=organization, name=f"bench {number}"
        )
        clients.append((credential.client_id, secret.value))
        credentials.append(credential)
    token = crypto.generate_secret("at")
    integration_services.access_token_store(
        credential=credentials[0], prefix=token.prefix, digest=token.digest, scopes="read write", expires_in=86400
    )
    connections.close_all()
    return {"clients": clients, "access_token": token.value}


def secret_check_costs() -> dict[str, float]:
    """Microseconds to check one client secret: Portico's keyed hash against Django's PBKDF2."""
    from django.contrib.auth.hashers import check_password, make_password

    from credentials.lib import crypto

    value = crypto.generate_secret("cs").value
    digest = crypto.hash_secret(value)
    rounds = 20_000
    started = time.perf_counter()
    for _ in range(rounds):
        crypto.verify_secret(value, digest)
    hmac_us = (time.perf_counter() - started) / rounds * 1e6
    hashed = make_password(value)
    started = time.perf_counter()
    for _ in range(5):
        check_password(value, hashed)
    pbkdf2_us = (time.perf_counter() - started) / 5 * 1e6
    return {"hmac": hmac_us, "pbkdf2": pbkdf2_us, "pbkdf2_name": hashed.split("$")[0] + "$" + hashed.split("$")[1]}


# --- Load -------------------------------------------------------------------------------------------
def requests_for(scenario: str, data: dict) -> list[tuple[str, str, str, dict[str, str]]]:
    """The requests one client cycles through: (method, path, body, headers)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    out = []
    for client_id, secret in data["clients"]:
        basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        if scenario == "bare":
            out.append(("POST", "/bench/oauth-bare", "grant_type=client_credentials", {**form, "Authorization": basic}))
        elif scenario == "token basic":
            out.append(("POST", "/oauth/token", "grant_type=client_credentials", {**form, "Authorization": basic}))
        elif scenario == "token form":
            body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
            out.append(("POST", "/oauth/token", body, form))
        elif scenario == "wrong secret":
            wrong = "Basic " + base64.b64encode(f"{client_id}:{secret}x".encode()).decode()
            out.append(("POST", "/oauth/token", "grant_type=client_credentials", {**form, "Authorization": wrong}))
        elif scenario == "api/me":
            out.append(("GET", "/api/me", "", {"Authorization": f"Bearer {data['access_token']}"}))
    return out


def client_loop(port: int, plan: list, seconds: float, expected: int, queue: multiprocessing.Queue) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, index = [], 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        method, path, body, headers = plan[index % len(plan)]
        index += 1
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != expected:
                errors += 1
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
    connection.close()
    queue.put((latencies, errors))


def run_scenario(port: int, scenario: str, data: dict, seconds: float, clients: int) -> dict:
    expected = {"wrong secret": 401}.get(scenario, 200)
    plan = requests_for(scenario, data)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=client_loop, args=(port, plan, seconds, expected, queue)) for _ in range(clients)
    ]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    latencies = sorted(latency for result in results for latency in result[0])
    errors = sum(result[1] for result in results)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
        "unexpected": errors,
    }


# --- Main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="load per scenario and round (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median counts (default 3)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: CPUs)")
    parser.add_argument("--clients", type=int, default=2 * (os.cpu_count() or 2), help="client processes")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite (WAL) instead of a throwaway PostgreSQL")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-oauth."))
    postgres = Postgres(tmp)
    use_postgres = postgres.available and not args.sqlite
    gunicorn = None
    try:
        if use_postgres:
            say(f"Starting a throwaway PostgreSQL in {tmp}")
            postgres.start()
            database_url = postgres.url
        else:
            database_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        env = {
            **os.environ,
            "PORTICO_READ_DOTENV": "false",
            "DJANGO_SETTINGS_MODULE": "bench.oauth_settings",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "PORTICO_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "PORTICO_HASH_KEY": secrets.token_urlsafe(40),
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "ERROR",
            # The wrong-secret scenario measures 401 answers, not the 429s the limit would give.
            "PORTICO_OAUTH_FAILURE_LIMIT": str(10**9),
            "PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT": str(10**9),
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        say("Migrating and seeding (3 connection API credentials, 1 access token)")
        data = seed()
        costs = secret_check_costs()

        port = free_port()
        say(f"Starting gunicorn (gthread, {args.workers} workers x 4 threads) on 127.0.0.1:{port}")
        gunicorn = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)]
            + ["--worker-class", "gthread", "--threads", "4", "--keep-alive", "5", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stderr=(tmp / "gunicorn.log").open("w"),
        )
        wait_for_port(port, gunicorn, "gunicorn")
        # Warm every worker up (imports, first connections) before measuring.
        run_scenario(port, "token basic", data, 1.0, args.clients)
        run_scenario(port, "bare", data, 1.0, args.clients)

        # Rounds with the scenarios interleaved, so that whatever else the machine does hits them
        # all alike; the round with the median req/s counts.
        rounds: dict[str, list[dict]] = {scenario: [] for scenario in SCENARIOS}
        for number in range(1, args.rounds + 1):
            for scenario in SCENARIOS:
                say(f"round {number}/{args.rounds}, {scenario}: {args.clients} clients for {args.seconds:.0f} s")
                rounds[scenario].append(run_scenario(port, scenario, data, args.seconds, args.clients))
        results = {
            scenario: sorted(runs, key=lambda run: run["rps"])[len(runs) // 2] for scenario, runs in rounds.items()
        }
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                gunicorn.wait(timeout=15)
        if use_postgres:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    bare = results["bare"]["rps"]
    print()
    print(f"POST /oauth/token vs a bare view: {platform.python_implementation()} {platform.python_version()}, ")
    print(
        f"{os.cpu_count()} CPUs, database {'PostgreSQL' if use_postgres else 'SQLite'}, "
        f"{args.workers} gunicorn workers, {args.clients} client processes (keep-alive), "
        f"median of {args.rounds} rounds of {args.seconds:.0f} s"
    )
    print()
    print(f"{'scenario':<14} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8} {'unexpected':>11}")
    for scenario, result in results.items():
        print(
            f"{scenario:<14} {result['rps']:>9.0f} {result['rps'] / bare:>8.2f} {result['p50_ms']:>8.2f} "
            f"{result['p99_ms']:>8.2f} {result['unexpected']:>11}"
        )
    print()
    print(
        f"Checking one client secret in process: HMAC-SHA256 {costs['hmac']:.1f} µs; "
        f"Django's default hasher ({costs['pbkdf2_name']}) {costs['pbkdf2'] / 1000:.0f} ms "
        f"({costs['pbkdf2'] / costs['hmac']:.0f}x)."
    )
    if args.json:
        print(json.dumps({"results": results, "rounds": rounds, "secret_check_us": costs}, indent=2))


if __name__ == "__main__":
    main()
