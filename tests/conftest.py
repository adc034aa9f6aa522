"""The cast of the tests: one user per role in one organization, and an outsider elsewhere."""

import pytest

from portal.roles import Role
from tests.factories import OrganizationFactory, UserFactory


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
