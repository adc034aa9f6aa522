"""PostgreSQL restarts while people work: a real web process (gunicorn, two sync workers) serves
consumers who renew their keys as fast as they can, through the web, for about ten seconds, and
the test restarts PostgreSQL (`pg_ctl restart -m fast`) once in the middle.

What people must see: during the outage a clean error page (HTTP 500 or 503, the project's 500
page, no traceback and no SQL) or a success, nothing else; once PostgreSQL is back, successes
again within a few seconds without restarting gunicorn (Django reconnects: CONN_HEALTH_CHECKS).
What the database must hold: nothing half-written. A renewal is one transaction that writes the
key's new validity, its audit row, its deployment (on an API with a runtime target) and its email,
so each key has as many `api_key.renew` audit rows as renewal deployments and renewal emails, and
its current validity is its last renewal's.

The restart needs the server's data directory and binaries: PORTICO_TEST_PGDATA and
PORTICO_TEST_PG_BIN (`make test` exports them for the PostgreSQL it starts), PORTICO_TEST_PG_USER
(the server's system user; by default `postgres` when the tests run as root, else the current user)
and, optional, PORTICO_TEST_PG_LOG (where the restarted server logs). Without them the drill fails.

Bounded: the load runs LOAD_SECONDS (longer only until RECOVERY_SECONDS after the restart), every
wait has a deadline. The figures are appended to test-results/postgres_restart.json.
"""

import http.client
import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Max
from django.test import Client
from django.utils.crypto import get_random_string

from credentials.keys import services as key_services
from credentials.keys.models import ApiKey, KeyDeployment
from portal.celery import app as celery_app
from portal.models import AuditEvent, OutboundEmail
from portal.roles import Role
from tests.factories import ApiFactory, RuntimeTargetFactory, UserFactory
from tests.integration.processes import Processes, database_url, report, unused_port, wait_for_web

LOAD_SECONDS = 10.0  # of renewals through the web
RESTART_AFTER = 3.5  # seconds into the load
RECOVERY_SECONDS = 5.0  # after PostgreSQL is back, every request succeeds again within this
CLIENTS = 8  # threads, each a consumer renewing their own key
DEADLINE_SECONDS = 60  # for the whole drill
LIFETIME_DAYS = 30
# What the body of an error answer must not show: a traceback, the database's words, SQL.
UNCLEAN = re.compile(
    r"Traceback|File \"|psycopg|OperationalError|InterfaceError|DatabaseError|django\.db|postgres|"
    r"connection to server|database system|(?-i:\b(?:SELECT|INSERT|UPDATE|DELETE|FROM|WHERE)\b)",
    re.IGNORECASE,
)
ERROR_PAGE = "Something went wrong"  # templates/500.html


# --- the server: pg_ctl as its owner ---------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    pgdata: Path
    pg_ctl: Path
    run_as: list[str]  # runuser -u <user> --, or nothing
    log: Path

    def ctl(self, *args: str, output: Path) -> subprocess.CompletedProcess:
        # cwd=/: the server's user may not enter pytest's directory. The output goes to a file, not a
        # pipe: a server started without -l would hold the pipe open.
        with output.open("ab") as out:
            return subprocess.run(  # noqa: S603 - fixed arguments
                [*self.run_as, str(self.pg_ctl), "-D", str(self.pgdata), *args],
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=False,
            )

    def make_sure_it_runs(self, output: Path) -> None:
        """After a failed restart: start the server again (a restart of a stopped server starts it,
        with the options of its last start), so the tests after this one have a database."""
        if self.ctl("status", output=output).returncode != 0:
            self.ctl("restart", "-w", "-t", "30", "-l", str(self.log), output=output)


