"""S6: reminders at 30, 7 and 1 days, exactly once; expiry; connection health."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from approvals import services as approval_services
from credentials.connections import health
from credentials.connections import services as connection_services
from credentials.connections.models import ConnectionRequest
from credentials.expiry import reminders
from credentials.expiry.models import ExpiryReminder
from credentials.keys import expire
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from portal.models import AuditEvent, OutboundEmail
from tests.factories import ApiFactory, client_secret_json

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def key(consumer):
    api = ApiFactory(name="Weather", slug="weather", key_lifetime_days=90)
    with time_machine.travel(START, tick=False):
        key, secret, _ = key_services.api_key_request(api=api, consumer=consumer)
    return key


def sweep_at(moment: datetime, captured) -> int:
    with time_machine.travel(moment, tick=False), captured(execute=True):
        return reminders.send_due_reminders()


def reminder_mails(mailoutbox, prefix):
    return [m for m in mailoutbox if prefix in m.body and "valid until" in m.body]


def test_a_consumer_gets_one_email_at_30_7_and_1_days_however_often_the_sweep_runs(
    key, mailoutbox, django_capture_on_commit_callbacks
):
    expiry = key.expires_at
    for days_before, expected in ((31, 0), (30, 1), (29, 1), (8, 1), (7, 2), (6, 2), (1, 3), (0.5, 3)):
        moment = expiry - timedelta(days=days_before)
        sweep_at(moment, django_capture_on_commit_callbacks)
        sweep_at(moment + timedelta(minutes=1), django_capture_on_commit_callbacks)
        assert len(reminder_mails(mailoutbox, key.prefix)) == expected, f"{days_before} days before"
    subjects = [m.subject for m in reminder_mails(mailoutbox, key.prefix)]
    assert subjects == [
        "Your API key for Weather expires in 30 days, on 2027-05-30",
        "Your API key for Weather expires in 7 days, on 2027-05-30",
        "Your API key for Weather expires tomorrow, on 2027-05-30",
    ]
    assert all(m.to == [key.consumer.email] for m in reminder_mails(mailoutbox, key.prefix))
    assert "/preferences/api-keys/" in reminder_mails(mailoutbox, key.prefix)[0].body


def test_a_key_first_seen_five_days_before_expiry_gets_only_the_7_day_reminder_saying_5_days(
    key, mailoutbox, django_capture_on_commit_callbacks
):
    sweep_at(key.expires_at - timedelta(days=5), django_capture_on_commit_callbacks)
    assert [m.subject for m in reminder_mails(mailoutbox, key.prefix)] == [
        "Your API key for Weather expires in 5 days, on 2027-05-30"
    ]
    assert ExpiryReminder.objects.get(subject_id=key.pk).threshold_days == 7


def test_a_key_renewed_after_a_reminder_starts_a_fresh_cycle(
    key, consumer, mailoutbox, django_capture_on_commit_callbacks
):
    first_expiry = key.expires_at
    sweep_at(first_expiry - timedelta(days=7), django_capture_on_commit_callbacks)
    assert len(reminder_mails(mailoutbox, key.prefix)) == 1
    with time_machine.travel(first_expiry - timedelta(days=6), tick=False):
        key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    key.refresh_from_db()
    assert key.expires_at > first_expiry
    sweep_at(first_expiry - timedelta(days=1), django_capture_on_commit_callbacks)  # old 1-day mark: nothing
    assert len(reminder_mails(mailoutbox, key.prefix)) == 1
    sweep_at(key.expires_at - timedelta(days=30), django_capture_on_commit_callbacks)
    assert len(reminder_mails(mailoutbox, key.prefix)) == 2
    assert ExpiryReminder.objects.filter(subject_id=key.pk, expires_at=key.expires_at).count() == 1


def test_unlimited_and_revoked_keys_get_no_reminder(consumer, outsider, mailoutbox, django_capture_on_commit_callbacks):
    unlimited = ApiFactory(key_lifetime_days=None)
    limited = ApiFactory(key_lifetime_days=10)
    with time_machine.travel(START, tick=False):
        key_services.api_key_request(api=unlimited, consumer=consumer)
        revoked, _secret, _ = key_services.api_key_request(api=limited, consumer=outsider)
        key_services.api_key_revoke(api_key_id=revoked.pk, revoked_by=outsider)
    sweep_at(START + timedelta(days=9, hours=12), django_capture_on_commit_callbacks)
    assert OutboundEmail.objects.filter(template="key-expiry-reminder").count() == 0


def test_dry_run_prints_what_is_due_and_sends_nothing(key, mailoutbox):
    out = StringIO()
    with time_machine.travel(key.expires_at - timedelta(days=7), tick=False):
        call_command("send_reminders", "--dry-run", stdout=out)
    assert f"api_key #{key.pk}" in out.getvalue() and "7-day reminder" in out.getvalue()
    assert not ExpiryReminder.objects.exists()
    assert mailoutbox == []


def test_an_smtp_outage_loses_nothing(key, mailoutbox, django_capture_on_commit_callbacks, monkeypatch):
    import smtplib

    from django.core.mail.backends.locmem import EmailBackend

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    moment = key.expires_at - timedelta(days=7)
    with time_machine.travel(moment, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            reminders.send_due_reminders()
        email = OutboundEmail.objects.get(template="key-expiry-reminder")
        assert email.state == OutboundEmail.State.PENDING and email.attempts == 1
        assert email.next_attempt_at > timezone.now()
    monkeypatch.undo()
    from portal import emails

    with time_machine.travel(moment + timedelta(hours=1), tick=False):
        assert emails.due_email_ids() == [email.pk]
        assert emails.deliver(email.pk) == emails.SENT
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.SENT
    assert len(mailoutbox) == 1


# --- connection credentials -------------------------------------------------------------------------
@pytest.fixture
def approved_connection(tenant, tenant_admin, hub_admin, good_credentials):
    with time_machine.travel(START, tick=False):
        request = connection_services.connection_request_submit(
            tenant=tenant, credentials=good_credentials, generated_at=START, submitted_by=tenant_admin, skip_test=True
        )
        approval_services.connection_request_decide(
            connection_request_id=request.pk, approver=hub_admin, verdict="approve"
        )
    request.refresh_from_db()
    return request


def test_connection_reminders_go_to_hub_admins_tenant_admins_and_the_team(
    approved_connection, hub_admin, tenant_admin, consumer, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.PORTICO_REMINDER_TEAM_EMAIL = "api-team@acme.example"
    sweep_at(approved_connection.expires_at - timedelta(days=30), django_capture_on_commit_callbacks)
    sweep_at(approved_connection.expires_at - timedelta(days=29), django_capture_on_commit_callbacks)
    mails = [m for m in mailoutbox if "Connection credentials of acme-dev" in m.subject]
    assert len(mails) == 1
    assert set(mails[0].to) == {hub_admin.email, tenant_admin.email, "api-team@acme.example"}
    assert consumer.email not in mails[0].to
    assert f"/admin-center/connections/{approved_connection.pk}/reestablish/" in mails[0].body
    assert "s3cr3t" not in mails[0].body


# --- expiry -----------------------------------------------------------------------------------------
def test_an_expired_key_becomes_expired_once_and_its_consumer_is_told_once(
    key, mailoutbox, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(key.expires_at + timedelta(minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert expire.expire_due_keys() == 1
        assert expire.expire_due_keys() == 0
    key.refresh_from_db()
    assert key.status == ApiKey.Status.EXPIRED
    assert AuditEvent.objects.filter(action="api_key.expire", target_id=str(key.pk)).count() == 1
    assert [m.subject for m in mailoutbox if "has expired" in m.subject] == ["Your API key for Weather has expired"]


def test_a_renewed_key_is_not_expired(key, consumer):
    with time_machine.travel(key.expires_at - timedelta(hours=1), tick=False):
        key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    with time_machine.travel(key.expires_at + timedelta(hours=1), tick=False):
        assert expire.expire_due_keys() == 0


# --- connection health ------------------------------------------------------------------------------
def test_a_failing_token_fetch_flags_the_connection_and_emails_once_per_incident(
    approved_connection, httpserver, hub_admin, mailoutbox, django_capture_on_commit_callbacks
):
    from credentials.connections.pasted import parse_tenant_credentials

    httpserver.expect_request("/fail/oauth/token").respond_with_json({"error": "invalid_client"}, status=401)
    ConnectionRequest.objects.filter(pk=approved_connection.pk).update(
        credentials=parse_tenant_credentials(client_secret_json(httpserver.url_for("/fail/oauth/token"))).to_storage()
    )
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert health.check_connection(approved_connection.pk) == ConnectionRequest.Health.FAILING
    approved_connection.refresh_from_db()
    assert approved_connection.health == ConnectionRequest.Health.FAILING
    failing = [m for m in mailoutbox if "needs re-establishing" in m.subject]
    assert len(failing) == 1 and hub_admin.email in failing[0].to


def test_a_working_token_fetch_keeps_the_connection_healthy(approved_connection, mailoutbox):
    assert health.check_connection(approved_connection.pk) == ConnectionRequest.Health.HEALTHY
    assert not [m for m in mailoutbox if "needs re-establishing" in m.subject]


def test_a_key_renewed_for_30_days_gets_no_30_day_reminder_beside_its_renewal(
    consumer, mailoutbox, django_capture_on_commit_callbacks
):
    api = ApiFactory(name="Payments", slug="payments", key_lifetime_days=30)
    with time_machine.travel(START, tick=False):
        key, _secret, _ = key_services.api_key_request(api=api, consumer=consumer)
    sweep_at(START + timedelta(minutes=5), django_capture_on_commit_callbacks)
    assert reminder_mails(mailoutbox, key.prefix) == []
    sweep_at(key.expires_at - timedelta(days=7), django_capture_on_commit_callbacks)
    assert [m.subject for m in reminder_mails(mailoutbox, key.prefix)] == [
        "Your API key for Payments expires in 7 days, on 2027-03-31"
    ]
