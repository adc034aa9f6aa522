"""S1 and S2 in a real browser: tenant admins edit the credentials of a submitted connection request
in a dialog, hub admins decide on pending requests and re-establish approved connections.

Every test starts from the demo data (`make run` shows the same): tenant-admin's organization has a
submitted request for acme-dev and an approved one for acme-prod.
"""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from approvals import services as approval_services
from approvals.demo import seed_connection_requests
from credentials.connections import services as connection_services
from credentials.connections.models import ConnectionRequest, Tenant
from credentials.connections.pasted import parse_tenant_credentials
from credentials.connections.views import EDIT_SUCCESS, REESTABLISH_SUCCESS
from portal.models import User
from tests.browser.helpers import login
from tests.credentials.connections.certs import make_ca, make_cert
from tests.factories import client_secret_json

CONNECTIVITY_TILE = "Establish API Portal Connectivity with API Business Hub Enterprise"
CREDENTIALS_LABEL = "API Portal Access Credentials"
SKIP_TEST_LABEL = "Save without testing the connection"
SUBMITTED = "Submitted · pending approval"
NEW_SECRET = "n3w-SECRET-from-the-service-key-4567="
NEW_CLIENT_ID = "sb-apiaccess-new!b4321|api-portal-xsuaa!b1120"
DEMO_DEV_CLIENT_ID = "sb-apiaccess-acme-dev!b1234|api-portal-xsuaa!b1120"
DEMO_PROD_CLIENT_ID = "sb-apiaccess-acme-prod!b1234|api-portal-xsuaa!b1120"
DAYS_LEFT_365 = re.compile(r"36[45] days left")


# --- data -----------------------------------------------------------------------------------------
@pytest.fixture
def demo_requests(demo_accounts) -> dict[str, ConnectionRequest]:
    """The demo's connection requests by API portal alias: acme-dev submitted, acme-prod approved."""
    seed_connection_requests(demo_accounts)
    return {request.tenant.alias: request for request in ConnectionRequest.objects.select_related("tenant")}


def add_request(organization, alias: str, *, age_days: int = 1, approve: bool = False) -> ConnectionRequest:
    """Another API portal of the demo organization with a submitted (or approved) request."""
    tenant_admin = User.objects.get(username="tenant-admin")
    tenant = Tenant.objects.create(
        organization=organization,
        alias=alias,
        url=f"https://{alias}.apimanagement.eu10.hana.ondemand.com",
        registered_by=tenant_admin,
    )
    request = connection_services.connection_request_submit(
        tenant=tenant,
        credentials=parse_tenant_credentials(client_secret_json("https://auth.example.com/oauth/token")),
        generated_at=timezone.now() - timedelta(days=age_days),
        submitted_by=tenant_admin,
        skip_test=True,
    )
    if approve:
        request = approval_services.connection_request_decide(
            connection_request_id=request.pk, approver=User.objects.get(username="hub-admin"), verdict="approve"
        )
    return request


def certificate_credentials_json(cert_url: str) -> str:
    """Certificate credentials as S2 shows them, with a fresh client certificate valid for two years."""
    client = make_cert(
        make_ca(),
        "sb-acme-prod-client",
        usage="client",
        not_after=datetime.now(UTC) + timedelta(days=730),
    )
    return json.dumps(
        {
            "url": "https://acme-prod.cfapps.eu10.hana.ondemand.com",
            "tokenurl": "https://acme-prod.authentication.eu10.hana.ondemand.com/oauth/token",
            "certurl": cert_url,
            "certificate": client.cert_pem,
            "key": client.key_pem,
        },
        indent=2,
    )


def unanswered_https_url(httpserver) -> str:
    """An https URL on loopback where no TLS server answers: the connection test fails at once."""
    return httpserver.url_for("/").replace("http://", "https://").rstrip("/")


def stored_credentials(request: ConnectionRequest) -> dict:
    request.refresh_from_db()
    return request.credentials


# --- page helpers ---------------------------------------------------------------------------------
def row(page: Page, alias: str) -> Locator:
    """The table row of one API portal (its alias stands alone in its first cell)."""
    return page.get_by_role("row").filter(has=page.get_by_text(alias, exact=True))


def credentials_box(scope: Page | Locator) -> Locator:
    """The *API Portal Access Credentials* text box, named exactly so (its required mark is not read out)."""
    return scope.get_by_role("textbox", name=CREDENTIALS_LABEL, exact=True)


def body_rows(table: Locator) -> Locator:
    return table.get_by_role("row").filter(has=table.page.get_by_role("cell"))


def message(page: Page) -> Locator:
    """The message at the top of the page that says how an action went."""
    return page.get_by_role("status")


