from datetime import timedelta

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from credentials.models import Api, ApiKey, ConnectionRequest, KeySecret, Tenant
from portal.models import Organization, User


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
    """Approved connections for the Admin Center, searchable; one query whatever the row count."""
    requests = ConnectionRequest.objects.filter(status=ConnectionRequest.Status.APPROVED).select_related(
        "tenant__organization", "decided_by"
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
    return requests.order_by(ordering, "pk")


def connection_request_get(*, pk: int, status: str | None = None) -> ConnectionRequest:
    requests = ConnectionRequest.objects.select_related("tenant__organization", "decided_by", "submitted_by")
    if status:
        requests = requests.filter(status=status)
    return get_object_or_404(requests, pk=pk)


def api_catalog() -> QuerySet[Api]:
    return Api.objects.select_related("runtime_target").order_by("name")


def api_key_list(*, consumer: User) -> QuerySet[ApiKey]:
    """The consumer's keys (never anyone else's), with what My API Keys shows, in one query."""
    return (
        ApiKey.objects.filter(consumer=consumer)
        .exclude(status=ApiKey.Status.REJECTED, updated_at__lt=timezone.now() - timedelta(days=30))
        .select_related("api")
        .order_by("api__name", "-created_at")
    )


def api_key_of_consumer(*, consumer: User, pk: int) -> ApiKey:
    """One of the consumer's keys; another consumer's key answers 404, whatever the URL says."""
    return get_object_or_404(api_key_list(consumer=consumer), pk=pk)


def open_key_api_ids(*, consumer: User) -> set[int]:
    return set(
        ApiKey.objects.filter(consumer=consumer, status__in=ApiKey.OPEN_STATUSES).values_list("api_id", flat=True)
    )


def key_secret_grace_list(*, api_key: ApiKey) -> QuerySet[KeySecret]:
    """Rotated secrets still in their grace period, for My API Keys."""
    return api_key.secrets.filter(valid_until__gt=timezone.now()).order_by("valid_until")
