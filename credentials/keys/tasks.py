"""Celery tasks of API keys and runtime targets. Each fetches by id and calls one service."""

from celery import shared_task

from credentials.keys import deployment, expire


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
