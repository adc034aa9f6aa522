"""Writes for tenants and connection requests. Each state change locks its row, re-checks the
guard, writes an audit event in the same transaction and returns the object."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from secrets import token_urlsafe

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from credentials import crypto, secret_rules, tasks, validity
from credentials.models import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    MIN_TOKEN_LIFETIME,
    AccessToken,
    Api,
    ApiCredential,
    ApiKey,
    ConnectionRequest,
    KeyDeployment,
    KeySecret,
    Role,
    RuntimeTarget,
    Tenant,
)
from credentials.tenant_credentials import TenantCredentials
from credentials.token_check import TokenCheckResult, check_token
from portal import audit
from portal.models import Organization, User


class ConnectionRequestError(Exception):
    """A state change that the request's current state does not allow; the message is for people."""


class CredentialTestFailed(Exception):
    """The token URL did not hand out a token for the credentials; the message says why."""

    def __init__(self, result: TokenCheckResult) -> None:
        super().__init__(result.message)
        self.result = result


@sensitive_variables("credentials")
def credentials_test(*, credentials: TenantCredentials, skip: bool) -> TokenCheckResult | None:
    """Ask the token URL for a token (outside any transaction). None when the user chose to skip.

    Raises CredentialTestFailed when the test fails.
    """
    if skip:
        return None
    result = check_token(credentials)
    if not result.ok:
        raise CredentialTestFailed(result)
    return result


def tenant_register(*, organization: Organization, alias: str, url: str, registered_by: User) -> Tenant:
    """Register an API Management tenant for the organization (audited)."""
    alias = alias.strip()
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(organization=organization, alias=alias, url=url, registered_by=registered_by)
            audit.record(action="tenant.register", target=tenant, summary=f"Registered tenant {alias} ({url})")
    except IntegrityError as exc:
        raise ValidationError({"alias": f"Your organization already has a tenant called {alias}."}) from exc
    return tenant


def _apply_credentials(
    request: ConnectionRequest,
    credentials: TenantCredentials,
    generated_at: datetime,
    check: TokenCheckResult | None,
    now: datetime,
) -> None:
    request.credential_kind = credentials.kind
    request.credentials = credentials.to_storage()
    request.api_url = credentials.url
    request.token_url = credentials.token_url
    request.cert_url = credentials.cert_url
    request.client_id = credentials.client_id
    request.certificate_subject = credentials.certificate_subject
    request.certificate_not_after = credentials.certificate_not_after
    request.generated_at = generated_at
    request.expires_at = validity.credential_expiry(generated_at, credentials.certificate_not_after)
    request.credentials_updated_at = now
    if check is None:
        request.health = ConnectionRequest.Health.UNTESTED
        request.health_message = "Saved without a credential test."
    else:
        request.health = ConnectionRequest.Health.HEALTHY
        request.health_message = check.message
    request.health_checked_at = now


CREDENTIAL_FIELDS = [
    "credential_kind",
    "credentials",
    "api_url",
    "token_url",
    "cert_url",
    "client_id",
    "certificate_subject",
    "certificate_not_after",
    "generated_at",
    "expires_at",
    "credentials_updated_at",
    "health",
    "health_message",
    "health_checked_at",
    "updated_at",
]


def _test_note(check: TokenCheckResult | None) -> str:
    return "credential test passed" if check is not None else "saved WITHOUT a credential test (user's choice)"


@sensitive_variables("credentials")
def connection_request_create(
    *,
    tenant: Tenant,
    credentials: TenantCredentials,
    generated_at: datetime,
    submitted_by: User,
    check: TokenCheckResult | None,
) -> ConnectionRequest:
    """Create a submitted connection request (audited). Run inside the caller's transaction,
    which also opens its approval. Raises ConnectionRequestError if the tenant has an open one."""
    now = timezone.now()
    if ConnectionRequest.objects.filter(tenant=tenant, status__in=ConnectionRequest.OPEN_STATUSES).exists():
        raise ConnectionRequestError(
            f"{tenant.alias} already has a submitted or approved connection request. "
            "Edit its credentials, or re-establish the approved connection, instead."
        )
    request = ConnectionRequest(tenant=tenant, submitted_by=submitted_by, status=ConnectionRequest.Status.SUBMITTED)
    _apply_credentials(request, credentials, generated_at, check, now)
    try:
        with transaction.atomic():  # a savepoint: the unique constraint may still race us
            request.save()
    except IntegrityError as exc:
        raise ConnectionRequestError(f"{tenant.alias} already has a submitted or approved connection request.") from exc
    audit.record(
        action="connection_request.submit",
        target=request,
        organization=tenant.organization,
        summary=f"Submitted {request.credential_label} for {tenant.alias}; {_test_note(check)}",
    )
    return request


