"""Benchmark: the reminder sweep (credentials.expiry.reminders.send_due_reminders) among few and many keys.

Run by hand, never by the tests (bench/README.md): ``.venv/bin/python bench/reminder_sweep.py``.

In one run, on PostgreSQL: the sweep's time for the same number of due keys (100,000) among 100,000
and among 1,000,000 keys (goal: ratio <= 1.2), due keys handled per second (claimed, and their
emails queued; goal >= 5,000/s) and its peak memory (goal: under 200 MB).
Each scenario has its own database, filled with generate_series (no ORM row by row); each sweep
runs in a fresh process (its peak RSS is that process's own) and is undone after it (the rows it
wrote are deleted, the queue emptied), so the rounds of both scenarios interleave on the same data.
The sweep writes everything it does in production: reminder rows, outbox emails (rendered from
their templates) and one deliver_email message each on the broker; no email is sent (EMAIL_URL
dummymail://, and no worker runs).

It starts a throwaway PostgreSQL (as scripts/test.sh does) and Redis on free loopback ports, and
stops them at the end. With DATABASE_URL set (postgres://, a role with CREATEDB) it uses that server
instead, creating and dropping its own databases beside the named one (which it never touches);
with CELERY_BROKER_URL set, that broker.
"""

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness import Postgres, figure, free_port, machine_load, say, write_figures

ROOT = Path(__file__).resolve().parent.parent
CONSUMERS = 1_000  # keys are (consumer, API) pairs: N keys = 1,000 consumers x N/1,000 APIs
GOAL_RATIO = 1.2
GOAL_PER_S = 5_000
GOAL_MB = 200
# Of all keys (the rest are active, expiring in 31-365 days): the steady state of one-year keys.
IN_WINDOW_REMINDED = 0.08  # inside the 30-day windows, already reminded (30/365 of all keys)
UNLIMITED = 0.05
REVOKED = 0.07  # expiry anywhere from 30 days ago to a year ahead, some inside the windows
EXPIRED = 0.03  # expired in the last 60 days


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


