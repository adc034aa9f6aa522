"""The reminder sweep in bulk: a batch of due keys costs the same statements however many keys it
holds, its emails are written unrendered and rendered when delivered, one delivery task a batch."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credentials.expiry import reminders
from credentials.expiry.models import ExpiryReminder
from portal.models import OutboundEmail
from tests.factories import ApiFactory, ApiKeyFactory, UserFactory

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
EXPIRY = START + timedelta(days=90)
SWEEP_AT = EXPIRY - timedelta(days=30)


@pytest.fixture
def api(db):
    return ApiFactory(name="Weather", slug="weather", key_lifetime_days=90)


def make_keys(api, count: int) -> list:
    with time_machine.travel(START, tick=False):
        return [ApiKeyFactory(api=api, expires_at=EXPIRY) for _ in range(count)]


def sweep(captured=None) -> int:
    with time_machine.travel(SWEEP_AT, tick=False):
        if captured is None:
            return reminders.send_due_reminders()
        with captured() as callbacks:
            sent = reminders.send_due_reminders()
        sweep.callbacks = callbacks
        return sent


def test_a_batch_costs_the_same_queries_for_3_keys_as_for_40(api, django_capture_on_commit_callbacks):
    make_keys(api, 3)
    with CaptureQueriesContext(connection) as few:
        assert sweep(django_capture_on_commit_callbacks) == 3
    OutboundEmail.objects.all().delete()
    ExpiryReminder.objects.all().delete()
    make_keys(api, 37)
    with CaptureQueriesContext(connection) as many:
        assert sweep(django_capture_on_commit_callbacks) == 40
    assert len(many.captured_queries) == len(few.captured_queries)


def test_reminder_emails_are_queued_unrendered_with_one_delivery_task_a_batch(api, django_capture_on_commit_callbacks):
    keys = make_keys(api, 4)
    assert sweep(django_capture_on_commit_callbacks) == 4
    assert len(sweep.callbacks) == 1  # one task for the batch, not one per email
    emails = list(OutboundEmail.objects.filter(template="key-expiry-reminder"))
    assert len(emails) == 4
    assert all(e.state == OutboundEmail.State.PENDING and e.body_text == "" and e.subject == "" for e in emails)
    by_prefix = {e.context["key_prefix"]: e for e in emails}
    assert set(by_prefix) == {k.prefix for k in keys}
    # Each reminder row points at its own email.
    for reminder in ExpiryReminder.objects.all():
        assert (
            reminder.email.context["key_prefix"] == ApiKeyFactory._meta.model.objects.get(pk=reminder.subject_id).prefix
        )


def test_a_reminder_is_rendered_when_delivered_and_what_was_sent_stays_on_record(
    api, mailoutbox, django_capture_on_commit_callbacks
):
    consumer = UserFactory(username="dana", first_name="Dana", last_name="Scully")
    with time_machine.travel(START, tick=False):
        key = ApiKeyFactory(api=api, consumer=consumer, expires_at=EXPIRY)
    with time_machine.travel(SWEEP_AT, tick=False), django_capture_on_commit_callbacks(execute=True):
        reminders.send_due_reminders()
    [mail] = mailoutbox
    assert mail.subject == "Your API key for Weather expires in 30 days, on 2027-05-30"
    assert mail.to == ["dana@example.com"]
    assert "Hello Dana Scully," in mail.body
    assert (
        f"Your API key {key.prefix} for Weather expires in 30 days, on 2027-05-30 (valid until 2027-05-30 09:00 UTC)."
        in mail.body
    )
    assert "Renew it with one click" in mail.body
    html = mail.alternatives[0][0]
    assert f"<code>{key.prefix}</code> for <strong>Weather</strong>" in html
    assert "/preferences/api-keys/" in html
    stored = OutboundEmail.objects.get(template="key-expiry-reminder")
    assert stored.state == OutboundEmail.State.SENT
    assert stored.subject == mail.subject and stored.body_text == mail.body and stored.body_html == html


def test_an_api_whose_renewal_needs_approval_says_so_in_the_reminder(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    api = ApiFactory(name="Payments", slug="payments", key_lifetime_days=90, renewal_requires_approval=True)
    make_keys(api, 1)
    with time_machine.travel(SWEEP_AT, tick=False), django_capture_on_commit_callbacks(execute=True):
        reminders.send_due_reminders()
    [mail] = mailoutbox
    assert "Renewing it needs approval by the API's approvers" in mail.body


def test_a_consumer_without_an_address_gets_a_reminder_row_and_no_email(api, django_capture_on_commit_callbacks):
    with time_machine.travel(START, tick=False):
        ApiKeyFactory(api=api, consumer=UserFactory(email=""), expires_at=EXPIRY)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert ExpiryReminder.objects.get().email is None
    assert not OutboundEmail.objects.exists()
    assert sweep(django_capture_on_commit_callbacks) == 0


def test_the_outbox_lists_a_reminder_not_yet_written(api, hub_admin, client, django_capture_on_commit_callbacks):
    make_keys(api, 1)
    sweep(django_capture_on_commit_callbacks)  # callbacks not run: the email stays pending
    client.force_login(hub_admin)
    page = client.get(reverse("email-outbox")).content.decode()
    assert "key-expiry-reminder (written when sent)" in page
