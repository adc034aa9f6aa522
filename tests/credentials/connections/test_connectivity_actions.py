"""What the Actions column of Manage > Establish API Portal Connectivity says once a request is
decided: a tenant admin cannot re-establish an approved connection (hub admins do, in the Admin
Center), so the row says who does, and how soon, instead of a bare dash."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.connections.models import ConnectionRequest
from portal.roles import Role
from tests.factories import ConnectionRequestFactory, UserFactory

CONNECTIVITY = "/manage/connectivity/"


def actions_cell(page: str, connection_request: ConnectionRequest) -> str:
    row = re.search(rf'<tr id="request-{connection_request.pk}".*?</tr>', page, re.S)
    assert row, "the request's row is missing"
    cell = re.search(r'<td class="actions" data-label="Actions">(.*?)</td>', row.group(0), re.S)
    assert cell, "the row has no Actions cell"
    text = re.sub(r"<[^>]+>", " ", cell.group(1))
    return " ".join(html.unescape(text).split())


def approved(tenant, *, days: int) -> ConnectionRequest:
    return ConnectionRequestFactory(
        tenant=tenant,
        status=ConnectionRequest.Status.APPROVED,
        expires_at=timezone.now() + timedelta(days=days),
        decided_at=timezone.now(),
    )


def test_an_approved_connection_says_a_hub_admin_re_establishes_it(client, tenant_admin, tenant):
    connection_request = approved(tenant, days=200)
    client.force_login(tenant_admin)
    cell = actions_cell(client.get(CONNECTIVITY).content.decode(), connection_request)
    assert cell == "A hub admin re-establishes this connection."


def test_an_approved_connection_that_expires_soon_says_to_ask_a_hub_admin(client, tenant_admin, tenant):
    connection_request = approved(tenant, days=24)
    client.force_login(tenant_admin)
    cell = actions_cell(client.get(CONNECTIVITY).content.decode(), connection_request)
    assert cell.startswith("Expires in 24 days, on ")
    assert cell.endswith(": ask a hub admin to re-establish it.")


def test_an_expired_connection_says_to_ask_a_hub_admin(client, tenant_admin, tenant):
    connection_request = approved(tenant, days=-3)
    client.force_login(tenant_admin)
    cell = actions_cell(client.get(CONNECTIVITY).content.decode(), connection_request)
    assert cell.startswith("Expired on ")
    assert cell.endswith(": ask a hub admin to re-establish it.")


def test_a_tenant_admin_who_is_also_a_hub_admin_gets_the_re_establish_button(client, organization, tenant):
    both = UserFactory(
        organization=organization,
        roles=(Role.API_PORTAL_ADMINISTRATOR, Role.API_PORTAL_REGISTRATION, Role.HUB_ADMIN),
    )
    connection_request = approved(tenant, days=24)
    client.force_login(both)
    page = client.get(CONNECTIVITY).content.decode()
    assert actions_cell(page, connection_request) == "Re-establish Connection for acme-dev"
    assert f"/admin-center/connections/{connection_request.pk}/reestablish/" in page


@pytest.mark.parametrize("status", [ConnectionRequest.Status.REJECTED, ConnectionRequest.Status.WITHDRAWN])
def test_a_closed_request_points_to_a_new_request(client, tenant_admin, tenant, status):
    connection_request = ConnectionRequestFactory(tenant=tenant, status=status)
    client.force_login(tenant_admin)
    cell = actions_cell(client.get(CONNECTIVITY).content.decode(), connection_request)
    assert cell == "Submit a new request below to connect again."
