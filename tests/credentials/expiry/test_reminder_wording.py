"""What a reminder email says (issue 13, part 4): the real time left and the date, counted when
the email is rendered (at delivery), not the threshold that made the sweep send it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import override_settings

from approvals import services as approval_services
from credentials.connections import services as connection_services
from credentials.expiry import reminders
from portal import emails
from portal.models import OutboundEmail
from tests.factories import ApiFactory, ApiKeyFactory, UserFactory

EXPIRY = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def key(db):
    consumer = UserFactory(username="dana", first_name="Dana", last_name="Scully")
    api = ApiFactory(name="Weather API", slug="weather", key_lifetime_days=90)
    with time_machine.travel(EXPIRY - timedelta(days=90), tick=False):
        return ApiKeyFactory(api=api, consumer=consumer, expires_at=EXPIRY)


def sweep_and_deliver(moment: datetime, captured) -> None:
    with time_machine.travel(moment, tick=False), captured(execute=True):
        reminders.send_due_reminders()


def test_a_key_given_its_7_day_reminder_6_days_before_is_told_6_days_and_the_date(
    key, mailoutbox, django_capture_on_commit_callbacks
):
    sweep_and_deliver(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert mail.subject == "Your API key for Weather API expires in 6 days, on 2026-12-07"
    said = f"Your API key {key.prefix} for Weather API expires in 6 days, on 2026-12-07"
    assert f"{said} (valid until 2026-12-07 15:00 UTC)." in mail.body
    html = mail.alternatives[0][0]
    assert "<strong>expires in 6 days, on 2026-12-07</strong> (valid until 2026-12-07 15:00 UTC)" in html
    assert "7 days" not in mail.subject + mail.body + html


@pytest.mark.parametrize(
    ("moment", "subject"),
    [
        (datetime(2026, 12, 6, 16, 0, tzinfo=UTC), "Your API key for Weather API expires tomorrow, on 2026-12-07"),
        (datetime(2026, 12, 7, 8, 0, tzinfo=UTC), "Your API key for Weather API expires today, at 15:00 UTC"),
    ],
)
def test_the_last_reminder_says_tomorrow_or_today_with_the_time(
    key, moment, subject, mailoutbox, django_capture_on_commit_callbacks
):
    sweep_and_deliver(moment, django_capture_on_commit_callbacks)  # under a day left either way
    assert [m.subject for m in mailoutbox] == [subject]


def test_a_reminder_delivered_a_day_late_counts_the_days_when_it_is_sent(key, mailoutbox):
    # Queued, not delivered: the test's transaction never commits, so no delivery task runs.
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=False):
        reminders.send_due_reminders()
    email = OutboundEmail.objects.get(template="key-expiry-reminder")
    with time_machine.travel(datetime(2026, 12, 2, 10, 0, tzinfo=UTC), tick=False):
        assert emails.deliver(email.pk) == emails.SENT
    assert mailoutbox[0].subject == "Your API key for Weather API expires in 5 days, on 2026-12-07"


def test_an_outbox_row_written_before_the_change_renders_from_its_expiry_not_its_threshold(db, mailoutbox):
    # The context the sweep wrote before: `days` was the threshold, and it is ignored now.
    email = OutboundEmail.objects.create(
        template="key-expiry-reminder",
        to=["dana@example.com"],
        context={
            "consumer_name": "Dana Scully",
            "key_prefix": "prt_key_abcdefgh",
            "api_name": "Weather API",
            "expires_at": "2026-12-07 15:00",
            "renewal_requires_approval": False,
            "days": 7,
            "link_path": "/preferences/api-keys/",
        },
        next_attempt_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=False):
        assert emails.deliver(email.pk) == emails.SENT
    email.refresh_from_db()
    assert email.subject == "Your API key for Weather API expires in 6 days, on 2026-12-07"
    assert "expires in 6 days, on 2026-12-07 (valid until 2026-12-07 15:00 UTC)." in email.body_text
    assert "or less" not in email.body_text


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_reminder_counts_and_names_the_portals_time_zone(db, mailoutbox, django_capture_on_commit_callbacks):
    late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 00:30 on Dec 8 in Berlin
    with time_machine.travel(late - timedelta(days=90), tick=False):
        ApiKeyFactory(api=ApiFactory(name="Maps"), expires_at=late)
    sweep_and_deliver(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    [mail] = mailoutbox
    assert mail.subject == "Your API key for Maps expires in 7 days, on 2026-12-08"
    assert "(valid until 2026-12-08 00:30 Europe/Berlin)" in mail.body


def test_connection_reminders_say_the_real_time_left(
    tenant, tenant_admin, hub_admin, good_credentials, mailoutbox, django_capture_on_commit_callbacks
):
    generated = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)  # valid 365 days: until 2027-01-01 09:00
    with time_machine.travel(generated, tick=False):
        request = connection_services.connection_request_submit(
            tenant=tenant,
            credentials=good_credentials,
            generated_at=generated,
            submitted_by=tenant_admin,
            skip_test=True,
        )
        approval_services.connection_request_decide(
            connection_request_id=request.pk, approver=hub_admin, verdict="approve"
        )
    sweep_and_deliver(datetime(2026, 12, 4, 20, 0, tzinfo=UTC), django_capture_on_commit_callbacks)  # 27 days 13 h
    [mail] = [m for m in mailoutbox if "Connection credentials" in m.subject]
    assert mail.subject == "Connection credentials of acme-dev expire in 28 days, on 2027-01-01"
    assert "expire in 28 days, on 2027-01-01 (valid until 2027-01-01 09:00 UTC)." in mail.body