# --- Data -------------------------------------------------------------------------------------------
def generate(url: str, keys: int, due: int, now: datetime) -> dict[str, int]:
    """Fill a migrated, empty database: `keys` keys of which `due` are due at `now`, all in SQL."""
    import psycopg

    apis = keys // CONSUMERS
    reminded = round(keys * IN_WINDOW_REMINDED)
    bounds = [due, due + reminded]
    for share in (UNLIMITED, REVOKED, EXPIRED):
        bounds.append(bounds[-1] + round(keys * share))
    # Client-side binding: parameters in CREATE TABLE AS, several statements in one call.
    with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor) as db:
        db.execute("SET maintenance_work_mem = '256MB'")
        with db.transaction():
            db.execute(
                "INSERT INTO portal_organization (name, slug, created_at, is_active)"
                " VALUES ('Bench', 'bench', %s, true)",
                [now],
            )
            (org,) = db.execute("SELECT id FROM portal_organization WHERE slug = 'bench'").fetchone()
            db.execute(
                """INSERT INTO portal_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined, organization_id)
                   SELECT '!', false, 'consumer' || n, '', '', 'consumer' || n || '@example.com', false, true, %s, %s
                   FROM generate_series(0, %s - 1) n""",
                [now, org, CONSUMERS],
            )
            db.execute(
                """INSERT INTO credentials_api (name, slug, description, provider_id, key_lifetime_days,
                       renewal_requires_approval, approval_mode, created_at, updated_at)
                   SELECT 'API ' || n, 'api-' || n, '', %s, 365, false, 'any', %s, %s
                   FROM generate_series(0, %s - 1) n""",
                [org, now, now, apis],
            )
            # Key i belongs to consumer i % 1,000 and API i / 1,000. Its kind comes from r, a
            # permutation of i (7919 is prime to 10^k), so due keys are spread over the whole table.
            # The due keys are spread evenly over the three windows (w = 0: 30 days, 1: 7, 2: 1),
            # strictly inside them: (7, 30], (1, 7] and (0, 1] days from now; the reminded ones
            # uniformly over the next 30 days (so most of them are in the 30-day window).
            db.execute(
                """CREATE TEMP TABLE gen AS
                   WITH p AS (
                       SELECT i, (i * 7919::bigint) %% %(keys)s AS r FROM generate_series(0, %(keys)s - 1) i
                   ), c AS (
                       SELECT i, r,
                              CASE WHEN r < %(b0)s THEN 'due' WHEN r < %(b1)s THEN 'reminded'
                                   WHEN r < %(b2)s THEN 'unlimited' WHEN r < %(b3)s THEN 'revoked'
                                   WHEN r < %(b4)s THEN 'expired' ELSE 'later' END AS kind,
                              ((r * 104729::bigint) %% 1000000) / 1000000.0 + 0.0000005 AS f
                       FROM p
                   ), w AS (
                       SELECT i, kind, f,
                              CASE WHEN kind = 'due' THEN r %% 3
                                   WHEN kind = 'reminded' AND f * 30 > 7 THEN 0
                                   WHEN kind = 'reminded' AND f * 30 > 1 THEN 1
                                   WHEN kind = 'reminded' THEN 2 END AS w
                       FROM c
                   )
                   SELECT i, kind, w,
                          CASE kind WHEN 'revoked' THEN 'revoked' WHEN 'expired' THEN 'expired'
                               ELSE 'active' END AS status,
                          %(now)s::timestamptz + CASE
                              WHEN kind = 'reminded' THEN f * interval '30 days'
                              WHEN w = 0 THEN interval '7 days' + f * interval '23 days'
                              WHEN w = 1 THEN interval '1 day' + f * interval '6 days'
                              WHEN w = 2 THEN f * interval '1 day'
                              WHEN kind = 'revoked' THEN interval '-30 days' + f * interval '395 days'
                              WHEN kind = 'expired' THEN interval '-60 days' + f * interval '59 days'
                              WHEN kind = 'later' THEN interval '31 days' + f * interval '334 days'
                          END AS expires_at
                   FROM w""",
                {
                    "keys": keys,
                    "now": now,
                    **{f"b{n}": bound for n, bound in enumerate(bounds)},
                },
            )
            # Keys of one-year APIs, issued a year before they expire (a reminder is owed only for
            # the thresholds a key lived past); unlimited ones a hundred days ago.
            db.execute(
                """INSERT INTO credentials_apikey (consumer_id, api_id, prefix, status, created_at, expires_at,
                       deployment_state, updated_at)
                   SELECT u.first + g.i %% %(consumers)s, a.first + g.i / %(consumers)s, 'prt_key_' || g.i,
                          g.status, coalesce(g.expires_at - interval '365 days', %(now)s - interval '100 days'),
                          g.expires_at, 'none', %(now)s
                   FROM gen g,
                        (SELECT min(id) AS first FROM portal_user) u,
                        (SELECT min(id) AS first FROM credentials_api) a""",
                {"consumers": CONSUMERS, "now": now},
            )
            # One email of last year: the outbox is not empty, and undo() keeps what precedes the sweep.
            db.execute(
                """INSERT INTO portal_outboundemail (template, "to", subject, body_text, body_html, state,
                       attempts, last_error, created_at, sent_at)
                   VALUES ('key-expiry-reminder', '["consumer0@example.com"]', 'Earlier reminder', '', '',
                           'sent', 1, '', %(then)s, %(then)s)""",
                {"then": now - timedelta(days=365)},
            )
            (email,) = db.execute("SELECT max(id) FROM portal_outboundemail").fetchone()
            # Reminders already sent: last year's cycle of every expiring key (30, 7 and 1 days
            # before its previous expiry, a year earlier), and this cycle's thresholds that the due
            # and the reminded keys passed already.
            db.execute(
                """INSERT INTO credentials_expiryreminder (subject_type, subject_id, expires_at, threshold_days,
                       sent_at, created_at)
                   SELECT 'api_key', k.id, r.expires_at, r.threshold,
                          r.expires_at - r.threshold * interval '1 day', %(now)s
                   FROM gen g JOIN credentials_apikey k ON k.prefix = 'prt_key_' || g.i
                   CROSS JOIN LATERAL (
                       SELECT g.expires_at - interval '365 days' AS expires_at, t AS threshold
                       FROM unnest(ARRAY[30, 7, 1]) t WHERE g.expires_at IS NOT NULL
                       UNION ALL
                       SELECT g.expires_at, t FROM unnest(ARRAY[30, 7, 1]) WITH ORDINALITY AS x(t, n)
                       WHERE (g.kind = 'due' AND n <= g.w) OR (g.kind = 'reminded' AND n <= g.w + 1)
                   ) r""",
                {"now": now},
            )
        db.execute("VACUUM ANALYZE")
        counts = {
            "keys": db.execute("SELECT count(*) FROM credentials_apikey").fetchone()[0],
            "reminders": db.execute("SELECT count(*) FROM credentials_expiryreminder").fetchone()[0],
            "max_reminder": db.execute("SELECT max(id) FROM credentials_expiryreminder").fetchone()[0],
            "max_email": email,
        }
    return counts


