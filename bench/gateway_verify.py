"""Benchmark: requests per second of /gateway/verify, side by side with the limit and the library.

Run by hand, never by the tests (bench/README.md): ``.venv/bin/python bench/gateway_verify.py``.

In one run, on one gunicorn with one settings module (bench.settings: Portico's own settings plus
the comparison library), over loopback only:
- bare:     a Django view that does nothing, behind the project's middleware stack (the limit);
- verify:   POST /gateway/verify, as nginx's auth_request sends it, cycling through 10,000 keys;
- failure:  the same with 10,000 well-formed keys Portico never issued (each is read once per worker,
            then remembered as absent; beyond 20 reads a second, answered from the snapshot);
- library:  a DRF view protected by djangorestframework-api-key's HasAPIKey, its own 10,000 keys;
- hot:      (for information) /gateway/verify with 50 keys, answered from the per-process snapshot.
It starts its own throwaway PostgreSQL (as scripts/test.sh does) and stops it, and gunicorn, at
the end; load comes from wrk (Debian package `wrk`), or a small threaded Python client without it.
"""

import argparse
import contextlib
import http.client
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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from harness import Postgres, figure, free_port, machine_load, say, wait_for_port, write_figures

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEYS = 10_000
HOT_KEYS = 50
API_SLUGS = [f"bench-api-{n}" for n in range(10)]  # 10 APIs x 1,000 consumers = 10,000 keys
GOALS = {"verify / bare": 1.0, "verify / library": 3.0, "failure / success": 0.9}
# The names of the ratios in docs/benchmarks.json.
FIGURES = {"verify / bare": "verify/bare", "verify / library": "verify/library", "failure / success": "failure/success"}


# --- Data -------------------------------------------------------------------------------------------
@dataclass
class Data:
    gateway_token: str
    verify_keys: list[str]
    unknown_keys: list[str]
    library_keys: list[str]


def seed() -> Data:
    """10,000 Portico keys (10 APIs x 1,000 consumers) and 10,000 keys of the library."""
    from django.core.management import call_command
    from django.db import connections, transaction
    from django.utils import timezone
    from rest_framework_api_key.models import APIKey

    from credentials.lib import crypto
    from credentials.models import Api, ApiKey, KeySecret, RuntimeTarget
    from portal.models import Organization, User

    call_command("migrate", verbosity=0)
    token = crypto.generate_secret("gw")
    with transaction.atomic():
        organization = Organization.objects.create(name="Bench", slug="bench")
        target = RuntimeTarget.objects.create(
            name="bench-nginx",
            base_url="https://gateway.invalid",
            signing_secret="bench-signing-secret",
            verify_token_prefix=token.prefix,
            verify_token_digest=token.digest,
        )
        apis = [
            Api.objects.create(
                name=slug, slug=slug, provider=organization, key_lifetime_days=365, runtime_target=target
            )
            for slug in API_SLUGS
        ]
        per_api = KEYS // len(apis)
        users = User.objects.bulk_create(
            [User(username=f"consumer{n}", password="!", organization=organization) for n in range(per_api)]
        )
        keys, secret_values = [], []
        expires = timezone.now() + timedelta(days=365)
        for api in apis:
            for user in users:
                secret = crypto.generate_secret("key")
                keys.append(ApiKey(consumer=user, api=api, prefix=secret.prefix, expires_at=expires))
                secret_values.append((api.slug, secret))
        keys = ApiKey.objects.bulk_create(keys, batch_size=2000)
        KeySecret.objects.bulk_create(
            [
                KeySecret(api_key=key, prefix=s.prefix, digest=s.digest)
                for key, (_slug, s) in zip(keys, secret_values, strict=True)
            ],
            batch_size=2000,
        )
        library_keys = []
        library_rows = []
        for n in range(KEYS):
            key, prefix, hashed = APIKey.objects.key_generator.generate()
            library_rows.append(APIKey(id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name=f"client {n}"))
            library_keys.append(key)
        APIKey.objects.bulk_create(library_rows, batch_size=2000)
    connections.close_all()
    # Each line: the API's slug and the key; wrk sends both.
    verify_keys = [f"{slug} {s.value}" for slug, s in secret_values]
    unknown = [f"{API_SLUGS[n % len(API_SLUGS)]} {crypto.generate_secret('key').value}" for n in range(KEYS)]
    return Data(gateway_token=token.value, verify_keys=verify_keys, unknown_keys=unknown, library_keys=library_keys)


