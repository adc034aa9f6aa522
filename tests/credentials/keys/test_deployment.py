"""Deploy Access Key: key states sent to a real runtime target on loopback (pytest-httpserver),
signed, retried with backoff while the target is down, and swept so nothing is lost."""

import hashlib
import hmac
import json
import logging
import re
import socket
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from credentials.keys import deployment
from credentials.keys.models import ApiKey, KeyDeployment, KeySecret, RuntimeTarget
from credentials.keys.services import api_key_issue, api_key_renew
from portal.models import AuditEvent
from tests.factories import TARGET_SIGNING_SECRET, ApiFactory, RuntimeTargetFactory

ACCESS_KEYS = "/mediator/access-keys"
HEALTH = "/mediator/health"
CONTRACT = Path(__file__).resolve().parents[3] / "docs" / "runtime-target-contract.md"


@pytest.fixture
def target(db, httpserver):
    return RuntimeTargetFactory(
        name="Mediator",
        base_url=httpserver.url_for("/mediator/"),
        health_url=httpserver.url_for(HEALTH),
    )


@pytest.fixture
def api(target):
    return ApiFactory(name="Weather", slug="weather", key_lifetime_days=90, runtime_target=target)


@pytest.fixture
def target_up(httpserver):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_json({"applied": True})


@pytest.fixture
def target_down(httpserver):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_data("busy", status=503)


@pytest.fixture
def issue(api, consumer, django_capture_on_commit_callbacks):
    """Issue the consumer's key for the API and run what follows the commit (the deployment)."""

    def issue_key():
        with django_capture_on_commit_callbacks(execute=True):
            return api_key_issue(api=api, consumer=consumer)

    return issue_key


def bring_up(httpserver):
    httpserver.clear()
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_json({"applied": True})


def received(httpserver):
    return [request for request, _ in httpserver.log if request.path == ACCESS_KEYS]


