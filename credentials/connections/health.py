"""Connection health: a token fetch with each approved connection's stored credentials."""

from django.db import transaction
from django.utils import timezone

from credentials.connections import notifications
from credentials.connections.models import ConnectionRequest
from credentials.connections.token_check import check_token
from portal import audit


def approved_connection_ids() -> list[int]:
    return list(ConnectionRequest.objects.filter(status=ConnectionRequest.Status.APPROVED).values_list("pk", flat=True))


def check_connection(connection_request_id: int) -> ConnectionRequest.Health | None:
    """Fetch a token with the stored credentials (no lock held meanwhile) and record the result.

    A connection that starts failing is flagged for re-establishing and its admins are emailed
    once per incident; one that works again is healthy again.
    """
    request = ConnectionRequest.objects.select_related("tenant").filter(pk=connection_request_id).first()
    if request is None or request.status != ConnectionRequest.Status.APPROVED:
        return None
    result = check_token(request.tenant_credentials())
    now = timezone.now()
    with transaction.atomic():
        request = (
            ConnectionRequest.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=connection_request_id)
        )
        was_failing = request.health == ConnectionRequest.Health.FAILING
        request.health = ConnectionRequest.Health.HEALTHY if result.ok else ConnectionRequest.Health.FAILING
        request.health_message = result.message[:500]
        request.health_checked_at = now
        request.save(update_fields=["health", "health_message", "health_checked_at", "updated_at"])
        if not result.ok and not was_failing:
            audit.record(
                action="connection_request.health_failing",
                target=request,
                organization=request.tenant.organization,
                summary=f"Token fetch failed: {result.message[:300]}",
            )
            notifications.connection_failing(
                request, message=result.message, dedupe_key=f"connection-failing:{request.pk}:{now.isoformat()}"
            )
        elif result.ok and was_failing:
            audit.record(
                action="connection_request.health_restored",
                target=request,
                organization=request.tenant.organization,
                summary="Token fetch works again",
            )
    return ConnectionRequest.Health(request.health)