@sensitive_variables("credentials")
def connection_request_update_credentials(
    *,
    connection_request_id: int,
    credentials: TenantCredentials,
    generated_at: datetime,
    updated_by: User,
    check: TokenCheckResult | None,
) -> ConnectionRequest:
    """Replace the credentials of a request that is still submitted (S1; audited)."""
    with transaction.atomic():
        request = (
            ConnectionRequest.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=connection_request_id)
        )
        if request.status != ConnectionRequest.Status.SUBMITTED:
            raise ConnectionRequestError(
                f"This connection request is {request.get_status_display().lower()}: "
                "its credentials can no longer be edited."
            )
        _apply_credentials(request, credentials, generated_at, check, timezone.now())
        request.save(update_fields=CREDENTIAL_FIELDS)
        audit.record(
            action="connection_request.edit_credentials",
            target=request,
            actor=updated_by,
            organization=request.tenant.organization,
            summary=f"Replaced credentials with {request.credential_label}; {_test_note(check)}",
        )
    return request


@sensitive_variables("credentials")
def connection_request_reestablish(
    *,
    connection_request_id: int,
    credentials: TenantCredentials,
    generated_at: datetime,
    updated_by: User,
    check: TokenCheckResult | None,
) -> ConnectionRequest:
    """Give an approved connection fresh credentials (S2; audited). The old ones stop being used
    and the validity restarts from the new credentials' generation."""
    with transaction.atomic():
        request = (
            ConnectionRequest.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=connection_request_id)
        )
        if request.status != ConnectionRequest.Status.APPROVED:
            raise ConnectionRequestError("Only an approved connection can be re-established.")
        _apply_credentials(request, credentials, generated_at, check, timezone.now())
        request.save(update_fields=CREDENTIAL_FIELDS)
        audit.record(
            action="connection_request.reestablish",
            target=request,
            actor=updated_by,
            organization=request.tenant.organization,
            summary=(
                f"Re-established with {request.credential_label}, valid until {request.expires_at:%Y-%m-%d}; "
                f"{_test_note(check)}"
            ),
        )
    return request


def _decide(connection_request_id: int, status: str, decided_by: User, reason: str) -> ConnectionRequest:
    request = (
        ConnectionRequest.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=connection_request_id)
    )
    if request.status == status:
        return request  # applied already: a repeated call changes nothing
    if not request.can_transition_to(status):
        raise ConnectionRequestError(f"This connection request is already {request.get_status_display().lower()}.")
    request.status = status
    request.decided_by = decided_by
    request.decided_at = timezone.now()
    request.rejection_reason = reason
    request.save(update_fields=["status", "decided_by", "decided_at", "rejection_reason", "updated_at"])
    verb = "Approved" if status == ConnectionRequest.Status.APPROVED else "Rejected"
    audit.record(
        action=f"connection_request.{'approve' if verb == 'Approved' else 'reject'}",
        target=request,
        actor=decided_by,
        organization=request.tenant.organization,
        summary=f"{verb} the connection of {request.tenant.alias}" + (f": {reason[:300]}" if reason else ""),
    )
    tasks.send_connection_request_decision_email.delay_on_commit(request.pk)
    return request


def connection_request_approve(*, connection_request_id: int, decided_by: User) -> ConnectionRequest:
    """Establish the connection (called by approvals when the policy is met; audited, emailed)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("connection_request_approve runs inside the approval's transaction")
    return _decide(connection_request_id, ConnectionRequest.Status.APPROVED, decided_by, "")


def connection_request_reject(*, connection_request_id: int, decided_by: User, reason: str) -> ConnectionRequest:
    """Reject the request with a reason (called by approvals; audited, emailed)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("connection_request_reject runs inside the approval's transaction")
    return _decide(connection_request_id, ConnectionRequest.Status.REJECTED, decided_by, reason)


# --- API keys -------------------------------------------------------------------------------------
class ApiKeyError(Exception):
    """An API key action the key's state does not allow; the message is for people."""


def _lock_key(api_key_id: int) -> ApiKey:
    return (
        ApiKey.objects.select_for_update(of=("self",))
        .select_related("api__runtime_target", "consumer")
        .get(pk=api_key_id)
    )


def _expiry_from(api: Api, start: datetime) -> datetime | None:
    return None if api.key_lifetime_days is None else start + timedelta(days=api.key_lifetime_days)


def _key_payload(api_key: ApiKey, deployment_id: str) -> dict[str, object]:
    """What a runtime target is told about a key: prefixes and keyed hashes, never a key."""
    now = timezone.now()
    secrets = api_key.secrets.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now)).order_by("-created_at")
    return {
        "deployment_id": deployment_id,
        "api": api_key.api.slug,
        "key_id": api_key.prefix,
        "consumer": api_key.consumer.username,
        # The enforced state only: "pending renewal" is a portal matter, the key stays active.
        "status": ApiKey.Status.EXPIRED
        if api_key.status == ApiKey.Status.ACTIVE and api_key.is_expired(now)
        else api_key.status,
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
        "secrets": [
            {
                "prefix": secret.prefix,
                "hash": secret.digest,
                "valid_until": secret.valid_until.isoformat() if secret.valid_until else None,
            }
            for secret in secrets
        ],
    }


