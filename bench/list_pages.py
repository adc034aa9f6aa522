"""The three list pages at scale: Approved Requests, My API Keys and the Approvals inbox, at 10 and
at 10,000 rows, on PostgreSQL.

Run by hand or by `make bench`: ``.venv/bin/python bench/list_pages.py [--quick] [--figures PATH]``.

In one process, with Portico's settings plus a Django admin site (bench.list_settings and
bench/list_urls.py), on a throwaway PostgreSQL (or, with DATABASE_URL=postgres://... set, a
database of its own beside the named one, which it never touches):
1. fills each page with 10 rows (bulk_create): approved connection requests of 10 tenants for the
   hub admin; 10 keys (one per API, in every state) for the consumer; 10 pending API key approvals
   the approver may decide (by name or through a group; some "all approvers" ones already approved
   by a second approver), plus some the approver already decided (the page's history);
2. renders each page through Django's test Client, logged in as the user who sees it, counts its
   SQL queries (CaptureQueriesContext) and times it, with the Django admin changelist of
   ConnectionRequest (the same rows, at the Approved Requests page's page size) beside it: one
   render of each a round, the rounds interleaved, medians counted;
3. adds rows of the same making up to 10,000 of each page (row n is made the same way whenever
   it is made), and counts and times again.
Every answer's status is checked (200), and the rows each page shows are counted.
"""

import argparse
import base64
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import Postgres, figure, machine_load, say, write_figures

ROOT = Path(__file__).resolve().parent.parent
ORGANIZATIONS = 20

# page: (URL, the user who sees it, what marks one of its rows in the HTML)
PAGES = {
    "approved_requests": ("/admin-center/connections/approved/", "hub", '<tr id="request-'),
    "admin_changelist": ("/bench-admin/credentials/connectionrequest/", "hub", '<th class="field-tenant'),
    "my_api_keys": ("/preferences/api-keys/", "consumer", '<tr id="key-'),
    "approvals_inbox": ("/approvals/", "approver", '<tr id="approval-'),
}


# --- Data -------------------------------------------------------------------------------------------
def people() -> dict:
    """The users who look at the pages, and those the rows need (who registered, who asked)."""
    from django.contrib.auth.models import Group, Permission

    from portal.models import Organization, User
    from portal.roles import Role

    organizations = [
        Organization.objects.create(name=f"Organization {n:02d}", slug=f"org-{n:02d}") for n in range(ORGANIZATIONS)
    ]

    def user(username: str, role: Role, **fields: Any) -> User:
        person = User.objects.create_user(
            username=username, email=f"{username}@example.com", organization=organizations[0], **fields
        )
        person.groups.add(Group.objects.get(name=str(role)))
        return person

    hub = user("bench-hub", Role.HUB_ADMIN, first_name="Hannah", last_name="Hub", is_staff=True)
    # The admin changelist asks for the model's view permission (and is_staff); the page for the role.
    hub.user_permissions.add(Permission.objects.get(codename="view_connectionrequest"))
    approver = user("bench-approver", Role.APPROVER, first_name="Avery", last_name="Approver")
    approver_group = Group.objects.create(name="Bench approvers")
    approver.groups.add(approver_group)
    return {
        "organizations": organizations,
        "hub": hub,
        "consumer": user("bench-consumer", Role.CONSUMER, first_name="Casey", last_name="Consumer"),
        "requester": user("bench-requester", Role.CONSUMER),
        "approver": approver,
        "second_approver": user("bench-approver-2", Role.APPROVER),
        "approver_group": approver_group,
        "tenant_admin": user("bench-tenant-admin", Role.API_PORTAL_ADMINISTRATOR),
    }


