"""Connection API credentials: OAuth clients of an organization for Portico's REST API, their roles
and access tokens."""

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials.lib.crypto import random_base62
from portal.models import Organization

PUBLIC_ID_LENGTH = 10


CLIENT_ID_LENGTH = 32


DEFAULT_TOKEN_LIFETIME = 7200  # seconds


MIN_TOKEN_LIFETIME = 60


MAX_TOKEN_LIFETIME = 86400


def new_public_id() -> str:
    """The opaque id the REST API shows instead of the database integer (10 base62 characters)."""
    return random_base62(PUBLIC_ID_LENGTH)


def new_client_id() -> str:
    return random_base62(CLIENT_ID_LENGTH)


class Role(models.Model):
    """What the tokens of an API credential may do in the organization: everything (admin) or
    read only. Each organization has its own roles; "Admin" and "Read-only" are made with it
    (credentials.apps; for organizations loaded without signals, e.g. by loaddata:
    credentials.integration.services.role_ensure_defaults)."""

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

    The client secret is kept only as a keyed hash (credentials.lib.crypto.hash_secret); changing it
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

    _loaded_client_id: str | None  # the client ID as loaded from the database, set by from_db() and save()

    def save(self, *args: Any, **kwargs: Any) -> None:
        loaded = getattr(self, "_loaded_client_id", None)
        if not self._state.adding and loaded is not None and self.client_id != loaded:
            raise ClientIdIsImmutable("The client ID of an API credential cannot be changed.")
        super().save(*args, **kwargs)
        self._loaded_client_id = self.client_id

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any) -> Self:
        # Django calls it for every row it loads (Django 6 adds the keyword-only fetch_mode).
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_client_id = instance.__dict__.get("client_id")
        return instance

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def used_just_now(self) -> bool:
        return self.last_used_at is not None and timezone.now() - self.last_used_at < timedelta(minutes=1)


class AccessToken(models.Model):
    """A bearer token the previous release issued and stored: its public prefix and a keyed hash.
    Tokens are signed now and never stored (credentials.integration.access_tokens); these rows are
    still read until they expire (24 hours at most) and are purged hourly. Each dies when it
    expires, when its credential's secret changes (secret_version) or when the credential is
    deleted (cascade)."""

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
