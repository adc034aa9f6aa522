from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from credentials.connections.models import ConnectionRequest
from credentials.keys.models import ApiKey


class ApprovalRequest(models.Model):
    """Something that waits for approvers: a connection request, or (later) an API key renewal.

    Each approver's verdict is a Decision. When the policy is met (any one approver, or all of
    them) the request applies its effect exactly once, in the transaction of the last decision.
    """

    class Kind(models.TextChoices):
        CONNECTION_REQUEST = "connection_request", "Connection request"
        KEY_RENEWAL = "key_renewal", "API key renewal"
        KEY_REQUEST = "key_request", "New API key"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.PENDING: {Status.APPROVED, Status.REJECTED, Status.CANCELLED},
        Status.APPROVED: set(),
        Status.REJECTED: set(),
        Status.CANCELLED: set(),
    }

    class Mode(models.TextChoices):
        ANY = "any", "Any one approver"
        ALL = "all", "All approvers"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ANY)
    connection_request = models.ForeignKey(
        ConnectionRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="approval_requests"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="approval_requests"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Who may decide: members of the group (at decision time) and the named users. In "all" mode
    # the named users are the snapshot of everyone who must approve.
    approver_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="approval_assignments")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The Approvals inbox: pending requests, oldest first.
            models.Index(fields=["status", "created_at"], name="approval_status_created"),
            # The inbox's "Recently decided by you": approvals newest first, each checked against
            # decision_one_per_approver, so the read stops after its 20 instead of sorting all
            # the approver's decisions.
            models.Index(fields=["created_at", "id"], name="approval_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected", "cancelled"]),
                name="approval_request_status_valid",
            ),
            models.CheckConstraint(condition=Q(mode__in=["any", "all"]), name="approval_request_mode_valid"),
            # One pending approval per connection request: a second submit cannot open another.
            models.UniqueConstraint(
                fields=["connection_request"],
                condition=Q(status="pending"),
                name="approval_one_pending_per_connection_request",
            ),
            # One pending renewal (or new-key approval) per key: a double click opens one.
            models.UniqueConstraint(
                fields=["api_key"], condition=Q(status="pending"), name="approval_one_pending_per_api_key"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["connection_request", "key_renewal", "key_request"]),
                name="approval_request_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} approval #{self.pk}"

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]


class Decision(models.Model):
    """One approver's verdict on an approval request."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    approval_request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # An approver decides once; the constraint backs the service's check under races.
            models.UniqueConstraint(fields=["approval_request", "approver"], name="decision_one_per_approver"),
            models.CheckConstraint(condition=Q(verdict__in=["approve", "reject"]), name="decision_verdict_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.get_verdict_display().lower()} #{self.approval_request_id}"
