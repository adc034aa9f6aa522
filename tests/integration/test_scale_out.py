"""Scale-out drill: Portico on two hosts' worth of processes against one PostgreSQL and one Redis.

Two web processes (gunicorn, one sync worker each), two Celery workers (solo pool, distinct names)
and one beat run the same code on the test database. Many keys are due for a renewal reminder and
some are past their expiry, on APIs whose runtime target is a fake gateway (pytest-httpserver)
that records every deployment it receives. Beat queues the sweeps every second, and the test
queues extra ones at once, so both workers sweep the same rows at the same moment. What a person
or a gateway would notice must not happen: an email twice (at the SMTP server on loopback, and in
the outbox), a deployment twice (at the gateway, by deployment id), or a revoked key passing on
either web process more than a second after the revocation committed (each process keeps its
own snapshot of key secrets, synced at most CACHE_SECONDS apart: credentials/gateway/snapshot.py).

Bounded: every wait shares DEADLINE_SECONDS. The figures are appended to test-results/scale_out.json.
"""

import http.client
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from credentials.expiry.models import ExpiryReminder
from credentials.expiry.tasks import send_expiry_reminders
from credentials.gateway.snapshot import CACHE_SECONDS
from credentials.keys import deployment as key_deployment
from credentials.keys import services as key_services
from credentials.keys import tasks as key_tasks
from credentials.keys.models import ApiKey, KeyDeployment
from portal.celery import app as celery_app
from portal.models import AuditEvent, OutboundEmail, User
from tests.factories import TARGET_SIGNING_SECRET, ApiFactory, RuntimeTargetFactory, UserFactory
from tests.integration.processes import (
    Mailbox,
    Processes,
    database_url,
    report,
    succeeded,
    unused_port,
    wait_for,
    wait_for_web,
)

DEADLINE_SECONDS = 75  # for the whole drill; the waits below share it
CONSUMERS = 40  # each holds one key for each of the APIs below
APIS = ("Weather", "Maps", "Billing", "Search")
SWEEPS_AFTER = 2  # idle sweeps of each kind, after everything arrived, before counting
EXTRA_SWEEPS = 4  # of each kind, queued at once beside beat's
REMINDER_SWEEP = "credentials.expiry.tasks.send_expiry_reminders"
EXPIRY_SWEEP = "credentials.keys.tasks.expire_keys"
DEPLOYMENT_SWEEP = "credentials.keys.tasks.retry_pending_deployments"
EMAIL_SWEEP = "portal.tasks.deliver_due_emails"
SWEEPS = (REMINDER_SWEEP, EXPIRY_SWEEP, DEPLOYMENT_SWEEP, EMAIL_SWEEP)
WORKERS = ("worker1", "worker2")


# --- the fake gateway ------------------------------------------------------------------------------
class Gateway:
    """The runtime target's /access-keys: answers 200 to every deployment and remembers each one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deployment_ids: list[str] = []
        self.problems: list[str] = []

    def answer(self, request: Request) -> Response:
        body = request.get_data()
        header_id = request.headers.get("X-Portico-Deployment", "")
        expected = key_deployment.signature(TARGET_SIGNING_SECRET, request.headers.get("X-Portico-Timestamp", ""), body)
        with self.lock:
            self.deployment_ids.append(header_id)
            if request.headers.get("X-Portico-Signature") != expected:
                self.problems.append(f"{header_id}: bad signature")
            if json.loads(body).get("deployment_id") != header_id:
                self.problems.append(f"{header_id}: the body names another deployment")
        return Response('{"applied": true}', status=200, content_type="application/json")

    def received(self) -> list[str]:
        with self.lock:
            return list(self.deployment_ids)


# --- /gateway/verify on the web processes ----------------------------------------------------------
def say_when(expires_at: datetime) -> str:
    """What a reminder's subject says after "expires", as a person reads the calendar in the
    portal's time zone: "in 20 days, on 2026-12-22", "tomorrow, on ...", "today, at 15:00 UTC"."""
    local, today = timezone.localtime(expires_at), timezone.localdate()
    days = (local.date() - today).days
    if days == 0:
        return f"today, at {local:%H:%M} {timezone.get_current_timezone_name()}"
    if days == 1:
        return f"tomorrow, on {local:%Y-%m-%d}"
    return f"in {days} days, on {local:%Y-%m-%d}"


