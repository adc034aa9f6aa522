"""The approval workflow: open approval requests, record decisions, apply the effect once.

approvals calls credentials' services (never the other way round): credentials asks for approvals
through its approval port (credentials.lib.approval_port), which `ApprovalsPort` below fills in
(approvals.apps), and an approved request applies its effect through credentials' services inside
the transaction of the deciding Decision.
"""

from typing import cast

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from approvals import notifications, selectors
from approvals.models import ApprovalRequest, Decision
from credentials.connections import services as connection_services
from credentials.connections.models import ConnectionRequest
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from credentials.lib.approval_port import ApprovalRefused
from portal import audit
from portal.models import User
from portal.roles import Role


class ApprovalError(ApprovalRefused):
    """A decision that cannot be taken; the message is for the person who tried."""


class AlreadyDecided(ApprovalError):
    pass


def _describe_decided(approval: ApprovalRequest) -> str:
    last = approval.decisions.select_related("approver").order_by("-created_at").first()
    who = f" by {last.approver.get_full_name() or last.approver.username}" if last else ""
    when = f" on {timezone.localtime(approval.decided_at):%Y-%m-%d %H:%M}" if approval.decided_at else ""
    return f"This request was already {approval.get_status_display().lower()}{who}{when}."


class StaleDecision(ApprovalError):
    """What the approver reviewed changed before the decision arrived; the message says what."""


def _lock_subject(approval_request_id: int) -> ApiKey | ConnectionRequest:
    """Lock what the approval is about. The lock order of Portico, everywhere: the subject (an
    ApiKey or a ConnectionRequest) first, then its ApprovalRequest rows, as revoking, withdrawing
    and renewing a key do (they lock the key, then cancel or open its approvals). An approval's
    subject never changes, so reading its id before taking any lock is safe."""
    approval = ApprovalRequest.objects.only("kind", "api_key_id", "connection_request_id").get(pk=approval_request_id)
    if approval.kind == ApprovalRequest.Kind.CONNECTION_REQUEST:
        return (
            ConnectionRequest.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=cast(int, approval.connection_request_id))  # set for this kind
        )
    return ApiKey.objects.select_for_update(of=("self",)).select_related("api").get(pk=cast(int, approval.api_key_id))


def _stale_message(subject: ApiKey | ConnectionRequest) -> str:
    if isinstance(subject, ConnectionRequest):
        return (
            "The credentials of this request changed after you opened the page: they are now "
            f"{subject.credential_label}, saved {timezone.localtime(subject.credentials_updated_at):%Y-%m-%d %H:%M}. "
            "Review them again, then decide."
        )
    expiry = f"{subject.expires_at:%Y-%m-%d}" if subject.expires_at else "never"
    return (
        f"This key changed after you opened the page: it is now {subject.prefix}, "
        f"{subject.get_status_display().lower()}, expiring {expiry}. Review it again, then decide."
    )


def approval_decide(
    *,
    approval_request_id: int,
    approver: User,
    verdict: str,
    comment: str = "",
    reviewed_version: str | None = None,
) -> ApprovalRequest:
    """Record one approver's verdict and, once the policy is met, apply the effect exactly once.

    reviewed_version: the subject's review_version the page showed the approver; a subject that
    changed since is refused (StaleDecision) and nothing is recorded. None: a caller that is not a
    page (the demo, scripts). Two approvers clicking at once: the row locks serialise them; the
    second sees the first's outcome and gets AlreadyDecided. Raises ApprovalError for ineligible
    approvers, own requests and rejections without a reason.
    """
    comment = comment.strip()
    if verdict == Decision.Verdict.REJECT and not comment:
        raise ApprovalError("Give a reason for the rejection.")
    with transaction.atomic():
        subject = _lock_subject(approval_request_id)
        approval = ApprovalRequest.objects.select_for_update().get(pk=approval_request_id)
        if approval.status != ApprovalRequest.Status.PENDING:
            raise AlreadyDecided(_describe_decided(approval))
        if approval.requested_by_id == approver.pk:
            raise ApprovalError("You cannot decide on your own request.")
        if not selectors.approval_may_decide(approval=approval, user=approver):
            raise ApprovalError("You are not an approver of this request.")
        if reviewed_version is not None and reviewed_version != subject.review_version:
            raise StaleDecision(_stale_message(subject))
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
    # Each kind of approval is opened with its subject (_open_key_approval, _open_connection_approval).
    if approval.kind == ApprovalRequest.Kind.KEY_RENEWAL:
        api_key_id = cast(int, approval.api_key_id)
        if approved:
            key_services.api_key_renew(api_key_id=api_key_id, renewed_by=approver)
        else:
            key_services.api_key_clear_renewal_pending(api_key_id=api_key_id, reason=comment)
        return
    if approval.kind == ApprovalRequest.Kind.KEY_REQUEST:
        api_key_id = cast(int, approval.api_key_id)
        if approved:
            key_services.api_key_activate(api_key_id=api_key_id, decided_by=approver)
        else:
            key_services.api_key_decline(api_key_id=api_key_id, decided_by=approver, reason=comment)
        return
    if approval.kind == ApprovalRequest.Kind.CONNECTION_REQUEST:
        connection_request_id = cast(int, approval.connection_request_id)
        if approval.status == ApprovalRequest.Status.APPROVED:
            connection_services.connection_request_approve(
                connection_request_id=connection_request_id, decided_by=approver
            )
        else:
            connection_services.connection_request_reject(
                connection_request_id=connection_request_id, decided_by=approver, reason=comment
            )


