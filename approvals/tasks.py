"""Celery tasks of approvals."""

from celery import shared_task
from django.db import transaction

from approvals import notifications
from approvals.models import ApprovalRequest


# --- Names of the previous release (see credentials/keys/tasks.py) ----------------------------------
@shared_task(name="approvals.tasks.send_approval_requested_email")
def previous_send_approval_requested_email(approval_request_id: int) -> None:
    """The previous release queued the approvers' email after commit; now opening writes it."""
    approval = ApprovalRequest.objects.select_related("api_key__api", "requested_by").get(pk=approval_request_id)
    if approval.status != ApprovalRequest.Status.PENDING:
        return
    with transaction.atomic():
        notifications.approval_requested(approval)
