"""Writes for tenants and connection requests. Each state change locks its row, re-checks the
guard, writes an audit event in the same transaction and returns the object."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from credentials.connections import notifications
from credentials.connections.models import ConnectionRequest, Tenant
from credentials.connections.pasted import TenantCredentials
from credentials.connections.token_check import TokenCheckResult, check_token
from credentials.lib import approval_port, validity
from portal import audit
from portal.models import Organization, User


class ConnectionRequestError(Exception):
    """A state change that the request's current state does not allow; the message is for people."""


class CredentialTestFailed(Exception):
    """The token URL did not hand out a token for the credentials; the message says why."""

    def __init__(self, result: TokenCheckResult) -> None:
        super().__init__(result.message)
        self.result = result


def not_editable_message(request: ConnectionRequest) -> str:
    """Why Edit Credentials is refused for a request that is no longer submitted."""
    return (
        f"This connection request is {request.get_status_display().lower()}: its credentials can no longer be edited."
    )


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


def _lock_request(connection_request_id: int) -> ConnectionRequest:
    # of=("self",): lock the request row only, not the tenant joined in for the audit.
    return (
        ConnectionRequest.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=connection_request_id)
    )


# The clear facts kept beside the encrypted credentials, by column.
CLEAR_FACTS = {
    "api_url": ("url", "the API portal URL"),
    "token_url": ("token_url", "the token URL"),
    "cert_url": ("cert_url", "the certificate URL"),
    "client_id": ("client_id", "the client ID"),
    "certificate_subject": ("certificate_subject", "the certificate's subject"),
}


def _apply_credentials(
    request: ConnectionRequest,
    credentials: TenantCredentials,
    generated_at: datetime,
    check: TokenCheckResult | None,
    now: datetime,
) -> None:
    """Put the credentials on the request. ConnectionRequestError when a clear fact does not fit
    its column: the paste parser refuses those, this holds for credentials made any other way."""
    for column, (attribute, label) in CLEAR_FACTS.items():
        limit = getattr(ConnectionRequest._meta.get_field(column), "max_length", None) or 0
        if len(getattr(credentials, attribute)) > limit:
            raise ConnectionRequestError(
                f"These credentials cannot be stored: {label} is longer than {limit} characters."
            )
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
    skip_test: bool,
) -> ConnectionRequest:
    """Replace the credentials of a request that is still submitted (S1; audited). The pasted
    credentials are tested against their token URL first, with no lock held, unless skip_test.
    Raises CredentialTestFailed or ConnectionRequestError."""
    check = credentials_test(credentials=credentials, skip=skip_test)  # no lock held meanwhile
    with transaction.atomic():
        request = _lock_request(connection_request_id)
        if not request.is_editable:
            raise ConnectionRequestError(not_editable_message(request))
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
    skip_test: bool,
) -> ConnectionRequest:
    """Give an approved connection fresh credentials (S2; audited). The old ones stop being used
    and the validity restarts from the new credentials' generation. Tested first, as above."""
    check = credentials_test(credentials=credentials, skip=skip_test)  # no lock held meanwhile
    with transaction.atomic():
        request = _lock_request(connection_request_id)
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
    request = _lock_request(connection_request_id)
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
    notifications.connection_request_decided(request)
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


@sensitive_variables("credentials")
def connection_request_submit(
    *,
    tenant: Tenant,
    credentials: TenantCredentials,
    generated_at: datetime,
    submitted_by: User,
    skip_test: bool,
) -> ConnectionRequest:
    """Submit a connection request and open its approval for the hub admins (audited, emailed).
    The credentials are tested first, outside any transaction, unless skip_test."""
    check = credentials_test(credentials=credentials, skip=skip_test)  # no transaction held meanwhile
    with transaction.atomic():
        request = connection_request_create(
            tenant=tenant,
            credentials=credentials,
            generated_at=generated_at,
            submitted_by=submitted_by,
            check=check,
        )
        approval_port.approvals().open(
            kind=approval_port.CONNECTION_REQUEST, subject=request, requested_by=submitted_by
        )
    return request
