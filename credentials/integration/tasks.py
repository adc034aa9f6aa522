"""Celery tasks of the REST API's credentials."""

from celery import shared_task

from credentials.integration import services


@shared_task
def purge_expired_access_tokens() -> int:
    """Delete access tokens past their expiry (refused already; this keeps the table small)."""
    return services.access_token_purge_expired()