def api_key_deploy(*, api_key: ApiKey, reason: str) -> KeyDeployment | None:
    """The "Deploy Access Key" step: record the key's new state for its API's runtime target and
    send it after commit (retried until the target accepts). Runs in the caller's transaction."""
    target = api_key.api.runtime_target
    if target is None:
        if api_key.deployment_state != ApiKey.Deployment.NONE:
            api_key.deployment_state = ApiKey.Deployment.NONE
            api_key.save(update_fields=["deployment_state", "updated_at"])
        return None
    # A newer state replaces whatever older one has not gone out yet.
    KeyDeployment.objects.filter(api_key=api_key, state=KeyDeployment.State.PENDING).update(
        state=KeyDeployment.State.SUPERSEDED
    )
    deployment = KeyDeployment(api_key=api_key, target=target, reason=reason, payload={})
    deployment.payload = _key_payload(api_key, str(deployment.deployment_id))
    deployment.next_attempt_at = timezone.now()
    deployment.save()
    api_key.deployment_state = ApiKey.Deployment.PENDING
    api_key.save(update_fields=["deployment_state", "updated_at"])
    tasks.deploy_access_key.delay_on_commit(deployment.pk)
    return deployment


def _new_secret(api_key: ApiKey) -> crypto.GeneratedSecret:
    secret = crypto.generate_secret("key")
    KeySecret.objects.create(api_key=api_key, prefix=secret.prefix, digest=secret.digest)
    return secret


def api_key_issue(*, api: Api, consumer: User, pending: bool = False) -> tuple[ApiKey, crypto.GeneratedSecret]:
    """Issue a key for the consumer; the secret is returned once and never stored in clear.

    pending=True (the API needs approval) keeps the key unusable until api_key_activate.
    Raises ApiKeyError when the consumer already holds a usable key for the API.
    """
    now = timezone.now()
    with transaction.atomic():
        if ApiKey.objects.filter(consumer=consumer, api=api, status__in=ApiKey.OPEN_STATUSES).exists():
            raise ApiKeyError(f"You already have a key for {api.name}. Renew or rotate it instead.")
        key = ApiKey(
            consumer=consumer,
            api=api,
            status=ApiKey.Status.PENDING if pending else ApiKey.Status.ACTIVE,
            expires_at=None if pending else _expiry_from(api, now),
        )
        try:
            with transaction.atomic():
                key.save()
        except IntegrityError as exc:
            raise ApiKeyError(f"You already have a key for {api.name}.") from exc
        secret = _new_secret(key)
        key.prefix = secret.prefix
        key.save(update_fields=["prefix", "updated_at"])  # after its secret: the gateway's sync
        audit.record(
            action="api_key.issue",
            target=key,
            actor=consumer,
            summary=f"Issued key {key.prefix} for {api.name}" + (" (waiting for approval)" if pending else ""),
        )
        if not pending:
            api_key_deploy(api_key=key, reason="issued")
    return key, secret


@transaction.atomic
def api_key_activate(*, api_key_id: int, decided_by: User) -> ApiKey:
    """Activate a key whose issue was approved; its lifetime starts now (audited, deployed, emailed)."""
    key = _lock_key(api_key_id)
    if key.status == ApiKey.Status.ACTIVE:
        return key
    if not key.can_transition_to(ApiKey.Status.ACTIVE) or key.status != ApiKey.Status.PENDING:
        raise ApiKeyError(f"This key is {key.get_status_display().lower()}.")
    key.status = ApiKey.Status.ACTIVE
    key.expires_at = _expiry_from(key.api, timezone.now())
    key.save(update_fields=["status", "expires_at", "updated_at"])
    audit.record(action="api_key.activate", target=key, actor=decided_by, summary=f"Approved new key {key.prefix}")
    api_key_deploy(api_key=key, reason="issued")
    tasks.send_api_key_email.delay_on_commit(key.pk, "key-activated", "")
    return key


@transaction.atomic
def api_key_decline(*, api_key_id: int, decided_by: User, reason: str) -> ApiKey:
    """A new key's approval was refused: the key never becomes usable (audited, emailed)."""
    key = _lock_key(api_key_id)
    if key.status == ApiKey.Status.REJECTED:
        return key
    if key.status != ApiKey.Status.PENDING:
        raise ApiKeyError(f"This key is {key.get_status_display().lower()}.")
    key.status = ApiKey.Status.REJECTED
    key.save(update_fields=["status", "updated_at"])
    audit.record(action="api_key.decline", target=key, actor=decided_by, summary=f"Refused new key: {reason[:300]}")
    tasks.send_api_key_email.delay_on_commit(key.pk, "key-request-rejected", reason)
    return key