def verified_body(request) -> dict:
    """What a target does: check the signature over "<timestamp>.<raw body>", then parse."""
    timestamp = request.headers["X-Portico-Timestamp"]
    body = request.get_data()
    expected = hmac.new(TARGET_SIGNING_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Portico-Signature"], f"v1={expected}")
    return json.loads(body)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def only_deployment(key: ApiKey) -> KeyDeployment:
    return KeyDeployment.objects.get(api_key=key)


# --- the first attempt ------------------------------------------------------------------------------
def test_issuing_a_key_sends_its_prefix_and_hash_signed_to_the_target_and_marks_it_deployed(
    httpserver, target, target_up, issue, caplog
):
    with caplog.at_level(logging.DEBUG):
        key, secret = issue()

    [request] = received(httpserver)
    row = only_deployment(key)
    body = verified_body(request)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Portico-Deployment"] == str(row.deployment_id)
    assert body["deployment_id"] == str(row.deployment_id)
    assert body["sequence"] == row.pk
    stored = KeySecret.objects.get(api_key=key)
    assert body["secrets"] == [{"prefix": stored.prefix, "hash": stored.digest, "valid_until": None}]
    assert (body["api"], body["key_id"], body["consumer"], body["status"]) == (
        "weather",
        key.prefix,
        "consumer",
        "active",
    )
    assert body["expires_at"] == key.expires_at.isoformat()
    # The key itself goes nowhere: not in the request, not in the logs.
    assert secret.value not in request.get_data(as_text=True)
    assert secret.value not in str(dict(request.headers))
    assert TARGET_SIGNING_SECRET not in caplog.text
    assert request.headers["X-Portico-Signature"] not in caplog.text

    key.refresh_from_db()
    row.refresh_from_db()
    target.refresh_from_db()
    assert key.deployment_state == ApiKey.Deployment.DEPLOYED
    assert (row.state, row.attempts, row.last_error) == (KeyDeployment.State.DEPLOYED, 1, "")
    assert row.deployed_at is not None
    assert target.health == RuntimeTarget.Health.UP
    event = AuditEvent.objects.get(action="api_key.deploy")
    assert key.prefix in event.summary and "Mediator" in event.summary
    assert secret.value not in event.summary


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_a_target_that_is_unavailable_leaves_the_deployment_pending_and_due_after_a_backoff(
    httpserver, target, issue, status
):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_data("try later", status=status)
    with time_machine.travel(timezone.now(), tick=False):
        key, _ = issue()
        now = timezone.now()

    row = only_deployment(key)
    key.refresh_from_db()
    target.refresh_from_db()
    assert row.state == KeyDeployment.State.PENDING
    assert row.attempts == 1
    # First backoff: 30 s, +-20 %.
    assert now + timedelta(seconds=24) <= row.next_attempt_at <= now + timedelta(seconds=36)
    assert f"HTTP {status}" in row.last_error
    assert key.deployment_state == ApiKey.Deployment.PENDING
    assert target.health == RuntimeTarget.Health.DOWN
    assert f"HTTP {status}" in target.health_message
    # Nothing is lost: the state to send is kept; and the eager Celery retry found it not due
    # yet, so the target was asked once.
    assert row.payload["key_id"] == key.prefix
    assert len(received(httpserver)) == 1
    assert not AuditEvent.objects.filter(action__startswith="api_key.deploy").exists()


def test_a_closed_port_leaves_the_deployment_pending(api, target, issue):
    target.base_url = f"http://127.0.0.1:{closed_port()}/mediator"
    target.save()

    key, _ = issue()

    row = only_deployment(key)
    key.refresh_from_db()
    assert (row.state, row.attempts) == (KeyDeployment.State.PENDING, 1)
    assert "could not connect" in row.last_error
    assert row.next_attempt_at > timezone.now()
    assert key.deployment_state == ApiKey.Deployment.PENDING


def test_a_retry_after_header_lengthens_the_wait(httpserver, target, issue):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "600"}
    )
    with time_machine.travel(timezone.now(), tick=False):
        key, _ = issue()
        assert only_deployment(key).next_attempt_at == timezone.now() + timedelta(seconds=600)


def test_backoff_doubles_and_stops_at_one_hour():
    for attempts, seconds in [(1, 30), (2, 60), (3, 120), (8, 3600), (50, 3600)]:
        waits = [deployment.backoff(attempts).total_seconds() for _ in range(50)]
        assert all(min(seconds * 0.8, 3600 * 0.8) <= wait <= min(seconds * 1.2, 3600) for wait in waits)


# --- retries and the sweep --------------------------------------------------------------------------
def test_the_sweep_sends_a_waiting_deployment_once_the_target_is_up_with_the_same_deployment_id(
    httpserver, target, target_down, issue
):
    key, _ = issue()
    row = only_deployment(key)

    assert deployment.retry_due_deployments() == 0  # not due yet: nothing sent
    assert len(received(httpserver)) == 1

    bring_up(httpserver)
    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1), tick=False):
        assert deployment.retry_due_deployments() == 1
        assert deployment.retry_due_deployments() == 0  # run twice, send once

    [retry] = received(httpserver)
    row.refresh_from_db()
    key.refresh_from_db()
    assert retry.headers["X-Portico-Deployment"] == str(row.deployment_id)
    assert verified_body(retry)["deployment_id"] == str(row.deployment_id)
    assert (row.state, row.attempts, row.last_error) == (KeyDeployment.State.DEPLOYED, 2, "")
    assert key.deployment_state == ApiKey.Deployment.DEPLOYED
    assert AuditEvent.objects.filter(action="api_key.deploy").count() == 1