def _server_from_environment() -> Server:
    """The PostgreSQL of DATABASE_URL, from the PORTICO_TEST_PG* variables; fails when they are
    missing or name another server."""
    names = ("PORTICO_TEST_PGDATA", "PORTICO_TEST_PG_BIN")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"The PostgreSQL restart drill needs {' and '.join(missing)}: the data directory and the bin "
            "directory (with pg_ctl) of the server at DATABASE_URL. `make test` exports them for the "
            "server it starts; for another one set e.g. PORTICO_TEST_PGDATA=/var/lib/postgresql/15/main "
            "PORTICO_TEST_PG_BIN=/usr/lib/postgresql/15/bin (and PORTICO_TEST_PG_USER, its system user).",
            pytrace=False,
        )
    pgdata = Path(os.environ["PORTICO_TEST_PGDATA"])
    pg_ctl = Path(os.environ["PORTICO_TEST_PG_BIN"]) / "pg_ctl"
    if not pg_ctl.is_file():
        pytest.fail(f"PORTICO_TEST_PG_BIN has no pg_ctl: {pg_ctl} does not exist.", pytrace=False)
    # The postmaster.pid of a running server: its pid, data directory, start time, port (line 4).
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError as error:
        pytest.fail(
            f"PORTICO_TEST_PGDATA={pgdata} is not the data directory of a running server: {error}", pytrace=False
        )
    port = str(connection.settings_dict["PORT"] or 5432)
    if len(lines) < 4 or lines[3].strip() != port:
        pytest.fail(
            f"PORTICO_TEST_PGDATA={pgdata} is the data directory of a server on port "
            f"{lines[3].strip() if len(lines) > 3 else '?'}, not of the one at DATABASE_URL (port {port}).",
            pytrace=False,
        )
    default_user = "postgres" if os.geteuid() == 0 else ""
    user = os.environ.get("PORTICO_TEST_PG_USER", default_user)
    run_as = ["runuser", "-u", user, "--"] if user and os.geteuid() == 0 and user != "root" else []
    log = Path(os.environ.get("PORTICO_TEST_PG_LOG") or pgdata / "portico-restart-drill.log")
    return Server(pgdata=pgdata, pg_ctl=pg_ctl, run_as=run_as, log=log)


def _postmaster_started_at() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time()::text")
        return cursor.fetchone()[0]


# --- people renewing through the web ---------------------------------------------------------------
@dataclass
class Answer:
    sent: float
    received: float
    kind: str  # "success", "clean error" or "unclean error"
    detail: str = ""


