"""The cast of the tests: one user per role in one organization, and an outsider elsewhere."""

import pytest
from django.core.cache import cache

from credentials.connections.pasted import parse_tenant_credentials
from credentials.connections.services import connection_request_submit
from portal.roles import Role
from tests.factories import OrganizationFactory, TenantFactory, UserFactory, client_secret_json


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: the token endpoint's failure counts live there, and
    every test client comes from the same address."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="acme", name="Acme Corporation")


@pytest.fixture
def other_organization(db):
    return OrganizationFactory(slug="globex", name="Globex")


@pytest.fixture
def consumer(organization):
    return UserFactory(username="consumer", organization=organization, roles=(Role.CONSUMER,))


@pytest.fixture
def org_admin(organization):
    return UserFactory(username="org-admin", organization=organization, roles=(Role.ORG_ADMIN,))


@pytest.fixture
def tenant_admin(organization):
    return UserFactory(
        username="tenant-admin",
        organization=organization,
        roles=(Role.API_PORTAL_ADMINISTRATOR, Role.API_PORTAL_REGISTRATION),
    )


@pytest.fixture
def hub_admin(organization):
    return UserFactory(username="hub-admin", organization=organization, roles=(Role.HUB_ADMIN,))


@pytest.fixture
def approver(organization):
    return UserFactory(username="approver", organization=organization, roles=(Role.APPROVER,))


@pytest.fixture
def outsider(other_organization):
    return UserFactory(username="outsider", organization=other_organization, roles=(Role.CONSUMER,))


# --- connection requests ---
@pytest.fixture
def tenant(organization, tenant_admin):
    return TenantFactory(
        organization=organization, alias="acme-dev", url="https://acme-dev.example.com", registered_by=tenant_admin
    )


@pytest.fixture
def token_endpoint(httpserver):
    """A real OAuth token endpoint on loopback that hands out a token to anyone."""
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": "issued-token", "token_type": "bearer", "expires_in": 3600}
    )
    return httpserver.url_for("/oauth/token")


@pytest.fixture
def failing_token_endpoint(httpserver):
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"error": "invalid_client", "error_description": "Bad credentials"}, status=401
    )
    return httpserver.url_for("/oauth/token")


@pytest.fixture
def good_credentials_json(token_endpoint):
    return client_secret_json(token_endpoint)


@pytest.fixture
def good_credentials(good_credentials_json):
    return parse_tenant_credentials(good_credentials_json)


@pytest.fixture
def submitted(tenant, tenant_admin, good_credentials):
    """The tenant's connection request, submitted (without a credential test) and waiting for approval."""
    return connection_request_submit(
        tenant=tenant,
        credentials=good_credentials,
        generated_at=tenant.created_at,
        submitted_by=tenant_admin,
        skip_test=True,
    )
