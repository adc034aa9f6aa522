"""Re-encrypting stored secrets: `manage.py rotate_encryption_keys` over 100,000 rows on PostgreSQL.

The rows are written under an old key (their ciphertexts inserted directly, by COPY): half are
runtime targets' signing secrets, half connection requests' credentials (one in ten a certificate
and its private key, the rest a client secret), the two encrypted columns of Portico's models. Each
round runs the command in a fresh process with a new key first in PORTICO_ENCRYPTION_KEYS, times
it, then checks that every row opens under the new key alone and holds the plaintext it held
before; then it puts the old ciphertexts back and compacts the tables (VACUUM FULL), so every round
starts from the same state. Medians count. Beside it, as information: the re-encryption alone (the
same function over the same tokens, no database), and a last run over rows already under the
newest key, which must change nothing.

It starts a throwaway PostgreSQL (as scripts/test.sh does, without fsync: the figures are CPU and
queries, not disk flushes) on a free loopback port and stops it at the end. With DATABASE_URL set
(postgres://, a role with CREATEDB) it uses that server instead, creating and dropping its own
database beside the named one (which it never touches).
"""

import argparse
import io
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness import Postgres, figure, machine_load, say, write_figures

ROOT = Path(__file__).resolve().parent.parent
GOAL = 20_000  # rows re-encrypted per second (issue 12)
CERTIFICATE_EVERY = 10  # one connection request in ten holds a certificate and key, not a client secret
ROTATION = "rotation (old key -> new key)"
REENCRYPT_ONLY = "re-encryption alone, no database (information)"
NOTHING_TO_DO = "nothing to rotate (information)"
# The encrypted columns of Portico's models that hold many rows, by table (a second factor's key,
# one per hub admin or approver, is left out).
COLUMNS = {"credentials_runtimetarget": "signing_secret", "credentials_connectionrequest": "credentials"}


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


