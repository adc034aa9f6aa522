"""Writes for connection API credentials (Account > Integration and the REST API), their roles
and access tokens. Audited by client ID and secret prefix only.

Access tokens are signed, not stored (credentials.integration.access_tokens); each process checks
them against the credential's facts, at most a second old (credential_facts). Every write here
that changes what a token may do (its secret, its role, the credential itself) makes this process
forget those facts at once; the others see the change within a second.
"""

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from credentials.integration import credential_facts
from credentials.integration import metadata as metadata_rules
from credentials.integration.models import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    MIN_TOKEN_LIFETIME,
    AccessToken,
    ApiCredential,
    Role,
)
from credentials.lib import crypto, secret_rules, text
from portal import audit
from portal.models import Organization, User

# --- Connection API credentials (Account > Integration) and their roles ---------------------------
API_CREDENTIAL_LIMIT_MESSAGE = (
    f"Your account already has {ApiCredential.MAX_CONNECTION_CREDENTIALS} connection API credentials, "
    "the most an account can have. Delete one you no longer use to add another."
)


DEFAULT_ROLES = (("Admin", Role.Kind.ADMIN), ("Read-only", Role.Kind.READ_ONLY))


def api_credential_limit_reached(*, in_use: int) -> bool:
    """The three-per-account rule: whether an account with `in_use` connection API credentials is
    full. The pages ask before they offer a form; api_credential_create enforces it under a lock."""
    return in_use >= ApiCredential.MAX_CONNECTION_CREDENTIALS


class ApiCredentialLimitReached(Exception):
    """The account has its three connection API credentials already; the message is for people."""

    def __init__(self, message: str = API_CREDENTIAL_LIMIT_MESSAGE) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class NewClientSecret:
    """A client secret just set: `value` is shown once and never stored; `prefix` is the public
    part of a generated secret ("" for a typed one)."""

    value: str
    prefix: str
    custom: bool

    def __repr__(self) -> str:  # never print the value by accident
        return f"NewClientSecret(prefix={self.prefix!r}, custom={self.custom})"


class _Unset(enum.Enum):
    """An argument left out: the field keeps its value (None and "" are values)."""

    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


def role_ensure_defaults(*, organization: Organization) -> list[Role]:
    """Give the organization the roles "Admin" and "Read-only" if it lacks them (idempotent;
    audited when created). Returns the two roles, Admin first."""
    roles = []
    with transaction.atomic():
        for name, kind in DEFAULT_ROLES:
            # get_or_create retries the read when a concurrent call inserted the same name first.
            role, created = Role.objects.get_or_create(organization=organization, name=name, defaults={"kind": kind})
            if created:
                audit.record(
                    action="role.create",
                    target=role,
                    organization=organization,
                    summary=f"Created the default role {name} ({role.get_kind_display()}) of {organization}",
                )
            roles.append(role)
    return roles


def organization_roles_on_create(sender: type, instance: Organization, created: bool, **kwargs: object) -> None:
    """post_save of Organization: a new organization is born with its default roles, in the
    transaction that creates it. Like the organization itself they are not audited: the audit log
    records what people change later (role_ensure_defaults, for organizations made before)."""
    if created and not kwargs.get("raw"):
        Role.objects.bulk_create([Role(organization=instance, name=name, kind=kind) for name, kind in DEFAULT_ROLES])


CLIENT_SECRET_KIND = "cs"  # noqa: S105 - a kind, not a secret: generated ones look like prt_cs_...
SECRET_FIELDS = ["secret_prefix", "secret_digest", "custom", "secret_version", "secret_changed_at"]


def _secret_label(credential: ApiCredential) -> str:
    return "a typed secret" if credential.custom else f"generated secret {credential.secret_prefix}"


