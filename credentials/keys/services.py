"""Writes for API keys: issue, renew, rotate, revoke, set expiry, and the "Deploy Access Key" step
that records each new state for the API's runtime target. Each locks the key, re-checks the guard
and audits in the same transaction."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from credentials.keys import notifications
from credentials.keys.models import Api, ApiKey, KeyDeployment, KeySecret, RuntimeTarget
from credentials.lib import approval_port, crypto
from credentials.lib.approval_port import Approval
from portal import audit, jobs
from portal.models import User


class ApiKeyError(Exception):
    """An API key action the key's state does not allow; the message is for people."""


# The status a runtime target is sent for a key it no longer serves: not "active", so a target that
# does not know the word refuses the key all the same.
REMOVED = "removed"


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


def _queue_deployment(api_key: ApiKey, target: RuntimeTarget, reason: str, payload: dict[str, object]) -> KeyDeployment:
    # A newer state for this target replaces whatever older one has not gone out to it yet;
    # what waits for another target (a removal from the previous one) is that target's own.
    KeyDeployment.objects.filter(api_key=api_key, target=target, state=KeyDeployment.State.PENDING).update(
        state=KeyDeployment.State.SUPERSEDED
    )
    deployment = KeyDeployment(api_key=api_key, target=target, reason=reason, payload={})
    deployment.payload = {**payload, "deployment_id": str(deployment.deployment_id)}
    deployment.next_attempt_at = timezone.now()
    deployment.save()
    jobs.enqueue_on_commit("credentials.keys.tasks.deploy_access_key", deployment.pk)
    return deployment


def api_key_deploy(*, api_key: ApiKey, reason: str) -> KeyDeployment | None:
    """The "Deploy Access Key" step: record the key's new state for its API's runtime target and
    send it after commit (retried until the target accepts). Runs in the caller's transaction."""
    target = api_key.api.runtime_target
    if target is None:
        if api_key.deployment_state != ApiKey.Deployment.NONE:
            api_key.deployment_state = ApiKey.Deployment.NONE
            api_key.save(update_fields=["deployment_state", "updated_at"])
        return None
    deployment = _queue_deployment(api_key, target, reason, _key_payload(api_key, ""))
    api_key.deployment_state = ApiKey.Deployment.PENDING
    api_key.save(update_fields=["deployment_state", "updated_at"])
    return deployment


def api_key_remove_from_target(*, api_key: ApiKey, target: RuntimeTarget) -> KeyDeployment:
    """Tell a runtime target that no longer serves the key's API to drop the key: status
    "removed" and no secrets (docs/runtime-target-contract.md). Sent and retried like every
    deployment; the key's own deployment state stays that of its API's current target."""
    payload = {**_key_payload(api_key, ""), "status": REMOVED, "secrets": []}
    return _queue_deployment(api_key, target, "moved", payload)


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
    notifications.api_key_changed(key, notifications.ACTIVATED)
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
    notifications.api_key_changed(key, notifications.REQUEST_REJECTED, reason)
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
        notifications.api_key_changed(key, notifications.RENEWED)
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
        notifications.api_key_changed(key, notifications.RENEWAL_REJECTED, reason)
    return key


def api_key_revoke(*, api_key_id: int, revoked_by: User) -> ApiKey:
    """Revoke a key for good: every secret stops working (audited, withdrawn from the target). A
    renewal or request waiting for approval is cancelled with it; a key that was never approved is
    refused rather than revoked (it never worked). Only the key's consumer may revoke it."""
    with transaction.atomic():
        key = _lock_key(api_key_id)
        if key.consumer_id != revoked_by.pk:
            raise ApiKey.DoesNotExist("No such key of yours.")
        if key.status == ApiKey.Status.REVOKED:
            return key
        approval_port.approvals().cancel(subject=key, actor=revoked_by, why=f"Cancelled: {key.prefix} was revoked")
        if key.status == ApiKey.Status.PENDING:
            return api_key_decline(api_key_id=key.pk, decided_by=revoked_by, reason="Withdrawn by you")
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
        notifications.api_key_changed(key, notifications.EXPIRY_CHANGED)
    return key


def api_key_request(*, api: Api, consumer: User) -> tuple[ApiKey, crypto.GeneratedSecret, Approval | None]:
    """A consumer asks for a key. Returned once with its secret; on an API whose renewals need
    approval the new key also waits for approval, so revoking and re-requesting never skips one."""
    with transaction.atomic():
        pending = api.renewal_requires_approval
        key, secret = api_key_issue(api=api, consumer=consumer, pending=pending)
        approval = (
            approval_port.approvals().open(kind=approval_port.KEY_REQUEST, subject=key, requested_by=consumer)
            if pending
            else None
        )
    return key, secret, approval


def api_key_renewal_request(*, api_key_id: int, consumer: User) -> tuple[ApiKey, Approval | None]:
    """Renew at once, or open an approval when the API's consumption settings require one.

    A second click while one waits returns the waiting approval (no second request).
    """
    with transaction.atomic():
        key = ApiKey.objects.select_for_update(of=("self",)).select_related("api").get(pk=api_key_id, consumer=consumer)
        if key.renewal_pending_since is not None:
            waiting = approval_port.approvals().waiting(subject=key)
            if waiting is not None:
                return key, waiting
        if not key.api.renewal_requires_approval:
            return api_key_renew(api_key_id=key.pk, renewed_by=consumer), None
        key = api_key_mark_renewal_pending(api_key_id=key.pk)
        approval = approval_port.approvals().open(kind=approval_port.KEY_RENEWAL, subject=key, requested_by=consumer)
    return key, approval


def api_key_renewal_withdraw(*, api_key_id: int, consumer: User) -> ApiKey:
    """The consumer withdraws a renewal that waits for approval (audited)."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key_id, consumer=consumer)
        cancelled = approval_port.approvals().cancel(
            subject=key, actor=consumer, why=f"Renewal of {key.prefix} withdrawn by its consumer"
        )
        if not cancelled and key.renewal_pending_since is None:
            raise ApiKeyError("No renewal of this key is waiting for approval.")
        return api_key_clear_renewal_pending(api_key_id=key.pk, reason="", actor=consumer)


def api_keys_of_accounts_changed(*, consumer_id: int | None = None, organization_id: int | None = None) -> int:
    """A consumer or an organization was saved (activated, deactivated): bump their keys'
    updated_at, which every gateway process syncs by, so /gateway/verify sees the account's state
    within a second. Returns how many keys."""
    keys = ApiKey.objects.all()
    if consumer_id is not None:
        keys = keys.filter(consumer_id=consumer_id)
    elif organization_id is not None:
        keys = keys.filter(consumer__organization_id=organization_id)
    else:
        return 0
    return keys.update(updated_at=timezone.now())
