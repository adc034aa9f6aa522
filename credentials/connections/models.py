"""Tenants and their connection requests: the credentials Portico uses to reach an API Management tenant."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials.connections.pasted import TenantCredentials
from credentials.lib import validity, versions
from portal.fields import EncryptedJSONField
from portal.models import Organization


class Tenant(models.Model):
    """An API Management tenant (API portal) of an organization that connects to the hub."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="tenants")
    alias = models.CharField("API portal alias", max_length=100)
    url = models.URLField("API portal URL", max_length=500)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "alias"], name="tenant_alias_unique_per_organization")
        ]
        indexes = [
            # Approved Requests sorted by API portal (either way): the approved requests are read
            # tenant by tenant in alias order, so a page stops after its rows instead of sorting all.
            models.Index(fields=["alias", "id"], name="tenant_alias"),
        ]

    def __str__(self) -> str:
        return self.alias


class ConnectionRequest(models.Model):
    """A tenant's request to connect to the hub, with the credentials Portico will use.

    The credentials are encrypted as one JSON object; only non-secret facts (client ID,
    certificate subject and expiry, URLs) are kept in clear for the pages.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    TRANSITIONS = {
        Status.SUBMITTED: {Status.APPROVED, Status.REJECTED, Status.WITHDRAWN},
        Status.APPROVED: set(),
        Status.REJECTED: set(),
        Status.WITHDRAWN: set(),
    }
    OPEN_STATUSES = (Status.SUBMITTED, Status.APPROVED)

    class CredentialKind(models.TextChoices):
        CLIENT_SECRET = "client_secret", "Client secret"
        CERTIFICATE = "certificate", "Certificate"

    class Health(models.TextChoices):
        UNTESTED = "untested", "Not tested"
        HEALTHY = "healthy", "Healthy"
        FAILING = "failing", "Failing"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="connection_requests")
    # Not indexed on its own: the indexes in Meta lead with it, and every index is one more write
    # of each changed row (a key rotation rewrites every row).
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    credential_kind = models.CharField(max_length=20, choices=CredentialKind.choices)
    credentials = EncryptedJSONField()
    # Clear, non-secret facts about the credentials, for lists and emails.
    api_url = models.URLField(max_length=500)
    token_url = models.URLField(max_length=500)
    cert_url = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=300, blank=True)
    certificate_subject = models.CharField(max_length=500, blank=True)
    certificate_not_after = models.DateTimeField(null=True, blank=True)
    generated_at = models.DateTimeField(help_text="When the tenant generated these credentials.")
    # Indexed: the expiry sweep and the Approved Requests sort by it.
    expires_at = models.DateTimeField(db_index=True)
    credentials_updated_at = models.DateTimeField()

    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)

    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNTESTED)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_message = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["submitted", "approved", "rejected", "withdrawn"]),
                name="connection_request_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(credential_kind__in=["client_secret", "certificate"]),
                name="connection_request_kind_valid",
            ),
            # A tenant has at most one open (submitted or approved) connection at a time.
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(status__in=["submitted", "approved"]),
                name="connection_request_one_open_per_tenant",
            ),
        ]
        indexes = [
            # Approved Requests: approved rows, newest decision first (or oldest, read backwards).
            models.Index(fields=["status", "-decided_at"], name="connreq_status_decided"),
            # Approved Requests sorted by connection health (either way): the rows of one health
            # in id order, so a page stops after its rows instead of sorting a third of them.
            models.Index(fields=["status", "health", "id"], name="connreq_status_health"),
        ]

    def __str__(self) -> str:
        return f"Connection request of {self.tenant.alias}"

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.SUBMITTED

    def tenant_credentials(self) -> TenantCredentials:
        return TenantCredentials.from_storage(self.credentials)

    def days_left(self, now: datetime | None = None) -> int:
        return validity.days_left(self.expires_at, now or timezone.now())

    @property
    def expires_soon(self) -> bool:
        return self.days_left() < validity.WARN_DAYS

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def review_version(self) -> str:
        """What a hub admin reviews before deciding: the credentials as last saved."""
        return versions.version_of(
            self.pk, self.credential_kind, self.client_id, self.token_url, self.api_url, self.cert_url,
            self.certificate_subject, self.credentials_updated_at,
        )  # fmt: skip

    @property
    def credential_label(self) -> str:
        """What identifies the credentials without revealing them."""
        if self.credential_kind == self.CredentialKind.CLIENT_SECRET:
            return f"Client ID {self.client_id}"
        return f"Certificate {self.certificate_subject}" if self.certificate_subject else "Certificate"