@sensitive_variables("client_secret", "secret", "digest")
def _apply_secret(credential: ApiCredential, client_secret: str | None) -> NewClientSecret:
    """Give the unsaved credential a new secret: generated when client_secret is None, else the
    typed one after the rules (ValidationError on field client_secret)."""
    if client_secret is None:
        secret = crypto.generate_secret(CLIENT_SECRET_KIND)
        credential.secret_prefix, credential.secret_digest, credential.custom = secret.prefix, secret.digest, False
        return NewClientSecret(value=secret.value, prefix=secret.prefix, custom=False)
    problems = secret_rules.custom_secret_problems(client_secret)
    if not problems and client_secret == credential.client_id:
        problems.append("It is the client ID. A secret must be different from the client ID.")
    # A typed secret has no prt_cs_ prefix to say what it is: it is hashed as a client secret.
    digest = crypto.hash_secret(client_secret, purpose=CLIENT_SECRET_KIND)
    if not problems:
        # The keyed hash is deterministic, so a reused secret is found by its digest alone (either
        # digest: rows stored by the previous release keep theirs, see crypto.secret_digests).
        if credential.pk is not None and crypto.verify_secret(
            client_secret, credential.secret_digest, purpose=CLIENT_SECRET_KIND
        ):
            problems.append("It is this credential's current secret. Type a new one, or keep the current one.")
        elif (
            ApiCredential.objects.filter(
                organization_id=credential.organization_id,
                secret_digest__in=crypto.secret_digests(client_secret, purpose=CLIENT_SECRET_KIND),
            )
            .exclude(pk=credential.pk)
            .exists()
        ):
            problems.append("Another credential of your account uses this secret. Every credential needs its own.")
    if problems:
        raise ValidationError({"client_secret": problems})
    credential.secret_prefix, credential.secret_digest, credential.custom = "", digest, True
    return NewClientSecret(value=client_secret, prefix="", custom=True)


def _check_credential_fields(
    *,
    organization: Organization,
    name: str | Unset = UNSET,
    role: Role | Unset = UNSET,
    redirect_uri: str | Unset = UNSET,
    expires_in: int | Unset = UNSET,
    reference: str | Unset = UNSET,
    reference_origin: str | Unset = UNSET,
    metadata: dict[str, Any] | Unset = UNSET,
) -> None:
    """The rules of an API credential's editable fields, whoever calls; ValidationError names the field.
    Texts follow credentials.lib.text: the name is tidied by the callers first (NFC, stripped),
    references are refused rather than changed, since clients look them up by what they sent."""
    errors: dict[str, ValidationError] = {}
    for field, value in (("name", name), ("reference", reference), ("reference_origin", reference_origin)):
        if value is UNSET:
            continue
        if not isinstance(value, str) or len(value) > 200:
            errors[field] = ValidationError("Text of at most 200 characters.", code="invalid")
        elif reason := text.problem(value, one_script_words=field == "name"):
            errors[field] = ValidationError(reason, code="invalid_character")
    if role is not UNSET and (not isinstance(role, Role) or role.organization_id != organization.pk):
        errors["role"] = ValidationError("Choose a role of your organization.", code="invalid")
    if redirect_uri is not UNSET:
        bad_uri = ValidationError("An https URL of at most 500 characters, or nothing.", code="invalid")
        if not isinstance(redirect_uri, str) or len(redirect_uri) > 500:
            errors["redirect_uri"] = bad_uri
        elif redirect_uri:
            try:
                URLValidator(schemes=["https", "http"])(redirect_uri)
            except ValidationError:
                errors["redirect_uri"] = bad_uri
    if expires_in is not UNSET and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not MIN_TOKEN_LIFETIME <= expires_in <= MAX_TOKEN_LIFETIME
    ):
        errors["expires_in"] = ValidationError(
            f"The token lifetime is a whole number of seconds from {MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME}.",
            code="invalid",
        )
    if metadata is not UNSET and (metadata_error := metadata_rules.problem(metadata)):
        errors["metadata"] = metadata_error
    if errors:
        raise ValidationError(errors)