# --- Data -------------------------------------------------------------------------------------------
def credentials_json(n: int) -> str:
    """What EncryptedJSONField encrypts for a connection request: its JSON, compact, keys sorted."""
    if n % CERTIFICATE_EVERY:
        data = {
            "url": f"https://tenant-{n}.example.com",
            "tokenUrl": f"https://tenant-{n}.example.com/oauth/token",
            "clientId": f"sb-client-{n}",
            "clientSecret": secrets.token_urlsafe(32),
        }
    else:  # a PEM certificate and private key are about 1.2 and 1.7 KB
        data = {
            "url": f"https://tenant-{n}.example.com",
            "tokenurl": f"https://tenant-{n}.example.com/oauth/token",
            "certurl": f"https://tenant-{n}.cert.example.com",
            "certificate": "-----BEGIN CERTIFICATE-----\n"
            + secrets.token_urlsafe(900)
            + "\n-----END CERTIFICATE-----\n",
            "key": "-----BEGIN PRIVATE KEY-----\n" + secrets.token_urlsafe(1270) + "\n-----END PRIVATE KEY-----\n",
            "clientid": f"sb-client-{n}",
        }
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def fill(url: str, rows: int, old_key: str) -> dict[str, dict[int, str]]:
    """Write `rows` secrets under `old_key` into a migrated, empty database; return the plaintexts
    by table and id. A copy of the ciphertexts stays in <table>_original, for reset()."""
    import psycopg
    from cryptography.fernet import Fernet

    old = Fernet(old_key.encode())
    now = datetime.now(UTC)
    targets = rows // 2
    plaintexts: dict[str, dict[int, str]] = {table: {} for table in COLUMNS}
    with psycopg.connect(url, autocommit=True) as db, db.transaction():
        (org,) = db.execute(
            "INSERT INTO portal_organization (name, slug, is_active, created_at) "
            "VALUES ('Bench', 'bench', true, %s) RETURNING id",
            [now],
        ).fetchone()
        (user,) = db.execute(
            """INSERT INTO portal_user (password, is_superuser, username, first_name, last_name, email,
                   is_staff, is_active, date_joined, organization_id)
               VALUES ('!', false, 'admin', '', '', 'admin@example.com', false, true, %s, %s) RETURNING id""",
            [now, org],
        ).fetchone()
        (tenant,) = db.execute(
            """INSERT INTO credentials_tenant (organization_id, alias, url, registered_by_id, created_at)
               VALUES (%s, 'bench', 'https://tenant.example.com', %s, %s) RETURNING id""",
            [org, user, now],
        ).fetchone()
        cursor = db.cursor()
        with cursor.copy(
            """COPY credentials_runtimetarget (id, name, base_url, health_url, signing_secret, verify_token_prefix,
                   verify_token_digest, health, health_message, created_at) FROM STDIN"""
        ) as copy:
            for n in range(1, targets + 1):
                secret = secrets.token_urlsafe(32)
                plaintexts["credentials_runtimetarget"][n] = secret
                copy.write_row(
                    (n, f"gateway {n}", f"https://gw-{n}.example.com", "", old.encrypt(secret.encode()).decode())
                    + (f"prt_gw_{n:08d}", "0" * 64, "unknown", "", now)
                )
        # Closed requests (withdrawn): a tenant may hold any number of them, but one open request.
        with cursor.copy(
            """COPY credentials_connectionrequest (id, tenant_id, status, credential_kind, credentials, api_url,
                   token_url, cert_url, client_id, certificate_subject, generated_at, expires_at,
                   credentials_updated_at, submitted_by_id, submitted_at, rejection_reason, health,
                   health_message, updated_at) FROM STDIN"""
        ) as copy:
            for n in range(1, rows - targets + 1):
                plaintext = credentials_json(n)
                plaintexts["credentials_connectionrequest"][n] = plaintext
                kind = "client_secret" if n % CERTIFICATE_EVERY else "certificate"
                copy.write_row(
                    (n, tenant, "withdrawn", kind, old.encrypt(plaintext.encode()).decode())
                    + (f"https://tenant-{n}.example.com", f"https://tenant-{n}.example.com/oauth/token", "")
                    + (f"sb-client-{n}", "", now - timedelta(days=10), now + timedelta(days=355), now, user, now)
                    + ("", "untested", "", now)
                )
        for table, column in COLUMNS.items():
            db.execute(f"CREATE TABLE {table}_original AS SELECT id, {column} AS token FROM {table}")  # noqa: S608
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
    reset(url)
    return plaintexts


def reset(url: str) -> None:
    """Put the old ciphertexts back, and compact the tables so every round starts as the first."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for table, column in COLUMNS.items():
            db.execute(
                f"UPDATE {table} t SET {column} = o.token FROM {table}_original o "  # noqa: S608
                f"WHERE o.id = t.id AND t.{column} IS DISTINCT FROM o.token"
            )
            db.execute(f"VACUUM FULL ANALYZE {table}")


def check(url: str, new_key: str, plaintexts: dict[str, dict[int, str]]) -> dict[str, str]:
    """Every row opens under the new key alone and holds its plaintext; return the ciphertexts."""
    import psycopg
    from cryptography.fernet import Fernet, InvalidToken

    newest = Fernet(new_key.encode())
    tokens: dict[str, str] = {}
    wrong = 0
    with psycopg.connect(url) as db:
        for table, column in COLUMNS.items():
            rows = db.execute(f"SELECT id, {column} FROM {table}").fetchall()  # noqa: S608
            if len(rows) != len(plaintexts[table]):
                sys.exit(f"{table} holds {len(rows):,} rows, not {len(plaintexts[table]):,}")
            for row_id, token in rows:
                try:
                    opened = newest.decrypt(token.encode()).decode()
                except InvalidToken:
                    opened = None
                wrong += opened != plaintexts[table][row_id]
                tokens[f"{table}:{row_id}"] = token
    if wrong:
        sys.exit(f"{wrong:,} rows do not open under the new key alone, or hold another plaintext")
    return tokens


# --- One run of the command, in its own process ----------------------------------------------------
def cpu_seconds_of(pid: int) -> float:
    """User + system CPU of a process so far, from /proc (PostgreSQL's backend of the command)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """This process's peak resident memory. (Not getrusage's ru_maxrss: Linux carries that over
    exec from the parent that forked us, which holds every plaintext.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_reencrypt_only() -> None:
    """The floor of the command's own work: re-encrypt every token in one thread, no database
    (the tokens are read first, untimed); print one JSON line as child() does."""
    import django

    django.setup()
    from django.db import connection

    from portal import encryption

    with connection.cursor() as cursor:
        tokens = []
        for table, column in COLUMNS.items():
            cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608
            tokens += [token for (token,) in cursor.fetchall()]
    reencrypt = encryption.reencryptor()
    started, cpu_started = time.perf_counter(), time.process_time()
    for token in tokens:
        reencrypt(token)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "backend_cpu_seconds": 0,
                "queries": 0,
                "rss_peak_mb": peak_rss_mb(),
            }
        )
    )