def test_a_retry_resends_the_same_body_with_a_fresh_signature(httpserver, target, target_down, issue):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        key, _ = issue()
    row = only_deployment(key)
    with time_machine.travel(row.next_attempt_at + timedelta(seconds=5), tick=False):
        deployment.retry_due_deployments()

    first, second = received(httpserver)
    assert first.get_data() == second.get_data()
    assert int(second.headers["X-Portico-Timestamp"]) > int(first.headers["X-Portico-Timestamp"])
    assert second.headers["X-Portico-Signature"] != first.headers["X-Portico-Signature"]
    verified_body(first)
    verified_body(second)


def test_delivering_a_deployed_deployment_again_sends_nothing(httpserver, target, target_up, issue):
    key, _ = issue()

    deployment.deliver(only_deployment(key).pk)

    assert len(received(httpserver)) == 1


def test_a_renewal_supersedes_an_unsent_deployment_and_only_the_newest_state_is_sent(
    httpserver, target, target_down, issue, consumer, django_capture_on_commit_callbacks
):
    key, _ = issue()
    older = only_deployment(key)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_renew(api_key_id=key.pk, renewed_by=consumer)
    newer = KeyDeployment.objects.exclude(pk=older.pk).get(api_key=key)
    older.refresh_from_db()
    assert older.state == KeyDeployment.State.SUPERSEDED
    assert (newer.state, newer.reason) == (KeyDeployment.State.PENDING, "renewed")
    assert ApiKey.objects.get(pk=key.pk).renewed_at is not None  # the renewal itself is recorded

    bring_up(httpserver)
    deployment.deliver(older.pk)  # a superseded deployment is never sent
    assert received(httpserver) == []
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        assert deployment.retry_due_deployments() == 1

    [request] = received(httpserver)
    body = verified_body(request)
    assert body["deployment_id"] == str(newer.deployment_id)
    assert body["sequence"] > older.pk
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.state == KeyDeployment.State.SUPERSEDED
    assert newer.state == KeyDeployment.State.DEPLOYED
    assert ApiKey.objects.get(pk=key.pk).deployment_state == ApiKey.Deployment.DEPLOYED


def test_a_deployment_superseded_while_in_flight_keeps_its_superseded_state(
    httpserver, target, target_up, issue, consumer, monkeypatch
):
    real_send = deployment._send

    def send_while_the_key_is_renewed(claimed):
        if claimed.reason == "issued":  # the consumer renews while the first one is on the wire
            api_key_renew(api_key_id=claimed.api_key_id, renewed_by=consumer)
        return real_send(claimed)

    monkeypatch.setattr(deployment, "_send", send_while_the_key_is_renewed)
    key, _ = issue()  # runs the issue's deployment, then the renewal's

    issued, renewal = KeyDeployment.objects.filter(api_key=key).order_by("pk")
    first, second = received(httpserver)
    assert verified_body(first)["deployment_id"] == str(issued.deployment_id)
    assert verified_body(second)["deployment_id"] == str(renewal.deployment_id)
    assert verified_body(first)["sequence"] < verified_body(second)["sequence"]
    # The target accepted the first, but the renewal had superseded it: it is not recorded as the
    # key's deployment, and only the renewal's is audited.
    assert issued.state == KeyDeployment.State.SUPERSEDED
    assert renewal.state == KeyDeployment.State.DEPLOYED
    assert ApiKey.objects.get(pk=key.pk).deployment_state == ApiKey.Deployment.DEPLOYED
    assert list(AuditEvent.objects.filter(action="api_key.deploy").values_list("target_id", flat=True)) == [str(key.pk)]
    assert "renewed" in AuditEvent.objects.get(action="api_key.deploy").summary


def test_a_deployment_to_a_target_the_api_left_does_not_change_the_key_state(
    httpserver, api, target, target_down, issue
):
    key, _ = issue()
    api.runtime_target = None
    api.save()
    ApiKey.objects.filter(pk=key.pk).update(deployment_state=ApiKey.Deployment.NONE)

    bring_up(httpserver)
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        deployment.retry_due_deployments()

    assert only_deployment(key).state == KeyDeployment.State.DEPLOYED
    assert ApiKey.objects.get(pk=key.pk).deployment_state == ApiKey.Deployment.NONE