@sensitive_variables("client_secret", "secret")
def api_credential_create(
    *,
    organization: Organization,
    name: str = "",
    role: Role | None = None,
    client_secret: str | None = None,
    created_by: User | None = None,
    expires_in: int = DEFAULT_TOKEN_LIFETIME,
    mode: str = ApiCredential.Mode.LIVE,
    redirect_uri: str = "",
    reference: str = "",
    reference_origin: str = "",
    metadata: dict | None = None,
    via_client_id: str = "",
) -> tuple[ApiCredential, NewClientSecret]:
    """Add connection API credentials to the account: a new client ID and a secret, generated
    unless one is typed (returned once, stored as a keyed hash). Audited by client ID and secret
    prefix only. Role: the account's "Admin" unless named.

    Raises ApiCredentialLimitReached at three per account, also when several are added at once,
    and ValidationError naming the field. via_client_id: the API client that asked, for the audit.
    """
    metadata = {} if metadata is None else metadata
    if isinstance(name, str):
        name = text.tidy(name)
    _check_credential_fields(
        organization=organization,
        name=name,
        role=UNSET if role is None else role,
        redirect_uri=redirect_uri,
        expires_in=expires_in,
        reference=reference,
        reference_origin=reference_origin,
        metadata=metadata,
    )
    if mode not in ApiCredential.Mode.values:
        raise ValidationError({"mode": "The mode is test or live."})
    with transaction.atomic():
        # The count below and the insert must not interleave with another admin's: lock the
        # account's row first (PostgreSQL: FOR UPDATE; SQLite: its immediate transactions already
        # serialize writers). The second of two simultaneous adds then sees the first's row.
        Organization.objects.select_for_update().only("pk").get(pk=organization.pk)
        in_use = ApiCredential.objects.filter(organization=organization, kind=ApiCredential.Kind.CONNECTION).count()
        if api_credential_limit_reached(in_use=in_use):
            raise ApiCredentialLimitReached()
        if role is None:
            role = role_ensure_defaults(organization=organization)[0]
        credential = ApiCredential(
            organization=organization,
            name=name,
            kind=ApiCredential.Kind.CONNECTION,
            role=role,
            scopes=role.scopes,
            expires_in=expires_in,
            mode=mode,
            redirect_uri=redirect_uri,
            reference=reference,
            reference_origin=reference_origin,
            metadata=metadata,
            created_by=created_by,
        )
        secret = _apply_secret(credential, client_secret)
        credential.save()
        audit.record(
            action="api_credential.create",
            target=credential,
            actor=created_by,
            organization=organization,
            summary=(
                f"Added connection API credentials with client ID {credential.client_id} "
                f"({name or 'no description'}), role {role.name}, {_secret_label(credential)}"
                f"{_via(via_client_id)}"
            ),
        )
    return credential, secret


def _via(client_id: str) -> str:
    """The audit suffix of a change asked for through the REST API (client ID only, never a secret)."""
    return f", through the REST API by client {client_id}" if client_id else ""


def _lock_credential(credential_id: int) -> ApiCredential:
    return (
        ApiCredential.objects.select_for_update(of=("self",))
        .select_related("organization", "role")
        .get(pk=credential_id)
    )


def api_credential_update(
    *,
    credential_id: int,
    updated_by: User | None,
    name: str | Unset = UNSET,
    role: Role | Unset = UNSET,
    redirect_uri: str | Unset = UNSET,
    expires_in: int | Unset = UNSET,
    reference: str | Unset = UNSET,
    reference_origin: str | Unset = UNSET,
    metadata: dict[str, Any] | Unset = UNSET,
    via_client_id: str = "",
) -> ApiCredential:
    """Change what may change of an API credential (never its client ID; audited, before → after).
    Arguments left out stay as they are; saving unchanged values changes and records nothing.
    A new role gives the credential that role's scopes; tokens already issued keep theirs, but
    whatever they do is checked against the credential's role when they are used."""
    if isinstance(name, str):
        name = text.tidy(name)
    with transaction.atomic():
        credential = _lock_credential(credential_id)
        _check_credential_fields(
            organization=credential.organization,
            name=name,
            role=role,
            redirect_uri=redirect_uri,
            expires_in=expires_in,
            reference=reference,
            reference_origin=reference_origin,
            metadata=metadata,
        )
        requested = {
            "name": name,
            "redirect_uri": redirect_uri,
            "expires_in": expires_in,
            "reference": reference,
            "reference_origin": reference_origin,
            "metadata": metadata,
        }
        labels = {"name": "short description", "expires_in": "token lifetime", "redirect_uri": "redirect URI"}
        changes, fields = [], []
        for field, value in requested.items():
            if value is UNSET or getattr(credential, field) == value:
                continue
            label = labels.get(field, field.replace("_", " "))
            old = getattr(credential, field)
            changes.append(f"{label} edited" if field == "metadata" else f"{label} “{old}” → “{value}”")
            setattr(credential, field, value)
            fields.append(field)
        if role is not UNSET and role.pk != credential.role_id:
            changes.append(f"role {credential.role.name} → {role.name}")
            credential.role = role
            credential.scopes = role.scopes
            fields += ["role", "scopes"]
        if not changes:
            return credential
        credential.save(update_fields=[*fields, "updated_at"])
        credential_facts.forget_now_and_on_commit(credential.client_id)  # its role, lifetime, name
        audit.record(
            action="api_credential.update",
            target=credential,
            actor=updated_by,
            organization=credential.organization,
            summary=f"Updated connection API credentials {credential.client_id}: "
            + "; ".join(changes)
            + _via(via_client_id),
        )
    return credential