def api_key_renew(*, api_key_id: int, renewed_by: User) -> ApiKey:
    """Renew a key: the API's lifetime counted from now. Deploys it and emails the consumer the
    new validity. Runs in the caller's transaction when there is one (an approval's)."""
    with transaction.atomic():
        key = _lock_key(api_key_id)
        if key.is_unlimited or key.api.keys_are_unlimited:
            raise ApiKeyError("Keys with an unlimited expiration period are not renewed.")
        if key.status not in (ApiKey.Status.ACTIVE, ApiKey.Status.EXPIRED):
            raise ApiKeyError(f"This key is {key.get_status_display().lower()} and cannot be renewed.")
        now = timezone.now()
        previous = key.expires_at
        key.status = ApiKey.Status.ACTIVE
        key.expires_at = _expiry_from(key.api, now)
        key.renewed_at = now
        key.renewal_pending_since = None
        key.save(update_fields=["status", "expires_at", "renewed_at", "renewal_pending_since", "updated_at"])
        audit.record(
            action="api_key.renew",
            target=key,
            actor=renewed_by,
            summary=f"Renewed {key.prefix} until {key.expires_at:%Y-%m-%d} (was {previous:%Y-%m-%d})",
        )
        api_key_deploy(api_key=key, reason="renewed")
        tasks.send_api_key_email.delay_on_commit(key.pk, "key-renewed", "")
    return key


@transaction.atomic
def api_key_mark_renewal_pending(*, api_key_id: int) -> ApiKey:
    """Note that a renewal waits for approval (called by approvals in its transaction)."""
    key = _lock_key(api_key_id)
    if not key.can_renew:
        if key.is_unlimited:
            raise ApiKeyError("Keys with an unlimited expiration period are not renewed.")
        if key.renewal_pending_since:
            raise ApiKeyError("A renewal of this key is already waiting for approval.")
        raise ApiKeyError(f"This key is {key.get_status_display().lower()} and cannot be renewed.")
    key.renewal_pending_since = timezone.now()
    key.save(update_fields=["renewal_pending_since", "updated_at"])
    return key


@transaction.atomic
def api_key_clear_renewal_pending(*, api_key_id: int, reason: str, actor: User | None = None) -> ApiKey:
    """A pending renewal ended without renewing (rejected or withdrawn); emails a rejection."""
    key = _lock_key(api_key_id)
    key.renewal_pending_since = None
    key.save(update_fields=["renewal_pending_since", "updated_at"])
    if reason:
        tasks.send_api_key_email.delay_on_commit(key.pk, "key-renewal-rejected", reason)
    return key


def api_key_revoke(*, api_key_id: int, revoked_by: User) -> ApiKey:
    """Revoke a key for good: every secret stops working (audited, withdrawn from the target)."""
    with transaction.atomic():
        key = _lock_key(api_key_id)
        if key.status == ApiKey.Status.REVOKED:
            return key
        if not key.can_transition_to(ApiKey.Status.REVOKED):
            raise ApiKeyError(f"This key is {key.get_status_display().lower()}.")
        now = timezone.now()
        key.status = ApiKey.Status.REVOKED
        key.revoked_at = now
        key.renewal_pending_since = None
        key.save(update_fields=["status", "revoked_at", "renewal_pending_since", "updated_at"])
        audit.record(action="api_key.revoke", target=key, actor=revoked_by, summary=f"Revoked {key.prefix}")
        api_key_deploy(api_key=key, reason="revoked")
    return key


MAX_ROTATION_GRACE = timedelta(days=7)


def api_key_rotate(*, api_key_id: int, rotated_by: User, grace: timedelta) -> tuple[ApiKey, crypto.GeneratedSecret]:
    """Give the key a new secret (returned once); the current one keeps working for `grace`
    (0 to 7 days) so clients can switch without breaking (audited, deployed)."""
    if grace < timedelta(0) or grace > MAX_ROTATION_GRACE:
        raise ApiKeyError("The grace period is between 0 (revoke now) and 7 days.")
    with transaction.atomic():
        key = _lock_key(api_key_id)
        if key.status != ApiKey.Status.ACTIVE or key.is_expired():
            raise ApiKeyError("Only an active key can be rotated.")
        now = timezone.now()
        # Earlier rotated secrets keep their own end; the current one ends after the grace. (No
        # updated_at on secrets: the key's own save below, in this transaction, tells the gateway.)
        key.secrets.filter(valid_until__isnull=True).update(valid_until=now + grace)
        secret = _new_secret(key)
        old_prefix = key.prefix
        key.prefix = secret.prefix
        key.save(update_fields=["prefix", "updated_at"])
        audit.record(
            action="api_key.rotate",
            target=key,
            actor=rotated_by,
            summary=(
                f"Rotated {old_prefix} to {key.prefix}; the old secret works until {now + grace:%Y-%m-%d %H:%M} UTC"
            ),
        )
        api_key_deploy(api_key=key, reason="rotated")
    return key, secret


