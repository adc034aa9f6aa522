"""Reads of tenants and connection requests, ready to render."""

from django.db.models import (
    Q,
    QuerySet,
)
from django.shortcuts import get_object_or_404

from credentials.connections.models import ConnectionRequest, Tenant
from portal.models import Organization


def tenant_list(*, organization: Organization) -> QuerySet[Tenant]:
    return Tenant.objects.filter(organization=organization).order_by("alias")


def connection_request_list(*, organization: Organization) -> QuerySet[ConnectionRequest]:
    """The organization's connection requests, newest first, ready to render."""
    return (
        ConnectionRequest.objects.filter(tenant__organization=organization)
        .select_related("tenant", "submitted_by", "decided_by")
        .order_by("-submitted_at")
    )


def connection_request_of_organization(*, organization: Organization, pk: int) -> ConnectionRequest:
    """One request of the organization; another organization's answers 404."""
    return get_object_or_404(connection_request_list(organization=organization), pk=pk)


def connection_request_pending_list() -> QuerySet[ConnectionRequest]:
    return (
        ConnectionRequest.objects.filter(status=ConnectionRequest.Status.SUBMITTED)
        .select_related("tenant__organization", "submitted_by")
        .order_by("submitted_at")
    )


def connection_request_approved_list(*, q: str = "", ordering: str = "-decided_at") -> QuerySet[ConnectionRequest]:
    """Approved connections for the Admin Center, searchable; one query whatever the row count.

    Ties are broken by id in the sort's direction, so that each sort is one index read either
    way (connreq_status_decided, connreq_status_health, tenant_alias, expires_at). The encrypted
    credentials are not read: the list shows only their clear facts.
    """
    requests = (
        ConnectionRequest.objects.filter(status=ConnectionRequest.Status.APPROVED)
        .select_related("tenant__organization", "decided_by")
        .defer("credentials")
    )
    if q:
        requests = requests.filter(
            Q(tenant__alias__icontains=q)
            | Q(tenant__url__icontains=q)
            | Q(tenant__organization__name__icontains=q)
            | Q(client_id__icontains=q)
            | Q(certificate_subject__icontains=q)
            | Q(decided_by__username__icontains=q)
        )
    return requests.order_by(ordering, "-pk" if ordering.startswith("-") else "pk")


def connection_request_get(*, pk: int, status: str | None = None) -> ConnectionRequest:
    requests = ConnectionRequest.objects.select_related("tenant__organization", "decided_by", "submitted_by")
    if status:
        requests = requests.filter(status=status)
    return get_object_or_404(requests, pk=pk)
