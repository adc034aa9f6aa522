"""S1 and the submission side: tenants, connection requests, Edit Credentials."""

import html
import json

import pytest
from django.db import connection

from approvals.models import ApprovalRequest
from credentials.connections.models import ConnectionRequest, Tenant
from portal.models import AuditEvent
from tests.factories import TenantFactory, client_secret_json

SECRET = "s3cr3t-VALUE-123="
CONNECTIVITY = "/manage/connectivity/"
SUBMIT = "/manage/connectivity/requests/"


def edit_url(request: ConnectionRequest) -> str:
    return f"/manage/connectivity/requests/{request.pk}/edit/"


def raw_column(request: ConnectionRequest) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM credentials_connectionrequest WHERE id = %s", [request.pk])
        return cursor.fetchone()[0]


# --- tenants --------------------------------------------------------------------------------------
def test_tenant_admin_registers_a_tenant(client, tenant_admin):
    client.force_login(tenant_admin)
    response = client.post(
        "/manage/connectivity/tenants/", {"alias": "acme-prod", "url": "https://acme-prod.example.com"}
    )
    assert response.status_code == 302
    tenant = Tenant.objects.get(alias="acme-prod")
    assert tenant.organization == tenant_admin.organization
    assert AuditEvent.objects.filter(action="tenant.register", target_id=str(tenant.pk)).exists()


def test_registering_a_duplicate_alias_shows_an_error_and_adds_nothing(client, tenant_admin, tenant):
    client.force_login(tenant_admin)
    response = client.post("/manage/connectivity/tenants/", {"alias": "acme-dev", "url": "https://x.example.com"})
    assert response.status_code == 200
    assert "already has a tenant called acme-dev" in response.content.decode()
    assert Tenant.objects.count() == 1


def test_registering_a_tenant_with_an_http_url_is_refused(client, tenant_admin):
    client.force_login(tenant_admin)
    response = client.post("/manage/connectivity/tenants/", {"alias": "x", "url": "http://x.example.com"})
    assert "must start with https://" in response.content.decode()
    assert not Tenant.objects.exists()


# --- submitting -----------------------------------------------------------------------------------
def test_connectivity_page_lists_the_tenants_requests_with_their_state(client, tenant_admin, submitted):
    client.force_login(tenant_admin)
    page = client.get(CONNECTIVITY).content.decode()
    assert "Establish API Portal Connectivity with API Business Hub Enterprise" in page
    assert "acme-dev" in page
    assert "Submitted · pending approval" in page
    assert "Edit Credentials" in page
    assert SECRET not in page


def test_submitting_a_request_stores_encrypted_credentials_and_opens_an_approval(
    client, tenant_admin, tenant, good_credentials_json
):
    client.force_login(tenant_admin)
    response = client.post(SUBMIT, {"tenant": tenant.pk, "credentials": good_credentials_json})
    assert response.status_code == 302
    request = ConnectionRequest.objects.get()
    assert request.status == ConnectionRequest.Status.SUBMITTED
    assert request.health == ConnectionRequest.Health.HEALTHY
    assert request.tenant_credentials().client_secret == SECRET
    assert SECRET not in raw_column(request)
    approval = ApprovalRequest.objects.get(connection_request=request)
    assert approval.status == ApprovalRequest.Status.PENDING
    summaries = " ".join(AuditEvent.objects.values_list("summary", flat=True))
    assert "connection_request.submit" in AuditEvent.objects.values_list("action", flat=True)
    assert SECRET not in summaries


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        ('{"url": "https://a.example.com", ', "not valid JSON"),
        (
            json.dumps({"url": "https://a.example.com", "tokenUrl": "https://a.example.com/t", "clientId": "x"}),
            "clientSecret",
        ),
        (
            json.dumps(
                {
                    "url": "https://a.example.com",
                    "tokenUrl": "http://a.example.com/t",
                    "clientId": "x",
                    "clientSecret": "y",
                }
            ),
            "tokenUrl",
        ),
    ],
    ids=["malformed-json", "missing-field", "http-url"],
)
def test_a_bad_paste_names_the_problem_and_changes_nothing(client, tenant_admin, tenant, paste, expected):
    client.force_login(tenant_admin)
    response = client.post(SUBMIT, {"tenant": tenant.pk, "credentials": paste})
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not ConnectionRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="connection_request.submit").exists()


def test_a_failed_credential_test_is_shown_and_nothing_is_stored(client, tenant_admin, tenant, failing_token_endpoint):
    client.force_login(tenant_admin)
    response = client.post(
        SUBMIT, {"tenant": tenant.pk, "credentials": client_secret_json(failing_token_endpoint, secret=SECRET)}
    )
    page = response.content.decode()
    assert "The connection test failed" in page
    assert "Save without testing the connection" in page
    assert SECRET not in page
    assert not ConnectionRequest.objects.exists()


def test_save_without_test_is_explicit_and_audited(client, tenant_admin, tenant, failing_token_endpoint):
    client.force_login(tenant_admin)
    response = client.post(
        SUBMIT,
        {"tenant": tenant.pk, "credentials": client_secret_json(failing_token_endpoint), "skip_test": "on"},
    )
    assert response.status_code == 302
    request = ConnectionRequest.objects.get()
    assert request.health == ConnectionRequest.Health.UNTESTED
    event = AuditEvent.objects.get(action="connection_request.submit")
    assert "WITHOUT a credential test" in event.summary