@sensitive_variables("client_secret", "secret")
def api_credential_set_secret(
    *, credential_id: int, changed_by: User | None, client_secret: str | None = None
) -> tuple[ApiCredential, NewClientSecret]:
    """Give the credential a new secret, generated unless one is typed (returned once). The old
    secret and every access token issued with it stop working at once (audited by prefix only).
    ValidationError on field client_secret when a typed secret breaks the rules."""
    with transaction.atomic():
        credential = _lock_credential(credential_id)
        before = _secret_label(credential)
        secret = _apply_secret(credential, client_secret)
        credential.secret_version += 1
        credential.secret_changed_at = timezone.now()
        credential.save(update_fields=[*SECRET_FIELDS, "updated_at"])
        # The new secret_version refuses every token issued before; the process forgets the old facts.
        credential_facts.forget_now_and_on_commit(credential.client_id)
        # Tokens of the previous release were stored: their rows go too.
        AccessToken.objects.filter(credential=credential).delete()
        audit.record(
            action="api_credential.set_secret",
            target=credential,
            actor=changed_by,
            organization=credential.organization,
            summary=(
                f"Replaced the client secret of {credential.client_id}: {before} → {_secret_label(credential)}; "
                "every access token issued with the old secret revoked"
            ),
        )
    return credential, secret


@sensitive_variables("client_secret")
def api_credential_edit(
    *,
    credential_id: int,
    edited_by: User,
    name: str,
    role: Role,
    new_secret: bool,
    client_secret: str | None = None,
) -> tuple[ApiCredential, NewClientSecret | None]:
    """The pencil icon's Save: short description and role, and a new secret when asked
    (generated unless typed), all or nothing in one transaction (audited)."""
    with transaction.atomic():
        credential = api_credential_update(credential_id=credential_id, updated_by=edited_by, name=name, role=role)
        secret = None
        if new_secret:
            credential, secret = api_credential_set_secret(
                credential_id=credential_id, changed_by=edited_by, client_secret=client_secret
            )
    return credential, secret


def api_credential_delete(*, credential_id: int, deleted_by: User | None, via_client_id: str = "") -> None:
    """Delete the credential and its access tokens, which stop working at once (audited).
    Deleting one that is gone already does nothing (a double click)."""
    with transaction.atomic():
        credential = (
            ApiCredential.objects.select_for_update(of=("self",))
            .select_related("organization", "role")
            .filter(pk=credential_id)
            .first()
        )
        if credential is None:
            return
        audit.record(
            action="api_credential.delete",
            target=credential,
            actor=deleted_by,
            organization=credential.organization,
            summary=(
                f"Deleted connection API credentials {credential.client_id} "
                f"({credential.name or 'no description'}) and its access tokens{_via(via_client_id)}"
            ),
        )
        credential.delete()
        credential_facts.forget_now_and_on_commit(credential.client_id)


LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_credential_mark_used(*, credential_id: int, now: datetime | None = None) -> None:
    """Set last_used_at, unless it was set less than a minute ago (then the row is not written).
    Callers skip even the query when the facts they hold say so (oauth._note_use)."""
    now = now or timezone.now()
    ApiCredential.objects.filter(pk=credential_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def access_token_purge_expired(*, now: datetime | None = None) -> int:
    """Delete stored access tokens (the previous release's) past their expiry (they are refused
    anyway); returns how many. Tokens issued now are signed and never stored."""
    deleted, _ = AccessToken.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
