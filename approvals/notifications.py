"""Emails of the approval workflow, written to the outbox in the caller's transaction."""

from django.urls import reverse

from approvals import selectors
from approvals.models import ApprovalRequest
from portal.emails import send_templated_email
from portal.models import OutboundEmail


def approval_requested(approval: ApprovalRequest) -> OutboundEmail | None:
    """Tell the approvers who can decide an approval request (no secret: the key's prefix only)."""
    recipients = selectors.approval_deciders(approval=approval).values_list("email", flat=True)
    return send_templated_email(
        name="approval-requested",
        to=sorted(set(recipients)),
        context={"approval": approval, "key": approval.api_key, "link_path": reverse("approvals:inbox")},
    )
