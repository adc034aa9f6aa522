"""Benchmark: POST /oauth/token and a bearer-authenticated read, side by side with bare views and
django-oauth-toolkit.

Run by hand or by `make bench`: ``.venv/bin/python bench/oauth_token.py [--quick] [--figures PATH]``.

In one run, over loopback only, on one throwaway PostgreSQL and one gunicorn (2 sync workers by
default) with one settings module (bench.oauth_settings: Portico's own, plus django-oauth-toolkit
and the two bare views of bench/oauth_urls.py), the same requests on both sides of each comparison:
- bare token   POST /bench/oauth-bare: reads the token request's form, answers JSON (the limit);
- token        POST /oauth/token, the client credentials grant with HTTP Basic, cycling over
               3 connection API credentials;
- dot token    django-oauth-toolkit's token endpoint (/o/token/), the same grant and form, cycling
               over its own 3 clients (confidential Applications with its defaults: the client
               secret hashed with Django's password hasher, a stored token row per token);
- bare read    GET /bench/api-bare: answers a fixed JSON:API document (the limit);
- api read     GET /api/api_credentials/<id> with a bearer token: each of the 3 credentials' tokens
               reads its own credential, with the JSON:API media type in Accept;
- api me       (information) GET /api/me with the same tokens;
- wrong secret (information) POST /oauth/token with wrong secrets: 401 answers (the failure limit
               is lifted for the run).
Load comes from wrk (Debian package `wrk`; one thread, 8 connections), or without it from a small
threaded Python client. The scenarios are interleaved in rounds, medians count, and every answer's
status is checked (the `unexpected` column, with the statuses seen).
"""

import argparse
import base64
import collections
import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness import Postgres, figure, free_port, machine_load, say, wait_for_port, write_figures

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLIENTS = 3  # an account has at most 3 connection API credentials; django-oauth-toolkit gets as many
FORM = "application/x-www-form-urlencoded"
JSONAPI = "application/vnd.api+json"
GRANT = "grant_type=client_credentials"
GOALS = {"token/bare": 0.5, "token/django-oauth-toolkit": 10.0, "api_read/bare": 0.5}
COMPARISONS = {  # figure: (scenario, the scenario it is compared with)
    "token/bare": ("token", "bare token"),
    "token/django-oauth-toolkit": ("token", "dot token"),
    "api_read/bare": ("api read", "bare read"),
}


# --- Data -------------------------------------------------------------------------------------------
@dataclass
class Data:
    portico: list[tuple[str, str]]  # (client ID, secret) of Portico's credentials
    public_ids: list[str]  # their JSON:API ids, in the same order
    dot: list[tuple[str, str]]  # (client ID, secret) of django-oauth-toolkit's Applications
    tokens: list[str] = field(default_factory=list)  # a bearer token of each Portico credential


def seed() -> Data:
    """3 connection API credentials of one organization, and 3 django-oauth-toolkit clients."""
    from django.core.management import call_command
    from django.db import connections
    from oauth2_provider.models import Application

    from credentials.integration import services
    from portal.models import Organization

    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench", slug="bench")
    portico, public_ids = [], []
    for number in range(CLIENTS):
        credential, secret = services.api_credential_create(organization=organization, name=f"bench {number}")
        portico.append((credential.client_id, secret.value))
        public_ids.append(credential.public_id)
    dot = []
    for number in range(CLIENTS):
        secret = secrets.token_urlsafe(32)
        application = Application.objects.create(
            name=f"bench {number}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,  # hashed on save (hash_client_secret, its default)
        )
        dot.append((application.client_id, secret))
    connections.close_all()
    return Data(portico=portico, public_ids=public_ids, dot=dot)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- Scenarios --------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    label: str
    method: str
    expected: int
    requests: list[tuple[str, str]]  # (path, Authorization header), cycled through
    body: str = ""
    content_type: str = ""
    accept: str = ""
    informational: bool = False


