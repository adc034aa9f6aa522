import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials import validity
from credentials.fields import EncryptedJSONField, EncryptedTextField
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
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
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
            # Approved Requests: approved rows, newest decision first.
            models.Index(fields=["status", "-decided_at"], name="connreq_status_decided"),
        ]

    def __str__(self) -> str:
        return f"Connection request of {self.tenant.alias}"

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.SUBMITTED

    def tenant_credentials(self) -> "TenantCredentials":  # noqa: F821
        from credentials.tenant_credentials import TenantCredentials

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
    def credential_label(self) -> str:
        """What identifies the credentials without revealing them."""
        if self.credential_kind == self.CredentialKind.CLIENT_SECRET:
            return f"Client ID {self.client_id}"
        return f"Certificate {self.certificate_subject}" if self.certificate_subject else "Certificate"


class RuntimeTarget(models.Model):
    """A gateway ("Mediator") that enforces API keys. Portico deploys key states to it and it asks
    Portico's /gateway/verify about presented keys."""

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        UP = "up", "Up"
        DOWN = "down", "Down"

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(
        "Base URL", max_length=500, help_text="Deployments are POSTed to <base URL>/access-keys."
    )
    health_url = models.URLField("Health URL", max_length=500, blank=True)
    # Portico signs deployments with it (HMAC-SHA256): a secret Portico uses, so encrypted.
    signing_secret = EncryptedTextField()
    # The target authenticates to /gateway/verify with a Portico token (prt_gw_...): verified only,
    # so a keyed hash. Indexed prefix: the verify endpoint looks the target up by it.
    verify_token_prefix = models.CharField(max_length=40, unique=True)
    verify_token_digest = models.CharField(max_length=64)
    health = models.CharField(max_length=10, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(health__in=["unknown", "up", "down"]), name="runtime_target_health_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Api(models.Model):
    """An API consumers hold keys for, with its consumption settings."""

    class ApprovalMode(models.TextChoices):
        ANY = "any", "Any one approver"
        ALL = "all", "All approvers"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="apis")
    # Consumption settings. No lifetime: keys never expire.
    key_lifetime_days = models.PositiveIntegerField(
        "Key lifetime (days)", null=True, blank=True, help_text="Empty: keys never expire."
    )
    renewal_requires_approval = models.BooleanField("Renewal needs approval", default=False)
    approval_mode = models.CharField(max_length=10, choices=ApprovalMode.choices, default=ApprovalMode.ANY)
    approver_group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="approver_of_apis")
    runtime_target = models.ForeignKey(
        RuntimeTarget, null=True, blank=True, on_delete=models.PROTECT, related_name="apis"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(approval_mode__in=["any", "all"]), name="api_approval_mode_valid"),
            models.CheckConstraint(
                condition=Q(key_lifetime_days__isnull=True) | Q(key_lifetime_days__gte=1),
                name="api_key_lifetime_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def keys_are_unlimited(self) -> bool:
        return self.key_lifetime_days is None

    @property
    def lifetime_label(self) -> str:
        return "Unlimited" if self.key_lifetime_days is None else f"{self.key_lifetime_days} days"


class ApiKey(models.Model):
    """A consumer's key for an API. Its secrets (current, and rotated ones in their grace period)
    are KeySecret rows; the key itself holds the state the gateway enforces."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS = {
        Status.PENDING: {Status.ACTIVE, Status.REJECTED, Status.REVOKED},
        Status.ACTIVE: {Status.EXPIRED, Status.REVOKED},
        Status.EXPIRED: {Status.ACTIVE, Status.REVOKED},  # renewal brings an expired key back
        Status.REVOKED: set(),
        Status.REJECTED: set(),
    }
    OPEN_STATUSES = (Status.PENDING, Status.ACTIVE, Status.EXPIRED)

    class Deployment(models.TextChoices):
        NONE = "none", "No runtime target"
        PENDING = "pending", "Deployment pending"
        DEPLOYED = "deployed", "Deployed"
        FAILED = "failed", "Deployment failed"

    consumer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys")
    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="keys")
    prefix = models.CharField(max_length=40, help_text="Public prefix of the current secret, for display.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Null: unlimited. Indexed: the reminder and expiry sweeps select by it.
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    renewed_at = models.DateTimeField(null=True, blank=True)
    # Set while a renewal waits for approval (by approvals, through credentials.services).
    renewal_pending_since = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    deployment_state = models.CharField(max_length=20, choices=Deployment.choices, default=Deployment.NONE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["api__name", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "active", "expired", "revoked", "rejected"]),
                name="api_key_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(deployment_state__in=["none", "pending", "deployed", "failed"]),
                name="api_key_deployment_state_valid",
            ),
            # One usable key per consumer and API: a second request renews or waits instead.
            models.UniqueConstraint(
                fields=["consumer", "api"],
                condition=Q(status__in=["pending", "active", "expired"]),
                name="api_key_one_open_per_consumer_and_api",
            ),
        ]
        indexes = [
            # My API Keys: a consumer's keys.
            models.Index(fields=["consumer", "status"], name="api_key_consumer_status"),
            # /gateway/verify's snapshot sync: the keys changed since its last sync. Every write that
            # changes what verify answers bumps updated_at (QuerySet.update() paths set it by hand).
            models.Index(fields=["updated_at"], name="api_key_updated_at"),
        ]

    def __str__(self) -> str:
        return f"{self.api.name} key {self.prefix}"

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    @property
    def is_unlimited(self) -> bool:
        return self.expires_at is None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def display_status(self, now: datetime | None = None) -> str:
        """What My API Keys shows: pending renewal and expiry are computed, not stored."""
        if self.status == self.Status.ACTIVE and self.is_expired(now):
            return "expired"
        if self.status in (self.Status.ACTIVE, self.Status.EXPIRED) and self.renewal_pending_since:
            return "pending renewal"
        return self.status

    def days_left(self, now: datetime | None = None) -> int | None:
        if self.expires_at is None:
            return None
        return validity.days_left(self.expires_at, now or timezone.now())

    @property
    def can_renew(self) -> bool:
        return (
            not self.is_unlimited
            and self.status in (self.Status.ACTIVE, self.Status.EXPIRED)
            and self.renewal_pending_since is None
        )


class KeySecret(models.Model):
    """One secret of an API key: the current one (valid_until null) or a rotated one that keeps
    working until valid_until. Only the prefix and the keyed hash are stored."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="secrets")
    # Unique index: /gateway/verify finds the secret, its key, API and consumer in one read by it.
    prefix = models.CharField(max_length=40, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.prefix


class KeyDeployment(models.Model):
    """One "Deploy Access Key" step: the key's state sent to its API's runtime target, retried
    until the target accepts it. Idempotent at the target by deployment_id."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DEPLOYED = "deployed", "Deployed"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    deployment_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="deployments")
    target = models.ForeignKey(RuntimeTarget, on_delete=models.PROTECT, related_name="deployments")
    reason = models.CharField(max_length=30, help_text="issued, renewed, rotated, revoked, expired, changed")
    # What is sent: prefixes and keyed hashes, status, expiry; never a key.
    payload = models.JSONField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deployed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "deployed", "failed", "superseded"]),
                name="key_deployment_state_valid",
            )
        ]
        indexes = [
            # The retry sweep: pending deployments that are due.
            models.Index(fields=["state", "next_attempt_at"], name="key_deployment_due"),
        ]

    def __str__(self) -> str:
        return f"Deploy {self.api_key.prefix} to {self.target} ({self.reason})"


# --- Connection API credentials: OAuth clients of an organization for Portico's REST API ----------
PUBLIC_ID_LENGTH = 10
CLIENT_ID_LENGTH = 32
DEFAULT_TOKEN_LIFETIME = 7200  # seconds
MIN_TOKEN_LIFETIME = 60
MAX_TOKEN_LIFETIME = 86400


def new_public_id() -> str:
    """The opaque id the REST API shows instead of the database integer (10 base62 characters)."""
    from credentials.crypto import random_base62

    return random_base62(PUBLIC_ID_LENGTH)


def new_client_id() -> str:
    from credentials.crypto import random_base62

    return random_base62(CLIENT_ID_LENGTH)


class Role(models.Model):
    """What the tokens of an API credential may do in the organization: everything (admin) or
    read only. Each organization has its own roles; "Admin" and "Read-only" are made for it on
    first use (credentials.services.role_ensure_defaults)."""

    class Kind(models.TextChoices):
        ADMIN = "admin", "Admin"
        READ_ONLY = "read_only", "Read-only"

    # The OAuth scopes a credential of each kind may ask for; a token carries those it was given.
    SCOPES = {Kind.ADMIN: "read write", Kind.READ_ONLY: "read"}

    public_id = models.CharField(max_length=PUBLIC_ID_LENGTH, unique=True, default=new_public_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_roles")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.READ_ONLY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="api_role_name_unique_per_organization"),
            models.CheckConstraint(condition=Q(kind__in=["admin", "read_only"]), name="api_role_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scopes(self) -> str:
        return self.SCOPES[self.Kind(self.kind)]

    @property
    def can_write(self) -> bool:
        return self.kind == self.Kind.ADMIN


class ClientIdIsImmutable(ValueError):
    """A client ID never changes once issued: clients and logs know the credential by it."""


class ApiCredential(models.Model):
    """An OAuth client of an organization (client credentials grant) for Portico's REST API.

    The client secret is kept only as a keyed hash (credentials.crypto.hash_secret); changing it
    raises `secret_version`, which kills every access token issued under an older version.
    """

    class Kind(models.TextChoices):
        # The only kind so far: the Connection API Credentials page lists it, at most three an account.
        CONNECTION = "connection", "Connection"

    class Mode(models.TextChoices):
        TEST = "test", "Test"
        LIVE = "live", "Live"

    MAX_CONNECTION_CREDENTIALS = 3

    public_id = models.CharField(max_length=PUBLIC_ID_LENGTH, unique=True, default=new_public_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="api_credentials")
    name = models.CharField("Short Description", max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONNECTION)
    # The client credentials grant is for confidential clients only (RFC 6749 section 4.4).
    confidential = models.BooleanField(default=True)
    redirect_uri = models.URLField(max_length=500, blank=True)
    # Unique index: the token endpoint finds the credential by it. Never changes (see save()).
    client_id = models.CharField("Client ID", max_length=64, unique=True, default=new_client_id, editable=False)
    # Generated secrets have a public prefix (prt_cs_...) worth showing; typed ones have none.
    secret_prefix = models.CharField(max_length=40, blank=True)
    secret_digest = models.CharField(max_length=64)
    secret_version = models.PositiveIntegerField(default=1)
    secret_changed_at = models.DateTimeField(default=timezone.now)
    custom = models.BooleanField(default=False, help_text="Whether the client secret was typed by a person.")
    scopes = models.CharField(max_length=200)
    expires_in = models.PositiveIntegerField(
        default=DEFAULT_TOKEN_LIFETIME, help_text="Lifetime of the access tokens it obtains, in seconds."
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.LIVE)
    reference = models.CharField(max_length=200, blank=True)
    reference_origin = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="api_credentials")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["connection"]), name="api_credential_kind_valid"),
            models.CheckConstraint(condition=Q(mode__in=["test", "live"]), name="api_credential_mode_valid"),
            models.CheckConstraint(
                condition=Q(expires_in__gte=MIN_TOKEN_LIFETIME) & Q(expires_in__lte=MAX_TOKEN_LIFETIME),
                name="api_credential_expires_in_range",
            ),
        ]
        indexes = [
            # The Connection API Credentials page and the three-per-account count.
            models.Index(fields=["organization", "kind"], name="api_credential_org_kind"),
        ]

    def __str__(self) -> str:
        return self.name or f"Client {self.client_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        loaded = getattr(self, "_loaded_client_id", None)
        if not self._state.adding and loaded is not None and self.client_id != loaded:
            raise ClientIdIsImmutable("The client ID of an API credential cannot be changed.")
        super().save(*args, **kwargs)
        self._loaded_client_id = self.client_id

    @classmethod
    def from_db(cls, db, field_names, values):  # Django calls it for every row it loads
        instance = super().from_db(db, field_names, values)
        instance._loaded_client_id = instance.__dict__.get("client_id")
        return instance

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def used_just_now(self) -> bool:
        return self.last_used_at is not None and timezone.now() - self.last_used_at < timedelta(minutes=1)


class AccessToken(models.Model):
    """A bearer token issued by POST /oauth/token. Only its public prefix and a keyed hash are
    stored; it dies when it expires, when its credential's secret changes (secret_version) or
    when the credential is deleted (cascade)."""

    credential = models.ForeignKey(ApiCredential, on_delete=models.CASCADE, related_name="access_tokens")
    # Unique index: bearer authentication finds the token, its credential and role in one read.
    prefix = models.CharField(max_length=40, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.CharField(max_length=200)
    secret_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Indexed: the purge of expired tokens selects by it.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.prefix

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())


class ExpiryReminder(models.Model):
    """One reminder owed before something expires: which thing, which expiry, which threshold.

    The unique constraint is the exactly-once guarantee: the sweep inserts the row and writes its
    email in one transaction, so a second sweep (or worker) cannot send it again. A renewed key
    has a new expiry and so a fresh set of reminders."""

    class Subject(models.TextChoices):
        API_KEY = "api_key", "API key"
        CONNECTION = "connection", "Connection credentials"

    subject_type = models.CharField(max_length=20, choices=Subject.choices)
    subject_id = models.PositiveBigIntegerField()
    expires_at = models.DateTimeField()
    threshold_days = models.PositiveSmallIntegerField()
    email = models.ForeignKey(
        "portal.OutboundEmail", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of the sweep's NOT EXISTS lookup.
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "expires_at", "threshold_days"], name="expiry_reminder_once"
            ),
            models.CheckConstraint(
                condition=Q(subject_type__in=["api_key", "connection"]), name="expiry_reminder_subject_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject_id}: {self.threshold_days}-day reminder"
