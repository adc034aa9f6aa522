from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse


class Organization(models.Model):
    """An account: the organization that users, tenants and connection API credentials belong to."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    is_active = models.BooleanField(
        "Active",
        default=True,
        help_text="Deactivated: its users' API keys and its API clients' tokens stop working at once.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person. Roles are Django groups (see portal.roles); a user belongs to one organization."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    def has_all_perms(self, perms: tuple[str, ...]) -> bool:
        return self.is_active and self.has_perms(perms)


class PortalPermission(models.Model):  # noqa: DJ008 - no table, never instantiated
    """Holds the role permissions of portal.roles; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = []  # created by portal.roles.ensure_role_groups after migrate


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        raise AuditLogIsAppendOnly("The audit log cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("The audit log cannot be deleted.")


class AuditLogIsAppendOnly(Exception):
    pass


class AuditEvent(models.Model):
    """One line of the append-only audit log. Written by portal.audit.record in the same
    transaction as the change it records. Database triggers (see migration 0002) refuse UPDATE
    and DELETE on the table too, whatever code path tries."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # No database constraint: an audit row must outlive the user it names, and the table refuses
    # the UPDATE a SET_NULL would need. actor_username keeps the name readable.
    actor = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=80)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    summary = models.CharField(max_length=500, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit page filters by action or target and always sorts newest first.
            models.Index(fields=["action", "-created_at"], name="audit_action_created"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_username or 'system'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("An audit event cannot be changed once written.")
        # force_insert: an event built with an existing id must fail, never overwrite that row.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("audit-log") + f"?target_type={self.target_type}&target_id={self.target_id}"

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("An audit event cannot be deleted.")


class OutboundEmail(models.Model):
    """The transactional outbox: an email is stored in the transaction that decides to send it,
    and a delivery task sends it, marking it sent only once the SMTP server accepted it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    template = models.CharField(max_length=100)
    to = models.JSONField(help_text="The recipients' addresses.")
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField()
    # Set on emails queued in bulk (the reminder sweep): what the template needs, in plain JSON
    # values, rendered into subject and bodies when the email is delivered, not when it is queued.
    context = models.JSONField(null=True, blank=True)
    # Makes a send idempotent: a second email with the same key is not created.
    dedupe_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "sent", "failed"]), name="outbound_email_state_valid"
            )
        ]
        indexes = [
            # The delivery sweep: pending emails that are due.
            models.Index(fields=["state", "next_attempt_at"], name="outbound_email_due"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"