def scenarios(data: Data) -> list[Scenario]:
    portico = [basic(*client) for client in data.portico]
    wrong = [basic(client_id, secret + "x") for client_id, secret in data.portico]
    bearer = [f"Bearer {token}" for token in data.tokens]
    form = {"body": GRANT, "content_type": FORM}
    reads = [
        (f"/api/api_credentials/{public_id}", auth) for public_id, auth in zip(data.public_ids, bearer, strict=True)
    ]
    return [
        Scenario(
            "bare token", "bare view reading the form", "POST", 200, [("/bench/oauth-bare", a) for a in portico], **form
        ),
        Scenario("token", "POST /oauth/token (Portico)", "POST", 200, [("/oauth/token", a) for a in portico], **form),
        Scenario(
            "dot token",
            "POST /o/token/ (django-oauth-toolkit)",
            "POST",
            200,
            [("/o/token/", basic(*client)) for client in data.dot],
            **form,
        ),
        Scenario("bare read", "bare GET view", "GET", 200, [("/bench/api-bare", a) for a in bearer], accept=JSONAPI),
        Scenario("api read", "GET /api/api_credentials/:id", "GET", 200, reads, accept=JSONAPI),
        Scenario("api me", "GET /api/me", "GET", 200, [("/api/me", a) for a in bearer], informational=True),
        Scenario(
            "wrong secret",
            "POST /oauth/token, wrong secrets",
            "POST",
            401,
            [("/oauth/token", a) for a in wrong],
            informational=True,
            **form,
        ),
    ]


# --- Load -------------------------------------------------------------------------------------------
@dataclass
class Result:
    rps: float
    ok: int
    unexpected: collections.Counter  # status (or "error") -> count
    p50_ms: float
    p99_ms: float
    cpu_ms: float = 0.0  # server CPU (gunicorn workers + PostgreSQL) per expected answer


WRK_SCRIPT = r"""
-- Generated by bench/oauth_token.py: cycles through a file of "path<TAB>Authorization" lines,
-- counts the expected answers and every other status.
local lines_file, method, expected = %(lines)s, %(method)s, %(expected)d
local body, content_type, accept = %(body)s, %(content_type)s, %(accept)s
local paths, auths, threads = {}, {}, {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(lines_file) do
    local path, auth = line:match("^([^\t]+)\t(.*)$")
    paths[#paths + 1] = path
    auths[#auths + 1] = auth
  end
  n, ok, others = 0, 0, ""
end

function request()
  n = n %% #paths + 1
  local headers = { ["Authorization"] = auths[n] }
  if content_type ~= "" then headers["Content-Type"] = content_type end
  if accept ~= "" then headers["Accept"] = accept end
  return wrk.format(method, paths[n], headers, body ~= "" and body or nil)
end

function response(status, headers, response_body)
  if status == expected then ok = ok + 1 else others = others .. status .. " " end
end

function done(summary, latency, requests)
  local o, statuses = 0, ""
  for _, thread in ipairs(threads) do
    o = o + thread:get("ok")
    statuses = statuses .. thread:get("others")
  end
  local e = summary.errors
  io.write(string.format("RESULT duration_us=%%d ok=%%d errors=%%d p50_us=%%d p99_us=%%d statuses=%%s\n",
    summary.duration, o, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), statuses))
end
"""


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(port: int, scenario: Scenario, seconds: int, connections: int, tmp: Path) -> Result:
    slug = scenario.name.replace(" ", "-")
    lines = tmp / f"{slug}.lines"
    lines.write_text("".join(f"{path}\t{auth}\n" for path, auth in scenario.requests))
    script = tmp / f"{slug}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "lines": lua_string(str(lines)),
            "method": lua_string(scenario.method),
            "expected": scenario.expected,
            "body": lua_string(scenario.body),
            "content_type": lua_string(scenario.content_type),
            "accept": lua_string(scenario.accept),
        }
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}"], check=True, capture_output=True, text=True, timeout=seconds + 60
    ).stdout
    match = re.search(r"RESULT duration_us=(\d+) ok=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+) statuses=(.*)", output)
    if match is None:
        sys.exit(f"wrk gave no result:\n{output}")
    duration_us, ok, errors, p50, p99 = (int(g) for g in match.groups()[:5])
    unexpected = collections.Counter(match.group(6).split())
    if errors:
        unexpected["error"] += errors
    return Result(ok / (duration_us / 1e6), ok, unexpected, p50 / 1000, p99 / 1000)


