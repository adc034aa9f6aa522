from django.db.models import Q, QuerySet

from approvals.models import ApprovalRequest
from portal.models import User


def approval_inbox(*, user: User) -> QuerySet[ApprovalRequest]:
    """Pending API key approvals this user may decide and has not decided yet, oldest first."""
    group_ids = list(user.groups.values_list("pk", flat=True))
    return (
        ApprovalRequest.objects.filter(
            status=ApprovalRequest.Status.PENDING,
            kind__in=[ApprovalRequest.Kind.KEY_RENEWAL, ApprovalRequest.Kind.KEY_REQUEST],
        )
        .filter(Q(approvers=user) | Q(approver_group_id__in=group_ids))
        .exclude(requested_by=user)
        .exclude(decisions__approver=user)
        .select_related("api_key__api", "api_key__consumer", "requested_by")
        .prefetch_related("decisions__approver", "approvers")
        .distinct()
        .order_by("created_at")
    )


def approval_recent_decisions(*, user: User, limit: int = 20) -> QuerySet[ApprovalRequest]:
    """Key approvals this user decided, newest first (the inbox's history)."""
    return (
        ApprovalRequest.objects.filter(decisions__approver=user, kind__in=["key_renewal", "key_request"])
        .select_related("api_key__api", "api_key__consumer")
        .prefetch_related("decisions__approver")
        .distinct()
        .order_by("-created_at")[:limit]
    )
