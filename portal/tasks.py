"""Tasks of the portal shell."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from portal import audit, emails
from portal.models import OutboundEmail


@shared_task
def record_worker_heartbeat() -> None:
    """Write a `worker.heartbeat` audit event: a worker took a task from the broker and reached the database."""
    with transaction.atomic():
        audit.record(action="worker.heartbeat", summary="Celery worker is alive")


@shared_task(acks_late=True)
def deliver_email(email_id: int) -> None:
    """Send one outbox email; on refusal it stays pending and is retried with backoff (here with
    a countdown, and by the deliver_due_emails sweep should that retry be lost)."""
    if emails.deliver(email_id) != emails.REFUSED:
        return
    email = OutboundEmail.objects.filter(pk=email_id, state=OutboundEmail.State.PENDING).first()
    if email is not None and email.next_attempt_at is not None:
        countdown = max((email.next_attempt_at - timezone.now()).total_seconds(), 1)
        deliver_email.apply_async((email_id,), countdown=countdown)


@shared_task(acks_late=True)
def deliver_emails(*email_ids: int) -> None:
    """Send the emails queued in one bulk write (queue_templated_emails), one after the other."""
    for email_id in email_ids:
        deliver_email(email_id)


@shared_task
def deliver_due_emails() -> int:
    """Sweep: queue delivery of every pending email whose next attempt is due."""
    ids = emails.due_email_ids()
    for email_id in ids:
        deliver_email.delay(email_id)
    return len(ids)
