"""Reads of an organization's connection API credentials and roles."""

from django.db.models import (
    QuerySet,
)
from django.shortcuts import get_object_or_404

from credentials.integration.models import ApiCredential, Role
from portal.models import Organization


# --- Connection API credentials (Account > Integration) -------------------------------------------
def api_credential_list(*, organization: Organization) -> QuerySet[ApiCredential]:
    """The account's connection API credentials, oldest first, with their roles: one query."""
    return (
        ApiCredential.objects.filter(organization=organization, kind=ApiCredential.Kind.CONNECTION)
        .select_related("role", "created_by")
        .order_by("created_at", "pk")
    )


def api_credential_of_organization(*, organization: Organization, public_id: str) -> ApiCredential:
    """One credential of the account; another account's, or one deleted, answers 404."""
    return get_object_or_404(api_credential_list(organization=organization), public_id=public_id)


def role_list(*, organization: Organization) -> QuerySet[Role]:
    return Role.objects.filter(organization=organization).order_by("kind", "name")
