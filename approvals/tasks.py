from celery import shared_task
from django.urls import reverse

from approvals.models import ApprovalRequest
from portal.emails import send_templated_email
from portal.models import User


@shared_task(autoretry_for=(OSError,), retry_backoff=30, retry_backoff_max=3600, max_retries=8)
def send_approval_requested_email(approval_request_id: int) -> None:
    """Email the approvers who can decide an approval request (no secret: the key's prefix only)."""
    approval = ApprovalRequest.objects.select_related("api_key__api", "requested_by").get(pk=approval_request_id)
    if approval.status != ApprovalRequest.Status.PENDING:
        return
    recipients = set(approval.approvers.values_list("email", flat=True))
    if approval.approver_group_id:
        recipients |= set(
            User.objects.filter(groups=approval.approver_group_id, is_active=True)
            .exclude(pk=approval.requested_by_id)
            .values_list("email", flat=True)
        )
    send_templated_email(
        name="approval-requested",
        to=sorted(recipients),
        context={"approval": approval, "key": approval.api_key, "link_path": reverse("approvals:inbox")},
    )