# --- refusals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_target_refusing_the_deployment_fails_it_for_good(httpserver, target, issue, status):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_json({"error": "bad_payload"}, status=status)

    key, secret = issue()

    row = only_deployment(key)
    key.refresh_from_db()
    target.refresh_from_db()
    assert row.state == KeyDeployment.State.FAILED
    assert row.next_attempt_at is None
    assert row.last_error == f"The target refused the deployment (HTTP {status}: bad_payload)."
    assert key.deployment_state == ApiKey.Deployment.FAILED
    assert target.health == RuntimeTarget.Health.UP  # it answered
    event = AuditEvent.objects.get(action="api_key.deploy_failed")
    assert key.prefix in event.summary and "Mediator" in event.summary and f"HTTP {status}" in event.summary
    assert secret.value not in event.summary
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        assert deployment.retry_due_deployments() == 0
    assert len(received(httpserver)) == 1


def test_an_error_text_that_is_not_a_short_code_is_not_stored(httpserver, target, issue):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_json(
        {"error": "Your key prt_key_Ab12Cd34 is <script>bad</script>"}, status=400
    )
    key, _ = issue()
    assert only_deployment(key).last_error == "The target refused the deployment (HTTP 400)."


def test_a_signing_secret_that_no_key_opens_keeps_the_deployment_pending_and_sends_nothing(
    httpserver, target, target_up, issue
):
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost-secret").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE credentials_runtimetarget SET signing_secret = %s WHERE id = %s", [foreign, target.pk])

    key, _ = issue()

    assert httpserver.log == []
    row = only_deployment(key)
    assert (row.state, row.attempts) == (KeyDeployment.State.PENDING, 1)
    assert "could not decrypt" in row.last_error
    assert "lost-secret" not in row.last_error


# --- outbound address policy ------------------------------------------------------------------------
def test_a_private_address_is_refused_and_nothing_is_sent(httpserver, target, target_up, issue, settings):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = False

    key, _ = issue()

    assert httpserver.log == []
    row = only_deployment(key)
    key.refresh_from_db()
    target.refresh_from_db()
    assert (row.state, row.attempts) == (KeyDeployment.State.PENDING, 1)
    assert "private or local address" in row.last_error
    assert key.deployment_state == ApiKey.Deployment.PENDING
    assert target.health == RuntimeTarget.Health.DOWN


def test_a_plain_http_target_off_loopback_is_refused(api, target, issue):
    target.base_url = "http://mediator.example.com"
    target.save()

    key, _ = issue()

    row = only_deployment(key)
    assert row.state == KeyDeployment.State.PENDING
    assert "must start with https://" in row.last_error


def test_redirects_are_not_followed(httpserver, target, issue):
    httpserver.expect_request(ACCESS_KEYS, method="POST").respond_with_data(
        "", status=307, headers={"Location": "http://169.254.169.254/"}
    )
    key, _ = issue()

    assert len(httpserver.log) == 1
    row = only_deployment(key)
    assert row.state == KeyDeployment.State.PENDING
    assert "redirect" in row.last_error


# --- health -----------------------------------------------------------------------------------------
def test_the_health_check_marks_a_target_up_or_down(httpserver, target):
    httpserver.expect_oneshot_request(HEALTH, method="GET").respond_with_json({"status": "ok"})
    assert deployment.check_target_health(target.pk).health == RuntimeTarget.Health.UP

    httpserver.expect_oneshot_request(HEALTH, method="GET").respond_with_data("down", status=503)
    checked = deployment.check_target_health(target.pk)
    assert checked.health == RuntimeTarget.Health.DOWN
    assert "HTTP 503" in checked.health_message
    assert checked.health_checked_at is not None

    target.health_url = f"http://127.0.0.1:{closed_port()}/health"
    target.save()
    checked = deployment.check_target_health(target.pk)
    assert checked.health == RuntimeTarget.Health.DOWN
    assert "could not connect" in checked.health_message


