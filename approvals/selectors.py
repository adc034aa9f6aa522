"""Reads of approvals. Who may decide an approval is decided here and nowhere else: its named
approvers and the members of its approver group, never the person who asked."""

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from approvals.models import ApprovalRequest
from portal.models import User

KEY_KINDS = (ApprovalRequest.Kind.KEY_RENEWAL, ApprovalRequest.Kind.KEY_REQUEST)


def _decidable_by(user: User) -> Q:
    """The rule, seen from the approvals: those the user may decide."""
    group_ids = list(user.groups.values_list("pk", flat=True))
    return (Q(approvers=user) | Q(approver_group_id__in=group_ids)) & ~Q(requested_by=user)


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
    return get_object_or_404(approvals.filter(_decidable_by(user) | Q(requested_by=user)).distinct(), pk=pk)


def approval_inbox(*, user: User) -> QuerySet[ApprovalRequest]:
    """Pending API key approvals this user may decide and has not decided yet, oldest first."""
    return (
        ApprovalRequest.objects.filter(_decidable_by(user), status=ApprovalRequest.Status.PENDING, kind__in=KEY_KINDS)
        .exclude(decisions__approver=user)
        .select_related("api_key__api", "api_key__consumer", "requested_by")
        .prefetch_related("decisions__approver", "approvers")
        .distinct()
        .order_by("created_at")
    )


def approval_recent_decisions(*, user: User, limit: int = 20) -> QuerySet[ApprovalRequest]:
    """Key approvals this user decided, newest first (the inbox's history)."""
    return (
        ApprovalRequest.objects.filter(decisions__approver=user, kind__in=KEY_KINDS)
        .select_related("api_key__api", "api_key__consumer")
        .prefetch_related("decisions__approver")
        .distinct()
        .order_by("-created_at")[:limit]
    )
