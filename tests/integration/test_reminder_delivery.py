"""S6 end to end: a real beat and two real workers (separate processes) on Redis and PostgreSQL send
the due expiry reminders through a real SMTP server on loopback (aiosmtpd) that is down at first
and then refuses a few messages; every expected email arrives exactly once, and nothing else.

The processes run with short intervals (PORTICO_BEAT_INTERVALS: the reminder sweep every 2 s, the
delivery sweep every 1 s) and a short email backoff (PORTICO_EMAIL_RETRY_BASE_SECONDS=1), so the
outage, the retries and several idle sweeps afterwards fit in seconds. Waits are bounded loops on
events (rows, accepted messages, log lines), never fixed sleeps.
"""

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from credentials.expiry.models import ExpiryReminder, email_dedupe_key
from credentials.expiry.tasks import send_expiry_reminders
from credentials.keys.models import ApiKey
from credentials.templatetags.expiry import expires_in
from portal.celery import app as celery_app
from portal.models import OutboundEmail
from tests.factories import ApiFactory, UserFactory
from tests.integration.processes import Mailbox, Processes, database_url, succeeded, unused_port, wait_for

DEADLINE_SECONDS = 90  # for the whole delivery; the waits below share it
REFUSE_FIRST = 3  # messages the SMTP server answers "451 try later" once it is up
SWEEPS_AFTER = 3  # idle sweeps of each kind, after the last email arrived, before counting


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server, down until the test starts it (so the first deliveries fail)."""
    server = Mailbox(unused_port(), refuse_first=REFUSE_FIRST)
    yield server
    server.stop()


@pytest.fixture
def celery_processes(transactional_db, tmp_path: Path, mailbox: Mailbox) -> Iterator[Processes]:
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
        "PORTICO_BEAT_INTERVALS": "send-expiry-reminders=2,deliver-due-emails=1",
        "PYTHONUNBUFFERED": "1",
    }
    # Tasks another test left in the shared Redis would run here: start from an empty queue.
    celery_app.control.purge()
    processes = Processes(tmp_path, env)
    try:
        yield processes
    finally:
        processes.stop()
        # What the workers reserved (countdown retries) went back to the queue at shutdown.
        celery_app.control.purge()


# --- the test --------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_beat_and_two_workers_deliver_every_due_reminder_exactly_once_through_an_smtp_outage(
    organization, celery_processes, mailbox, monkeypatch
):
    now = timezone.now()
    people = {
        name: UserFactory(username=name, email=f"{name}@example.com", organization=organization)
        for name in ("alice", "bob", "carol", "dave", "erin")
    }
    apis = {name: ApiFactory(name=name, slug=name.lower()) for name in ("Weather", "Maps", "Billing", "Search")}

    def key(person: str, api: str, expires_in: timedelta | None, status: str = ApiKey.Status.ACTIVE) -> ApiKey:
        expires_at = None if expires_in is None else now + expires_in
        created = ApiKey.objects.create(
            consumer=people[person],
            api=apis[api],
            prefix=f"prt_key_{person}{api}",
            status=status,
            expires_at=expires_at,
        )
        # Issued long ago: a reminder is owed only for thresholds a key lived past.
        ApiKey.objects.filter(pk=created.pk).update(created_at=now - timedelta(days=90))
        created.refresh_from_db()
        return created

    # Due: one email each, at the threshold each has reached.
    key("alice", "Weather", timedelta(days=29, hours=23))
    key("bob", "Maps", timedelta(days=20))
    key("carol", "Weather", timedelta(days=6, hours=12))
    key("alice", "Billing", timedelta(days=6))
    key("dave", "Maps", timedelta(hours=12))
    # The subjects say the real time left and the date ("expires in 6 days, on 2026-12-07").
    expected = Counter(
        [
            ("alice@example.com", f"Your API key for Weather {expires_in(now + timedelta(days=29, hours=23))}"),
            ("bob@example.com", f"Your API key for Maps {expires_in(now + timedelta(days=20))}"),
            ("carol@example.com", f"Your API key for Weather {expires_in(now + timedelta(days=6, hours=12))}"),
            ("alice@example.com", f"Your API key for Billing {expires_in(now + timedelta(days=6))}"),
            ("dave@example.com", f"Your API key for Maps {expires_in(now + timedelta(hours=12))}"),
        ]
    )
    # Not due: too far out, unlimited, revoked, and one already reminded at the threshold it is in.
    key("bob", "Search", timedelta(days=60))
    key("carol", "Billing", None)
    key("dave", "Search", timedelta(days=5), status=ApiKey.Status.REVOKED)
    reminded = key("erin", "Weather", timedelta(days=5))
    earlier = ExpiryReminder.objects.create(
        subject_type=ExpiryReminder.Subject.API_KEY,
        subject_id=reminded.pk,
        expires_at=reminded.expires_at,
        threshold_days=7,
        sent_at=now - timedelta(days=2),
    )

    processes = celery_processes
    processes.start("worker1", "worker", "--pool=solo", "-n", "worker1@%h", "--without-gossip", "--without-mingle")
    processes.start("worker2", "worker", "--pool=solo", "-n", "worker2@%h", "--without-gossip", "--without-mingle")
    processes.start("beat", "beat", "--schedule", str(processes.tmp_path / "beat-schedule"), "--max-interval=1")
    # Beside beat's, four sweeps at once, as overlapping beats or a retried task would queue them:
    # both workers sweep the same due keys at the same moment.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    for _ in range(4):
        send_expiry_reminders.delay()
    deadline = time.monotonic() + DEADLINE_SECONDS

    # 1. SMTP is down (nothing listens on its port): every reminder is in the outbox, refused twice.
    def all_refused_twice() -> bool:
        attempts = list(OutboundEmail.objects.values_list("attempts", flat=True))
        return len(attempts) >= len(expected) and min(attempts) >= 2

    wait_for(all_refused_twice, "two refused attempts of every reminder while SMTP is down", deadline, processes)
    assert mailbox.received() == []

    # 2. SMTP comes up and answers "451 try later" to the first messages; the retries get through.
    mailbox.start()
    expected_count = sum(expected.values())
    wait_for(
        lambda: len(mailbox.received()) >= expected_count, "every reminder at the SMTP server", deadline, processes
    )

    # 3. More sweeps of both kinds run on the workers after that, and send nothing more.
    sweeps = ("credentials.expiry.tasks.send_expiry_reminders", "portal.tasks.deliver_due_emails")
    after = {task: len(succeeded(processes.worker_logs(), task)) for task in sweeps}

    def more_sweeps_on_both_workers() -> bool:
        logs = processes.worker_logs()
        return all(len(succeeded(logs, task)) >= n + SWEEPS_AFTER for task, n in after.items()) and all(
            succeeded(processes.log(worker), sweeps[0]) for worker in ("worker1", "worker2")
        )

    wait_for(
        more_sweeps_on_both_workers,
        f"{SWEEPS_AFTER} more sweeps of each kind, and a reminder sweep on each worker",
        time.monotonic() + 30,
        processes,
    )
    processes.stop()
    logs = processes.worker_logs()

    # Every expected email arrived exactly once, and nothing else.
    assert Counter(mailbox.received()) == expected
    assert mailbox.refused == REFUSE_FIRST

    # The outbox: one row per reminder, sent, after the refusals it went through.
    emails = list(OutboundEmail.objects.all())
    assert len(emails) == expected_count
    assert {e.state for e in emails} == {OutboundEmail.State.SENT}
    assert {e.template for e in emails} == {"key-expiry-reminder"}
    assert min(e.attempts for e in emails) >= 3  # two refusals while down, then accepted
    # Each attempt was one send: the refusals the workers logged, plus one accepted send per email.
    refusals = re.findall(r"Email \d+ not delivered \(attempt \d+\): (\w+)", logs)
    assert Counter(refusals)["SMTPDataError"] == REFUSE_FIRST
    assert Counter(refusals)["ConnectionRefusedError"] >= 2 * expected_count
    assert sum(e.attempts for e in emails) == len(refusals) + expected_count

    # The reminder rows: one per due key and threshold, each with its email; the old one untouched.
    new_reminders = ExpiryReminder.objects.exclude(pk=earlier.pk)
    assert new_reminders.count() == expected_count
    assert {email_dedupe_key(pk) for pk in new_reminders.values_list("pk", flat=True)} == {e.dedupe_key for e in emails}
    assert ExpiryReminder.objects.filter(subject_id=reminded.pk).count() == 1

    # Beat queued both sweeps; both workers ran the reminder sweep; the sweeps together claimed
    # each reminder once (their return values add up to the number of emails).
    beat_log = processes.log("beat")
    assert "Sending due task send-expiry-reminders" in beat_log
    assert "Sending due task deliver-due-emails" in beat_log
    for worker in ("worker1", "worker2"):
        assert succeeded(processes.log(worker), "credentials.expiry.tasks.send_expiry_reminders"), (
            f"{worker} never swept"
        )
    assert sum(int(n) for n in succeeded(logs, "credentials.expiry.tasks.send_expiry_reminders")) == expected_count