# --- Load -------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    label: str
    path: str
    expected: int
    keys: list[str]  # "api key" pairs for verify, bare keys for the library, none for bare
    key_header: str = ""
    headers: dict[str, str] | None = None
    informational: bool = False


@dataclass
class Result:
    rps: float
    ok: int
    bad: int
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_ms: float = 0.0  # server CPU (gunicorn workers + PostgreSQL) per answered request
    db_ms: float = 0.0  # of which PostgreSQL's


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(_stat_fields(int(entry.name))[1]) == parent:
                    found.append(int(entry.name))
    return found


class ServerCpu:
    """User + system CPU seconds of the server side: gunicorn's processes and PostgreSQL's.

    On a shared or small machine req/s moves with whatever else runs; CPU per request does much
    less, so the report gives both.
    """

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots

    def snapshot(self) -> dict[int, float]:
        seconds = {}
        for root in self.roots:
            for pid in [root, *_children(root)]:
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = _stat_fields(pid)
                    seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return seconds

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(max(0.0, spent - before.get(pid, 0.0)) for pid, spent in after.items())


WRK_SCRIPT = r"""
-- Generated by bench/gateway_verify.py: cycles through a file of keys, counts expected answers.
local keys_file, expected, key_header, path = "%(keys_file)s", %(expected)d, "%(key_header)s", "%(path)s"
local static = { %(static)s }
local keys, apis = {}, {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if keys_file ~= "" then
    for line in io.lines(keys_file) do
      local api, key = line:match("^(%%S*) (%%S+)$")
      apis[#apis + 1] = api
      keys[#keys + 1] = key
    end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%%x+)"), 16) %% 100000)
  n = #keys > 0 and math.random(#keys) or 0
  ok, bad = 0, 0
end

function request()
  local headers = {}
  for name, value in pairs(static) do headers[name] = value end
  if #keys > 0 then
    n = n %% #keys + 1
    headers[key_header] = keys[n]
    if apis[n] ~= "" then headers["X-Portico-Api"] = apis[n] end
  end
  return wrk.format("POST", path, headers)
end

function response(status, headers, body)
  if status == expected then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, thread in ipairs(threads) do
    o = o + thread:get("ok")
    b = b + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format("RESULT duration_us=%%d ok=%%d bad=%%d errors=%%d p50_us=%%d p99_us=%%d\n",
    summary.duration, o, b, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(base: str, scenario: Scenario, seconds: float, connections: int, tmp: Path) -> Result:
    keys_file = ""
    if scenario.keys:
        keys_file = str(tmp / f"{scenario.name}.keys")
        lines = scenario.keys if " " in scenario.keys[0] else [f" {key}" for key in scenario.keys]
        Path(keys_file).write_text("\n".join(lines) + "\n")
    static = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in (scenario.headers or {}).items())
    script = tmp / f"{scenario.name}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "keys_file": keys_file,
            "expected": scenario.expected,
            "key_header": scenario.key_header,
            "path": scenario.path,
            "static": static,
        }
    )
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "5s", "-s", str(script), base],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    match = re.search(r"RESULT duration_us=(\d+) ok=(\d+) bad=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+)", output)
    if match is None:
        sys.exit(f"wrk gave no result:\n{output}")
    duration_us, ok, bad, errors, p50, p99 = (int(g) for g in match.groups())
    return Result(ok / (duration_us / 1e6), ok, bad, errors, p50 / 1000, p99 / 1000)


def run_python_client(port: int, scenario: Scenario, seconds: float, connections: int) -> Result:
    """Without wrk: `connections` threads on keep-alive connections, for `seconds` (much slower)."""
    counts = {"ok": 0, "bad": 0, "errors": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        n, mine, lat = offset, {"ok": 0, "bad": 0, "errors": 0}, []
        while time.monotonic() < stop_at:
            headers = dict(scenario.headers or {})
            if scenario.keys:
                n = (n + 1) % len(scenario.keys)
                api, _, key = scenario.keys[n].rpartition(" ")
                headers[scenario.key_header] = key
                if api:
                    headers["X-Portico-Api"] = api
            started = time.perf_counter()
            try:
                conn.request("POST", scenario.path, headers=headers)
                response = conn.getresponse()
                response.read()
                mine["ok" if response.status == scenario.expected else "bad"] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                mine["errors"] += 1
                conn.close()
            lat.append(time.perf_counter() - started)
        with lock:
            for name, count in mine.items():
                counts[name] += count
            latencies.extend(lat)

    threads = [threading.Thread(target=worker, args=(i * 997,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Result(
        counts["ok"] / seconds,
        counts["ok"],
        counts["bad"],
        counts["errors"],
        quantiles[49] * 1000,
        quantiles[98] * 1000,
    )


def check_once(port: int, scenario: Scenario) -> None:
    """One request by hand before the load, so a wrong setup fails loudly, not as a fast 4xx."""
    headers = dict(scenario.headers or {})
    if scenario.keys:
        api, _, key = scenario.keys[0].rpartition(" ")
        headers[scenario.key_header] = key
        if api:
            headers["X-Portico-Api"] = api
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", scenario.path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    if response.status != scenario.expected:
        sys.exit(f"{scenario.label}: expected {scenario.expected}, got {response.status}: {body[:300]}")


# --- Main -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, worker_class: str, tmp: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    log = (tmp / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "portal.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", str(workers), "--worker-class", worker_class, "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, "gunicorn")
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: workers flush their last-use buffers at exit
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all scenarios; medians count (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent loopback connections")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: CPUs)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default: sync)")
    parser.add_argument("--python-client", action="store_true", help="use the Python client even if wrk exists")
    parser.add_argument("--figures", help="write the figures (JSON) to this file")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 1 s")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 1.0, 1
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10 or not 1 <= args.connections <= 64:
        sys.exit("Keep it bounded: --duration 1..60, --rounds 1..10, --connections 1..64.")
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not use_wrk and not args.python_client:
        print("wrk not found (apt-get install wrk): using the slower Python client.")
    try:
        import rest_framework_api_key  # noqa: F401
    except ImportError:
        sys.exit("Install the comparison library first: .venv/bin/pip install -r bench/requirements.txt")

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench."))
    postgres = Postgres(tmp).require()
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PORTICO_READ_DOTENV": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTICO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "DEBUG": "false",
        # Plain HTTP on loopback: without this the two comparison views would answer 301 to https.
        # (/gateway/verify is answered before SecurityMiddleware either way.)
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }
    try:
        say(f"Starting PostgreSQL {postgres.version()} in {tmp}")
        postgres.start()
        env["DATABASE_URL"] = postgres.url
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        say(f"Loading {KEYS:,} Portico keys and {KEYS:,} keys of djangorestframework-api-key")
        data = seed()
        auth = {"Authorization": f"Bearer {data.gateway_token}"}
        scenarios = [
            Scenario("bare", "bare Django view (the limit)", "/bench/bare", 200, []),
            Scenario(
                "verify",
                f"/gateway/verify, {KEYS:,} keys",
                "/gateway/verify",
                200,
                data.verify_keys,
                "X-Portico-Key",
                auth,
            ),
            Scenario(
                "failure",
                f"/gateway/verify, {KEYS:,} unknown keys",
                "/gateway/verify",
                403,
                data.unknown_keys,
                "X-Portico-Key",
                auth,
            ),
            Scenario("library", f"DRF HasAPIKey, {KEYS:,} keys", "/bench/library", 200, data.library_keys, "X-Api-Key"),
            Scenario(
                "hot",
                f"/gateway/verify, {HOT_KEYS} hot keys (cache)",
                "/gateway/verify",
                200,
                data.verify_keys[:HOT_KEYS],
                "X-Portico-Key",
                auth,
                informational=True,
            ),
        ]
        say(f"Starting gunicorn: {args.workers} {args.worker_class} workers, settings bench.settings")
        results: dict[str, list[Result]] = {s.name: [] for s in scenarios}
        with gunicorn(env, args.workers, args.worker_class, tmp) as (port, gunicorn_pid):
            base = f"http://127.0.0.1:{port}"
            app, database = ServerCpu([gunicorn_pid]), ServerCpu([postgres.pid()])
            for scenario in scenarios:
                check_once(port, scenario)
            client = "wrk -t1" if use_wrk else "Python threads"
            say(f"Load: {client}, {args.connections} connections, {args.rounds} rounds x {args.duration:g} s each")
            for scenario in scenarios:  # warm-up: imports, connections, caches of the ORM
                if use_wrk:
                    run_wrk(base, scenario, 2, args.connections, tmp)
                else:
                    run_python_client(port, scenario, 2, args.connections)
            say(f"Measuring on a machine with {machine_load()}")
            for round_number in range(1, args.rounds + 1):
                for scenario in scenarios:
                    app_before, db_before = app.snapshot(), database.snapshot()
                    if use_wrk:
                        result = run_wrk(base, scenario, args.duration, args.connections, tmp)
                    else:
                        result = run_python_client(port, scenario, args.duration, args.connections)
                    per_answer = 1000 / max(result.ok, 1)
                    result.db_ms = ServerCpu.used(db_before, database.snapshot()) * per_answer
                    result.cpu_ms = ServerCpu.used(app_before, app.snapshot()) * per_answer + result.db_ms
                    results[scenario.name].append(result)
                    print(
                        f"  round {round_number} {scenario.label:<44} {result.rps:7.0f} req/s"
                        f" {result.cpu_ms:6.2f} ms server CPU each",
                        flush=True,
                    )
        write_figures(args.figures, report(scenarios, results, args, postgres, client))
        from credentials.models import ApiKey

        used = ApiKey.objects.filter(last_used_at__isnull=False).count()
        print(f"\nLast use recorded (buffered, flushed by the workers) for {used:,} of {KEYS:,} keys.")
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(
    scenarios: list[Scenario], results: dict[str, list[Result]], args, postgres: Postgres, client: str
) -> list[dict[str, object]]:
    """Print the table and the ratios against their goals; return the figures."""
    rps = {name: statistics.median(r.rps for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_ms for r in runs) for name, runs in results.items()}
    db = {name: statistics.median(r.db_ms for r in runs) for name, runs in results.items()}
    print()
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {postgres.version()}"
    )
    print(
        f"gunicorn {args.workers} {args.worker_class} workers; "
        f"load generator {client} with {args.connections} connections; medians of {args.rounds} rounds"
    )
    print()
    print(f"{'scenario':<46}{'req/s':>8}{'CPU ms':>8}{'of PG':>7}{'p50 ms':>8}{'p99 ms':>8}{'unexpected':>11}")
    for scenario in scenarios:
        runs = results[scenario.name]
        middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        unexpected = sum(r.bad + r.errors for r in runs)
        note = "  (information)" if scenario.informational else ""
        print(
            f"{scenario.label:<46}{rps[scenario.name]:>8.0f}{cpu[scenario.name]:>8.2f}{db[scenario.name]:>7.2f}"
            f"{middle.p50_ms:>8.2f}{middle.p99_ms:>8.2f}{unexpected:>11}{note}"
        )
    pairs = {"verify / bare": ("verify", "bare"), "verify / library": ("verify", "library")}
    pairs["failure / success"] = ("failure", "verify")
    print()
    print("CPU ms: server CPU (gunicorn workers + PostgreSQL) per answer; `of PG`: PostgreSQL's share.")
    print("The CPU ratio is the req/s ratio of a machine whose CPUs served nothing else (no load")
    print("generator, no other processes): steadier than req/s on a small or shared machine.")
    print()
    detail = (
        f"req/s ratio, median of {args.rounds} rounds of {args.duration:g} s, {KEYS:,} keys, gunicorn "
        f"{args.workers} {args.worker_class} workers, {client} with {args.connections} connections"
    )
    figures = []
    print(f"{'ratio':<20}{'req/s':>8}{'CPU':>8}{'goal':>9}")
    for name, (top, bottom) in pairs.items():
        measured = rps[top] / rps[bottom]
        by_cpu = cpu[bottom] / cpu[top]
        verdict = "met" if measured >= GOALS[name] else "NOT MET"
        print(f"{name:<20}{measured:>8.2f}{by_cpu:>8.2f}{'>= ' + format(GOALS[name], '.2f'):>9}  {verdict} (req/s)")
        figures.append(figure(FIGURES[name], measured, "ratio", f"{detail}; by server CPU per answer {by_cpu:.2f}"))
    for scenario in scenarios:
        figures.append(figure(f"rps/{scenario.name}", rps[scenario.name], "req/s", f"{scenario.label}; {detail}"))
    print(f"machine: {machine_load()}")
    recurrence = KEYS / rps["verify"]
    print(
        f"\nEach of the {KEYS:,} keys came back every {recurrence:.1f} s on average: "
        + (
            "longer than the 1 s per-prefix cache, so each is answered from the snapshot of usable keys "
            "(synced once a second per worker), not from a cache of its own."
            if recurrence > 1
            else "within the 1 s per-prefix cache for some of them."
        )
    )
    return figures


if __name__ == "__main__":
    main()