def open_connectivity(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage").click()
    page.get_by_role("link", name=CONNECTIVITY_TILE).click()
    expect(page.get_by_role("heading", name=CONNECTIVITY_TILE, level=1)).to_be_visible()


def open_edit_dialog(page: Page, alias: str) -> Locator:
    url = page.url
    row(page, alias).get_by_role("link", name="Edit Credentials").click()
    dialog = page.get_by_role("dialog", name=f"Edit Credentials for {alias}")
    expect(dialog).to_be_visible()
    assert page.url == url, "the dialog opens in place"
    return dialog


def expect_modal(dialog: Locator) -> None:
    expect(dialog).to_be_visible()
    assert dialog.evaluate("element => element.matches(':modal')"), "the dialog is modal"


def open_admin_center_section(page: Page, section: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin Center").click()
    expect(page.get_by_role("heading", name="Admin Center", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Admin Center").get_by_role("link", name=section).click()
    expect(page.get_by_role("heading", name="API Management Connections", level=1)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="API Management Connections").get_by_role("link", name=section)
    ).to_have_attribute("aria-current", "page")


# --- S1: the tenant admin's connection requests ---------------------------------------------------
@pytest.mark.usefixtures("demo_requests")
def test_connectivity_lists_the_requests_with_their_state(page, live_server):
    login(page, live_server, "tenant-admin")

    open_connectivity(page)

    expect(row(page, "acme-dev")).to_contain_text(SUBMITTED)
    expect(row(page, "acme-prod")).to_contain_text("Approved")
    expect(row(page, "acme-dev").get_by_role("link", name="Edit Credentials")).to_be_visible()
    expect(row(page, "acme-prod").get_by_role("link", name="Edit Credentials")).to_have_count(0)
    assert "demo-secret-not-real=" not in page.content()


def test_tenant_admin_edits_the_credentials_of_a_submitted_request_in_place(
    page, live_server, demo_requests, token_endpoint, snapshot
):
    login(page, live_server, "tenant-admin")
    open_connectivity(page)
    url = page.url

    dialog = open_edit_dialog(page, "acme-dev")
    expect_modal(dialog)
    expect(credentials_box(dialog)).to_be_focused()
    snapshot(page, "dialog-open")
    credentials_box(dialog).fill(client_secret_json(token_endpoint, client_id=NEW_CLIENT_ID, secret=NEW_SECRET))
    dialog.get_by_role("button", name="Save").click()

    expect(message(page)).to_have_text(EDIT_SUCCESS)
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.url == url
    expect(row(page, "acme-dev")).to_contain_text(SUBMITTED)
    expect(row(page, "acme-dev")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    assert NEW_SECRET not in page.content()
    request = demo_requests["acme-dev"]
    assert stored_credentials(request)["clientSecret"] == NEW_SECRET
    assert request.status == ConnectionRequest.Status.SUBMITTED
    snapshot(page, "saved")

    page.reload()
    expect(row(page, "acme-dev")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    assert NEW_SECRET not in page.content()


def test_escape_closes_the_dialog_and_changes_nothing(page, live_server, demo_requests):
    request = demo_requests["acme-dev"]
    before = stored_credentials(request)
    login(page, live_server, "tenant-admin")
    open_connectivity(page)
    url = page.url

    dialog = open_edit_dialog(page, "acme-dev")
    credentials_box(dialog).fill(client_secret_json("https://auth.example.com/oauth/token", secret=NEW_SECRET))
    page.keyboard.press("Escape")

    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.url == url
    expect(row(page, "acme-dev")).to_contain_text(f"Client ID {DEMO_DEV_CLIENT_ID}")
    assert stored_credentials(request) == before

    open_edit_dialog(page, "acme-dev").get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


BAD_PASTES = [
    pytest.param(
        '{"url": "https://acme-dev.cfapps.eu10.hana.ondemand.com", "tokenUrl": ',
        "The credentials are not valid JSON",
        id="malformed-json",
    ),
    pytest.param(
        json.dumps(
            {
                "url": "https://acme-dev.cfapps.eu10.hana.ondemand.com",
                "tokenUrl": "https://acme-dev.authentication.eu10.hana.ondemand.com/oauth/token",
                "clientId": NEW_CLIENT_ID,
            }
        ),
        'The "clientSecret" field is missing.',
        id="missing-client-secret",
    ),
    pytest.param(
        json.dumps(
            {
                "url": "https://acme-dev.cfapps.eu10.hana.ondemand.com",
                "tokenUrl": "http://example.com/oauth/token",
                "clientId": NEW_CLIENT_ID,
                "clientSecret": NEW_SECRET,
            }
        ),
        'The "tokenUrl" field must start with https://.',
        id="http-token-url",
    ),
]


@pytest.mark.parametrize(("paste", "error"), BAD_PASTES)
def test_a_bad_paste_in_the_dialog_names_the_field_and_changes_nothing(
    page, live_server, demo_requests, snapshot, paste, error
):
    request = demo_requests["acme-dev"]
    before = stored_credentials(request)
    login(page, live_server, "tenant-admin")
    open_connectivity(page)

    dialog = open_edit_dialog(page, "acme-dev")
    credentials_box(dialog).fill(paste)
    dialog.get_by_role("button", name="Save").click()

    expect(dialog.get_by_role("alert")).to_contain_text(error)
    expect_modal(dialog)
    expect(credentials_box(dialog)).to_have_attribute("aria-invalid", "true")
    assert NEW_SECRET not in page.content()
    snapshot(page, "dialog-error")
    dialog.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.reload()
    expect(row(page, "acme-dev")).to_contain_text(f"Client ID {DEMO_DEV_CLIENT_ID}")
    expect(row(page, "acme-dev")).to_contain_text(SUBMITTED)
    assert stored_credentials(request) == before


def test_a_failed_connection_test_offers_to_save_without_testing(
    page, live_server, demo_requests, failing_token_endpoint, snapshot
):
    request = demo_requests["acme-dev"]
    before = stored_credentials(request)
    paste = client_secret_json(failing_token_endpoint, client_id=NEW_CLIENT_ID, secret=NEW_SECRET)
    login(page, live_server, "tenant-admin")
    open_connectivity(page)

    dialog = open_edit_dialog(page, "acme-dev")
    expect(dialog.get_by_label(SKIP_TEST_LABEL)).to_have_count(0)
    credentials_box(dialog).fill(paste)
    dialog.get_by_role("button", name="Save").click()

    expect(dialog.get_by_role("alert")).to_contain_text("The connection test failed")
    expect(dialog.get_by_role("alert")).to_contain_text("invalid_client")
    expect(dialog.get_by_label(SKIP_TEST_LABEL)).to_be_visible()
    assert NEW_SECRET not in page.content()
    assert stored_credentials(request) == before
    snapshot(page, "dialog-test-failed")

    credentials_box(dialog).fill(paste)
    dialog.get_by_label(SKIP_TEST_LABEL).check()
    dialog.get_by_role("button", name="Save").click()

    expect(message(page)).to_have_text(EDIT_SUCCESS)
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(row(page, "acme-dev")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    expect(row(page, "acme-dev")).to_contain_text(SUBMITTED)
    assert stored_credentials(request)["clientSecret"] == NEW_SECRET
    request.refresh_from_db()
    assert request.health == ConnectionRequest.Health.UNTESTED


def test_an_approved_request_cannot_be_edited(page, live_server, demo_requests):
    login(page, live_server, "tenant-admin")
    open_connectivity(page)

    expect(row(page, "acme-prod").get_by_role("link", name="Edit Credentials")).to_have_count(0)

    page.goto(f"/manage/connectivity/requests/{demo_requests['acme-prod'].pk}/edit/")
    expect(page.get_by_role("heading", name=CONNECTIVITY_TILE, level=1)).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("This connection request is approved")
    expect(page.get_by_role("dialog")).to_have_count(0)


@pytest.mark.usefixtures("demo_requests")
def test_a_consumer_is_refused_the_connectivity_page(page, live_server):
    login(page, live_server, "consumer")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage")).to_have_count(0)

    response = page.goto("/manage/connectivity/")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You may not open this page")).to_be_visible()
    expect(page.get_by_text("acme-dev")).to_have_count(0)


@pytest.mark.usefixtures("demo_requests")
def test_tenant_admin_registers_an_api_portal_and_submits_a_connection_request(page, live_server, token_endpoint):
    login(page, live_server, "tenant-admin")
    open_connectivity(page)

    register = page.get_by_role("region", name="Register an API portal")
    register.get_by_label("API portal alias").fill("acme-test")
    register.get_by_label("API portal URL").fill("https://acme-test.apimanagement.eu10.hana.ondemand.com")
    register.get_by_role("button", name="Register").click()
    expect(message(page)).to_contain_text("The API portal acme-test is registered.")

    new_request = page.get_by_role("region", name="New connection request")
    new_request.get_by_label("API portal", exact=True).select_option(label="acme-test")
    credentials_box(new_request).fill(client_secret_json(token_endpoint, client_id=NEW_CLIENT_ID, secret=NEW_SECRET))
    new_request.get_by_role("button", name="Submit").click()

    expect(message(page)).to_contain_text("Your connection request for acme-test is submitted.")
    expect(row(page, "acme-test")).to_contain_text(SUBMITTED)
    expect(row(page, "acme-test")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    expect(row(page, "acme-test").get_by_role("link", name="Edit Credentials")).to_be_visible()
    assert NEW_SECRET not in page.content()
    request = ConnectionRequest.objects.get(tenant__alias="acme-test")
    assert request.status == ConnectionRequest.Status.SUBMITTED
    assert request.health == ConnectionRequest.Health.HEALTHY


def test_submitting_a_bad_paste_names_the_field_and_submits_nothing(page, live_server, demo_requests):
    Tenant.objects.create(
        organization=demo_requests["acme-dev"].tenant.organization,
        alias="acme-test",
        url="https://acme-test.apimanagement.eu10.hana.ondemand.com",
        registered_by=User.objects.get(username="tenant-admin"),
    )
    login(page, live_server, "tenant-admin")
    open_connectivity(page)

    new_request = page.get_by_role("region", name="New connection request")
    new_request.get_by_label("API portal", exact=True).select_option(label="acme-test")
    credentials_box(new_request).fill('{"url": "https://acme-test.example.com"}')
    new_request.get_by_role("button", name="Submit").click()

    new_request = page.get_by_role("region", name="New connection request")
    expect(new_request.get_by_role("alert")).to_contain_text('The "tokenUrl" field is missing.')
    expect(new_request.get_by_role("alert")).to_contain_text('The "clientSecret" field is missing.')
    expect(credentials_box(new_request)).to_be_focused()  # the page takes the user to the error
    expect(new_request.get_by_label("API portal", exact=True)).to_have_value(
        str(Tenant.objects.get(alias="acme-test").pk)
    )
    expect(row(page, "acme-test")).to_have_count(0)
    assert not ConnectionRequest.objects.filter(tenant__alias="acme-test").exists()


# --- Admin Center: Pending Requests ---------------------------------------------------------------
def test_hub_admin_approves_and_rejects_pending_requests_in_place(page, live_server, demo_requests, snapshot):
    qa = add_request(demo_requests["acme-dev"].tenant.organization, "acme-qa")
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Pending Requests")
    expect(row(page, "acme-dev")).to_contain_text("Acme Corporation")
    expect(row(page, "acme-qa")).to_be_visible()
    expect(row(page, "acme-prod")).to_have_count(0)
    expect(row(page, "acme-dev").get_by_role("button", name="Approve")).to_be_in_viewport(ratio=1)
    snapshot(page, "pending")
    page.evaluate("window.notReloaded = true")

    row(page, "acme-dev").get_by_role("button", name="Approve").click()

    expect(message(page)).to_have_text("The connection request of acme-dev is approved.")
    expect(row(page, "acme-dev")).to_contain_text("Approved")
    expect(row(page, "acme-dev").get_by_role("button", name="Approve")).to_have_count(0)
    assert page.evaluate("window.notReloaded === true"), "the row updated without reloading the page"

    reason_box = row(page, "acme-qa").get_by_label("Reason for rejection")
    expect(reason_box).to_be_hidden()
    row(page, "acme-qa").get_by_text("Reject", exact=True).click()
    expect(reason_box).to_be_in_viewport(ratio=1)
    snapshot(page, "reject-box")
    reason_box.fill("   ")
    row(page, "acme-qa").get_by_role("button", name="Reject request").click()

    expect(message(page)).to_have_text("Give a reason for the rejection.")
    expect(row(page, "acme-qa").get_by_role("alert")).to_have_text("Give a reason for the rejection.")
    expect(row(page, "acme-qa").get_by_label("Reason for rejection")).to_be_visible()
    qa.refresh_from_db()
    assert qa.status == ConnectionRequest.Status.SUBMITTED
    snapshot(page, "reject-refused")

    row(page, "acme-qa").get_by_label("Reason for rejection").fill("The token URL belongs to another tenant.")
    row(page, "acme-qa").get_by_role("button", name="Reject request").click()

    expect(message(page)).to_have_text("The connection request of acme-qa is rejected.")
    expect(row(page, "acme-qa")).to_contain_text("Rejected")
    assert page.evaluate("window.notReloaded === true")
    qa.refresh_from_db()
    assert qa.status == ConnectionRequest.Status.REJECTED
    assert qa.rejection_reason == "The token URL belongs to another tenant."
    demo_requests["acme-dev"].refresh_from_db()
    assert demo_requests["acme-dev"].status == ConnectionRequest.Status.APPROVED

    page.reload()
    expect(page.get_by_text("No connection requests are waiting for a decision.")).to_be_visible()


def test_an_empty_rejection_reason_is_refused(page, live_server, demo_requests):
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Pending Requests")

    row(page, "acme-dev").get_by_text("Reject", exact=True).click()
    row(page, "acme-dev").get_by_role("button", name="Reject request").click()

    reason_box = row(page, "acme-dev").get_by_label("Reason for rejection")
    expect(reason_box).to_be_visible()
    assert reason_box.evaluate("box => box.validationMessage"), "the browser asks for a reason"
    demo_requests["acme-dev"].refresh_from_db()
    assert demo_requests["acme-dev"].status == ConnectionRequest.Status.SUBMITTED


def test_the_tenant_admin_sees_the_decisions(page, live_server, demo_requests):
    hub_admin = User.objects.get(username="hub-admin")
    approval_services.connection_request_decide(
        connection_request_id=demo_requests["acme-dev"].pk,
        approver=hub_admin,
        verdict="reject",
        comment="Wrong subaccount.",
    )
    login(page, live_server, "tenant-admin")
    open_connectivity(page)

    expect(row(page, "acme-dev")).to_contain_text("Rejected")
    expect(row(page, "acme-dev")).to_contain_text("Reason: Wrong subaccount.")
    expect(row(page, "acme-dev").get_by_role("link", name="Edit Credentials")).to_have_count(0)


# --- S2: Admin Center > API Management Connections > Approved Requests ---------------------------
def test_hub_admin_reestablishes_a_connection_with_certificate_credentials(
    page, live_server, demo_requests, httpserver, snapshot
):
    request = demo_requests["acme-prod"]
    paste = certificate_credentials_json(unanswered_https_url(httpserver))
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Approved Requests")
    expect(row(page, "acme-prod")).to_contain_text(f"Client ID {DEMO_PROD_CLIENT_ID}")
    expect(row(page, "acme-prod")).to_contain_text("25 days left")
    reestablish = row(page, "acme-prod").get_by_role("link", name="Re-establish Connection")
    expect(reestablish).to_be_in_viewport(ratio=1)  # the Actions column is on screen, not behind a scroll
    snapshot(page, "approved")

    reestablish.click()

    expect(page.get_by_role("heading", name="Re-establish Connection", level=1)).to_be_visible()
    credentials = credentials_box(page)
    expect(credentials).to_be_visible()
    credentials.fill(paste)
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("alert")).to_contain_text("The connection test failed")
    expect(page.get_by_label(SKIP_TEST_LABEL)).to_be_visible()
    assert "PRIVATE KEY" not in page.content()
    assert stored_credentials(request)["clientId"] == DEMO_PROD_CLIENT_ID
    snapshot(page, "test-failed")

    credentials_box(page).fill(paste)
    page.get_by_label(SKIP_TEST_LABEL).check()
    page.get_by_role("button", name="Submit").click()

    expect(message(page)).to_have_text(REESTABLISH_SUCCESS)
    expect(
        page.get_by_role("navigation", name="API Management Connections").get_by_role("link", name="Approved Requests")
    ).to_have_attribute("aria-current", "page")
    expect(row(page, "acme-prod")).to_contain_text("Certificate CN=sb-acme-prod-client")
    expect(row(page, "acme-prod")).to_contain_text(DAYS_LEFT_365)
    request.refresh_from_db()
    expect(row(page, "acme-prod")).to_contain_text(f"{request.expires_at:%Y-%m-%d}")
    assert request.credential_kind == ConnectionRequest.CredentialKind.CERTIFICATE
    assert request.expires_at - request.generated_at == timedelta(days=365)
    assert "PRIVATE KEY" not in page.content()


def test_hub_admin_reestablishes_a_connection_with_client_secret_credentials(
    page, live_server, demo_requests, token_endpoint
):
    request = demo_requests["acme-prod"]
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Approved Requests")
    row(page, "acme-prod").get_by_role("link", name="Re-establish Connection").click()

    credentials_box(page).fill(client_secret_json(token_endpoint, client_id=NEW_CLIENT_ID, secret=NEW_SECRET))
    page.get_by_role("button", name="Submit").click()

    expect(message(page)).to_have_text(REESTABLISH_SUCCESS)
    expect(row(page, "acme-prod")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    expect(row(page, "acme-prod")).to_contain_text(DAYS_LEFT_365)
    expect(row(page, "acme-prod")).to_contain_text("Healthy")
    request.refresh_from_db()
    expect(row(page, "acme-prod")).to_contain_text(f"{request.expires_at:%Y-%m-%d}")
    assert request.expires_at - request.generated_at == timedelta(days=365)
    assert request.credentials["clientSecret"] == NEW_SECRET
    assert NEW_SECRET not in page.content()


def test_malformed_json_on_the_reestablish_page_shows_the_error_and_changes_nothing(
    page, live_server, demo_requests, snapshot
):
    request = demo_requests["acme-prod"]
    before = stored_credentials(request)
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Approved Requests")
    row(page, "acme-prod").get_by_role("link", name="Re-establish Connection").click()

    credentials_box(page).fill('{"url": "https://acme-prod.cfapps.eu10.hana.ondemand.com",')
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("heading", name="Re-establish Connection", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The credentials are not valid JSON")
    expect(credentials_box(page)).to_have_attribute("aria-invalid", "true")
    snapshot(page, "error")
    assert stored_credentials(request) == before

    page.get_by_role("link", name="Cancel").click()
    expect(row(page, "acme-prod")).to_contain_text(f"Client ID {DEMO_PROD_CLIENT_ID}")
    expect(row(page, "acme-prod")).to_contain_text("25 days left")


@pytest.fixture
def more_approved(demo_requests) -> None:
    organization = demo_requests["acme-prod"].tenant.organization
    add_request(organization, "acme-staging", age_days=100, approve=True)
    add_request(organization, "acme-sandbox", age_days=5, approve=True)


@pytest.mark.usefixtures("more_approved")
def test_approved_requests_search_filters_the_rows_in_place(page, live_server, snapshot):
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Approved Requests")
    table = page.get_by_role("table", name="Approved Requests")
    expect(body_rows(table)).to_have_count(3)
    page.evaluate("window.notReloaded = true")

    page.get_by_role("searchbox", name="Search").fill("staging")

    expect(body_rows(table)).to_have_count(1)
    expect(row(page, "acme-staging")).to_be_visible()
    snapshot(page, "filtered")
    expect(page.get_by_text("1 approved connection", exact=True)).to_be_visible()
    assert page.evaluate("window.notReloaded === true"), "the rows were filtered in place"
    expect(page).to_have_url(re.compile(r"[?&]q=staging"))

    page.get_by_role("searchbox", name="Search").fill("no-such-portal")
    expect(page.get_by_text("No approved connection matches “no-such-portal”.")).to_be_visible()

    page.get_by_role("searchbox", name="Search").fill("")
    expect(body_rows(table)).to_have_count(3)


@pytest.mark.usefixtures("more_approved")
def test_approved_requests_sort_by_credentials_expiry(page, live_server):
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Approved Requests")
    table = page.get_by_role("table", name="Approved Requests")

    table.get_by_role("link", name="Credentials expire").click()

    expect(table.get_by_role("columnheader", name="Credentials expire")).to_have_attribute("aria-sort", "ascending")
    expect(body_rows(table)).to_contain_text(["acme-prod", "acme-staging", "acme-sandbox"])

    table.get_by_role("link", name="Credentials expire").click()

    expect(table.get_by_role("columnheader", name="Credentials expire")).to_have_attribute("aria-sort", "descending")
    expect(body_rows(table)).to_contain_text(["acme-sandbox", "acme-staging", "acme-prod"])


# --- on a phone -----------------------------------------------------------------------------------
def fits_the_screen(page: Page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def scroll_to(locator: Locator) -> None:
    """Scroll the element to the middle of the screen, as a thumb would, before looking at it whole."""
    locator.evaluate("element => element.scrollIntoView({block: 'center'})")


@pytest.mark.usefixtures("demo_requests")
def test_connectivity_and_the_dialog_fit_a_phone(phone_page, live_server, snapshot):
    page = phone_page
    login(page, live_server, "tenant-admin")
    page.goto("/manage/connectivity/")

    edit = row(page, "acme-dev").get_by_role("link", name="Edit Credentials")
    expect(row(page, "acme-dev")).to_contain_text(SUBMITTED)
    scroll_to(edit)
    expect(edit).to_be_in_viewport(ratio=1)
    assert fits_the_screen(page), "the page scrolls sideways on a phone"
    snapshot(page, "connectivity")

    edit.click()
    dialog = page.get_by_role("dialog", name="Edit Credentials for acme-dev")
    expect(dialog.get_by_role("button", name="Save")).to_be_in_viewport()
    credentials_box(dialog).fill("{")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("The credentials are not valid JSON")
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


@pytest.mark.usefixtures("more_approved")
def test_approved_requests_fit_a_phone(phone_page, live_server, snapshot):
    page = phone_page
    login(page, live_server, "hub-admin")
    page.goto("/admin-center/connections/approved/")

    reestablish = row(page, "acme-prod").get_by_role("link", name="Re-establish Connection")
    scroll_to(reestablish)
    expect(reestablish).to_be_in_viewport(ratio=1)
    expect(row(page, "acme-prod")).to_contain_text("25 days left")
    assert fits_the_screen(page), "the page scrolls sideways on a phone"
    pending_tab = (
        page.get_by_role("navigation", name="API Management Connections")
        .get_by_role("link", name="Pending Requests")
        .bounding_box()
    )
    approved_tab = (
        page.get_by_role("navigation", name="API Management Connections")
        .get_by_role("link", name="Approved Requests")
        .bounding_box()
    )
    assert pending_tab and approved_tab and pending_tab["y"] == approved_tab["y"], "the two tabs share one line"
    snapshot(page, "approved")

    page.get_by_label("Sort by").select_option(label="Credentials expire, soonest first")
    table = page.get_by_role("table", name="Approved Requests")
    expect(body_rows(table)).to_contain_text(["acme-prod", "acme-staging", "acme-sandbox"])
    page.get_by_label("Sort by").select_option(label="Credentials expire, latest first")
    expect(body_rows(table)).to_contain_text(["acme-sandbox", "acme-staging", "acme-prod"])

    reestablish.click()
    expect(page.get_by_role("heading", name="Re-establish Connection", level=1)).to_be_visible()
    credentials_box(page).fill("{")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_contain_text("The credentials are not valid JSON")
    assert fits_the_screen(page), "the page scrolls sideways on a phone"


@pytest.mark.usefixtures("more_approved")
def test_pending_requests_fit_a_phone(phone_page, live_server, snapshot):
    page = phone_page
    login(page, live_server, "hub-admin")
    page.goto("/admin-center/connections/pending/")

    approve = row(page, "acme-dev").get_by_role("button", name="Approve")
    scroll_to(approve)
    expect(approve).to_be_in_viewport(ratio=1)
    row(page, "acme-dev").get_by_text("Reject", exact=True).click()
    reason_box = row(page, "acme-dev").get_by_label("Reason for rejection")
    scroll_to(reason_box)
    expect(reason_box).to_be_in_viewport(ratio=1)
    expect(row(page, "acme-dev").get_by_role("button", name="Reject request")).to_be_in_viewport(ratio=1)
    snapshot(page, "reject-box")
    assert fits_the_screen(page), "the page scrolls sideways on a phone"


# --- Issue 13, part 3: the paste stays in the box -------------------------------------------------
# After a refused paste or a failed connection test only the errors and the "Save without testing the
# connection" choice are swapped in: the box keeps exactly what the user typed, the server's answer
# never holds it, and saving untested sends the same paste again.
def broken_paste(secret: str) -> str:
    """Malformed JSON as a hurried copy leaves it: cut off after the secret, with its line breaks."""
    return (
        "{\n"
        '  "url": "https://acme-dev.cfapps.eu10.hana.ondemand.com",\n'
        '  "tokenUrl": "https://acme-dev.authentication.eu10.hana.ondemand.com/oauth/token",\n'
        f'  "clientId": "{NEW_CLIENT_ID}",\n'
        f'  "clientSecret": "{secret}",\n'
    )


def unreachable_paste(httpserver) -> str:
    """Client-secret credentials whose token URL does not answer (no TLS on loopback): the test fails fast."""
    return json.dumps(
        {
            "url": "https://acme.cfapps.eu10.hana.ondemand.com",
            "tokenUrl": unanswered_https_url(httpserver) + "/oauth/token",
            "clientId": NEW_CLIENT_ID,
            "clientSecret": NEW_SECRET,
        },
        indent=2,
    )


def send(page: Page, button: Locator) -> str:
    """Press the form's button and return the text of the server's answer to the POST."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        button.click()
    return answer.value.text()


def test_the_edit_dialog_keeps_the_paste_after_an_error_and_a_failed_connection_test(
    page, live_server, demo_requests, httpserver, snapshot
):
    request = demo_requests["acme-dev"]
    before = stored_credentials(request)
    login(page, live_server, "tenant-admin")
    open_connectivity(page)
    page.evaluate("window.notReloaded = true")
    dialog = open_edit_dialog(page, "acme-dev")
    box = credentials_box(dialog)
    save = dialog.get_by_role("button", name="Save")

    box.fill(broken_paste(NEW_SECRET))
    answer = send(page, save)

    expect(dialog.get_by_role("alert")).to_contain_text("The credentials are not valid JSON")
    expect(box).to_have_value(broken_paste(NEW_SECRET))
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_be_focused()
    expect(dialog.get_by_text("Paste the credentials again")).to_have_count(0)
    assert NEW_SECRET not in answer
    snapshot(page, "malformed")

    paste = unreachable_paste(httpserver)
    box.fill(paste)
    answer = send(page, save)

    expect(dialog.get_by_role("alert")).to_contain_text("The connection test failed")
    expect(dialog.get_by_label(SKIP_TEST_LABEL)).to_be_visible()
    expect(box).to_have_value(paste)
    assert NEW_SECRET not in answer
    assert stored_credentials(request) == before
    snapshot(page, "test-failed")

    dialog.get_by_label(SKIP_TEST_LABEL).check()
    save.click()

    expect(message(page)).to_have_text(EDIT_SUCCESS)
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(row(page, "acme-dev")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    assert page.evaluate("window.notReloaded === true"), "the dialog worked in place"
    assert stored_credentials(request)["clientSecret"] == NEW_SECRET
    request.refresh_from_db()
    assert request.health == ConnectionRequest.Health.UNTESTED


def test_the_reestablish_page_keeps_the_paste_after_an_error_and_a_failed_connection_test(
    page, live_server, demo_requests, httpserver, snapshot
):
    request = demo_requests["acme-prod"]
    before = stored_credentials(request)
    login(page, live_server, "hub-admin")
    open_admin_center_section(page, "Approved Requests")
    row(page, "acme-prod").get_by_role("link", name="Re-establish Connection").click()
    expect(page.get_by_role("heading", name="Re-establish Connection", level=1)).to_be_visible()
    page.evaluate("window.notReloaded = true")
    box = credentials_box(page)
    submit = page.get_by_role("button", name="Submit")

    box.fill(broken_paste(NEW_SECRET))
    answer = send(page, submit)

    expect(page.get_by_role("alert")).to_contain_text("The credentials are not valid JSON")
    expect(box).to_have_value(broken_paste(NEW_SECRET))
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_be_focused()
    assert NEW_SECRET not in answer
    assert page.evaluate("window.notReloaded === true"), "only the errors were swapped in"

    paste = unreachable_paste(httpserver)
    box.fill(paste)
    answer = send(page, submit)

    expect(page.get_by_role("alert")).to_contain_text("The connection test failed")
    expect(page.get_by_label(SKIP_TEST_LABEL)).to_be_visible()
    expect(box).to_have_value(paste)
    assert NEW_SECRET not in answer
    assert stored_credentials(request) == before
    snapshot(page, "test-failed")

    page.get_by_label(SKIP_TEST_LABEL).check()
    submit.click()

    expect(message(page)).to_have_text(REESTABLISH_SUCCESS)
    expect(page.get_by_role("heading", name="API Management Connections", level=1)).to_be_visible()
    expect(row(page, "acme-prod")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    expect(row(page, "acme-prod")).to_contain_text(DAYS_LEFT_365)
    assert stored_credentials(request)["clientSecret"] == NEW_SECRET
    assert NEW_SECRET not in page.content()


def test_a_new_connection_request_keeps_the_paste_after_an_error_and_a_failed_connection_test(
    page, live_server, demo_requests, httpserver, snapshot
):
    Tenant.objects.create(
        organization=demo_requests["acme-dev"].tenant.organization,
        alias="acme-test",
        url="https://acme-test.apimanagement.eu10.hana.ondemand.com",
        registered_by=User.objects.get(username="tenant-admin"),
    )
    login(page, live_server, "tenant-admin")
    open_connectivity(page)
    page.evaluate("window.notReloaded = true")
    new_request = page.get_by_role("region", name="New connection request")
    new_request.get_by_label("API portal", exact=True).select_option(label="acme-test")
    box = credentials_box(new_request)
    submit = new_request.get_by_role("button", name="Submit")

    box.fill(broken_paste(NEW_SECRET))
    answer = send(page, submit)

    expect(new_request.get_by_role("alert")).to_contain_text("The credentials are not valid JSON")
    expect(box).to_have_value(broken_paste(NEW_SECRET))
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_be_focused()
    expect(new_request.get_by_label("API portal", exact=True)).to_have_value(
        str(Tenant.objects.get(alias="acme-test").pk)
    )
    assert NEW_SECRET not in answer
    assert page.evaluate("window.notReloaded === true"), "only the errors were swapped in"

    paste = unreachable_paste(httpserver)
    box.fill(paste)
    answer = send(page, submit)

    expect(new_request.get_by_role("alert")).to_contain_text("The connection test failed")
    expect(new_request.get_by_label(SKIP_TEST_LABEL)).to_be_visible()
    expect(box).to_have_value(paste)
    assert NEW_SECRET not in answer
    assert not ConnectionRequest.objects.filter(tenant__alias="acme-test").exists()
    snapshot(page, "test-failed")

    new_request.get_by_label(SKIP_TEST_LABEL).check()
    submit.click()

    expect(message(page)).to_contain_text("Your connection request for acme-test is submitted.")
    expect(row(page, "acme-test")).to_contain_text(f"Client ID {NEW_CLIENT_ID}")
    assert NEW_SECRET not in page.content()
    created = ConnectionRequest.objects.get(tenant__alias="acme-test")
    assert created.credentials["clientSecret"] == NEW_SECRET
    assert created.health == ConnectionRequest.Health.UNTESTED