@dataclass
class Renewer:
    """One consumer in a browser, pressing Renew on their key (htmx, as My API Keys does)."""

    port: int
    key_id: int
    cookies: str
    csrf: str
    stop: threading.Event
    answers: list[Answer] = field(default_factory=list)

    def renew(self) -> Answer:
        sent = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(
                "POST",
                f"/preferences/api-keys/{self.key_id}/renew/",
                body="",
                headers={
                    "Cookie": self.cookies,
                    "X-CSRFToken": self.csrf,
                    "HX-Request": "true",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
            status, trigger = response.status, response.getheader("HX-Trigger", "")
        except (OSError, http.client.HTTPException) as error:  # the web process itself did not answer
            return Answer(sent, time.monotonic(), "unclean error", f"no answer: {error!r}")
        finally:
            conn.close()
        received = time.monotonic()
        if status == 200 and trigger == "api-key-changed":
            return Answer(sent, received, "success")
        if status in (500, 503) and ERROR_PAGE in body and not UNCLEAN.search(body):
            return Answer(sent, received, "clean error", str(status))
        shown = UNCLEAN.search(body)
        return Answer(sent, received, "unclean error", f"HTTP {status}: {shown.group(0) if shown else body[:200]!r}")

    def run(self) -> None:
        while not self.stop.is_set():
            self.answers.append(self.renew())


def _browser_cookies(user) -> tuple[str, str]:
    """A signed-in session (its row in the database the web process reads) and a CSRF secret."""
    client = Client()
    client.force_login(user)
    csrf = get_random_string(32)
    return f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}", csrf


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def web(transactional_db, tmp_path: Path, monkeypatch) -> Iterator[Processes]:
    # transactional_db: the web process sees only committed rows. Its deployments and emails are
    # queued to Redis (no worker runs here): purged before and after.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    celery_app.control.purge()
    processes = Processes(tmp_path, env)
    try:
        yield processes
    finally:
        processes.stop()
        # The restart dropped every connection, this process's too: later tests and pytest-django's
        # flush need fresh ones.
        connections.close_all()
        celery_app.control.purge()


# --- the drill -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_postgresql_restarting_mid_run_gives_clean_errors_then_recovers_with_nothing_half_written(
    organization, web, tmp_path
):
    server = _server_from_environment()
    began = time.monotonic()
    deadline = began + DEADLINE_SECONDS
    target = RuntimeTargetFactory(name="edge", base_url="https://edge.example.com")
    # Renewals need no approval on either API: each Renew renews at once.
    with_target = ApiFactory(
        name="Weather", slug="weather", provider=organization, key_lifetime_days=LIFETIME_DAYS, runtime_target=target
    )
    without_target = ApiFactory(name="Maps", slug="maps", provider=organization, key_lifetime_days=LIFETIME_DAYS)
    port = unused_port()
    renewers, stop = [], threading.Event()
    for n in range(CLIENTS):
        consumer = UserFactory(
            username=f"renewer{n}", email=f"renewer{n}@example.com", organization=organization, roles=(Role.CONSUMER,)
        )
        key, _secret = key_services.api_key_issue(api=with_target if n % 2 == 0 else without_target, consumer=consumer)
        renewers.append(Renewer(port, key.pk, *_browser_cookies(consumer), stop=stop))
    started_before = _postmaster_started_at()

    base_url = web.start_web("web", port, workers=2)
    wait_for_web(base_url, deadline, web)
    first = renewers[0].renew()
    assert first.kind == "success", (first, web.tails())  # the sessions work
    renewers[0].answers.append(first)

    # --- the load, and the restart in its middle -------------------------------------------------
    threads = [threading.Thread(target=renewer.run, daemon=True) for renewer in renewers]
    load_began = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        while time.monotonic() < load_began + RESTART_AFTER:
            web.check_alive()
            time.sleep(0.1)
        restart_began = time.monotonic()
        restarted = server.ctl(
            "restart", "-m", "fast", "-w", "-t", "30", "-l", str(server.log), output=tmp_path / "pg_ctl.log"
        )
        restart_returned = time.monotonic()
        if restarted.returncode != 0:
            server.make_sure_it_runs(output=tmp_path / "pg_ctl.log")
            pytest.fail(f"pg_ctl restart failed:\n{(tmp_path / 'pg_ctl.log').read_text(errors='replace')}")
        # This process's connection died in the restart too.
        connections.close_all()
        load_ends = max(load_began + LOAD_SECONDS, restart_returned + RECOVERY_SECONDS)
        while time.monotonic() < load_ends:
            web.check_alive()
            assert time.monotonic() < deadline, "the drill ran out of time"
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    web.check_alive()  # gunicorn was never restarted
    web.stop()
    assert _postmaster_started_at() != started_before, "the restart did not restart the server at DATABASE_URL"

    # --- what people saw, and what the database holds ---------------------------------------------------
    answers = sorted((a for r in renewers for a in r.answers), key=lambda a: a.sent)
    kinds = Counter(a.kind for a in answers)
    errors = [a for a in answers if a.kind != "success"]
    # Recovered: from the restart's return, the first answer from which on every request succeeded.
    after = [a for a in answers if a.sent >= restart_returned]
    last_failure = max((i for i, a in enumerate(after) if a.kind != "success"), default=-1)
    recovered = after[last_failure + 1] if last_failure + 1 < len(after) else None
    # SQL counts, per key: renewal audit rows, renewal deployments, renewal emails (one consumer, one key).
    renewals = dict(
        AuditEvent.objects.filter(action="api_key.renew", target_type="credentials.ApiKey")
        .values("target_id")
        .annotate(n=Count("pk"))
        .values_list("target_id", "n")
    )
    last_audit = dict(
        AuditEvent.objects.filter(action="api_key.renew")
        .values("target_id")
        .annotate(last=Max("created_at"))
        .values_list("target_id", "last")
    )
    deployments = dict(
        KeyDeployment.objects.filter(reason="renewed")
        .values("api_key_id")
        .annotate(n=Count("pk"))
        .values_list("api_key_id", "n")
    )
    emails = Counter(
        address
        for to in OutboundEmail.objects.filter(template="key-renewed").values_list("to", flat=True)
        for address in to
    )
    succeeded = {r.key_id: sum(a.kind == "success" for a in r.answers) for r in renewers}
    figures = report(
        "postgres_restart",
        {
            "seconds": round(time.monotonic() - began, 1),
            "load_seconds": round(max(a.received for a in answers) - load_began, 1),
            "gunicorn_workers": 2,
            "clients": CLIENTS,
            "requests": len(answers),
            "succeeded": kinds["success"],
            "clean_errors": kinds["clean error"],
            "unclean_errors": kinds["unclean error"],
            "error_statuses": dict(Counter(a.detail for a in errors if a.kind == "clean error")),
            "unclean_examples": sorted({a.detail for a in errors if a.kind == "unclean error"})[:5],
            "restart_seconds": round(restart_returned - restart_began, 2),
            "errors_seen_from_to_seconds": (
                [round(errors[0].received - restart_began, 2), round(errors[-1].received - restart_began, 2)]
                if errors
                else None
            ),
            "errors_after_restart_returned": sum(a.kind != "success" for a in after),
            "seconds_until_recovery": None if recovered is None else round(recovered.received - restart_returned, 2),
            "renewals_committed": sum(renewals.values()),
            # Committed, then the answer failed (the connection died after COMMIT): the email tells them.
            "committed_but_answered_error": sum(renewals.get(str(k), 0) - n for k, n in succeeded.items()),
        },
    )

    # --- people: a clean error or a success; successes again soon after the restart -------------------
    assert figures["unclean_errors"] == 0, figures["unclean_examples"]
    # Requests in flight when the restart began may fail; none answered before it did.
    assert not [a for a in errors if a.received < restart_began], "errors before the restart"
    assert recovered is not None, "requests never succeeded again after the restart"
    assert recovered.received - restart_returned <= RECOVERY_SECONDS, figures
    assert sum(a.kind == "success" for a in after) >= CLIENTS, "too few successes after the restart to tell"

    # --- the database: nothing half-written ------------------------------------------------------------
    for renewer in renewers:
        key = ApiKey.objects.select_related("api", "consumer").get(pk=renewer.key_id)
        renewed = renewals.get(str(key.pk), 0)
        failed = len(renewer.answers) - succeeded[key.pk]
        # Each success is a committed renewal; a failed request may have committed before failing.
        assert succeeded[key.pk] <= renewed <= succeeded[key.pk] + failed, (key.prefix, succeeded[key.pk], renewed)
        assert emails[key.consumer.email] == renewed, (key.prefix, "renewal emails", emails[key.consumer.email])
        if key.api.runtime_target_id:
            assert deployments.get(key.pk, 0) == renewed, (key.prefix, "renewal deployments", deployments.get(key.pk))
            latest = KeyDeployment.objects.filter(api_key=key).latest("pk")
            assert latest.payload["expires_at"] == key.expires_at.isoformat()
        else:
            assert not KeyDeployment.objects.filter(api_key=key).exists()
        # The key's validity is its last renewal's, whose audit row was written with it.
        assert key.status == ApiKey.Status.ACTIVE
        assert key.renewed_at is not None and renewed > 0
        assert key.expires_at == key.renewed_at + timedelta(days=LIFETIME_DAYS)
        assert key.renewed_at <= last_audit[str(key.pk)] <= key.renewed_at + timedelta(seconds=5)
    # Every renewal row points at one of these keys.
    assert set(renewals) == {str(r.key_id) for r in renewers}
