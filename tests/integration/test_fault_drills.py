"""Fault drills on real services: what an operator sees when Redis, the gateway or the audit log
fail while people work. Each drill is bounded in time and writes its figures to
test-results/fault_drills.json (one JSON line a run) for docs/reliability.md.

1. Redis stops while an approver approves a renewal through a real web
   process (gunicorn). The approval is recorded at once; the deployment and the email it owes wait
   in the database. Redis comes back, a real worker and beat start: the email arrives once; the
   gateway, down at first (503), gets the deployment once it is back.
2. The audit write fails (a PostgreSQL trigger refuses the insert): the action rolls back whole.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from werkzeug.wrappers import Response

from approvals import services as approval_services
from approvals.models import ApprovalRequest
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey, KeyDeployment
from portal.models import AuditEvent, OutboundEmail
from portal.roles import Role
from tests.factories import ApiFactory, RuntimeTargetFactory, UserFactory
from tests.integration.processes import Mailbox, Processes, database_url, report, unused_port, wait_for, wait_for_web

BASE_DIR = Path(settings.BASE_DIR)
DEADLINE = 90  # seconds, for the whole of a drill's waits
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def timed_wait(condition: Callable[[], bool], what: str, deadline: float, processes: Processes) -> float:
    started = time.monotonic()
    wait_for(condition, what, deadline, processes)
    return time.monotonic() - started


# --- services of the drill -----------------------------------------------------------------------
class Redis:
    """A Redis server of this drill alone, so stopping it disturbs no other test."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = unused_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail("the drill's Redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def drill(transactional_db, tmp_path) -> Iterator[tuple[Redis, Mailbox, Processes]]:
    redis, mailbox = Redis(tmp_path), Mailbox(unused_port())
    redis.start()
    mailbox.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis.url,
        "REDIS_URL": redis.url,
        "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
        "PORTICO_EMAIL_RETRY_BASE_SECONDS": "1",
        "PORTICO_DEPLOY_RETRY_BASE_SECONDS": "1",
        "PORTICO_BEAT_INTERVALS": "deliver-due-emails=1,retry-pending-deployments=1",
        "PYTHONUNBUFFERED": "1",
    }
    processes = Processes(tmp_path, env)
    try:
        yield redis, mailbox, processes
    finally:
        processes.stop()
        mailbox.stop()
        redis.stop()


def session_of(user) -> httpx.Client:
    """A browser signed in as the user (the session lives in the database the web process reads)."""
    signed_in = Client()
    signed_in.force_login(user)
    return httpx.Client(cookies={"sessionid": signed_in.cookies["sessionid"].value}, timeout=30)