def fill(cast: dict, start: int, stop: int) -> None:
    """Rows start..stop-1 of every page; row n is the same whenever it is made."""
    from django.db import connection, transaction
    from django.utils import timezone

    from approvals.models import ApprovalRequest, Decision
    from credentials.connections.models import ConnectionRequest, Tenant
    from credentials.keys.models import Api, ApiKey
    from credentials.lib import validity

    now = timezone.now()
    numbers = range(start, stop)
    organizations = cast["organizations"]
    with transaction.atomic():
        # Approved Requests: one approved connection request per tenant, across the organizations.
        tenants = Tenant.objects.bulk_create(
            Tenant(
                organization=organizations[n % ORGANIZATIONS],
                alias=f"tenant-{n:05d}",
                url=f"https://tenant-{n:05d}.example.com",
                registered_by=cast["tenant_admin"],
            )
            for n in numbers
        )
        ConnectionRequest.objects.bulk_create(
            ConnectionRequest(
                tenant=tenant,
                status=ConnectionRequest.Status.APPROVED,
                credential_kind=ConnectionRequest.CredentialKind.CLIENT_SECRET,
                credentials={
                    "url": tenant.url,
                    "tokenUrl": f"{tenant.url}/oauth/token",
                    "clientId": f"sb-client-{n:05d}",
                    "clientSecret": f"bench-secret-{n:05d}",
                },
                api_url=tenant.url,
                token_url=f"{tenant.url}/oauth/token",
                client_id=f"sb-client-{n:05d}",
                generated_at=now - timedelta(days=n % 300),
                expires_at=validity.credential_expiry(now - timedelta(days=n % 300), None),
                credentials_updated_at=now - timedelta(days=n % 300),
                submitted_by=cast["tenant_admin"],
                decided_by=cast["hub"],
                decided_at=now - timedelta(minutes=n),
                health=list(ConnectionRequest.Health)[n % 3],
                health_checked_at=now - timedelta(hours=n % 48) if n % 3 else None,
            )
            for n, tenant in zip(numbers, tenants, strict=True)
        )
        # My API Keys: the consumer's key of API n, in turn active, expiring soon, revoked, waiting
        # for approval, and active with a renewal waiting. A second consumer (the requester) holds
        # a key of each API whose renewal waits in the approver's inbox.
        apis = Api.objects.bulk_create(
            Api(
                name=f"API {n:05d}",
                slug=f"api-{n:05d}",
                provider=organizations[n % ORGANIZATIONS],
                key_lifetime_days=None if n % 7 == 0 else 90,
            )
            for n in numbers
        )
        states: list[dict[str, Any]] = [
            {"status": ApiKey.Status.ACTIVE, "expires_at": now + timedelta(days=60)},
            {"status": ApiKey.Status.ACTIVE, "expires_at": now + timedelta(days=5)},
            {"status": ApiKey.Status.REVOKED, "expires_at": now + timedelta(days=30), "revoked_at": now},
            {"status": ApiKey.Status.PENDING, "expires_at": None},
            {"status": ApiKey.Status.ACTIVE, "expires_at": now + timedelta(days=2), "renewal_pending_since": now},
        ]
        ApiKey.objects.bulk_create(
            ApiKey(
                consumer=cast["consumer"],
                api=api,
                prefix=f"prt_key_c{n:07d}",
                last_used_at=now - timedelta(minutes=n) if n % 2 else None,
                deployment_state=list(ApiKey.Deployment)[n % 4],
                **states[n % len(states)],
            )
            for n, api in zip(numbers, apis, strict=True)
        )
        waiting = ApiKey.objects.bulk_create(
            ApiKey(
                consumer=cast["requester"],
                api=api,
                prefix=f"prt_key_r{n:07d}",
                status=ApiKey.Status.ACTIVE,
                expires_at=now + timedelta(days=3),
                renewal_pending_since=now,
            )
            for n, api in zip(numbers, apis, strict=True)
        )
        # The Approvals inbox: the renewal of each waiting key, for the approver by name (odd n)
        # or through their group (even n); one in four needs all approvers, and the second
        # approver already approved those. One in ten keys also has an earlier approval that the
        # approver decided (the page's history), which is not in the inbox.
        pending = ApprovalRequest.objects.bulk_create(
            ApprovalRequest(
                kind=ApprovalRequest.Kind.KEY_RENEWAL,
                mode=ApprovalRequest.Mode.ALL if n % 4 == 0 else ApprovalRequest.Mode.ANY,
                api_key=key,
                requested_by=cast["requester"],
                approver_group=cast["approver_group"] if n % 2 == 0 else None,
            )
            for n, key in zip(numbers, waiting, strict=True)
        )
        decided = ApprovalRequest.objects.bulk_create(
            ApprovalRequest(
                kind=ApprovalRequest.Kind.KEY_RENEWAL,
                status=ApprovalRequest.Status.APPROVED,
                api_key=key,
                requested_by=cast["requester"],
                decided_at=now - timedelta(days=30),
            )
            for n, key in zip(numbers, waiting, strict=True)
            if n % 10 == 0
        )
        Assignment = ApprovalRequest.approvers.through
        assignments = []
        for n, approval in zip(numbers, pending, strict=True):
            if n % 2:
                assignments.append(Assignment(approvalrequest=approval, user=cast["approver"]))
            if n % 4 == 0:
                assignments.append(Assignment(approvalrequest=approval, user=cast["second_approver"]))
        for approval in decided:
            assignments.append(Assignment(approvalrequest=approval, user=cast["approver"]))
        Assignment.objects.bulk_create(assignments)
        Decision.objects.bulk_create(
            [
                Decision(approval_request=approval, approver=cast["second_approver"], verdict="approve")
                for n, approval in zip(numbers, pending, strict=True)
                if n % 4 == 0
            ]
            + [
                Decision(approval_request=approval, approver=cast["approver"], verdict="approve")
                for approval in decided
            ]
        )
        # created_at is auto_now_add (one instant for a whole bulk_create): spread the requests
        # over time as they would be, oldest first by number.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE approvals_approvalrequest SET created_at = %s - (%s - id) * interval '1 minute'"
                " WHERE id BETWEEN %s AND %s",
                [now, pending[-1].pk, pending[0].pk, pending[-1].pk],
            )
    # As autovacuum leaves a table in use: statistics for the planner, and the visibility map
    # that lets counts read an index alone.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- Measuring --------------------------------------------------------------------------------------