def test_the_health_sweep_checks_only_targets_with_a_health_url(httpserver, target):
    httpserver.expect_request(HEALTH, method="GET").respond_with_json({"status": "ok"})
    silent = RuntimeTargetFactory(name="No health URL", health_url="")

    from credentials.keys import tasks as key_tasks

    assert key_tasks.check_runtime_targets.delay().get() == 1

    target.refresh_from_db()
    silent.refresh_from_db()
    assert target.health == RuntimeTarget.Health.UP
    assert silent.health == RuntimeTarget.Health.UNKNOWN


def test_a_target_seen_up_again_makes_its_waiting_deployments_due_at_once(httpserver, target, target_down, issue):
    key, _ = issue()
    assert deployment.retry_due_deployments() == 0

    bring_up(httpserver)
    httpserver.expect_request(HEALTH, method="GET").respond_with_json({"status": "ok"})
    deployment.check_target_health(target.pk)

    assert deployment.retry_due_deployments() == 1
    assert only_deployment(key).state == KeyDeployment.State.DEPLOYED


# --- the command and beat ---------------------------------------------------------------------------
def test_retry_deployments_dry_run_lists_due_deployments_and_sends_nothing(httpserver, target, target_down, issue):
    key, _ = issue()
    row = only_deployment(key)
    bring_up(httpserver)
    out = StringIO()

    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1), tick=False):
        call_command("retry_deployments", "--dry-run", stdout=out)

    assert received(httpserver) == []
    assert str(row.deployment_id) in out.getvalue() and key.prefix in out.getvalue()
    assert "1 deployment(s) due" in out.getvalue()
    after = only_deployment(key)
    assert (after.state, after.attempts, after.next_attempt_at) == (row.state, row.attempts, row.next_attempt_at)

    with time_machine.travel(row.next_attempt_at + timedelta(seconds=1), tick=False):
        call_command("retry_deployments", stdout=StringIO())
    assert len(received(httpserver)) == 1
    assert only_deployment(key).state == KeyDeployment.State.DEPLOYED


def test_beat_runs_the_deployment_sweep_and_the_health_checks_as_registered_tasks():
    from portal.celery import app

    schedule = django_settings.CELERY_BEAT_SCHEDULE
    tasks = {entry["task"] for entry in schedule.values()}
    assert {"credentials.keys.tasks.retry_pending_deployments", "credentials.keys.tasks.check_runtime_targets"} <= tasks
    app.loader.import_default_modules()
    assert tasks <= set(app.tasks)


# --- the documented contract ------------------------------------------------------------------------
def test_the_worked_example_in_the_contract_matches_portico_signatures():
    text = CONTRACT.read_text()
    secret = re.search(r"Signing secret `([^`]+)`", text).group(1)
    timestamp = re.search(r"timestamp `(\d+)`", text).group(1)
    body = re.search(r"```json\n(.*?)\n```", text, re.S).group(1)
    documented = re.search(r"X-Portico-Signature: (v1=[0-9a-f]{64})", text).group(1)

    assert deployment.signature(secret, timestamp, body.encode()) == documented


def test_the_verifier_in_the_contract_accepts_portico_requests_and_refuses_tampered_ones(
    httpserver, target, target_up, issue
):
    code = re.search(r"```python\n(.*?)\n```", CONTRACT.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the documentation's own example, run as written
    verify = namespace["verify"]

    issue()
    [request] = received(httpserver)
    body = request.get_data()

    assert verify(TARGET_SIGNING_SECRET, request.headers, body)
    assert not verify(TARGET_SIGNING_SECRET, request.headers, body.replace(b'"active"', b'"revoked"'))
    assert not verify("another-secret", request.headers, body)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert not verify(TARGET_SIGNING_SECRET, request.headers, body)  # a replay, too late