def connection_request_decide(
    *,
    connection_request_id: int,
    approver: User,
    verdict: str,
    comment: str = "",
    reviewed_version: str | None = None,
) -> ConnectionRequest:
    """Decide the pending approval of a connection request (what the hub admin's buttons do)."""
    approval = (
        ApprovalRequest.objects.filter(connection_request_id=connection_request_id).order_by("-created_at").first()
    )
    if approval is None:
        raise ApprovalError("This connection request has no approval to decide.")
    approval_decide(
        approval_request_id=approval.pk,
        approver=approver,
        verdict=verdict,
        comment=comment,
        reviewed_version=reviewed_version,
    )
    return ConnectionRequest.objects.select_related("tenant", "decided_by").get(pk=connection_request_id)


def key_outcome_message(approval: ApprovalRequest) -> str:
    """What the approver is told after deciding a key approval."""
    outcome = {
        ApprovalRequest.Status.APPROVED: "approved: the key is renewed and the consumer is emailed"
        if approval.kind == ApprovalRequest.Kind.KEY_RENEWAL
        else "approved: the key works now and the consumer is emailed",
        ApprovalRequest.Status.REJECTED: "rejected: the consumer is emailed your reason",
    }.get(ApprovalRequest.Status(approval.status), "recorded: it waits for the other approvers")
    api_key = cast(ApiKey, approval.api_key)  # a key approval is opened with its key
    return f"{approval.get_kind_display()} for {api_key.api.name} {outcome}."


def connection_outcome_message(connection_request: ConnectionRequest) -> str:
    """What the hub admin is told after deciding a connection request."""
    verb = connection_request.get_status_display().lower()
    return f"The connection request of {connection_request.tenant.alias} is {verb}."


# --- Opening and cancelling approvals: credentials' approval port ----------------------------------
def _open_key_approval(*, kind: str, api_key: ApiKey, requested_by: User) -> ApprovalRequest:
    """Open an approval for the key's API approvers: its named users and group ("all" mode fixes
    the list now, so a later group change neither blocks nor skips anyone). Emails them."""
    api = api_key.api
    # Deactivated users decide nothing: an API whose approvers all left has none.
    named = set(api.approvers.filter(is_active=True).values_list("pk", flat=True))
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
    notifications.approval_requested(approval)
    return approval


def _open_connection_approval(*, connection_request: ConnectionRequest, requested_by: User) -> ApprovalRequest:
    """Any one hub admin decides a connection request."""
    approval = ApprovalRequest.objects.create(
        kind=ApprovalRequest.Kind.CONNECTION_REQUEST,
        mode=ApprovalRequest.Mode.ANY,
        connection_request=connection_request,
        requested_by=requested_by,
        approver_group=Group.objects.get(name=Role.HUB_ADMIN),
    )
    audit.record(
        action="approval.open",
        target=approval,
        organization=connection_request.tenant.organization,
        summary=f"Approval by a hub admin requested for the connection of {connection_request.tenant.alias}",
    )
    return approval


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


class ApprovalsPort:
    """What credentials.lib.approval_port asks for, done by this app (registered in approvals.apps)."""

    def open(self, *, kind: str, subject: Model, requested_by: User) -> ApprovalRequest:
        if isinstance(subject, ConnectionRequest) and kind == ApprovalRequest.Kind.CONNECTION_REQUEST:
            return _open_connection_approval(connection_request=subject, requested_by=requested_by)
        if isinstance(subject, ApiKey) and kind in (ApprovalRequest.Kind.KEY_REQUEST, ApprovalRequest.Kind.KEY_RENEWAL):
            return _open_key_approval(kind=kind, api_key=subject, requested_by=requested_by)
        raise ValueError(f"No approval of kind {kind} for {type(subject).__name__}")

    def waiting(self, *, subject: Model) -> ApprovalRequest | None:
        pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING)
        if isinstance(subject, ApiKey):
            return pending.filter(api_key=subject).first()
        # The port's other subject: a connection request.
        return pending.filter(connection_request=cast(ConnectionRequest, subject)).first()

    def cancel(self, *, subject: Model, actor: User, why: str) -> int:
        if not isinstance(subject, ApiKey):
            raise ValueError(f"Approvals of a {type(subject).__name__} are not cancelled")
        return _cancel_pending(subject, actor, why)
