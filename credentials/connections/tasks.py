"""Celery tasks of connections. Each fetches by id and calls one service."""

from celery import shared_task

from credentials.connections import health
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
