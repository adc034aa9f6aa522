"""Celery tasks of API keys and runtime targets. Each fetches by id and calls one service."""

from celery import shared_task
from django.db import transaction

from credentials.keys import deployment, expire, notifications
from credentials.keys.models import ApiKey


@shared_task(acks_late=True)
def deploy_access_key(deployment_id: int) -> None:
    """Send one key deployment to its runtime target; on failure it is retried with backoff by
    credentials.keys.deployment (also by the beat sweep of pending deployments)."""
    deployment.deliver(deployment_id)


@shared_task
def retry_pending_deployments() -> int:
    """Beat, every minute: enqueue deploy_access_key for each pending deployment whose retry is due
    (the safety net when a countdown retry was lost). Returns how many."""
    return deployment.retry_due_deployments()


@shared_task
def check_runtime_targets() -> int:
    """Beat, every 5 minutes: enqueue a health check for each runtime target with a health URL."""
    return deployment.schedule_health_checks()


@shared_task
def check_runtime_target_health(target_id: int) -> None:
    """GET one runtime target's health URL and record it as up or down (RuntimeTarget.health)."""
    deployment.check_target_health(target_id)


@shared_task
def expire_keys() -> int:
    """Beat: active keys past their expiry become expired (audited, withdrawn, emailed once)."""
    return expire.expire_due_keys()


# --- Names of the previous release ------------------------------------------------------------------
# Messages queued before an upgrade (or by web processes not yet restarted during one) carry the
# task names of the previous release. These answer them for one release; then they go.
@shared_task(name="credentials.tasks.deploy_access_key", acks_late=True)
def previous_deploy_access_key(deployment_id: int) -> None:
    """The previous release's name of deploy_access_key."""
    deployment.deliver(deployment_id)


@shared_task(name="credentials.tasks.send_api_key_email")
def previous_send_api_key_email(api_key_id: int, template: str, reason: str) -> None:
    """The previous release queued a key's email after commit; now the change writes it itself."""
    key = ApiKey.objects.select_related("api", "consumer").get(pk=api_key_id)
    with transaction.atomic():
        notifications.api_key_changed(key, template, reason)
