"""Emails about connections: the decision on a request, a connection that starts failing, and
the reminders before its credentials expire. Each is written to the outbox in the caller's
transaction (portal.emails); none names a secret."""

from django.conf import settings
from django.urls import reverse

from credentials.connections.models import ConnectionRequest
from portal.emails import Draft, minute, send_templated_email
from portal.models import OutboundEmail, User
from portal.roles import Role


def connection_admin_emails(connection_request: ConnectionRequest) -> list[str]:
    """Who is told about a connection's credentials: hub admins, the tenant organization's tenant
    admins, and the optional team address, so reminders never depend on one person."""
    hub_admins = User.objects.filter(groups__name=Role.HUB_ADMIN, is_active=True)
    tenant_admins = User.objects.filter(
        organization=connection_request.tenant.organization_id,
        groups__name=Role.API_PORTAL_ADMINISTRATOR,
        is_active=True,
    ).filter(groups__name=Role.API_PORTAL_REGISTRATION)
    addresses = set(hub_admins.values_list("email", flat=True)) | set(tenant_admins.values_list("email", flat=True))
    if settings.PORTICO_REMINDER_TEAM_EMAIL:
        addresses.add(settings.PORTICO_REMINDER_TEAM_EMAIL)
    return sorted(a for a in addresses if a)


def _reestablish_path(connection_request: ConnectionRequest) -> str:
    return reverse("credentials:connection-reestablish", args=[connection_request.pk])


def connection_request_decided(connection_request: ConnectionRequest) -> OutboundEmail | None:
    """Tell the requester whether their connection request was approved or rejected."""
    return send_templated_email(
        name="connection-request-decided",
        to=[connection_request.submitted_by.email],
        context={
            "request": connection_request,
            "approved": connection_request.status == ConnectionRequest.Status.APPROVED,
            "link_path": reverse("credentials:connectivity"),
        },
    )


def connection_failing(connection_request: ConnectionRequest, *, message: str, dedupe_key: str) -> OutboundEmail | None:
    """Tell the connection's admins that its token fetch fails and it needs re-establishing."""
    return send_templated_email(
        name="connection-failing",
        to=connection_admin_emails(connection_request),
        context={"request": connection_request, "message": message, "link_path": _reestablish_path(connection_request)},
        dedupe_key=dedupe_key,
    )


def connection_expiry_reminders(
    connection_requests: list[ConnectionRequest], *, days: int, dedupe_keys: list[str]
) -> list[Draft]:
    """Remind each connection's admins that its credentials expire in `days` days: drafts for the
    bulk outbox, rendered when delivered, so their context is plain values taken now."""
    return [
        Draft(
            name="connection-expiry-reminder",
            to=connection_admin_emails(connection_request),
            context={
                "credential_label": connection_request.credential_label,
                "tenant_alias": connection_request.tenant.alias,
                "organization_name": str(connection_request.tenant.organization),
                "expires_at": minute(connection_request.expires_at),
                "days": days,
                "link_path": _reestablish_path(connection_request),
            },
            dedupe_key=dedupe_key,
        )
        for connection_request, dedupe_key in zip(connection_requests, dedupe_keys, strict=True)
    ]