def undo(url: str, counts: dict[str, int]) -> None:
    """Delete what a sweep wrote, so the next round finds the same keys due."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DELETE FROM credentials_expiryreminder WHERE id > %s", [counts["max_reminder"]])
        db.execute("DELETE FROM portal_outboundemail WHERE id > %s", [counts["max_email"]])
        db.execute("VACUUM ANALYZE credentials_expiryreminder, portal_outboundemail")


# --- One sweep, in its own process ---------------------------------------------------------------
def child(now: datetime, explain: bool, trace: bool) -> None:
    """Run in the sweep's own process: print one JSON line with its time, queries and memory."""
    import tracemalloc

    import django

    django.setup()
    from django.db import connection

    from credentials.expiry import reminders

    if explain:
        for threshold, after, until in reminders.windows(now):
            query = reminders.keys_due_in_window(threshold, after, until)
            print(f"--- due keys, {threshold}-day window ---")
            print(query.explain(analyze=True, buffers=True))
        return

    connection.ensure_connection()
    # A worker's one-time costs (the URLconf's imports, first reverse()) are paid before it takes
    # its first task: paid here before the clock starts, so the figure is the sweep's own.
    from django.urls import reverse

    reverse("credentials:my-api-keys")
    queries = 0

    def count(execute, sql, params, many, context):  # noqa: ANN001 - Django's execute wrapper
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        sent = reminders.send_due_reminders(now=now)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    print(
        json.dumps(
            {
                "sent": sent,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "queries": queries,
                "rss_before_mb": before_kb / 1024,
                "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "traced_peak_mb": None if traced is None else traced / 2**20,
            }
        )
    )


def run_child(env: dict[str, str], url: str, now: datetime, *flags: str) -> str:
    result = subprocess.run(  # noqa: S603 - this script
        [sys.executable, __file__, "--child", "--now", now.isoformat(), *flags],
        cwd=ROOT,
        env={**env, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"The sweep failed:\n{result.stderr[-3000:]}")
    return result.stdout


def flush_broker(broker_url: str) -> None:
    if broker_url.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker_url).flushdb()