def clients(cast: dict) -> dict:
    from django.test import Client

    logged_in = {}
    for role in ("hub", "consumer", "approver"):
        client = Client()
        client.force_login(cast[role])
        logged_in[role] = client
    return logged_in


# Answers whose status was not 200, as (page, status): printed at the end, and no figures then.
Unexpected = list[tuple[str, int]]


def render(clients: dict, page: str, unexpected: Unexpected) -> tuple[float, str]:
    url, role, _marker = PAGES[page]
    started = time.perf_counter()
    response = clients[role].get(url)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        unexpected.append((page, response.status_code))
    return elapsed_ms, response.content.decode()


def count_queries(clients: dict, unexpected: Unexpected) -> dict[str, dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for page, (_url, _role, marker) in PAGES.items():
        with CaptureQueriesContext(connection) as queries:
            _ms, html = render(clients, page, unexpected)
        counts[page] = {"queries": len(queries), "rows": html.count(marker), "sql": list(queries.captured_queries)}
    return counts


def time_pages(clients: dict, rounds: int, unexpected: Unexpected) -> dict[str, list[float]]:
    """One render of each page a round, the pages in turn, so whatever else the machine does hits
    them all alike."""
    for page in PAGES:  # warm up: templates compiled, connections open
        render(clients, page, unexpected)
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(rounds):
        for page in PAGES:
            times[page].append(render(clients, page, unexpected)[0])
    return times


def explain(sql: list[dict]) -> None:
    """EXPLAIN ANALYZE of the slowest three queries of a render."""
    from django.db import connection

    for query in sorted(sql, key=lambda q: float(q["time"]), reverse=True)[:3]:
        if not query["sql"].lstrip().upper().startswith("SELECT"):
            continue
        print(f"--- {float(query['time']) * 1000:.1f} ms: {query['sql'][:300]}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()))


# --- Main -------------------------------------------------------------------------------------------
def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10, help="rows of each page first (default 10)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of each page then (default 10,000)")
    parser.add_argument("--rounds", type=int, default=25, help="interleaved timing rounds (default 25)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 rows, 5 rounds")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each page's slowest queries")
    parser.add_argument("--figures", help="write the figures (JSON) to this file")
    args = parser.parse_args()
    if args.quick:  # the figures' names say the sizes (queries_2k/10)
        args.rows, args.rounds = 2_000, 5
    if not 1 <= args.small < args.rows <= 100_000 or not 1 <= args.rounds <= 200:
        sys.exit("Keep it bounded: 1 <= --small < --rows <= 100,000, --rounds 1..200.")

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-lists."))
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.list_settings",
        "PORTICO_READ_DOTENV": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTICO_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver",
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
            say(f"Using the PostgreSQL of DATABASE_URL, {server_url.split('@')[-1]} (its database is not touched)")
        import psycopg

        database = (urlsplit(server_url).path.lstrip("/") or "portico") + "_bench_lists"
        with psycopg.connect(server_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{database}"')
            db.execute(f'CREATE DATABASE "{database}"')
        os.environ.update(env, DATABASE_URL=with_database(server_url, database))
        run_benchmark(args)
    finally:
        from django.db import connections

        connections.close_all()
        if database and postgres is None:
            import psycopg

            with psycopg.connect(server_url, autocommit=True) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{database}"')
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_benchmark(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    say("Migrating")
    call_command("migrate", verbosity=0)
    cast = people()
    unexpected: Unexpected = []
    logged_in = clients(cast)
    sizes = {}
    for start, stop in ((0, args.small), (args.small, args.rows)):
        say(f"Filling rows {start:,} to {stop - 1:,} of each page")
        started = time.monotonic()
        fill(cast, start, stop)
        say(f"  in {time.monotonic() - started:.0f} s")
        count_queries(logged_in, unexpected)  # the first renders at this size: templates compiled, plans cached
        counts = count_queries(logged_in, unexpected)
        say(f"Timing {args.rounds} rounds at {stop:,} rows: {machine_load()}")
        times = time_pages(logged_in, args.rounds, unexpected)
        sizes[stop] = {page: {**counts[page], "ms": statistics.median(times[page])} for page in PAGES}
        if args.explain and stop == args.rows:
            for page in PAGES:
                print(f"\n===== {page} at {stop:,} rows")
                explain(counts[page]["sql"])
    say(f"After timing: {machine_load()}")
    figures = report(args, sizes[args.small], sizes[args.rows], unexpected)
    if unexpected:
        sys.exit(f"{len(unexpected)} unexpected answers: no figures written")
    write_figures(args.figures, figures)


def report(args: argparse.Namespace, small: dict, large: dict, unexpected: Unexpected) -> list[dict[str, object]]:
    """The table and the goals on stdout; the figures, under names that say the sizes (10k/10)."""
    from credentials.connections.views import PAGE_SIZE

    big = f"{args.rows // 1000}k" if args.rows % 1000 == 0 else str(args.rows)
    load = machine_load()
    print()
    print(f"The list pages on PostgreSQL at {args.small} and {args.rows:,} rows; median of {args.rounds} renders")
    print(
        f"{'page':<18} {'queries@' + str(args.small):>11} {'queries@' + big:>12} {'ratio':>6} "
        f"{'rows shown':>12} {'ms@' + str(args.small):>8} {'ms@' + big:>8}"
    )
    for page in PAGES:
        ratio = large[page]["queries"] / small[page]["queries"]
        shown = f"{small[page]['rows']}/{large[page]['rows']}"
        print(
            f"{page:<18} {small[page]['queries']:>11} {large[page]['queries']:>12} {ratio:>6.2f} {shown:>12} "
            f"{small[page]['ms']:>8.1f} {large[page]['ms']:>8.1f}"
        )
    print(f"unexpected answers: {len(unexpected)} {unexpected[:10] if unexpected else ''}")
    print()

    figures = []
    for page in ("approved_requests", "my_api_keys", "approvals_inbox"):
        ratio = large[page]["queries"] / small[page]["queries"]
        name = f"{page}_queries_{big}/{args.small}"
        print(f"{name:<42} {ratio:6.2f}  goal 1.0: " + ("met" if ratio == 1.0 else "NOT MET"))
        figures += [
            figure(
                name,
                ratio,
                "ratio",
                f"{large[page]['queries']} queries at {args.rows:,} rows, {small[page]['queries']} at {args.small}",
            ),
            figure(f"{page}_queries@{args.small}", small[page]["queries"], "queries", f"{args.small} rows"),
            figure(f"{page}_queries@{big}", large[page]["queries"], "queries", f"{args.rows:,} rows"),
        ]
    ratio = large["approved_requests"]["ms"] / large["admin_changelist"]["ms"]
    name = "approved_requests_ms/admin_changelist_ms"
    print(f"{name:<42} {ratio:6.2f}  goal <= 1.0: " + ("met" if ratio <= 1.0 else "NOT MET"))
    same = f"{args.rows:,} approved connection requests, {PAGE_SIZE} rows a page on both"
    page_ms, admin_ms = small["approved_requests"]["ms"], small["admin_changelist"]["ms"]
    at_small = f"{page_ms:.0f} vs {admin_ms:.0f} ms at {args.small} rows"
    detail = (
        f"{same}; a plain ModelAdmin with list_select_related, ordered by -decided_at (PostgreSQL sorts its "
        f"rows: no index serves that order without the page's status filter); {at_small}; medians of "
        f"{args.rounds} interleaved renders; {load}"
    )
    figures.append(figure(name, ratio, "ratio", detail))
    for page in PAGES:
        for rows, size, label in ((args.small, small, str(args.small)), (args.rows, large, big)):
            detail = f"median of {args.rounds} renders at {rows:,} rows, {size[page]['rows']} shown"
            figures.append(figure(f"{page}_ms@{label}", size[page]["ms"], "ms", detail))
    figures.append(figure(f"admin_changelist_queries@{big}", large["admin_changelist"]["queries"], "queries", same))
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