def verify(port: int, token: str, key: str, api: str) -> tuple[int, str]:
    """Ask one web process about a key as a gateway does: (status, reason or "valid")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "GET",
            "/gateway/verify",
            headers={"Authorization": f"Bearer {token}", "X-Portico-Key": key, "X-Portico-Api": api},
        )
        response = conn.getresponse()
        data = json.loads(response.read() or b"{}")
    finally:
        conn.close()
    return response.status, "valid" if data.get("valid") else str(data.get("reason", data.get("error")))


@dataclass
class Poller:
    """One thread asking one web process about the key again and again, back to back."""

    port: int
    ask: tuple[str, str, str]  # token, key, api
    answers: list[tuple[float, float, int, str]] = field(default_factory=list)  # (sent, received, status, reason)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                sent = time.monotonic()
                status, reason = verify(self.port, *self.ask)
                self.answers.append((sent, time.monotonic(), status, reason))
        except BaseException as exc:  # reported by the test's thread
            self.error = exc

    def refused(self) -> bool:
        return any(reason == "revoked" for _s, _r, _status, reason in list(self.answers))


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    server = Mailbox(unused_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def processes(transactional_db, tmp_path: Path, mailbox: Mailbox, monkeypatch) -> Iterator[Processes]:
    # transactional_db: the processes see only committed rows. Depends on mailbox so the SMTP server
    # stops after them; the processes are gone before pytest-django flushes the tables.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
        "PORTICO_EMAIL_RETRY_BASE_SECONDS": "1",
        "PORTICO_BEAT_INTERVALS": (
            "send-expiry-reminders=1,expire-keys=1,retry-pending-deployments=2,deliver-due-emails=2"
        ),
        "PYTHONUNBUFFERED": "1",
    }
    # What this process queues (the seeds' deployments, the extra sweeps) goes to Redis, for the
    # workers; and tasks another test left in the shared Redis must not run here.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    celery_app.control.purge()
    started = Processes(tmp_path, env)
    try:
        yield started
    finally:
        started.stop()
        # What the workers reserved went back to the queue at shutdown.
        celery_app.control.purge()


# --- the drill -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_web_processes_two_workers_and_one_beat_send_nothing_twice_and_stop_a_revoked_key_within_a_second(
    organization, processes, mailbox, httpserver: HTTPServer
):
    began = time.monotonic()
    deadline = began + DEADLINE_SECONDS
    gateway = Gateway()
    httpserver.expect_request("/gateway/access-keys", method="POST").respond_with_handler(gateway.answer)
    target = RuntimeTargetFactory(name="edge", base_url=f"http://127.0.0.1:{httpserver.port}/gateway")
    apis = {
        name: ApiFactory(
            name=name, slug=name.lower(), provider=organization, key_lifetime_days=90, runtime_target=target
        )
        for name in APIS
    }

    # --- the seed: keys due for a reminder at each threshold, keys past expiry, keys not due ------
    now = timezone.now()
    consumers = User.objects.bulk_create(
        User(username=f"consumer{n:03d}", email=f"consumer{n:03d}@example.com", organization=organization)
        for n in range(CONSUMERS)
    )
    reminder_windows = {30: timedelta(days=20), 7: timedelta(days=5), 1: timedelta(hours=12)}
    keys: list[tuple[ApiKey, int]] = []
    expected_emails: Counter[tuple[str, str]] = Counter()
    for n, consumer in enumerate(consumers):
        for m, (name, api) in enumerate(apis.items()):
            kind = (n * len(apis) + m) % 10
            if kind < 6:  # due for a reminder, at the threshold it reached
                threshold = (30, 7, 1)[kind % 3]
                expires_at = now + reminder_windows[threshold]
                expected_emails[(consumer.email, f"Your API key for {name} expires {say_when(expires_at)}")] += 1
            elif kind < 9:  # past its expiry: the expiry sweep expires it, withdraws it and emails once
                expires_at = now - timedelta(hours=kind)
                expected_emails[(consumer.email, f"Your API key for {name} has expired")] += 1
            else:  # not due
                expires_at = now + timedelta(days=60)
            key = ApiKey(consumer=consumer, api=api, prefix=f"prt_key_s{n:03d}{m}", expires_at=expires_at)
            keys.append((key, kind))
    ApiKey.objects.bulk_create([key for key, _kind in keys])
    # Issued long ago: a reminder is owed only for thresholds a key lived past.
    ApiKey.objects.update(created_at=now - timedelta(days=90))
    due = {key.pk for key, kind in keys if kind < 6}
    past = {key.pk for key, kind in keys if 6 <= kind < 9}

    # The key of the revocation, issued as a consumer gets it: its deployment is queued at commit.
    riley = UserFactory(username="riley", organization=organization)
    verified_api = ApiFactory(name="Forecast", slug="forecast", provider=organization, runtime_target=target)
    revoked_key, secret = key_services.api_key_issue(api=verified_api, consumer=riley)

    # --- the processes ---------------------------------------------------------------------------
    web_ports = (unused_port(), unused_port())
    web = [processes.start_web(f"web{i + 1}", port) for i, port in enumerate(web_ports)]
    for worker in WORKERS:
        processes.start(worker, "worker", "--pool=solo", "-n", f"{worker}@%h", "--without-gossip", "--without-mingle")
    processes.start("beat", "beat", "--schedule", str(processes.tmp_path / "beat-schedule"), "--max-interval=1")
    # Beside beat's, sweeps of each kind at once, as overlapping beats or a redelivered task would
    # queue them: both workers sweep the same due rows at the same moment.
    for _ in range(EXTRA_SWEEPS):
        send_expiry_reminders.delay()
        key_tasks.expire_keys.delay()
        key_tasks.retry_pending_deployments.delay()
    for base_url in web:
        wait_for_web(base_url, deadline, processes)

    # --- 1. every email and every deployment arrives ----------------------------------------------
    expected_count = sum(expected_emails.values())
    wait_for(lambda: len(mailbox.received()) >= expected_count, "every email at the SMTP server", deadline, processes)

    def deployments_settled() -> bool:
        rows = KeyDeployment.objects.count()
        return rows >= len(past) + 1 and not KeyDeployment.objects.filter(state=KeyDeployment.State.PENDING).exists()

    wait_for(deployments_settled, "every deployment sent", deadline, processes)
    converged = time.monotonic() - began

    # --- 2. a revocation, seen by both web processes within a second -------------------------------
    ask = (target.verify_token, secret.value, verified_api.slug)
    assert [verify(port, *ask) for port in web_ports] == [(200, "valid")] * 2  # their snapshots hold the key
    pollers = [Poller(port, ask) for port in web_ports]
    threads = [threading.Thread(target=poller.run, daemon=True) for poller in pollers]
    for thread in threads:
        thread.start()
    try:
        # Gateways ask all the time: each process's snapshot is in use and synced every second.
        # Then revoke at a random moment of its sync cycle.
        wait_for(lambda: all(len(p.answers) >= 20 for p in pollers), "answers on both ports", deadline, processes)
        time.sleep(random.uniform(0, CACHE_SECONDS))
        committed: list[float] = []
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.monotonic()))  # first: runs right after COMMIT
            key_services.api_key_revoke(api_key_id=revoked_key.pk, revoked_by=riley)
        (commit,) = committed

        def both_refuse_well_past_the_promise() -> bool:
            return all(p.refused() for p in pollers) and time.monotonic() > commit + CACHE_SECONDS + 0.5

        wait_for(both_refuse_well_past_the_promise, "both web processes to refuse the key", deadline, processes)
    finally:
        for poller in pollers:
            poller.stop.set()
        for thread in threads:
            thread.join(timeout=15)
    revocation = {}
    for name, poller in zip(("web1", "web2"), pollers, strict=True):
        assert poller.error is None, f"{name}: {poller.error!r}"
        answers = poller.answers
        first = next(i for i, (_s, _r, _status, reason) in enumerate(answers) if reason == "revoked")
        after_commit = [a for a in answers if a[0] >= commit]
        passes = [a for a in after_commit if a[3] == "valid"]
        revocation[name] = {
            # When the gateway learnt it: the first refusal back, its own round trip included.
            "refused_after_seconds": round(answers[first][1] - commit, 3),
            "last_pass_sent_after_seconds": round(passes[-1][0] - commit, 3) if passes else None,
            "answers_after_commit": len(after_commit),
            # The promise: whatever was asked CACHE_SECONDS after the commit, or later, was refused.
            "passes_asked_after_the_promise": sum(a[0] >= commit + CACHE_SECONDS for a in passes),
            "asked_after_the_promise": sum(a[0] >= commit + CACHE_SECONDS for a in after_commit),
            "passed_again_after_a_refusal": sum(a[3] != "revoked" for a in answers[first:]),
            "other_answers": sorted({f"{a[2]} {a[3]}" for a in answers} - {"200 valid", "403 revoked"}),
        }

    # The revocation's deployment reaches the gateway too.
    wait_for(deployments_settled, "the revocation's deployment sent", deadline, processes)

    # --- 3. more sweeps of every kind on both workers, which send nothing more ---------------------
    logs = processes.worker_logs()
    before = {task: len(succeeded(logs, task)) for task in SWEEPS}

    def more_sweeps_on_both_workers() -> bool:
        logs = processes.worker_logs()
        return all(len(succeeded(logs, task)) >= n + SWEEPS_AFTER for task, n in before.items()) and all(
            succeeded(processes.log(worker), task) for worker in WORKERS for task in (REMINDER_SWEEP, EXPIRY_SWEEP)
        )

    wait_for(more_sweeps_on_both_workers, "more sweeps, and both kinds on each worker", deadline, processes)
    processes.stop()
    logs = processes.worker_logs()
    received_emails = Counter(mailbox.received())
    received_deployments = Counter(gateway.received())

    # --- the figures ---------------------------------------------------------------------------------
    emails = list(OutboundEmail.objects.values_list("template", "dedupe_key", "state", "attempts"))
    deployments = dict(KeyDeployment.objects.values_list("deployment_id", "state"))
    deployed = {str(d) for d, state in deployments.items() if state == KeyDeployment.State.DEPLOYED}
    per_worker = {
        worker: {task.rsplit(".", 1)[1]: len(succeeded(processes.log(worker), task)) for task in SWEEPS}
        for worker in WORKERS
    }
    figures = report(
        "scale_out",
        {
            "seconds": round(time.monotonic() - began, 1),
            "seconds_until_converged": round(converged, 1),
            "web_processes": len(web),
            "workers": len(WORKERS),
            "keys": len(keys) + 1,
            "reminders_due": len(due),
            "keys_past_expiry": len(past),
            "emails_expected": expected_count,
            "emails_at_smtp": sum(received_emails.values()),
            "doubled_emails": sum(n - 1 for n in received_emails.values() if n > 1),
            "outbox_rows": len(emails),
            "deployments": len(deployments),
            "deployment_posts": sum(received_deployments.values()),
            "doubled_deployments": sum(n - 1 for n in received_deployments.values() if n > 1),
            "sweeps_per_worker": per_worker,
            "revocation_cache_seconds": CACHE_SECONDS,
            "revocation": revocation,
        },
    )

    # --- the revocation: refused by both web processes for every request from a second after it ----
    for name, seen in revocation.items():
        assert seen["other_answers"] == [], (name, seen)
        assert seen["passed_again_after_a_refusal"] == 0, (name, seen)
        assert seen["passes_asked_after_the_promise"] == 0, (name, seen)
        assert seen["asked_after_the_promise"] > 0, (name, seen)

    # --- no email twice --------------------------------------------------------------------------------
    assert received_emails == expected_emails
    assert figures["doubled_emails"] == 0
    assert len(emails) == expected_count
    assert {(template, state, attempts) for template, _d, state, attempts in emails} == {
        ("key-expiry-reminder", OutboundEmail.State.SENT, 1),
        ("key-expired", OutboundEmail.State.SENT, 1),
    }
    reminders = list(ExpiryReminder.objects.values_list("subject_id", "sent_at"))
    assert Counter(subject for subject, _email in reminders) == Counter(due)  # one reminder row per due key
    reminder_emails = Counter(d for _t, d, _s, _a in emails if d and d.startswith("reminder:"))
    assert reminder_emails == Counter(f"reminder:{pk}" for pk in ExpiryReminder.objects.values_list("pk", flat=True))
    expired_emails = Counter(d.split(":")[1] for _t, d, _s, _a in emails if d and d.startswith("key-expired:"))
    assert expired_emails == Counter(str(pk) for pk in past)
    expired = Counter(AuditEvent.objects.filter(action="api_key.expire").values_list("target_id", flat=True))
    assert expired == Counter(str(pk) for pk in past)
    assert set(ApiKey.objects.filter(status=ApiKey.Status.EXPIRED).values_list("pk", flat=True)) == past

    # --- no deployment twice ---------------------------------------------------------------------------
    assert gateway.problems == []
    assert figures["doubled_deployments"] == 0, received_deployments.most_common(5)
    assert set(received_deployments) == deployed
    assert set(deployments.values()) <= {KeyDeployment.State.DEPLOYED, KeyDeployment.State.SUPERSEDED}
    reasons = Counter(KeyDeployment.objects.filter(state="deployed").values_list("reason", flat=True))
    assert reasons["expired"] == len(past)
    assert reasons["revoked"] == 1

    # --- both workers swept; the sweeps together claimed each row once -------------------------------
    beat_log = processes.log("beat")
    for entry in ("send-expiry-reminders", "expire-keys", "retry-pending-deployments", "deliver-due-emails"):
        assert f"Sending due task {entry}" in beat_log
    for worker in WORKERS:
        assert per_worker[worker]["send_expiry_reminders"] > 0, f"{worker} never swept for reminders"
        assert per_worker[worker]["expire_keys"] > 0, f"{worker} never swept for expired keys"
    assert sum(int(n) for n in succeeded(logs, REMINDER_SWEEP)) == len(due)
    assert sum(int(n) for n in succeeded(logs, EXPIRY_SWEEP)) == len(past)