# --- Main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=100_000, help="due keys in each scenario (default 100,000)")
    parser.add_argument("--sizes", default="100000,1000000", help="keys per scenario (default 100000,1000000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed sweeps per scenario; medians count (default 3)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the due queries")
    parser.add_argument("--figures", help="write the figures (JSON) to this file")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 due among 10,000 and 40,000 keys")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(datetime.fromisoformat(args.now), args.explain, args.trace)
        return
    if args.quick:
        args.due, args.sizes, args.rounds = 2_000, "10000,40000", 1
    sizes = [int(s) for s in args.sizes.split(",")]
    if not 1 <= args.rounds <= 10 or any(s % CONSUMERS or not args.due <= s <= 5_000_000 for s in sizes):
        sys.exit("Keep it bounded: --rounds 1..10, sizes multiples of 1,000, at least --due, at most 5,000,000.")

    from cryptography.fernet import Fernet

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-reminders."))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTICO_READ_DOTENV": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTICO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "DEBUG": "false",
        "EMAIL_URL": "dummymail://",  # nothing is sent: the sweep only writes the outbox
        "CELERY_TASK_ALWAYS_EAGER": "false",  # deliveries are queued, as in production, not run
        "LOG_LEVEL": "WARNING",
    }
    postgres = None
    databases: list[str] = []
    server_url = os.environ.get("DATABASE_URL", "")
    try:
        with contextlib.ExitStack() as stack:
            if not server_url.startswith("postgres"):
                postgres = Postgres(tmp, durable=False, createdb=True).require()
                say(f"Starting PostgreSQL {postgres.bin.parent.name} in {tmp}")
                postgres.start()
                server_url = postgres.url
            else:
                where = server_url.split("@")[-1]
                say(f"Using the PostgreSQL server of DATABASE_URL, {where} (its own database is not touched)")
            broker_url = os.environ.get("CELERY_BROKER_URL", "")
            if not broker_url:
                if shutil.which("redis-server"):
                    broker_url = stack.enter_context(redis_server(tmp))
                    say("Started a throwaway Redis for the deliver_email messages")
                else:
                    broker_url = "memory://"
                    say("redis-server not found: deliver_email messages go to kombu's in-memory transport")
            env["CELERY_BROKER_URL"] = broker_url
            run_benchmark(args, sizes, server_url, env, databases, broker_url)
    finally:
        if databases:
            import psycopg

            with psycopg.connect(server_url, autocommit=True) as db:
                for name in databases:
                    db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_benchmark(
    args: argparse.Namespace, sizes: list[int], server_url: str, env: dict[str, str], databases: list, broker_url: str
) -> None:
    import psycopg

    base = urlsplit(server_url).path.lstrip("/") or "portico"
    template = f"{base}_bench_template"
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{template}"')
        db.execute(f'CREATE DATABASE "{template}"')
    databases.append(template)
    say("Migrating")
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "migrate", "--verbosity=0"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": with_database(server_url, template)},
        check=True,
    )
    now = datetime.now(UTC).replace(microsecond=0)
    scenarios = []
    for size in sizes:
        name = f"{base}_bench_{size}"
        with psycopg.connect(server_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        databases.append(name)
        url = with_database(server_url, name)
        say(f"Generating {size:,} keys, {args.due:,} of them due")
        started = time.monotonic()
        counts = generate(url, size, args.due, now)
        took = time.monotonic() - started
        say(f"  {counts['keys']:,} keys, {counts['reminders']:,} earlier reminders, in {took:.0f} s")
        scenarios.append((size, url, counts))

    if args.explain:
        size, url, _counts = scenarios[-1]
        say(f"EXPLAIN ANALYZE of the due queries among {size:,} keys (a plain query; the sweep reads it by a cursor)")
        print(run_child(env, url, now, "--explain"))

    say(f"Measuring on a machine with {machine_load()}")
    results: dict[int, list[dict]] = {size: [] for size in sizes}
    for round_number in range(1, args.rounds + 1):
        for size, url, counts in scenarios:
            flush_broker(broker_url)
            result = json.loads(run_child(env, url, now).splitlines()[-1])
            undo(url, counts)
            if result["sent"] != args.due:
                sys.exit(f"The sweep sent {result['sent']} reminders among {size:,} keys, not {args.due:,}")
            results[size].append(result)
            say(
                f"round {round_number}, {size:>9,} keys: {result['seconds']:6.2f} s "
                f"(CPU {result['cpu_seconds']:.2f} s), {result['queries']:,} queries, "
                f"peak RSS {result['rss_peak_mb']:.0f} MB (before the sweep {result['rss_before_mb']:.0f} MB)"
            )
    flush_broker(broker_url)

    print()
    print(f"{args.due:,} due keys; median of {args.rounds} sweeps, each in a fresh process")
    print(f"{'keys':>10} {'sweep s':>8} {'ms/due':>7} {'CPU s':>6} {'queries':>8} {'RSS before':>11}", end="")
    print(f" {'RSS peak':>9}")
    medians, cpu = {}, {}
    for size in sizes:
        runs = results[size]
        medians[size] = statistics.median(r["seconds"] for r in runs)
        cpu[size] = statistics.median(r["cpu_seconds"] for r in runs)
        print(
            f"{size:>10,} {medians[size]:>8.2f} {medians[size] * 1000 / args.due:>7.2f} {cpu[size]:>6.2f} "
            f"{statistics.median(r['queries'] for r in runs):>8,.0f} "
            f"{max(r['rss_before_mb'] for r in runs):>8.0f} MB {max(r['rss_peak_mb'] for r in runs):>6.0f} MB"
        )
    ratio = medians[sizes[-1]] / medians[sizes[0]]
    peak = max(r["rss_peak_mb"] for runs in results.values() for r in runs)
    print()
    print(
        f"time {sizes[-1]:,} / {sizes[0]:,} keys: {ratio:.2f} (goal <= {GOAL_RATIO}): "
        + ("met" if ratio <= GOAL_RATIO else "NOT MET")
        + f"; the sweep process's CPU time: {cpu[sizes[-1]] / cpu[sizes[0]]:.2f}"
    )
    print(f"peak RSS: {peak:.0f} MB (goal < {GOAL_MB} MB): " + ("met" if peak < GOAL_MB else "NOT MET"))
    per_s = args.due / medians[sizes[-1]]
    print(
        f"due keys handled per second among {sizes[-1]:,}: {per_s:,.0f} (goal >= {GOAL_PER_S:,}): "
        + ("met" if per_s >= GOAL_PER_S else "NOT MET")
    )
    print(f"machine: {machine_load()}")
    detail = f"{args.due:,} due keys, median of {args.rounds} sweeps on PostgreSQL, each in a fresh process"
    figures = [
        figure("reminders_per_s", per_s, "keys/s", f"among {sizes[-1]:,} keys; {detail}"),
        figure(
            "sweep_1m/100k", ratio, "ratio", f"sweep time among {sizes[-1]:,} keys over among {sizes[0]:,}; {detail}"
        ),
        figure("sweep_peak_rss_mb", peak, "MB", f"the sweep process's peak RSS, any scenario; {detail}"),
    ]
    for size in sizes:
        figures.append(figure(f"sweep_seconds@{size}", medians[size], "s", detail))
        figures.append(
            figure(f"sweep_queries@{size}", statistics.median(r["queries"] for r in results[size]), "queries", detail)
        )
    write_figures(args.figures, figures)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
