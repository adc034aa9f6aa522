from celery import shared_task
from django.urls import reverse

from credentials.models import ConnectionRequest
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
