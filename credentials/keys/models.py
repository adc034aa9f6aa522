"""APIs with their consumption settings, the consumers' API keys, and the runtime targets (gateways)
that keys are deployed to."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials.lib import validity, versions
from portal.fields import EncryptedTextField
from portal.models import Organization


class RuntimeTarget(models.Model):
    """A gateway ("Mediator") that enforces API keys. Portico deploys key states to it and it asks
    Portico's /gateway/verify about presented keys."""

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        UP = "up", "Up"
        DOWN = "down", "Down"

    name = models.CharField(max_length=100)  # unique: see Meta
    base_url = models.URLField(
        "Base URL", max_length=500, help_text="Deployments are POSTed to <base URL>/access-keys."
    )
    health_url = models.URLField("Health URL", max_length=500, blank=True)
    # Portico signs deployments with it (HMAC-SHA256): a secret Portico uses, so encrypted.
    signing_secret = EncryptedTextField()
    # The target authenticates to /gateway/verify with a Portico token (prt_gw_...): verified only,
    # so a keyed hash. Unique prefix (see Meta): the verify endpoint looks the target up by it.
    verify_token_prefix = models.CharField(max_length=40)
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
            ),
            # Constraints, not unique=True: that adds a second (LIKE) index per column that no query
            # uses and every write of the row pays for (a key rotation rewrites every row).
            models.UniqueConstraint(fields=["name"], name="runtime_target_name_unique"),
            models.UniqueConstraint(fields=["verify_token_prefix"], name="runtime_target_verify_token_prefix_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def more_stuck_keys(self) -> int:
        """Admin Center > Runtime targets: the waiting and refused keys beyond those it lists
        (selectors.runtime_target_list annotates the counts and prefetches the first of them)."""
        counted = getattr(self, "waiting_keys", 0) + getattr(self, "refused_keys", 0)
        return max(counted - len(getattr(self, "stuck_deployments", ())), 0)


@dataclass(frozen=True)
class GatewayStanding:
    """How a key stands at its API's runtime target, as facts; the words for people are
    templates/credentials/partials/deployment_state.html's (My API Keys, Admin Center > Runtime targets)."""

    # "live", "expired", "removed", "sending", "retrying", "refused", "not-sent",
    # "awaiting-approval", "rejected" or "no-target"
    case: str
    target: str = ""  # the target's name
    since: datetime | None = None  # live, removed: when the target took that state
    next_try: datetime | None = None  # retrying: when Portico sends it again (None: it is due)
    attempt: int = 0  # retrying: the number of that next attempt
    reason: str = ""  # refused: what the target answered (its HTTP status and error code)


def gateway_standing(
    *,
    key: "ApiKey",
    target: str | None,
    state: str | None,
    attempts: int | None,
    next_attempt_at: datetime | None,
    last_error: str | None,
    deployed_at: datetime | None,
    now: datetime,
) -> GatewayStanding:
    """How `key` stands at `target` (its API's runtime target, by name) after its latest
    deployment there (`state` and the rest; None: none was ever recorded)."""
    if key.status == ApiKey.Status.REJECTED:
        return GatewayStanding("rejected")  # only a key waiting for approval is rejected: never sent
    if target is None:
        return GatewayStanding("no-target")
    if state is None:
        if key.status == ApiKey.Status.PENDING:
            return GatewayStanding("awaiting-approval", target)
        return GatewayStanding("not-sent", target)
    if state == KeyDeployment.State.DEPLOYED:
        if key.status == ApiKey.Status.REVOKED:
            return GatewayStanding("removed", target, since=deployed_at)
        if key.status == ApiKey.Status.EXPIRED or key.is_expired(now):
            # The contract: a gateway refuses a key past expires_at by the clock, whichever state it holds.
            return GatewayStanding("expired", target, since=deployed_at)
        return GatewayStanding("live", target, since=deployed_at)
    if state == KeyDeployment.State.FAILED:
        return GatewayStanding("refused", target, reason=last_error or "")
    # Pending (the latest deployment is never superseded). An attempt that failed left its reason;
    # none yet: queued, or its first attempt is in flight.
    if not attempts or not last_error:
        return GatewayStanding("sending", target)
    due = next_attempt_at is None or next_attempt_at <= now
    return GatewayStanding("retrying", target, next_try=None if due else next_attempt_at, attempt=attempts + 1)


# The columns of a key's latest deployment to its API's target that selectors.api_key_list
# annotates each key with, as gateway_<column>: what ApiKey.gateway_standing needs.
GATEWAY_FACTS = ("state", "attempts", "next_attempt_at", "last_error", "deployed_at")


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
        indexes = [
            # APIs by name: the API catalog, Admin Center > APIs, and My API Keys, whose page of a
            # consumer's keys reads the APIs in name order (each probing api_key_consumer_api) and
            # stops after its rows instead of sorting all the consumer's keys.
            models.Index(fields=["name", "id"], name="api_name"),
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
    # Set while a renewal waits for approval (by approvals, through credentials.keys.services).
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
            # My API Keys: a consumer's keys (their count), and the consumer's keys of one API
            # (the probe of the page's walk over the APIs by name, api_name).
            models.Index(fields=["consumer", "api"], name="api_key_consumer_api"),
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
    def review_version(self) -> str:
        """What an approver reviews before deciding on this key: which secret, its state and
        expiry, and the lifetime a renewal would give it."""
        return versions.version_of(
            self.pk, self.prefix, self.status, self.expires_at, self.api_id, self.api.key_lifetime_days
        )

    @property
    def gateway_standing(self) -> GatewayStanding:
        """How the key stands at its API's runtime target (My API Keys): read through
        selectors.api_key_list, which annotates its latest deployment there."""
        if not hasattr(self, "gateway_state"):
            # Not AttributeError: a template would show nothing instead of failing.
            raise RuntimeError("Read the key through credentials.keys.selectors.api_key_list.")
        target = self.api.runtime_target
        facts = {column: getattr(self, f"gateway_{column}") for column in GATEWAY_FACTS}
        return gateway_standing(
            key=self, target=target.name if target is not None else None, now=timezone.now(), **facts
        )

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

    @property
    def standing(self) -> GatewayStanding:
        """How its key stands at its target, if this is the key's latest deployment there
        (Admin Center > Runtime targets lists only those)."""
        return gateway_standing(
            key=self.api_key,
            target=self.target.name,
            state=self.state,
            attempts=self.attempts,
            next_attempt_at=self.next_attempt_at,
            last_error=self.last_error,
            deployed_at=self.deployed_at,
            now=timezone.now(),
        )
