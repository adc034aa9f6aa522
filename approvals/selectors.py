"""Reads of approvals. Who may decide an approval is decided here and nowhere else: its named
approvers and the members of its approver group, never the person who asked."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from approvals.models import ApprovalRequest, Decision
from portal.models import User

KEY_KINDS = (ApprovalRequest.Kind.KEY_RENEWAL, ApprovalRequest.Kind.KEY_REQUEST)


def _decidable_by(user: User) -> Q:
    """The rule, seen from the approvals: those the user may decide. The named approvers and the
    user's groups are subqueries, so a list of approvals costs one query and lists each once."""
    named = ApprovalRequest.approvers.through.objects.filter(approvalrequest=OuterRef("pk"), user=user)
    return (Q(Exists(named)) | Q(approver_group__in=user.groups.all())) & ~Q(requested_by=user)


def approval_deciders(*, approval: ApprovalRequest) -> QuerySet[User]:
    """The rule, seen from one approval: the active users who may decide it."""
    who = Q(approval_assignments=approval)
    if approval.approver_group_id is not None:
        who |= Q(groups=approval.approver_group_id)
    return User.objects.filter(who, is_active=True).exclude(pk=approval.requested_by_id).distinct()


def approval_may_decide(*, approval: ApprovalRequest, user: User) -> bool:
    return ApprovalRequest.objects.filter(_decidable_by(user), pk=approval.pk).exists()


def key_approval_for_decider(*, user: User, pk: int) -> ApprovalRequest:
    """An API key approval the user may decide, or asked for themselves (to be told they cannot
    decide it); anyone else's answers 404."""
    approvals = ApprovalRequest.objects.filter(kind__in=KEY_KINDS).select_related(
        "api_key__api", "api_key__consumer", "requested_by"
    )
    return get_object_or_404(approvals.filter(_decidable_by(user) | Q(requested_by=user)), pk=pk)


def _decided_by(user: User) -> Exists:
    return Exists(Decision.objects.filter(approval_request=OuterRef("pk"), approver=user))


def approval_inbox(*, user: User) -> QuerySet[ApprovalRequest]:
    """Pending API key approvals this user may decide and has not decided yet, oldest first, with
    what the inbox shows: one query for a page of them, two for their decisions and approvers."""
    return (
        ApprovalRequest.objects.filter(_decidable_by(user), status=ApprovalRequest.Status.PENDING, kind__in=KEY_KINDS)
        .exclude(_decided_by(user))
        .select_related("api_key__api", "api_key__consumer", "requested_by")
        .prefetch_related("decisions", "approvers")
        .order_by("created_at", "pk")
    )


def approval_recent_decisions(*, user: User, limit: int = 20) -> QuerySet[ApprovalRequest]:
    """Key approvals this user decided, newest first (the inbox's history)."""
    return (
        ApprovalRequest.objects.filter(_decided_by(user), kind__in=KEY_KINDS)
        .select_related("api_key__api", "api_key__consumer")
        .prefetch_related("decisions")
        .order_by("-created_at", "-pk")[:limit]
    )
