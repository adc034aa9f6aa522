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

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal import bulk, jobs
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


def queue_templated_emails(drafts: list[Draft]) -> dict[str, int]:
    """Write the drafts to the outbox in one statement, rendered later by deliver(); deliver them
    after commit (one task per call). Drafts without an address are left out.

    Returns the new emails' ids by dedupe key. The caller owns the dedupe keys (the reminder sweep
    derives them from reminder rows it just claimed), so a conflict here is a bug and raises.
    Not bulk_create: on PostgreSQL it sends each column as an array, and quoting arrays of JSON
    client-side cost about a millisecond a row (bench/reminder_sweep.py); see portal/bulk.py."""
    rows = []
    for draft in drafts:
        recipients = sorted({address for address in draft.to if address})
        if recipients:
            rows.append((draft.name, recipients, draft.context, draft.dedupe_key))
    if not rows:
        return {}
    source, params = bulk.rows_source(
        {"template": "text", "to": "jsonb", "context": "jsonb", "dedupe_key": "text"}, rows
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table, to = connection.ops.quote_name(OutboundEmail._meta.db_table), connection.ops.quote_name("to")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (template, {to}, context, dedupe_key, "  # noqa: S608 - the model's table
            "state, attempts, next_attempt_at, created_at, subject, body_text, body_html, last_error) "
            f"SELECT r.template, r.{to}, r.context, r.dedupe_key, %s, 0, %s, %s, '', '', '', '' "
            f"FROM {source} RETURNING dedupe_key, id",
            [OutboundEmail.State.PENDING.value, now, now, *params],
        )
        ids = dict(cursor.fetchall())
    jobs.enqueue_on_commit("portal.tasks.deliver_emails", *ids.values())
    return ids


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