# --- 1. Redis down while a renewal is approved; the gateway down, then up ---------------------------
@pytest.mark.django_db(transaction=True)
def test_redis_down_while_a_renewal_is_approved_then_the_email_and_deployment_follow(drill, httpserver):
    redis, mailbox, processes = drill
    gateway_up = threading.Event()
    accepted: list[str] = []

    def gateway(request) -> Response:
        if not gateway_up.is_set():
            return Response("busy", status=503)
        accepted.append(json.loads(request.get_data())["deployment_id"])
        return Response('{"applied": true}', status=200, content_type="application/json")

    httpserver.expect_request("/gateway/access-keys", method="POST").respond_with_handler(gateway)
    organization = UserFactory().organization
    consumer = UserFactory(organization=organization, email="casey@example.com", roles=(Role.CONSUMER,))
    approver = UserFactory(organization=organization, roles=(Role.APPROVER,))
    target = RuntimeTargetFactory(base_url=httpserver.url_for("/gateway/"))
    api = ApiFactory(key_lifetime_days=30, renewal_requires_approval=True, approver_users=[approver])
    key, _secret, issue = key_services.api_key_request(api=api, consumer=consumer)
    approval_services.approval_decide(approval_request_id=issue.pk, approver=approver, verdict="approve")
    api.runtime_target = target
    api.save()
    key, renewal = key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    key = ApiKey.objects.select_related("api").get(pk=key.pk)
    OutboundEmail.objects.all().delete()

    base = processes.start_web("web", unused_port())
    deadline = time.monotonic() + DEADLINE
    wait_for_web(base, deadline, processes)
    browser = session_of(approver)
    inbox = browser.get(f"{base}/approvals/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', inbox.text).group(1)

    redis.stop()  # Redis goes down
    started = time.monotonic()
    answer = browser.post(
        f"{base}/approvals/{renewal.pk}/decide/",
        data={"csrfmiddlewaretoken": token, "verdict": "approve", "reviewed": key.review_version},
        headers={"HX-Request": "true", "Referer": f"{base}/approvals/"},
    )
    answer_seconds = time.monotonic() - started

    # The approver got an answer, and the approval is recorded with what it owes.
    assert answer.status_code == 200, answer.text[:500]
    assert "approved" in answer.text
    renewal.refresh_from_db()
    assert renewal.status == ApprovalRequest.Status.APPROVED
    email = OutboundEmail.objects.get(template="key-renewed")
    assert email.state == OutboundEmail.State.PENDING
    deployment = KeyDeployment.objects.get(api_key=key, reason="renewed")
    assert deployment.state == KeyDeployment.State.PENDING

    # Redis is back; a worker and beat start. The email goes out; the gateway is still down.
    redis.start()
    processes.start("worker", "worker", "--pool=solo")
    processes.start("beat", "beat", "--max-interval=1", "--schedule", str(processes.tmp_path / "beat-schedule"))
    email_seconds = timed_wait(
        lambda: any(to == "casey@example.com" for to, _subject in mailbox.received()),
        "the renewal email at the SMTP server",
        deadline,
        processes,
    )
    wait_for(
        lambda: KeyDeployment.objects.get(pk=deployment.pk).attempts >= 2,
        "two refused attempts at the gateway while it is down",
        deadline,
        processes,
    )
    gateway_up.set()  # the gateway is back
    deployed_seconds = timed_wait(
        lambda: KeyDeployment.objects.get(pk=deployment.pk).state == KeyDeployment.State.DEPLOYED,
        "the deployment to the gateway once it is back",
        deadline,
        processes,
    )
    time.sleep(2)  # more sweeps run: they must send nothing twice
    processes.stop()

    key.refresh_from_db()
    deployment.refresh_from_db()
    assert key.deployment_state == ApiKey.Deployment.DEPLOYED
    assert accepted.count(str(deployment.deployment_id)) == 1
    renewed_mails = [m for m in mailbox.received() if m[0] == "casey@example.com"]
    assert len(renewed_mails) == 1
    assert OutboundEmail.objects.get(pk=email.pk).state == OutboundEmail.State.SENT
    report(
        "fault_drills",
        {
            "case": "redis down, then the gateway down",
            "answer_seconds_with_redis_down": round(answer_seconds, 2),
            "answer_status": answer.status_code,
            "email_seconds_after_redis_back": round(email_seconds, 2),
            "deployment_attempts": deployment.attempts,
            "deployed_seconds_after_gateway_back": round(deployed_seconds, 2),
            "emails_received": len(renewed_mails),
            "deployments_accepted": accepted.count(str(deployment.deployment_id)),
        },
    )


# --- 2. The audit write fails: the action rolls back ----------------------------------------------
REFUSE_AUDIT = """
CREATE OR REPLACE FUNCTION portico_drill_refuse_audit() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'drill: the audit log refuses writes'; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER portico_drill_refuse_audit BEFORE INSERT ON portal_auditevent
FOR EACH ROW EXECUTE FUNCTION portico_drill_refuse_audit();
"""
ALLOW_AUDIT = """
DROP TRIGGER IF EXISTS portico_drill_refuse_audit ON portal_auditevent;
DROP FUNCTION IF EXISTS portico_drill_refuse_audit();
"""


@pytest.fixture
def audit_refuses_writes(transactional_db):
    def refuse() -> None:
        with connection.cursor() as cursor:
            cursor.execute(REFUSE_AUDIT)

    yield refuse
    with connection.cursor() as cursor:
        cursor.execute(ALLOW_AUDIT)


@pytest.mark.django_db(transaction=True)
def test_when_the_audit_write_fails_the_action_rolls_back_whole(audit_refuses_writes, httpserver):
    httpserver.expect_request("/gateway/access-keys", method="POST").respond_with_json({"applied": True})
    organization = UserFactory().organization
    consumer = UserFactory(organization=organization, roles=(Role.CONSUMER,))
    api = ApiFactory(
        key_lifetime_days=30, runtime_target=RuntimeTargetFactory(base_url=httpserver.url_for("/gateway/"))
    )
    key, _secret = key_services.api_key_issue(api=api, consumer=consumer)
    key.refresh_from_db()
    before = (key.status, key.expires_at, key.renewed_at, key.prefix, key.updated_at)
    counts = (KeyDeployment.objects.count(), OutboundEmail.objects.count(), AuditEvent.objects.count())
    browser = Client(raise_request_exception=False)
    browser.force_login(consumer)
    audit_refuses_writes()

    answers = {
        action: browser.post(f"/preferences/api-keys/{key.pk}/{action}/", {"grace": "0"}).status_code
        for action in ("renew", "rotate", "revoke")
    }

    key.refresh_from_db()
    assert (key.status, key.expires_at, key.renewed_at, key.prefix, key.updated_at) == before
    assert (KeyDeployment.objects.count(), OutboundEmail.objects.count(), AuditEvent.objects.count()) == counts
    assert set(answers.values()) == {500}
    report("fault_drills", {"case": "audit write fails", "answers": answers, "changed_rows": 0})
