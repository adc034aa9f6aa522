"""Fixtures of the portal tests."""

import base64
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from credentials.connections.models import ConnectionRequest
from credentials.connections.services import connection_request_submit
from credentials.integration import services as integration_services
from credentials.integration.models import ApiCredential
from credentials.keys import services as key_services
from portal.audit import record
from portal.models import Organization, User
from portal.roles import Role
from tests.factories import (
    ApiFactory,
    ApiKeyFactory,
    ConnectionRequestFactory,
    OrganizationFactory,
    RuntimeTargetFactory,
    TenantFactory,
    UserFactory,
    make_api_credential,
    pasted_credentials,
)


@pytest.fixture
def event(hub_admin, organization):
    """An audit event, recorded as the services record them: in a transaction, by the hub admin."""
    with transaction.atomic():
        return record(action="organization.renamed", target=organization, summary="Renamed to Acme", actor=hub_admin)


# --- The cast and objects of the access matrix (test_access_matrix.py, test_csrf.py) ---------------
@dataclass
class AccessWorld:
    """One organization's cast and objects and another organization's, built once per module.

    `own` and `other` map a kind of object (the `target` of a rule) to the URL kwargs that name
    it; a column is a role of the matrix: its users sign in with a session, the two bearer
    columns send an access token of the own organization's connection API credentials."""

    users: dict[str, User]
    sessions: dict[str, str]
    tokens: dict[str, str]
    own: dict[str, dict[str, object]]
    other: dict[str, dict[str, object]]
    objects: SimpleNamespace = field(default_factory=SimpleNamespace)

    @property
    def columns(self) -> set[str]:
        return {"anonymous", *self.sessions, *self.tokens} - {"superuser"}

    def client(self, column: str, **kwargs: object) -> Client:
        """A fresh client of the column's user: no cookie but the session, so no message, CSRF
        token or logout of one request leaks into the next."""
        if column in self.tokens:
            kwargs["headers"] = {"Authorization": f"Bearer {self.tokens[column]}"}
        client = Client(**kwargs)
        if column in self.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[column]
        return client