def api_key_set_expiry(*, api_key_id: int, expires_at: datetime | None, changed_by: User) -> ApiKey:
    """The API provider sets one key's expiry, or makes it unlimited (audited, deployed, emailed)."""
    with transaction.atomic():
        key = _lock_key(api_key_id)
        if key.status in (ApiKey.Status.REVOKED, ApiKey.Status.REJECTED):
            raise ApiKeyError(f"This key is {key.get_status_display().lower()}.")
        previous = key.expires_at
        key.expires_at = expires_at
        if key.status == ApiKey.Status.EXPIRED and (expires_at is None or expires_at > timezone.now()):
            key.status = ApiKey.Status.ACTIVE
        key.save(update_fields=["expires_at", "status", "updated_at"])

        def label(value: datetime | None) -> str:
            return "unlimited" if value is None else f"{value:%Y-%m-%d %H:%M}"

        audit.record(
            action="api_key.set_expiry",
            target=key,
            actor=changed_by,
            summary=f"Changed the expiry of {key.prefix} from {label(previous)} to {label(expires_at)}",
        )
        api_key_deploy(api_key=key, reason="changed")
        tasks.send_api_key_email.delay_on_commit(key.pk, "key-expiry-changed", "")
    return key


# --- APIs and their consumption settings (Admin Center) -------------------------------------------
MAX_KEY_LIFETIME_DAYS = 3650


def _check_api_settings(
    *,
    key_lifetime_days: int | None,
    renewal_requires_approval: bool,
    approval_mode: str,
    approvers: list[User],
    approver_group: Group | None,
) -> None:
    """The rules of consumption settings, whoever calls; ValidationError names the field."""
    errors: dict[str, str] = {}
    if key_lifetime_days is not None and not 1 <= key_lifetime_days <= MAX_KEY_LIFETIME_DAYS:
        errors["key_lifetime_days"] = (
            f"The key lifetime is between 1 and {MAX_KEY_LIFETIME_DAYS} days; "
            "choose Unlimited for keys that never expire."
        )
    if approval_mode not in Api.ApprovalMode.values:
        errors["approval_mode"] = "Choose “Any one approver” or “All approvers”."
    if renewal_requires_approval and not approvers and approver_group is None:
        errors["approvers"] = "Renewal needs approval: choose at least one approver or an approver group."
    if any(not user.is_active for user in approvers):
        errors["approvers"] = "Only active users can be approvers."
    if errors:
        raise ValidationError(errors)


def _settings_facts(
    *,
    name: str,
    slug: str,
    description: str,
    provider: Organization,
    key_lifetime_days: int | None,
    renewal_requires_approval: bool,
    approval_mode: str,
    approvers: Iterable[User],
    approver_group: Group | None,
    runtime_target: RuntimeTarget | None,
) -> dict[str, str]:
    """The audited facts of an API's settings, as people read them."""
    return {
        "name": name,
        "slug": slug,
        "description": description,
        "provider": str(provider),
        "key lifetime": "Unlimited" if key_lifetime_days is None else f"{key_lifetime_days} days",
        "renewal approval": "required" if renewal_requires_approval else "not required",
        "approval mode": Api.ApprovalMode(approval_mode).label,
        "approvers": ", ".join(sorted(user.username for user in approvers)) or "none",
        "approver group": approver_group.name if approver_group else "none",
        "runtime target": runtime_target.name if runtime_target else "none",
    }


def _api_facts(api: Api) -> dict[str, str]:
    return _settings_facts(
        name=api.name,
        slug=api.slug,
        description=api.description,
        provider=api.provider,
        key_lifetime_days=api.key_lifetime_days,
        renewal_requires_approval=api.renewal_requires_approval,
        approval_mode=api.approval_mode,
        approvers=api.approvers.all(),
        approver_group=api.approver_group,
        runtime_target=api.runtime_target,
    )


def _snapshot_summary(facts: dict[str, str]) -> str:
    return "; ".join(f"{label} {value}" for label, value in facts.items() if label not in ("name", "description"))


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changes = []
    for label, old in before.items():
        new = after[label]
        if old == new:
            continue
        changes.append("description edited" if label == "description" else f"{label} {old} → {new}")
    return changes


def _slug_taken(slug: str) -> ValidationError:
    return ValidationError({"slug": f"Another API already uses the slug “{slug}”."})


