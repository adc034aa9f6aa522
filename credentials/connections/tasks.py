"""Celery tasks of connections. Each fetches by id and calls one service."""

from celery import shared_task
from django.db import transaction

from credentials.connections import health, notifications
from credentials.connections.models import ConnectionRequest
from portal import jobs


@shared_task
def check_connections() -> int:
    """Beat: queue a token fetch for every approved connection."""
    ids = health.approved_connection_ids()
    for pk in ids:
        jobs.enqueue("credentials.connections.tasks.check_connection", pk)
    return len(ids)


@shared_task(soft_time_limit=60, time_limit=90)
def check_connection(connection_request_id: int) -> None:
    """Fetch a token with one connection's stored credentials; flag it when that fails."""
    health.check_connection(connection_request_id)


# --- Names of the previous release (see credentials/keys/tasks.py) ----------------------------------
@shared_task(name="credentials.tasks.send_connection_request_decision_email")
def previous_send_connection_request_decision_email(connection_request_id: int) -> None:
    """The previous release queued the decision email after commit; now the decision writes it."""
    request = ConnectionRequest.objects.select_related("tenant", "submitted_by", "decided_by").get(
        pk=connection_request_id
    )
    with transaction.atomic():
        notifications.connection_request_decided(request)
