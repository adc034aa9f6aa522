"""Emails: template triplets (templates/emails/<name>-subject.txt, -body.txt, -body.html) rendered
into the outbox (portal.models.OutboundEmail) and delivered by a Celery task.

The outbox row is written in the caller's transaction, so an email exists exactly when the change
that caused it was committed; delivery retries with backoff while the SMTP server refuses, and an
email is marked sent only once the server accepted it.

Two ways in: send_templated_email renders one email as it is queued (the emails of a person's
action, whose context holds model instances); queue_templated_emails writes many in one statement
with a plain JSON context and leaves the rendering to delivery (the reminder sweep, where rendering
at queue time was most of the cost of a due key).
"""

import logging
import random
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal import jobs
from portal.models import OutboundEmail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
# While one worker sends, others leave the row alone for this long.
SEND_LEASE = timedelta(minutes=5)


def send_templated_email(
    *, name: str, to: list[str], context: dict[str, object], dedupe_key: str | None = None
) -> OutboundEmail | None:
    """Render the triplet `name` into the outbox and deliver it after commit.

    Returns None when nobody has an address, or when an email with the same dedupe_key exists.
    """
    recipients = sorted({address for address in to if address})
    if not recipients:
        return None
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    email = OutboundEmail(
        template=name,
        to=recipients,
        subject=subject[:300],
        body_text=render_to_string(f"emails/{name}-body.txt", context),
        body_html=render_to_string(f"emails/{name}-body.html", context),
        dedupe_key=dedupe_key,
        next_attempt_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            email.save()
    except IntegrityError:
        if dedupe_key and OutboundEmail.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
    jobs.enqueue_on_commit("portal.tasks.deliver_email", email.pk)
    return email


@dataclass(frozen=True)
class Draft:
    """An email to queue in bulk: its context holds only JSON values (str, int, bool, lists)."""

    name: str
    to: list[str]
    context: dict[str, object]
    dedupe_key: str


def queue_templated_emails(drafts: list[Draft]) -> dict[str, OutboundEmail]:
    """Write the drafts to the outbox in one statement, rendered later by deliver(); deliver them
    after commit (one task per call). Drafts without an address are left out.

    Returns the emails by dedupe key. The caller owns the dedupe keys (the reminder sweep derives
    them from reminder rows it just claimed), so a conflict here is a bug and raises."""
    now = timezone.now()
    rows = [
        OutboundEmail(
            template=draft.name,
            to=sorted({address for address in draft.to if address}),
            subject="",
            body_text="",
            body_html="",
            context=draft.context,
            dedupe_key=draft.dedupe_key,
            next_attempt_at=now,
            created_at=now,
        )
        for draft in drafts
        if any(draft.to)
    ]
    if not rows:
        return {}
    ids = _insert_returning_ids(rows)
    jobs.enqueue_on_commit("portal.tasks.deliver_emails", *ids.values())
    for email in rows:
        email.pk = ids[email.dedupe_key]
    return {email.dedupe_key: email for email in rows if email.dedupe_key}


def _insert_returning_ids(rows: list[OutboundEmail]) -> dict[str | None, int]:
    """One INSERT for all rows: {dedupe key: id}. The values that differ between rows travel in a
    VALUES list, those they share once.

    Not bulk_create, measured with bench/reminder_sweep.py: on PostgreSQL it sends every column as
    an array (UNNEST) and quoting arrays of JSON client-side cost about a millisecond a row, and
    psycopg splits a statement at each of its placeholders, so fewer placeholders cost less.
    Each value goes through its field's get_db_prep_save, as the ORM's do."""
    meta = OutboundEmail._meta
    to, context = meta.get_field("to"), meta.get_field("context")
    first = rows[0]
    params: list[Any] = [first.template, first.state, first.attempts]
    params += [connection.ops.adapt_datetimefield_value(first.next_attempt_at)] * 2
    for row in rows:
        params += [to.get_db_prep_save(row.to, connection), context.get_db_prep_save(row.context, connection)]
        params.append(row.dedupe_key)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # VALUES columns are column1, column2... in PostgreSQL and SQLite alike.
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} (template, {quote('to')}, subject, body_text, body_html, context, "  # noqa: S608 - the model's table
            "dedupe_key, state, attempts, next_attempt_at, created_at, last_error) "
            "SELECT %s, v.column1, '', '', '', v.column2, v.column3, %s, %s, %s, %s, '' "
            f"FROM (VALUES {', '.join(['(%s, %s, %s)'] * len(rows))}) AS v RETURNING dedupe_key, id",
            params,
        )
        return dict(cursor.fetchall())


def minute(moment: datetime | None) -> str:
    """A moment as a draft's context carries it: "2026-12-31 14:05" in the portal's time zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def render(email: OutboundEmail) -> OutboundEmail:
    """Fill in subject and bodies of an email queued with a context (a no-op for the others)."""
    if email.context is None or email.body_text:
        return email
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **email.context}
    email.subject = " ".join(render_to_string(f"emails/{email.template}-subject.txt", context).split())[:300]
    email.body_text = render_to_string(f"emails/{email.template}-body.txt", context)
    email.body_html = render_to_string(f"emails/{email.template}-body.html", context)
    return email


def _backoff(attempts: int) -> timedelta:
    # PORTICO_EMAIL_RETRY_BASE_SECONDS (30) after the first refusal, doubling, at most an hour.
    seconds = min(settings.PORTICO_EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret


SENT, REFUSED, SKIPPED = "sent", "refused", "skipped"


def deliver(email_id: int) -> str:
    """Send one outbox email if it is due: SENT once the SMTP server accepted it, REFUSED when it
    did not (retry due at next_attempt_at), SKIPPED when not due, already sent or claimed.

    The row is claimed by compare-and-set, so two workers never send the same email at once.
    """
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(
        pk=email_id, state=OutboundEmail.State.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + SEND_LEASE)
    if not claimed:
        return SKIPPED
    email = render(OutboundEmail.objects.get(pk=email_id))
    message = EmailMultiAlternatives(subject=email.subject, body=email.body_text, to=email.to)
    message.attach_alternative(email.body_html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        attempts = email.attempts + 1
        failed = attempts >= MAX_ATTEMPTS
        OutboundEmail.objects.filter(pk=email.pk).update(
            attempts=attempts,
            state=OutboundEmail.State.FAILED if failed else OutboundEmail.State.PENDING,
            next_attempt_at=None if failed else timezone.now() + _backoff(attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:500],
        )
        logger.warning("Email %s not delivered (attempt %s): %s", email.pk, attempts, type(exc).__name__)
        return REFUSED
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.SENT,
        attempts=email.attempts + 1,
        sent_at=timezone.now(),
        last_error="",
        # What was sent stays on record, as for the emails rendered when queued.
        subject=email.subject,
        body_text=email.body_text,
        body_html=email.body_html,
    )
    return SENT


def due_email_ids(limit: int = 500) -> list[int]:
    return list(
        OutboundEmail.objects.filter(state=OutboundEmail.State.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