def api_create(
    *,
    name: str,
    slug: str,
    description: str,
    provider: Organization,
    key_lifetime_days: int | None,
    renewal_requires_approval: bool,
    approval_mode: str,
    approvers: Iterable[User],
    approver_group: Group | None,
    runtime_target: RuntimeTarget | None,
    created_by: User,
) -> Api:
    """Create an API with its consumption settings (audited). ValidationError names the field."""
    approvers = list(approvers)
    _check_api_settings(
        key_lifetime_days=key_lifetime_days,
        renewal_requires_approval=renewal_requires_approval,
        approval_mode=approval_mode,
        approvers=approvers,
        approver_group=approver_group,
    )
    try:
        with transaction.atomic():
            api = Api.objects.create(
                name=name,
                slug=slug,
                description=description,
                provider=provider,
                key_lifetime_days=key_lifetime_days,
                renewal_requires_approval=renewal_requires_approval,
                approval_mode=approval_mode,
                approver_group=approver_group,
                runtime_target=runtime_target,
            )
            api.approvers.set(approvers)
            audit.record(
                action="api.create",
                target=api,
                actor=created_by,
                organization=provider,
                summary=f"Created API {api.name}: {_snapshot_summary(_api_facts(api))}",
            )
    except IntegrityError as exc:  # the slug's unique index: a concurrent create took it
        raise _slug_taken(slug) from exc
    return api


def api_update(
    *,
    api_id: int,
    name: str,
    slug: str,
    description: str,
    provider: Organization,
    key_lifetime_days: int | None,
    renewal_requires_approval: bool,
    approval_mode: str,
    approvers: Iterable[User],
    approver_group: Group | None,
    runtime_target: RuntimeTarget | None,
    updated_by: User,
) -> Api:
    """Change an API's consumption settings (audited, before → after). A new lifetime applies to
    keys issued or renewed from now on. A new runtime target gets every usable key deployed to it.
    Saving unchanged settings changes and records nothing."""
    approvers = list(approvers)
    _check_api_settings(
        key_lifetime_days=key_lifetime_days,
        renewal_requires_approval=renewal_requires_approval,
        approval_mode=approval_mode,
        approvers=approvers,
        approver_group=approver_group,
    )
    try:
        with transaction.atomic():
            api = (
                Api.objects.select_for_update(of=("self",))
                .select_related("provider", "runtime_target", "approver_group")
                .get(pk=api_id)
            )
            changes = _changes(
                _api_facts(api),
                _settings_facts(
                    name=name,
                    slug=slug,
                    description=description,
                    provider=provider,
                    key_lifetime_days=key_lifetime_days,
                    renewal_requires_approval=renewal_requires_approval,
                    approval_mode=approval_mode,
                    approvers=approvers,
                    approver_group=approver_group,
                    runtime_target=runtime_target,
                ),
            )
            if not changes:
                return api  # nothing changed (a second click, or Save without edits): nothing to record
            previous_target_id = api.runtime_target_id
            api.name = name
            api.slug = slug
            api.description = description
            api.provider = provider
            api.key_lifetime_days = key_lifetime_days
            api.renewal_requires_approval = renewal_requires_approval
            api.approval_mode = approval_mode
            api.approver_group = approver_group
            api.runtime_target = runtime_target
            api.save()
            api.approvers.set(approvers)
            if api.runtime_target_id != previous_target_id:
                deployed = _deploy_open_keys(api)
                if deployed:
                    changes.append(f"{deployed} key{'s' if deployed != 1 else ''} queued for deployment")
            audit.record(
                action="api.update",
                target=api,
                actor=updated_by,
                organization=api.provider,
                summary=f"Updated API {api.name}: " + "; ".join(changes),
            )
    except IntegrityError as exc:
        raise _slug_taken(slug) from exc
    return api


def _deploy_open_keys(api: Api) -> int:
    """The API moved to another runtime target (or to none): send each usable key's state there."""
    # of=("self",): lock the keys, not the consumers joined in for the payload.
    keys = (
        ApiKey.objects.select_for_update(of=("self",))
        .filter(api=api, status__in=(ApiKey.Status.ACTIVE, ApiKey.Status.EXPIRED))
        .select_related("consumer")
        .order_by("pk")
    )
    count = 0
    for key in keys:
        key.api = api
        api_key_deploy(api_key=key, reason="changed")
        count += 1
    return count if api.runtime_target_id else 0


# --- Runtime targets (Admin Center) ---------------------------------------------------------------
@dataclass(frozen=True)
class TargetCredentials:
    """A runtime target's new credentials, returned once: Portico keeps the signing secret only
    encrypted and the verify token only as a keyed hash."""

    signing_secret: str
    verify_token: str
    verify_token_prefix: str

    def __repr__(self) -> str:  # never print the values by accident
        return f"TargetCredentials(verify_token_prefix={self.verify_token_prefix!r})"