def test_a_second_open_request_for_the_same_tenant_is_refused(client, tenant_admin, submitted, good_credentials_json):
    client.force_login(tenant_admin)
    response = client.post(SUBMIT, {"tenant": submitted.tenant.pk, "credentials": good_credentials_json})
    assert "already has a submitted or approved connection request" in response.content.decode()
    assert ConnectionRequest.objects.count() == 1


def test_another_organizations_tenant_cannot_be_chosen(
    client, tenant_admin, tenant, other_organization, good_credentials_json
):
    foreign = TenantFactory(
        organization=other_organization, alias="globex", url="https://globex.example.com", registered_by=tenant_admin
    )
    client.force_login(tenant_admin)
    response = client.post(SUBMIT, {"tenant": foreign.pk, "credentials": good_credentials_json})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ConnectionRequest.objects.exists()


@pytest.mark.parametrize("role", ["consumer", "org_admin", "hub_admin", "approver"])
def test_other_roles_cannot_open_or_submit(client, request, role, tenant, good_credentials_json):
    client.force_login(request.getfixturevalue(role))
    assert client.get(CONNECTIVITY).status_code == 403
    assert client.post(SUBMIT, {"tenant": tenant.pk, "credentials": good_credentials_json}).status_code == 403
    assert not ConnectionRequest.objects.exists()


# --- Edit Credentials (S1) ------------------------------------------------------------------------
def test_edit_credentials_opens_a_dialog_in_place(client, tenant_admin, submitted):
    client.force_login(tenant_admin)
    response = client.get(edit_url(submitted), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "<dialog" in page
    assert "Edit Credentials for acme-dev" in page
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_edit_credentials_without_htmx_is_a_full_page(client, tenant_admin, submitted):
    client.force_login(tenant_admin)
    response = client.get(edit_url(submitted))
    page = response.content.decode()
    assert "<html" in page
    assert "Edit Credentials for acme-dev" in page


def test_saving_new_credentials_replaces_them_and_keeps_the_request_submitted(
    client, tenant_admin, submitted, token_endpoint, mailoutbox
):
    client.force_login(tenant_admin)
    new_secret = "n3w-SECRET-456="
    response = client.post(
        edit_url(submitted),
        {"credentials": client_secret_json(token_endpoint, client_id="sb-new-client", secret=new_secret)},
        headers={"HX-Request": "true"},
    )
    page = html.unescape(response.content.decode())
    assert "You've updated the API Portal access credentials successfully." in page
    assert new_secret not in page
    assert 'hx-swap-oob="true"' in page  # the row and the messages update in place
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED
    assert submitted.client_id == "sb-new-client"
    assert submitted.tenant_credentials().client_secret == new_secret
    assert new_secret not in raw_column(submitted)
    event = AuditEvent.objects.get(action="connection_request.edit_credentials")
    assert new_secret not in event.summary


def test_saving_without_htmx_redirects_with_the_success_message(client, tenant_admin, submitted, good_credentials_json):
    client.force_login(tenant_admin)
    response = client.post(edit_url(submitted), {"credentials": good_credentials_json}, follow=True)
    assert "You've updated the API Portal access credentials successfully." in html.unescape(response.content.decode())


def test_a_bad_paste_in_the_dialog_names_the_field_and_changes_nothing(client, tenant_admin, submitted):
    client.force_login(tenant_admin)
    before = raw_column(submitted)
    response = client.post(
        edit_url(submitted),
        {
            "credentials": json.dumps(
                {"url": "https://a.example.com", "tokenUrl": "https://a.example.com/t", "clientSecret": "x"}
            )
        },
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "clientId" in page
    assert response["HX-Reswap"] == "none"  # the dialog stays open, the paste in its box
    assert raw_column(submitted) == before


def test_decided_requests_offer_no_edit_and_refuse_a_forged_post(
    client, tenant_admin, hub_admin, submitted, good_credentials_json
):
    from approvals.services import connection_request_decide

    connection_request_decide(connection_request_id=submitted.pk, approver=hub_admin, verdict="approve")
    client.force_login(tenant_admin)
    assert "Edit Credentials" not in client.get(CONNECTIVITY).content.decode()
    before = raw_column(submitted)

    response = client.post(edit_url(submitted), {"credentials": good_credentials_json}, headers={"HX-Request": "true"})
    assert "its credentials can no longer be edited" in response.content.decode()
    response = client.post(edit_url(submitted), {"credentials": good_credentials_json}, follow=True)
    assert "its credentials can no longer be edited" in response.content.decode()
    assert raw_column(submitted) == before
    assert not AuditEvent.objects.filter(action="connection_request.edit_credentials").exists()


def test_another_organizations_request_answers_404(client, submitted, other_organization):
    from portal.roles import Role
    from tests.factories import UserFactory

    stranger = UserFactory(
        organization=other_organization, roles=(Role.API_PORTAL_ADMINISTRATOR, Role.API_PORTAL_REGISTRATION)
    )
    client.force_login(stranger)
    assert client.get(edit_url(submitted)).status_code == 404


def test_edit_needs_both_tenant_admin_roles(client, submitted, organization):
    from portal.roles import Role
    from tests.factories import UserFactory

    half = UserFactory(organization=organization, roles=(Role.API_PORTAL_ADMINISTRATOR,))
    client.force_login(half)
    assert client.get(edit_url(submitted)).status_code == 403


def test_edit_view_refuses_other_methods(client, tenant_admin, submitted):
    client.force_login(tenant_admin)
    assert client.delete(edit_url(submitted)).status_code == 405