def ask(port: int, scenario: Scenario, index: int) -> tuple[int, bytes]:
    path, auth = scenario.requests[index % len(scenario.requests)]
    headers = {"Authorization": auth}
    if scenario.content_type:
        headers["Content-Type"] = scenario.content_type
    if scenario.accept:
        headers["Accept"] = scenario.accept
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(scenario.method, path, body=scenario.body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def run_python_client(port: int, scenario: Scenario, seconds: int, connections: int) -> Result:
    """Without wrk: `connections` threads, a connection per request as gunicorn's sync workers
    close them anyway (much slower than wrk: the client shares the CPUs with the server)."""
    ok, unexpected, latencies = 0, collections.Counter(), []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(offset: int) -> None:
        nonlocal ok
        mine_ok, mine, lat, index = 0, collections.Counter(), [], offset
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                status, _ = ask(port, scenario, index)
            except (OSError, http.client.HTTPException):
                mine["error"] += 1
                continue
            finally:
                index += 1
            lat.append(time.perf_counter() - started)
            if status == scenario.expected:
                mine_ok += 1
            else:
                mine[str(status)] += 1
        with lock:
            ok += mine_ok
            unexpected.update(mine)
            latencies.extend(lat)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Result(ok / seconds, ok, unexpected, quantiles[49] * 1000, quantiles[98] * 1000)


def check_once(port: int, scenario: Scenario) -> None:
    """One request by hand before the load, so a wrong setup fails loudly, not as fast errors."""
    status, body = ask(port, scenario, 0)
    if status != scenario.expected:
        sys.exit(f"{scenario.label}: expected {scenario.expected}, got {status}: {body[:300]!r}")


# --- Server CPU -------------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(roots: list[int]) -> float:
    """User + system CPU seconds of these processes and their children (gunicorn's workers,
    PostgreSQL's backends), from /proc. Steadier than req/s on a small or shared machine."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
            stat = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            if int(entry.name) in roots or int(stat[1]) in roots:
                total += (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
    return total


# --- Main -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, tmp: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    log = (tmp / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "portal.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", str(workers), "--worker-class", "sync", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, "gunicorn")
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def issue_tokens(port: int, data: Data) -> None:
    for client_id, secret in data.portico:
        status, body = ask(
            port, Scenario("token", "", "POST", 200, [("/oauth/token", basic(client_id, secret))], GRANT, FORM), 0
        )
        if status != 200:
            sys.exit(f"POST /oauth/token: expected 200, got {status}: {body[:300]!r}")
        data.tokens.append(json.loads(body)["access_token"])


def environment(database_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.oauth_settings",
        "PORTICO_READ_DOTENV": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTICO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        # Plain HTTP on loopback: without this every view but /gateway/verify answers 301 to https.
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "ERROR",
        # The wrong-secret scenario measures 401 answers, not the 429s the limit would give.
        "PORTICO_OAUTH_FAILURE_LIMIT": str(10**9),
        "PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT": str(10**9),
        "PYTHONPATH": str(ROOT),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 2 s per scenario, none for information (a smoke run)"
    )
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all scenarios; medians count (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent loopback connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--python-client", action="store_true", help="use the Python client even if wrk exists")
    parser.add_argument("--figures", help="write the figures (JSON) to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 2, 1
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10 or not 1 <= args.connections <= 64:
        sys.exit("Keep it bounded: --duration 1..60, --rounds 1..10, --connections 1..64.")
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not use_wrk and not args.python_client:
        print("wrk not found (apt-get install wrk): using the slower Python client.")
    try:
        import oauth2_provider  # noqa: F401
    except ImportError:
        sys.exit("Install the comparison library first: .venv/bin/pip install -r bench/requirements.txt")

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-oauth."))
    postgres = Postgres(tmp).require()
    try:
        say(f"Starting PostgreSQL {postgres.version()} in {tmp}")
        postgres.start()
        env = environment(postgres.url)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        say(f"Migrating; {CLIENTS} connection API credentials and {CLIENTS} django-oauth-toolkit clients")
        data = seed()
        say(f"Starting gunicorn: {args.workers} sync workers, settings bench.oauth_settings")
        with gunicorn(env, args.workers, tmp) as (port, gunicorn_pid):
            issue_tokens(port, data)
            # A smoke run measures what the figures need, not the scenarios for information.
            plan = [scenario for scenario in scenarios(data) if not (args.quick and scenario.informational)]
            for scenario in plan:
                check_once(port, scenario)
            client = "wrk -t1" if use_wrk else "Python threads"
            warm_up = 1 if args.quick else 2
            say(f"Load: {client}, {args.connections} connections, {args.rounds} rounds x {args.duration} s each")
            say(f"Before: {machine_load()}")
            # Imports, connections, the per-process caches; django-oauth-toolkit keeps none, and its
            # check above already imported its code.
            for scenario in plan:
                if scenario.name != "dot token":
                    measure(port, scenario, warm_up, args, use_wrk, tmp)
            results: dict[str, list[Result]] = {scenario.name: [] for scenario in plan}
            roots = [gunicorn_pid, postgres.pid()]
            for number in range(1, args.rounds + 1):
                for scenario in plan:
                    before = server_cpu_seconds(roots)
                    result = measure(port, scenario, args.duration, args, use_wrk, tmp)
                    result.cpu_ms = (server_cpu_seconds(roots) - before) * 1000 / max(result.ok, 1)
                    results[scenario.name].append(result)
                    print(
                        f"  round {number} {scenario.label:<40} {result.rps:7.0f} req/s"
                        f" {result.cpu_ms:6.2f} ms server CPU each",
                        flush=True,
                    )
            say(f"After: {machine_load()}")
        figures = report(plan, results, args, postgres, client)
        write_figures(args.figures, figures)
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(port: int, scenario: Scenario, seconds: int, args: argparse.Namespace, use_wrk: bool, tmp: Path) -> Result:
    if use_wrk:
        result = run_wrk(port, scenario, seconds, args.connections, tmp)
    else:
        result = run_python_client(port, scenario, seconds, args.connections)
    # The load generator stops at the deadline, but the requests it had sent are still answered
    # (django-oauth-toolkit's take about half a second of CPU each): wait for them, so they do not
    # count against the next scenario. One more request is answered after those queued before it.
    ask(port, Scenario("drain", "", "GET", 200, [("/bench/api-bare", "")]), 0)
    return result


def report(
    plan: list[Scenario], results: dict[str, list[Result]], args: argparse.Namespace, postgres: Postgres, client: str
) -> list[dict[str, object]]:
    rps = {name: statistics.median(r.rps for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_ms for r in runs) for name, runs in results.items()}
    setup = (
        f"gunicorn {args.workers} sync workers, PostgreSQL {postgres.version()}, {client} with "
        f"{args.connections} connections, median of {args.rounds} interleaved rounds of {args.duration} s"
    )
    print()
    print(f"{platform.node()}: {machine_load()}, Python {platform.python_version()}")
    print(setup)
    print()
    print(f"{'scenario':<42}{'req/s':>8}{'CPU ms':>8}{'p50 ms':>8}{'p99 ms':>8}  unexpected")
    figures = []
    for scenario in plan:
        runs = results[scenario.name]
        middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        unexpected = sum((r.unexpected for r in runs), collections.Counter())
        seen = ", ".join(f"{status} x{count}" for status, count in sorted(unexpected.items())) or "0"
        note = "  (information)" if scenario.informational else ""
        print(
            f"{scenario.label:<42}{rps[scenario.name]:>8.1f}{cpu[scenario.name]:>8.2f}"
            f"{middle.p50_ms:>8.2f}{middle.p99_ms:>8.2f}  {seen}{note}"
        )
        figures.append(
            figure(
                f"rps/{scenario.name.replace(' ', '_')}",
                rps[scenario.name],
                "req/s",
                f"{scenario.method} {scenario.requests[0][0]}: {scenario.label}; {setup}; "
                f"unexpected answers: {sum(unexpected.values())}",
            )
        )
    print()
    print("CPU ms: server CPU (gunicorn workers + PostgreSQL) per expected answer.")
    print()
    print(f"{'figure':<28}{'req/s':>8}{'CPU':>8}{'goal':>9}")
    details = {
        "token/bare": "POST /oauth/token (client credentials, HTTP Basic, 3 clients) req/s over a bare view's "
        "that reads the same form and answers JSON",
        "token/django-oauth-toolkit": "POST /oauth/token req/s over django-oauth-toolkit's client credentials "
        "token endpoint (/o/token/, 3 clients, the same form), same gunicorn, settings and database; "
        "django-oauth-toolkit checks client secrets with Django's password hasher (PBKDF2) and stores a row "
        "per token, Portico with an HMAC and signs its tokens",
        "api_read/bare": "GET /api/api_credentials/:id with a bearer token (3 tokens, each reading its own "
        "credential) req/s over a bare GET view answering a fixed JSON:API document",
    }
    for name, (top, bottom) in COMPARISONS.items():
        # django-oauth-toolkit may answer none in a round (each answer costs it about half a second of
        # CPU): then its req/s is below one per round, and the ratio a lower bound.
        lower_bound = rps[bottom] == 0
        measured = rps[top] / (rps[bottom] or 1 / args.duration)
        by_cpu = cpu[bottom] / cpu[top]
        verdict = "met" if measured >= GOALS[name] else "NOT MET"
        bound = " (a lower bound: no answer in the median round)" if lower_bound else ""
        print(
            f"{name:<28}{measured:>8.2f}{by_cpu:>8.2f}{'>= ' + format(GOALS[name], 'g'):>9}  {verdict} (req/s){bound}"
        )
        detail = f"{details[name]}; {setup}; by server CPU: {by_cpu:.2f}{bound}"
        figures.append(figure(name, measured, "ratio", detail))
    return figures


if __name__ == "__main__":
    main()