def child(profile: bool) -> None:
    """Run the command; print its output, then one JSON line of time, queries and memory."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    queries = 0

    def count(execute, sql, params, many, context):  # noqa: ANN001 - Django's execute wrapper
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    out = io.StringIO()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    backend_started = cpu_seconds_of(backend)
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        if profiler:
            profiler.enable()
        call_command("rotate_encryption_keys", stdout=out)
        if profiler:
            profiler.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    backend_cpu = cpu_seconds_of(backend) - backend_started
    print(out.getvalue(), end="")
    if profiler:
        import pstats

        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "backend_cpu_seconds": backend_cpu,
        "queries": queries,
        "rss_peak_mb": peak_rss_mb(),
    }
    print(json.dumps(result))


def run_child(env: dict[str, str], *flags: str) -> tuple[dict, str]:
    result = subprocess.run(  # noqa: S603 - this script
        [sys.executable, __file__, "--child", *flags], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"The command failed:\n{result.stderr[-3000:]}")
    *output, last = result.stdout.splitlines()
    return json.loads(last), "\n".join(output)


def rotated_count(output: str) -> int:
    """The total of the command's last line, "<n> secret(s) rotated to the newest key."."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    if not last.endswith("secret(s) rotated to the newest key."):
        sys.exit(f"Unexpected output of the command: {last!r}")
    return int(last.split()[0])


