"""Tasks of the portal shell."""

from celery import shared_task
from django.db import transaction

from portal import audit


@shared_task
def record_worker_heartbeat() -> None:
    """Write a `worker.heartbeat` audit event: a worker took a task from the broker and reached the database."""
    with transaction.atomic():
        audit.record(action="worker.heartbeat", summary="Celery worker is alive")
