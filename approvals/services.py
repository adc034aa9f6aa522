"""The approval workflow: open approval requests, record decisions, apply the effect once.

approvals calls credentials.services (never the other way round): an approved connection request
is established by credentials.services.connection_request_approve inside the transaction of the
deciding Decision.
"""

from datetime import datetime

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from approvals.models import ApprovalRequest, Decision
from credentials import services as credential_services
from credentials.models import ConnectionRequest, Tenant
from credentials.tenant_credentials import TenantCredentials
from credentials.token_check import TokenCheckResult
from portal import audit
from portal.models import User
from portal.roles import Role


class ApprovalError(Exception):
    """A decision that cannot be taken; the message is for the person who tried."""


class AlreadyDecided(ApprovalError):
    pass


def is_eligible_approver(approval: ApprovalRequest, user: User) -> bool:
    if approval.approvers.filter(pk=user.pk).exists():
        return True
    return approval.approver_group_id is not None and user.groups.filter(pk=approval.approver_group_id).exists()


@sensitive_variables("credentials")
def connection_request_submit(
    *,
    tenant: Tenant,
    credentials: TenantCredentials,
    generated_at: datetime,
    submitted_by: User,
    check: TokenCheckResult | None,
) -> ConnectionRequest:
    """Submit a connection request and open its approval for the hub admins (audited)."""
    with transaction.atomic():
        request = credential_services.connection_request_create(
            tenant=tenant,
            credentials=credentials,
            generated_at=generated_at,
            submitted_by=submitted_by,
            check=check,
        )
        approval = ApprovalRequest.objects.create(
            kind=ApprovalRequest.Kind.CONNECTION_REQUEST,
            mode=ApprovalRequest.Mode.ANY,
            connection_request=request,
            requested_by=submitted_by,
            approver_group=Group.objects.get(name=Role.HUB_ADMIN),
        )
        audit.record(
            action="approval.open",
            target=approval,
            organization=tenant.organization,
            summary=f"Approval by a hub admin requested for the connection of {tenant.alias}",
        )
    return request


def _describe_decided(approval: ApprovalRequest) -> str:
    last = approval.decisions.select_related("approver").order_by("-created_at").first()
    who = f" by {last.approver.get_full_name() or last.approver.username}" if last else ""
    when = f" on {timezone.localtime(approval.decided_at):%Y-%m-%d %H:%M}" if approval.decided_at else ""
    return f"This request was already {approval.get_status_display().lower()}{who}{when}."


def approval_decide(*, approval_request_id: int, approver: User, verdict: str, comment: str = "") -> ApprovalRequest:
    """Record one approver's verdict and, once the policy is met, apply the effect exactly once.

    Two approvers clicking at once: the row lock serialises them; the second sees the first's
    outcome and gets AlreadyDecided. Raises ApprovalError for ineligible approvers, own requests
    and rejections without a reason.
    """
    comment = comment.strip()
    if verdict == Decision.Verdict.REJECT and not comment:
        raise ApprovalError("Give a reason for the rejection.")
    with transaction.atomic():
        approval = ApprovalRequest.objects.select_for_update().get(pk=approval_request_id)
        if approval.status != ApprovalRequest.Status.PENDING:
            raise AlreadyDecided(_describe_decided(approval))
        if approval.requested_by_id == approver.pk:
            raise ApprovalError("You cannot decide on your own request.")
        if not is_eligible_approver(approval, approver):
            raise ApprovalError("You are not an approver of this request.")
        try:
            with transaction.atomic():
                Decision.objects.create(approval_request=approval, approver=approver, verdict=verdict, comment=comment)
        except IntegrityError as exc:
            raise AlreadyDecided("You have already decided on this request.") from exc
        audit.record(
            action=f"approval.{verdict}",
            target=approval,
            actor=approver,
            summary=f"{approver.username} {'approved' if verdict == 'approve' else 'rejected'} {approval}"
            + (f": {comment[:300]}" if comment else ""),
        )
        outcome = _policy_outcome(approval, verdict)
        if outcome is not None:
            approval.status = outcome
            approval.decided_at = timezone.now()
            approval.save(update_fields=["status", "decided_at"])
            _apply_effect(approval, approver, comment)
    return approval


def _policy_outcome(approval: ApprovalRequest, verdict: str) -> str | None:
    """One rejection ends the request; approval needs one approver ("any") or all ("all")."""
    if verdict == Decision.Verdict.REJECT:
        return ApprovalRequest.Status.REJECTED
    if approval.mode == ApprovalRequest.Mode.ANY:
        return ApprovalRequest.Status.APPROVED
    required = set(approval.approvers.values_list("pk", flat=True))
    approved = set(approval.decisions.filter(verdict=Decision.Verdict.APPROVE).values_list("approver_id", flat=True))
    return ApprovalRequest.Status.APPROVED if required <= approved else None


def _apply_effect(approval: ApprovalRequest, approver: User, comment: str) -> None:
    if approval.kind == ApprovalRequest.Kind.CONNECTION_REQUEST:
        if approval.status == ApprovalRequest.Status.APPROVED:
            credential_services.connection_request_approve(
                connection_request_id=approval.connection_request_id, decided_by=approver
            )
        else:
            credential_services.connection_request_reject(
                connection_request_id=approval.connection_request_id, decided_by=approver, reason=comment
            )


def connection_request_decide(
    *, connection_request_id: int, approver: User, verdict: str, comment: str = ""
) -> ConnectionRequest:
    """Decide the pending approval of a connection request (what the hub admin's buttons do)."""
    approval = (
        ApprovalRequest.objects.filter(connection_request_id=connection_request_id).order_by("-created_at").first()
    )
    if approval is None:
        raise ApprovalError("This connection request has no approval to decide.")
    approval_decide(approval_request_id=approval.pk, approver=approver, verdict=verdict, comment=comment)
    return ConnectionRequest.objects.select_related("tenant", "decided_by").get(pk=connection_request_id)