@sensitive_variables("signing_secret", "token")
def _new_target_credentials(target: RuntimeTarget) -> TargetCredentials:
    signing_secret = token_urlsafe(32)
    token = crypto.generate_secret("gw")
    target.signing_secret = signing_secret
    target.verify_token_prefix = token.prefix
    target.verify_token_digest = token.digest
    return TargetCredentials(signing_secret=signing_secret, verify_token=token.value, verify_token_prefix=token.prefix)


def _target_name_taken(name: str) -> ValidationError:
    return ValidationError({"name": f"Another runtime target is called “{name}”."})


@sensitive_variables("credentials")
def runtime_target_create(
    *, name: str, base_url: str, health_url: str, created_by: User
) -> tuple[RuntimeTarget, TargetCredentials]:
    """Register a gateway with a new signing secret and verify token, returned once (audited by
    the token's prefix only). ValidationError names the field."""
    target = RuntimeTarget(name=name, base_url=base_url, health_url=health_url)
    credentials = _new_target_credentials(target)
    try:
        with transaction.atomic():
            target.save()
            audit.record(
                action="runtime_target.create",
                target=target,
                actor=created_by,
                summary=(
                    f"Created runtime target {name} ({base_url}) with a new signing secret and "
                    f"verify token {credentials.verify_token_prefix}"
                ),
            )
    except IntegrityError as exc:
        raise _target_name_taken(name) from exc
    return target, credentials


def runtime_target_update(
    *, target_id: int, name: str, base_url: str, health_url: str, updated_by: User
) -> RuntimeTarget:
    """Rename or move a gateway (audited, before → after). New URLs make its health unknown until
    the next check. Saving unchanged values changes and records nothing."""
    try:
        with transaction.atomic():
            target = RuntimeTarget.objects.select_for_update().get(pk=target_id)
            before = {"name": target.name, "base URL": target.base_url, "health URL": target.health_url or "none"}
            after = {"name": name, "base URL": base_url, "health URL": health_url or "none"}
            changes = [f"{label} {before[label]} → {after[label]}" for label in before if before[label] != after[label]]
            if not changes:
                return target
            fields = ["name", "base_url", "health_url"]
            if (target.base_url, target.health_url) != (base_url, health_url):
                target.health = RuntimeTarget.Health.UNKNOWN
                target.health_checked_at = None
                target.health_message = "The URLs changed; not checked since."
                fields += ["health", "health_checked_at", "health_message"]
            target.name, target.base_url, target.health_url = name, base_url, health_url
            target.save(update_fields=fields)
            audit.record(
                action="runtime_target.update",
                target=target,
                actor=updated_by,
                summary=f"Updated runtime target {name}: " + "; ".join(changes),
            )
    except IntegrityError as exc:
        raise _target_name_taken(name) from exc
    return target


@sensitive_variables("credentials")
def runtime_target_regenerate_credentials(
    *, target_id: int, regenerated_by: User
) -> tuple[RuntimeTarget, TargetCredentials]:
    """Replace a gateway's signing secret and verify token; the old ones stop working at once.
    The new ones are returned once (audited by the token's prefix only)."""
    with transaction.atomic():
        target = RuntimeTarget.objects.select_for_update().get(pk=target_id)
        old_prefix = target.verify_token_prefix
        credentials = _new_target_credentials(target)
        target.save(update_fields=["signing_secret", "verify_token_prefix", "verify_token_digest"])
        audit.record(
            action="runtime_target.regenerate_credentials",
            target=target,
            actor=regenerated_by,
            summary=(
                f"Regenerated the signing secret and verify token of {target.name}: "
                f"verify token {old_prefix} replaced by {credentials.verify_token_prefix}"
            ),
        )
    return target, credentials


# --- Connection API credentials (Account > Integration) and their roles ---------------------------
API_CREDENTIAL_LIMIT_MESSAGE = (
    f"Your account already has {ApiCredential.MAX_CONNECTION_CREDENTIALS} connection API credentials, "
    "the most an account can have. Delete one you no longer use to add another."
)
DEFAULT_ROLES = (("Admin", Role.Kind.ADMIN), ("Read-only", Role.Kind.READ_ONLY))


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


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: object = _Unset()


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


SECRET_FIELDS = ["secret_prefix", "secret_digest", "custom", "secret_version", "secret_changed_at"]


def _secret_label(credential: ApiCredential) -> str:
    return "a typed secret" if credential.custom else f"generated secret {credential.secret_prefix}"