def _session_of(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _token_of(credential: ApiCredential, secret: str) -> str:
    basic = base64.b64encode(f"{credential.client_id}:{secret}".encode()).decode()
    response = Client().post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def _build_access_world() -> AccessWorld:
    own_org = OrganizationFactory(slug="acme", name="Acme Corporation")
    other_org = OrganizationFactory(slug="globex", name="Globex")
    tenant_admin_roles = (Role.API_PORTAL_ADMINISTRATOR, Role.API_PORTAL_REGISTRATION)
    users = {
        "consumer": UserFactory(username="consumer", organization=own_org, roles=(Role.CONSUMER,)),
        "org_admin": UserFactory(username="org-admin", organization=own_org, roles=(Role.ORG_ADMIN,)),
        "tenant_admin": UserFactory(username="tenant-admin", organization=own_org, roles=tenant_admin_roles),
        "hub_admin": UserFactory(username="hub-admin", organization=own_org, roles=(Role.HUB_ADMIN,)),
        "approver": UserFactory(username="approver", organization=own_org, roles=(Role.APPROVER,)),
    }
    superuser = UserFactory(username="root", organization=own_org, is_staff=True, is_superuser=True)
    outsider = UserFactory(username="outsider", organization=other_org, roles=(Role.CONSUMER,))
    other_approver = UserFactory(username="other-approver", organization=other_org, roles=(Role.APPROVER,))
    other_tenant_admin = UserFactory(username="other-tenant-admin", organization=other_org, roles=tenant_admin_roles)
    hub_admin = users["hub_admin"]

    def requests_of(organization: Organization, registered_by: User, prefix: str) -> SimpleNamespace:
        """A submitted and an approved connection request (one open request a tenant)."""
        # Submitted as the page submits it, so its approval waits for a hub admin.
        submitted = connection_request_submit(
            tenant=TenantFactory(organization=organization, alias=f"{prefix}-dev", registered_by=registered_by),
            credentials=pasted_credentials(),
            generated_at=timezone.now(),
            submitted_by=registered_by,
            skip_test=True,
        )
        approved = ConnectionRequestFactory(
            tenant=TenantFactory(organization=organization, alias=f"{prefix}-prod", registered_by=registered_by),
            status=ConnectionRequest.Status.APPROVED,
            decided_by=hub_admin,
            decided_at=timezone.now(),
        )
        return SimpleNamespace(submitted=submitted, approved=approved)

    def side(organization: Organization, consumer: User, approver: User, registered_by: User, prefix: str):
        requests = requests_of(organization, registered_by, prefix)
        api = ApiFactory(name=f"{prefix} Weather", slug=f"{prefix}-weather", provider=organization)
        catalog_api = ApiFactory(name=f"{prefix} Maps", slug=f"{prefix}-maps", provider=organization)
        approval_api = ApiFactory(
            name=f"{prefix} Payments",
            slug=f"{prefix}-payments",
            provider=organization,
            renewal_requires_approval=True,
            approver_users=[approver],
        )
        api_key = ApiKeyFactory(consumer=consumer, api=api)
        _, _, approval = key_services.api_key_request(api=approval_api, consumer=consumer)
        admin_role, read_only_role = integration_services.role_ensure_defaults(organization=organization)
        admin_credential = make_api_credential(organization, name=f"{prefix} provisioning", role=admin_role)
        read_only_credential = make_api_credential(organization, name=f"{prefix} reporting", role=read_only_role)
        objects = SimpleNamespace(
            organization=organization,
            requests=requests,
            api=api,
            catalog_api=catalog_api,
            api_key=api_key,
            approval=approval,
            runtime_target=RuntimeTargetFactory(name=f"{prefix} gateway"),
            admin_role=admin_role,
            admin_credential=admin_credential,
            read_only_credential=read_only_credential,
        )
        # The credential the matrix reads, changes and deletes is not the one the admin token
        # authenticates with, so a DELETE does not pull the token from under the next request.
        credential = read_only_credential[0]
        kwargs = {
            "submitted_request": {"pk": requests.submitted.pk},
            "approved_request": {"pk": requests.approved.pk},
            "catalog_api": {"slug": catalog_api.slug},
            "api_key": {"pk": api_key.pk},
            "api": {"pk": api.pk},
            "api_and_key": {"pk": api.pk, "key_pk": api_key.pk},
            "runtime_target": {"pk": objects.runtime_target.pk},
            "api_credential": {"public_id": credential.public_id},
            "api_credential_relationship": {"public_id": credential.public_id, "related_field": "role"},
            "approval": {"pk": approval.pk},
            "role": {"public_id": admin_role.public_id},
            "role_relationship": {"public_id": admin_role.public_id, "related_field": "organization"},
            "organization": {"public_id": organization.slug},
        }
        return objects, kwargs

    own, own_kwargs = side(own_org, users["consumer"], users["approver"], users["tenant_admin"], "acme")
    other, other_kwargs = side(other_org, outsider, other_approver, other_tenant_admin, "globex")
    world = AccessWorld(
        users=users,
        sessions={column: _session_of(user) for column, user in {**users, "superuser": superuser}.items()},
        tokens={
            "bearer_admin": _token_of(*own.admin_credential),
            "bearer_read_only": _token_of(*own.read_only_credential),
        },
        own=own_kwargs,
        other=other_kwargs,
    )
    world.objects = SimpleNamespace(own=own, other=other, outsider=outsider, superuser=superuser)
    return world


@pytest.fixture(scope="module")
def access_world(django_db_setup, django_db_blocker):
    """The access matrix's world, built once per module in a transaction that is rolled back
    afterwards; each test still runs in its own savepoint (the `db` fixture) inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        cache.clear()
        world = _build_access_world()
        yield world
        transaction.set_rollback(True)
    cache.clear()
