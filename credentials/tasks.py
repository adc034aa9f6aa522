from celery import shared_task
from django.urls import reverse

from credentials.models import ApiKey, ConnectionRequest
from portal.emails import send_templated_email


@shared_task(autoretry_for=(OSError,), retry_backoff=30, retry_backoff_max=3600, max_retries=8)
def send_connection_request_decision_email(connection_request_id: int) -> None:
    """Email the requester whether their connection request was approved or rejected (no secret)."""
    request = ConnectionRequest.objects.select_related("tenant", "submitted_by", "decided_by").get(
        pk=connection_request_id
    )
    send_templated_email(
        name="connection-request-decided",
        to=[request.submitted_by.email],
        context={
            "request": request,
            "approved": request.status == ConnectionRequest.Status.APPROVED,
            "link_path": reverse("credentials:connectivity"),
        },
    )


@shared_task(autoretry_for=(OSError,), retry_backoff=30, retry_backoff_max=3600, max_retries=8)
def send_api_key_email(api_key_id: int, template: str, reason: str) -> None:
    """Email the consumer about their key: renewed (new validity), renewal or request rejected
    (with the reason), activated, expiry changed. Only the key's prefix is named, never a secret."""
    key = ApiKey.objects.select_related("api", "consumer").get(pk=api_key_id)
    send_templated_email(
        name=template,
        to=[key.consumer.email],
        context={"key": key, "reason": reason, "link_path": reverse("credentials:my-api-keys")},
    )


@shared_task(acks_late=True)
def deploy_access_key(deployment_id: int) -> None:
    """Send one key deployment to its runtime target; on failure it is retried with backoff by
    credentials.deployment (also by the beat sweep of pending deployments)."""
    from credentials import deployment

    deployment.deliver(deployment_id)


@shared_task
def retry_pending_deployments() -> int:
    """Beat, every minute: enqueue deploy_access_key for each pending deployment whose retry is due
    (the safety net when a countdown retry was lost). Returns how many."""
    from credentials import deployment

    return deployment.retry_due_deployments()


@shared_task
def check_runtime_targets() -> int:
    """Beat, every 5 minutes: enqueue a health check for each runtime target with a health URL."""
    from credentials import deployment

    return deployment.schedule_health_checks()


@shared_task
def check_runtime_target_health(target_id: int) -> None:
    """GET one runtime target's health URL and record it as up or down (RuntimeTarget.health)."""
    from credentials import deployment

    deployment.check_target_health(target_id)


@shared_task
def purge_expired_access_tokens() -> int:
    """Delete access tokens past their expiry (refused already; this keeps the table small)."""
    from credentials import services

    return services.access_token_purge_expired()


@shared_task
def send_expiry_reminders() -> int:
    """Beat: one reminder email per key or connection and threshold reached, exactly once."""
    from credentials import reminders

    return reminders.send_due_reminders()


@shared_task
def expire_keys() -> int:
    """Beat: active keys past their expiry become expired (audited, withdrawn, emailed once)."""
    from credentials import reminders

    return reminders.expire_due_keys()


@shared_task
def check_connections() -> int:
    """Beat: queue a token fetch for every approved connection."""
    from credentials import reminders

    ids = reminders.approved_connection_ids()
    for pk in ids:
        check_connection.delay(pk)
    return len(ids)


@shared_task(soft_time_limit=60, time_limit=90)
def check_connection(connection_request_id: int) -> None:
    """Fetch a token with one connection's stored credentials; flag it when that fails."""
    from credentials import reminders

    reminders.check_connection(connection_request_id)