@sensitive_variables("client_secret", "secret", "digest")
def _apply_secret(credential: ApiCredential, client_secret: str | None) -> NewClientSecret:
    """Give the unsaved credential a new secret: generated when client_secret is None, else the
    typed one after the rules (ValidationError on field client_secret)."""
    if client_secret is None:
        secret = crypto.generate_secret("cs")
        credential.secret_prefix, credential.secret_digest, credential.custom = secret.prefix, secret.digest, False
        return NewClientSecret(value=secret.value, prefix=secret.prefix, custom=False)
    problems = secret_rules.custom_secret_problems(client_secret)
    if not problems and client_secret == credential.client_id:
        problems.append("It is the client ID. A secret must be different from the client ID.")
    digest = crypto.hash_secret(client_secret)
    if not problems:
        # The keyed hash is deterministic, so a reused secret is found by its digest alone.
        if credential.pk is not None and crypto.verify_secret(client_secret, credential.secret_digest):
            problems.append("It is this credential's current secret. Type a new one, or keep the current one.")
        elif (
            ApiCredential.objects.filter(organization_id=credential.organization_id, secret_digest=digest)
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
    name: object = UNSET,
    role: object = UNSET,
    redirect_uri: object = UNSET,
    expires_in: object = UNSET,
    reference: object = UNSET,
    reference_origin: object = UNSET,
    metadata: object = UNSET,
) -> None:
    """The rules of an API credential's editable fields, whoever calls; ValidationError names the field."""
    from django.core.validators import URLValidator

    errors: dict[str, str] = {}
    for field, value in (("name", name), ("reference", reference), ("reference_origin", reference_origin)):
        if value is not UNSET and (not isinstance(value, str) or len(value) > 200):
            errors[field] = "Text of at most 200 characters."
    if role is not UNSET and (not isinstance(role, Role) or role.organization_id != organization.pk):
        errors["role"] = "Choose a role of your organization."
    if redirect_uri is not UNSET:
        if not isinstance(redirect_uri, str) or len(redirect_uri) > 500:
            errors["redirect_uri"] = "An https URL of at most 500 characters, or nothing."
        elif redirect_uri:
            try:
                URLValidator(schemes=["https", "http"])(redirect_uri)
            except ValidationError:
                errors["redirect_uri"] = "An https URL of at most 500 characters, or nothing."
    if expires_in is not UNSET and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not MIN_TOKEN_LIFETIME <= expires_in <= MAX_TOKEN_LIFETIME
    ):
        errors["expires_in"] = (
            f"The token lifetime is a whole number of seconds from {MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME}."
        )
    if metadata is not UNSET and not isinstance(metadata, dict):
        errors["metadata"] = "Metadata is a JSON object."
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
    name = name.strip() if isinstance(name, str) else name
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
        if in_use >= ApiCredential.MAX_CONNECTION_CREDENTIALS:
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
    name: object = UNSET,
    role: object = UNSET,
    redirect_uri: object = UNSET,
    expires_in: object = UNSET,
    reference: object = UNSET,
    reference_origin: object = UNSET,
    metadata: object = UNSET,
    via_client_id: str = "",
) -> ApiCredential:
    """Change what may change of an API credential (never its client ID; audited, before → after).
    Arguments left out stay as they are; saving unchanged values changes and records nothing.
    A new role gives the credential that role's scopes; tokens already issued keep theirs, but
    whatever they do is checked against the credential's role when they are used."""
    if isinstance(name, str):
        name = name.strip()
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
        # secret_version already kills them; deleting keeps the table to live tokens.
        revoked, _ = AccessToken.objects.filter(credential=credential).delete()
        audit.record(
            action="api_credential.set_secret",
            target=credential,
            actor=changed_by,
            organization=credential.organization,
            summary=(
                f"Replaced the client secret of {credential.client_id}: {before} → {_secret_label(credential)}; "
                f"{revoked} access token{'s' if revoked != 1 else ''} revoked"
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


def access_token_store(
    *, credential: ApiCredential, prefix: str, digest: str, scopes: str, expires_in: int
) -> AccessToken:
    """Keep a token just issued by POST /oauth/token: prefix and keyed hash only. Notes the
    credential's last use (at most one write a minute per credential)."""
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A token lost in a crash right after its answer costs its client one more token
            # request, so no token answer waits for a WAL flush to disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        token = AccessToken.objects.create(
            credential=credential,
            prefix=prefix,
            digest=digest,
            scopes=scopes,
            secret_version=credential.secret_version,
            expires_at=now + timedelta(seconds=expires_in),
        )
        api_credential_mark_used(credential=credential, now=now)
    return token


LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_credential_mark_used(*, credential: ApiCredential, now: datetime | None = None) -> None:
    """Set last_used_at, skipping the write when it was set less than a minute ago."""
    now = now or timezone.now()
    if credential.last_used_at is not None and now - credential.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiCredential.objects.filter(pk=credential.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    credential.last_used_at = now


def access_token_purge_expired(*, now: datetime | None = None) -> int:
    """Delete access tokens past their expiry (they are refused anyway); returns how many."""
    deleted, _ = AccessToken.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
