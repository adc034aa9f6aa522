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

from approvals import tasks
from approvals.models import ApprovalRequest, Decision
from credentials import crypto
from credentials import services as credential_services
from credentials.models import Api, ApiKey, ConnectionRequest, Tenant
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
    approved = approval.status == ApprovalRequest.Status.APPROVED
    if approval.kind == ApprovalRequest.Kind.KEY_RENEWAL:
        if approved:
            credential_services.api_key_renew(api_key_id=approval.api_key_id, renewed_by=approver)
        else:
            credential_services.api_key_clear_renewal_pending(api_key_id=approval.api_key_id, reason=comment)
        return
    if approval.kind == ApprovalRequest.Kind.KEY_REQUEST:
        if approved:
            credential_services.api_key_activate(api_key_id=approval.api_key_id, decided_by=approver)
        else:
            credential_services.api_key_decline(api_key_id=approval.api_key_id, decided_by=approver, reason=comment)
        return
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


# --- API keys -------------------------------------------------------------------------------------
def _open_key_approval(*, kind: str, api_key: ApiKey, requested_by: User) -> ApprovalRequest:
    """Open an approval for the key's API approvers: its named users and group ("all" mode fixes
    the list now, so a later group change neither blocks nor skips anyone). Emails them."""
    api = api_key.api
    named = set(api.approvers.values_list("pk", flat=True))
    group_members = set()
    if api.approver_group_id:
        group_members = set(
            User.objects.filter(groups=api.approver_group_id, is_active=True).values_list("pk", flat=True)
        )
    eligible = (named | group_members) - {requested_by.pk}
    if not eligible:
        raise ApprovalError(f"{api.name} has no approver who could decide this request. Ask a hub admin.")
    approval = ApprovalRequest.objects.create(
        kind=kind,
        mode=api.approval_mode,
        api_key=api_key,
        requested_by=requested_by,
        approver_group_id=api.approver_group_id if api.approval_mode == ApprovalRequest.Mode.ANY else None,
    )
    approval.approvers.set(eligible if api.approval_mode == ApprovalRequest.Mode.ALL else named - {requested_by.pk})
    audit.record(
        action="approval.open",
        target=approval,
        actor=requested_by,
        summary=(
            f"{approval.get_kind_display()} of {api_key.prefix} for {api.name} sent to approvers "
            f"({approval.get_mode_display().lower()})"
        ),
    )
    tasks.send_approval_requested_email.delay_on_commit(approval.pk)
    return approval


def api_key_request(*, api: Api, consumer: User) -> tuple[ApiKey, crypto.GeneratedSecret, ApprovalRequest | None]:
    """A consumer asks for a key. Returned once with its secret; on an API whose renewals need
    approval the new key also waits for approval, so revoking and re-requesting never skips one."""
    with transaction.atomic():
        pending = api.renewal_requires_approval
        key, secret = credential_services.api_key_issue(api=api, consumer=consumer, pending=pending)
        approval = (
            _open_key_approval(kind=ApprovalRequest.Kind.KEY_REQUEST, api_key=key, requested_by=consumer)
            if pending
            else None
        )
    return key, secret, approval


def api_key_renewal_request(*, api_key_id: int, consumer: User) -> tuple[ApiKey, ApprovalRequest | None]:
    """Renew at once, or open an approval when the API's consumption settings require one.

    A second click while one waits returns the waiting approval (no second request).
    """
    with transaction.atomic():
        key = ApiKey.objects.select_for_update(of=("self",)).select_related("api").get(pk=api_key_id, consumer=consumer)
        if key.renewal_pending_since is not None:
            waiting = ApprovalRequest.objects.filter(api_key=key, status=ApprovalRequest.Status.PENDING).first()
            if waiting is not None:
                return key, waiting
        if not key.api.renewal_requires_approval:
            return credential_services.api_key_renew(api_key_id=key.pk, renewed_by=consumer), None
        key = credential_services.api_key_mark_renewal_pending(api_key_id=key.pk)
        approval = _open_key_approval(kind=ApprovalRequest.Kind.KEY_RENEWAL, api_key=key, requested_by=consumer)
    return key, approval


def _cancel_pending(key: ApiKey, actor: User, why: str) -> int:
    cancelled = 0
    for approval in ApprovalRequest.objects.select_for_update().filter(
        api_key=key, status=ApprovalRequest.Status.PENDING
    ):
        approval.status = ApprovalRequest.Status.CANCELLED
        approval.decided_at = timezone.now()
        approval.save(update_fields=["status", "decided_at"])
        audit.record(action="approval.cancel", target=approval, actor=actor, summary=why)
        cancelled += 1
    return cancelled


def api_key_renewal_withdraw(*, api_key_id: int, consumer: User) -> ApiKey:
    """The consumer withdraws a renewal that waits for approval (audited)."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key_id, consumer=consumer)
        cancelled = _cancel_pending(key, consumer, f"Renewal of {key.prefix} withdrawn by its consumer")
        if not cancelled and key.renewal_pending_since is None:
            raise ApprovalError("No renewal of this key is waiting for approval.")
        return credential_services.api_key_clear_renewal_pending(api_key_id=key.pk, reason="", actor=consumer)


def api_key_revoke(*, api_key_id: int, consumer: User) -> ApiKey:
    """The consumer revokes their key; a waiting renewal or request is cancelled with it."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key_id, consumer=consumer)
        _cancel_pending(key, consumer, f"Cancelled: {key.prefix} was revoked")
        if key.status == ApiKey.Status.PENDING:
            # A key that was never approved is refused rather than revoked: it never worked.
            return credential_services.api_key_decline(
                api_key_id=key.pk, decided_by=consumer, reason="Withdrawn by you"
            )
        return credential_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
