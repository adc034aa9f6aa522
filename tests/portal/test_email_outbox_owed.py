"""Admin Center > Emails says what is owed, read from the outbox table (not the broker): how many
emails wait, how long the oldest has waited, and, when due emails sit past their time, that the
Celery worker may not be running. No worker runs in these tests: on-commit delivery never fires."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from credentials.keys.models import ApiKey
from portal.emails import send_templated_email
from portal.models import OutboundEmail
from tests.factories import ApiFactory

OUTBOX = "/admin-center/emails/"
QUEUED_AT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).replace("\xa0", " ").split())


def queue(n: int) -> list[OutboundEmail]:
    emails = []
    for i in range(n):
        email = send_templated_email(
            name="key-expired",
            to=[f"person{i}@example.com"],
            context={"key": ApiKey(prefix=f"prt_key_{i:08d}", api=ApiFactory.build(name="Weather")), "link_path": "/"},
        )
        assert email is not None
        emails.append(email)
    return emails


def owed_summary(page: str) -> str:
    match = re.search(r'<div[^>]*id="outbox-owed"[^>]*>(.*?)</div>', page, re.S)
    assert match, "the page has no summary of what is owed"
    return text(match.group(1))


def waiting_rows(page: str) -> list[str]:
    table = re.search(r'<table[^>]*id="emails-waiting".*?</table>', page, re.S)
    assert table, "the page has no table of the emails waiting to be sent"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(0), re.S)
    assert body
    return [text(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


@pytest.fixture
def at_queue_time():
    with time_machine.travel(QUEUED_AT, tick=False) as traveller:
        yield traveller


def test_emails_no_worker_sent_are_counted_with_the_oldest_wait_and_the_worker_question(
    client, hub_admin, at_queue_time
):
    queue(2)
    at_queue_time.shift(timedelta(minutes=4))
    queue(1)
    at_queue_time.shift(timedelta(minutes=8))
    client.force_login(hub_admin)
    page = client.get(OUTBOX).content.decode()

    assert owed_summary(page) == (
        "3 emails wait to be sent; the oldest has waited 12 minutes. "
        "Is the Celery worker running? A running worker sends an email within a minute of its time."
    )
    rows = waiting_rows(page)
    assert len(rows) == 3
    assert rows[0].startswith("12 minutes") and "person0@example.com" in rows[0] and "queued, not tried yet" in rows[0]
    assert rows[2].startswith("8 minutes")


def test_a_fresh_email_waits_without_the_worker_question(client, hub_admin, at_queue_time):
    queue(1)
    at_queue_time.shift(timedelta(seconds=70))
    client.force_login(hub_admin)
    page = client.get(OUTBOX).content.decode()
    assert owed_summary(page) == "1 email waits to be sent; it has waited 1 minute."


def test_an_email_the_mail_server_refused_says_when_it_is_tried_again(client, hub_admin, at_queue_time):
    [email] = queue(1)
    OutboundEmail.objects.filter(pk=email.pk).update(
        attempts=3, next_attempt_at=QUEUED_AT + timedelta(minutes=30), last_error="SMTPServerDisconnected: gone"
    )
    at_queue_time.shift(timedelta(minutes=20))
    client.force_login(hub_admin)
    page = client.get(OUTBOX).content.decode()
    assert owed_summary(page) == (
        "1 email waits to be sent; it has waited 20 minutes. The mail server refused it; the next try is at 15:30 UTC."
    )
    [row] = waiting_rows(page)
    assert "refused 3 times; next try 15:30 UTC" in row and "SMTPServerDisconnected: gone" in row


def test_with_nothing_owed_the_page_says_so(client, hub_admin, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        queue(1)
    assert len(mailoutbox) == 1
    client.force_login(hub_admin)
    page = client.get(OUTBOX).content.decode()
    assert owed_summary(page) == "Nothing waits to be sent."
    assert 'id="emails-waiting"' not in page


def test_the_page_costs_the_same_queries_at_any_number_of_waiting_emails(
    client, hub_admin, django_assert_max_num_queries
):
    client.force_login(hub_admin)
    queue(2)
    with django_assert_max_num_queries(12) as few:
        client.get(OUTBOX)
    queue(40)
    with django_assert_max_num_queries(len(few)):
        page = client.get(OUTBOX).content.decode()
    assert owed_summary(page).startswith("42 emails wait to be sent")
    assert len(waiting_rows(page)) == 20
    assert "and 22 more wait" in text(page)