# --- Main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="encrypted rows (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs; medians count (default 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5,000 rows, 2 rounds")
    parser.add_argument("--profile", action="store_true", help="print the command's cProfile (one untimed run)")
    parser.add_argument("--figures", help="write the figures (JSON) to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reencrypt-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.reencrypt_only:
        child_reencrypt_only()
        return
    if args.child:
        child(args.profile)
        return
    if args.quick:
        args.rows, args.rounds = 5_000, 2
    if not 1 <= args.rounds <= 10 or not 2 <= args.rows <= 1_000_000:
        sys.exit("Keep it bounded: --rounds 1..10, --rows 2..1,000,000.")

    from cryptography.fernet import Fernet

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-rotate."))
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTICO_READ_DOTENV": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTICO_ENCRYPTION_KEYS": old_key,
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "DEBUG": "false",
        "EMAIL_URL": "dummymail://",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    postgres = None
    server_url = os.environ.get("DATABASE_URL", "")
    database = None
    try:
        if not server_url.startswith("postgres"):
            postgres = Postgres(tmp, durable=False, createdb=True).require()
            say(f"Starting PostgreSQL {postgres.version()} in {tmp}")
            postgres.start()
            server_url = postgres.url
        else:
            say(f"Using the PostgreSQL server of DATABASE_URL, {server_url.split('@')[-1]} (its database untouched)")
        import psycopg

        database = (urlsplit(server_url).path.lstrip("/") or "portico") + "_bench_rotate"
        with psycopg.connect(server_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{database}"')
            db.execute(f'CREATE DATABASE "{database}"')
        url = with_database(server_url, database)
        run_benchmark(args, {**env, "DATABASE_URL": url}, url, old_key, new_key)
    finally:
        if database and postgres is None:
            import psycopg

            with psycopg.connect(server_url, autocommit=True) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{database}"')
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, env: dict[str, str], url: str, old_key: str, new_key: str) -> None:
    say("Migrating")
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity=0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    say(f"Writing {args.rows:,} secrets under the old key")
    started = time.monotonic()
    plaintexts = fill(url, args.rows, old_key)
    say(f"  in {time.monotonic() - started:.0f} s")
    rotating = {**env, "PORTICO_ENCRYPTION_KEYS": f"{new_key},{old_key}"}
    if args.profile:
        say("The command under cProfile (untimed)")
        print(run_child(rotating, "--profile")[1])
        reset(url)

    say(f"Before: {machine_load()}")
    runs: dict[str, list[dict]] = {ROTATION: [], REENCRYPT_ONLY: []}
    for round_number in range(1, args.rounds + 1):
        runs[REENCRYPT_ONLY].append(run_child(rotating, "--reencrypt-only")[0])  # reads the old tokens only
        result, output = run_child(rotating)
        if rotated_count(output) != args.rows:
            sys.exit(f"The command rotated {rotated_count(output):,} secrets, not {args.rows:,}:\n{output}")
        check(url, new_key, plaintexts)
        runs[ROTATION].append(result)
        say(
            f"round {round_number}: {result['seconds']:6.2f} s, {args.rows / result['seconds']:8,.0f} rows/s "
            f"(CPU: command {result['cpu_seconds']:.2f} s, PostgreSQL {result['backend_cpu_seconds']:.2f} s), "
            f"{result['queries']:,} queries, peak RSS {result['rss_peak_mb']:.0f} MB"
        )
        if round_number < args.rounds:
            reset(url)
    # The rows are under the new key now: a second run must find nothing to do and change nothing.
    before = check(url, new_key, plaintexts)
    again, output = run_child(rotating)
    if rotated_count(output) != 0 or check(url, new_key, plaintexts) != before:
        sys.exit(f"A run over rows already under the newest key changed them:\n{output}")
    runs[NOTHING_TO_DO] = [again]
    say(f"After: {machine_load()}")

    print()
    print(f"{args.rows:,} encrypted rows on PostgreSQL; medians of {args.rounds} rounds, each run in a fresh process")
    print(f"{'run':<48} {'s':>6} {'rows/s':>8} {'CPU µs/row':>10} {'PG µs/row':>9} {'queries':>7} {'RSS MB':>6}")
    for name, results in runs.items():
        median = {key: statistics.median(r[key] for r in results) for key in results[0]}
        cpu, backend_cpu = (median[key] * 1e6 / args.rows for key in ("cpu_seconds", "backend_cpu_seconds"))
        print(
            f"{name:<48} {median['seconds']:>6.2f} {args.rows / median['seconds']:>8,.0f} {cpu:>10.1f} "
            f"{backend_cpu:>9.1f} {median['queries']:>7,.0f} {max(r['rss_peak_mb'] for r in results):>6.0f}"
        )
    seconds = statistics.median(r["seconds"] for r in runs[ROTATION])
    per_s = args.rows / seconds
    peak = max(r["rss_peak_mb"] for r in runs[ROTATION])
    print()
    print(f"rotation: {per_s:,.0f} rows/s (goal >= {GOAL:,}): " + ("met" if per_s >= GOAL else "NOT MET"))
    detail = f"{args.rows:,} rows in 2 encrypted columns, median of {args.rounds} runs; {machine_load()}"
    write_figures(
        args.figures,
        [
            figure("rotate_secrets_per_s", per_s, "rows/s", detail),
            figure("rotate_peak_rss_mb", peak, "MB", "peak RSS of the command's process"),
        ],
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
