"""Emails about connections: the decision on a request, a connection that starts failing, and
the reminders before its credentials expire. Each is written to the outbox in the caller's
transaction (portal.emails); none names a secret."""

from django.conf import settings
from django.urls import reverse

from credentials.connections.models import ConnectionRequest
from portal.emails import send_templated_email
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


def connection_expiry_reminder(
    connection_request: ConnectionRequest, *, days: int, dedupe_key: str
) -> OutboundEmail | None:
    """Remind the connection's admins that its credentials expire in `days` days."""
    return send_templated_email(
        name="connection-expiry-reminder",
        to=connection_admin_emails(connection_request),
        context={"request": connection_request, "days": days, "link_path": _reestablish_path(connection_request)},
        dedupe_key=dedupe_key,
    )
