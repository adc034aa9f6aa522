"""Celery tasks of the expiry reminders."""

from celery import shared_task

from credentials.expiry import reminders


@shared_task
def send_expiry_reminders() -> int:
    """Beat: one reminder email per key or connection and threshold reached, exactly once."""
    return reminders.send_due_reminders()
