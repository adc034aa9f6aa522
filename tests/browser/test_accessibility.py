"""Every page of the portal, and every state of its dialogs and forms (errors included), checked
with axe-core at desktop width: no serious or critical violation.

Each case logs on as the demo role that opens the page (or stays anonymous), brings the page to
its state the way a user would (links, buttons, a refused paste) and runs axe-core on what the
browser shows. The data is the demo's (`make run` shows the same pages) plus an API without a key,
a runtime target and a renewal waiting for the approver.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from approvals.demo import seed_api_keys, seed_connection_requests
from credentials.connections.models import ConnectionRequest
from credentials.integration.demo import seed_api_credential
from credentials.keys import services as key_services
from credentials.keys.models import Api, ApiKey, RuntimeTarget
from portal.models import User
from tests.browser.helpers import assert_accessible, login
from tests.browser.test_second_factor import enrol, enter_code, expect_code_refused, start_enrolment, wrong_code
from tests.factories import ApiFactory, RuntimeTargetFactory

CONNECTIVITY_TILE = "Establish API Portal Connectivity with API Business Hub Enterprise"
CREDENTIALS_LABEL = "API Portal Access Credentials"
# Parses as JSON but is not a service key: the form answers with its field errors.
INVALID_PASTE = '{"url": "https://acme-test.example.com"}'


@dataclass
class Portal:
    """What the pages need, by the names the cases use."""

    dev_request: ConnectionRequest  # acme-dev: submitted, pending approval
    prod_request: ConnectionRequest  # acme-prod: approved
    weather_key: ApiKey
    weather_api: Api
    target: RuntimeTarget
    credential_id: str  # the demo connection API credentials' public id


@pytest.fixture
def portal(demo_accounts) -> Portal:
    seed_connection_requests(demo_accounts)
    seed_api_keys(demo_accounts)
    credential = seed_api_credential(demo_accounts)
    # An API without a key of `consumer`: the catalog offers "Request API key" for it.
    ApiFactory(name="Maps API", slug="maps", provider=demo_accounts, description="Geocoding and routes.")
    target = RuntimeTargetFactory(name="Edge gateway")
    payments = ApiKey.objects.get(consumer__username="consumer", api__slug="payments")
    # A renewal waiting in the approver's inbox.
    key_services.api_key_renewal_request(api_key_id=payments.pk, consumer=User.objects.get(username="consumer"))
    requests = {r.tenant.alias: r for r in ConnectionRequest.objects.select_related("tenant")}
    weather = ApiKey.objects.select_related("api").get(consumer__username="consumer", api__slug="weather")
    return Portal(
        dev_request=requests["acme-dev"],
        prod_request=requests["acme-prod"],
        weather_key=weather,
        weather_api=weather.api,
        target=target,
        credential_id=credential.public_id,
    )


# --- how each state is reached ------------------------------------------------------------------
def visit(path: str | Callable[[Portal], str], heading: str) -> Callable[[Page, Portal], None]:
    """Opens the page at `path` (or the path the data gives) and waits for its main heading, so
    that a refusal or a redirect to the login page never passes for the page."""

    def go(page: Page, portal: Portal) -> None:
        page.goto(path(portal) if callable(path) else path)
        expect(page.get_by_role("heading", name=heading, level=1, exact=True)).to_be_visible()

    return go


def credentials_box(scope: Page | Locator) -> Locator:
    return scope.get_by_role("textbox", name=CREDENTIALS_LABEL, exact=True)


def failed_login(page: Page, portal: Portal) -> None:
    page.goto(reverse("login"))
    page.get_by_label("User name").fill("consumer")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log on").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")


def edit_credentials_dialog(page: Page, portal: Portal) -> Locator:
    page.goto(reverse("credentials:connectivity"))
    page.get_by_role("row").filter(has=page.get_by_text("acme-dev", exact=True)).get_by_role(
        "link", name="Edit Credentials"
    ).click()
    dialog = page.get_by_role("dialog", name="Edit Credentials for acme-dev")
    expect(dialog).to_be_visible()
    return dialog


def edit_credentials_refused(page: Page, portal: Portal) -> None:
    dialog = edit_credentials_dialog(page, portal)
    credentials_box(dialog).fill(INVALID_PASTE)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert").first).to_contain_text("is missing")


def new_request_refused(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:connectivity"))
    new_request = page.get_by_role("region", name="New connection request")
    credentials_box(new_request).fill(INVALID_PASTE)
    new_request.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("region", name="New connection request").get_by_role("alert").first).to_contain_text(
        "is missing"
    )


def register_refused(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:connectivity"))
    register = page.get_by_role("region", name="Register an API portal")
    register.get_by_label("API portal alias").fill("acme-dev")
    # A valid URL, so the browser sends the form: the server refuses the alias, already registered.
    register.get_by_label("API portal URL").fill("https://acme-dev-2.apimanagement.eu10.hana.ondemand.com")
    register.get_by_role("button", name="Register").click()
    expect(page.get_by_role("region", name="Register an API portal").get_by_role("alert").first).to_be_visible()


def reestablish_refused(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:connection-reestablish", args=[portal.prod_request.pk]))
    credentials_box(page).fill(INVALID_PASTE)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert").first).to_contain_text("is missing")


def reject_without_reason(row_text: str, path: str) -> Callable[[Page, Portal], None]:
    """Opens Reject on the row, sends a blank reason and waits for the error beside the field."""

    def go(page: Page, portal: Portal) -> None:
        page.goto(path)
        row = page.get_by_role("row").filter(has_text=row_text)
        row.get_by_text("Reject", exact=True).click()
        row.get_by_label("Reason for rejection").fill("   ")
        row.get_by_role("button", name="Reject request").click()
        expect(page.get_by_role("row").filter(has_text=row_text).get_by_role("alert")).to_be_visible()

    return go


def api_form_refused(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:api-create"))
    page.get_by_role("button", name="Create API").click()
    expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")


def key_expiry_editor(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:api-keys", args=[portal.weather_api.pk]))
    page.get_by_role("link", name="Change expiry").first.click()
    expect(page.get_by_role("button", name="Save expiry")).to_be_visible()


def key_expiry_refused(page: Page, portal: Portal) -> None:
    key_expiry_editor(page, portal)
    page.get_by_label("New expiry").fill("2000-01-01")
    page.get_by_role("button", name="Save expiry").click()
    expect(page.get_by_role("alert").first).to_be_visible()


def runtime_target_refused(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:runtime-target-create"))
    page.get_by_label("Base URL").fill("not a url")
    page.get_by_role("button", name="Create runtime target").click()
    expect(page.get_by_role("alert").first).to_be_visible()


def runtime_target_created(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:runtime-target-create"))
    page.get_by_label("Name").fill("Second gateway")
    page.get_by_label("Base URL").fill("https://gateway-two.example.com")
    page.get_by_role("button", name="Create runtime target").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Second gateway")


def regenerate_confirm(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:runtime-target-edit", args=[portal.target.pk]))
    page.get_by_text("Regenerate credentials…").click()
    expect(page.get_by_role("button", name="Regenerate now")).to_be_visible()


def catalog_key_shown(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:api-catalog"))
    page.get_by_role("region", name="Maps API").get_by_role("button", name="Request API key").click()
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()


def rotated_key_shown(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:api-key-rotate", args=[portal.weather_key.pk]))
    page.get_by_role("button", name="Rotate").last.click()
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()


def revoked_key(page: Page, portal: Portal) -> None:
    """Revoke asks in the browser's own confirm dialog (hx-confirm); the row then says revoked."""
    page.goto(reverse("credentials:my-api-keys"))
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.get_by_role("row").filter(has_text="Weather API")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row").filter(has_text="Weather API")).to_contain_text("revoked")


def api_credentials_list(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:api-credential-list"))
    expect(page.get_by_role("heading", name="Connection API Credentials", level=1)).to_be_visible()


def add_secret_dialog(page: Page, portal: Portal) -> Locator:
    api_credentials_list(page, portal)
    page.get_by_role("link", name="Add Secret").click()
    dialog = page.get_by_role("dialog", name="Add Secret")
    expect(dialog).to_be_visible()
    return dialog


def add_secret_second_step(page: Page, portal: Portal) -> Locator:
    dialog = add_secret_dialog(page, portal)
    dialog.get_by_label("Short Description").fill("Billing sync")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_role("textbox", name="Client Secret")).to_be_visible()
    return dialog


def add_secret_refused(page: Page, portal: Portal) -> None:
    dialog = add_secret_second_step(page, portal)
    dialog.get_by_role("textbox", name="Client Secret").fill("short")
    dialog.get_by_role("button", name="Done").click()
    expect(dialog.get_by_role("textbox", name="Client Secret")).to_have_attribute("aria-invalid", "true")


def add_secret_shown(page: Page, portal: Portal) -> None:
    dialog = add_secret_second_step(page, portal)
    dialog.get_by_role("button", name="Done").click()
    expect(dialog.get_by_role("button", name="I have copied them")).to_be_visible()


def edit_secret_dialog(page: Page, portal: Portal) -> Locator:
    api_credentials_list(page, portal)
    page.get_by_role("link", name="Edit Demo integration (make run)").click()
    dialog = page.get_by_role("dialog", name="Edit Connection API Credentials")
    expect(dialog).to_be_visible()
    return dialog


def edit_secret_refused(page: Page, portal: Portal) -> None:
    dialog = edit_secret_dialog(page, portal)
    dialog.get_by_label("Type a new secret").check()
    dialog.get_by_role("textbox", name="New client secret").fill("short")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("textbox", name="New client secret")).to_have_attribute("aria-invalid", "true")


def delete_secret_dialog(page: Page, portal: Portal) -> None:
    api_credentials_list(page, portal)
    page.get_by_role("link", name="Delete Demo integration (make run)").click()
    expect(page.get_by_role("dialog")).to_be_visible()


def api_docs(page: Page, portal: Portal) -> None:
    page.goto(reverse("jsonapi-docs"))
    # Swagger UI renders the document in the browser: wait for its operations.
    expect(page.locator(".opblock").first).to_be_visible()


def api_docs_operation_open(page: Page, portal: Portal) -> None:
    api_docs(page, portal)
    page.locator(".opblock-summary-control").first.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()


def api_docs_trying_out(page: Page, portal: Portal) -> None:
    api_docs_operation_open(page, portal)
    page.get_by_role("button", name="Try it out").first.click()
    expect(page.get_by_role("button", name="Execute").first).to_be_visible()


def api_docs_authorize(page: Page, portal: Portal) -> None:
    api_docs(page, portal)
    page.get_by_role("button", name="Authorize").first.click()
    expect(page.get_by_role("heading", name="Available authorizations")).to_be_visible()


def api_docs_executed(page: Page, portal: Portal) -> None:
    api_docs_trying_out(page, portal)
    page.get_by_role("button", name="Execute").first.click()
    expect(page.get_by_text("Server response").first).to_be_visible()


def approved_requests(page: Page, portal: Portal) -> None:
    page.goto(reverse("credentials:connections-approved"))
    expect(page.get_by_role("heading", name="API Management Connections", level=1)).to_be_visible()


def second_factor_enrol(page: Page, portal: Portal) -> None:
    start_enrolment(page)


def second_factor_enrol_refused(page: Page, portal: Portal) -> None:
    enter_code(page, wrong_code(start_enrolment(page)), "Confirm and finish")
    expect_code_refused(page)


def recovery_codes_shown(page: Page, portal: Portal) -> None:
    enrol(page)


def enrolled_then(path: str, heading: str) -> Callable[[Page, Portal], None]:
    """Enrols the user's authenticator app, then opens `path`."""

    def go(page: Page, portal: Portal) -> None:
        enrol(page)
        visit(path, heading)(page, portal)

    return go


def confirm_refused(page: Page, portal: Portal) -> None:
    key = enrol(page).key
    visit(reverse("second_factor:confirm"), "Confirm it's you")(page, portal)
    enter_code(page, wrong_code(key), "Confirm")
    expect_code_refused(page)


@dataclass(frozen=True)
class State:
    id: str
    username: str | None  # None: not logged on
    reach: Callable[[Page, Portal], None]


CONNECTIVITY = reverse("credentials:connectivity")
STATES = [
    # Anyone
    State("login", None, visit(reverse("login"), "Log on to Portico")),
    State("login-refused", None, failed_login),
    State("api-docs", None, api_docs),
    State("api-docs-operation-open", None, api_docs_operation_open),
    State("api-docs-trying-out", None, api_docs_trying_out),
    State("api-docs-executed", None, api_docs_executed),
    State("api-docs-authorize-dialog", None, api_docs_authorize),
    # Every role
    State("home", "consumer", visit("/", "Welcome, Casey Consumer")),
    State("user-preferences", "consumer", visit(reverse("user-preferences"), "User Preferences")),
    State("not-found", "consumer", visit("/no-such-page/", "Page not found")),
    State("forbidden", "consumer", visit(CONNECTIVITY, "You may not open this page")),
    # Consumer
    State("my-api-keys", "consumer", visit(reverse("credentials:my-api-keys"), "User Preferences")),
    State("my-api-keys-revoked", "consumer", revoked_key),
    State("api-catalog", "consumer", visit(reverse("credentials:api-catalog"), "APIs")),
    State("api-catalog-new-key-shown", "consumer", catalog_key_shown),
    State(
        "api-key-rotate",
        "consumer",
        visit(lambda p: reverse("credentials:api-key-rotate", args=[p.weather_key.pk]), "Rotate the Weather API key"),
    ),
    State("api-key-rotated-shown", "consumer", rotated_key_shown),
    # Organization admin
    State("account", "org-admin", visit(reverse("credentials:account"), "Account")),
    State("api-credentials", "org-admin", api_credentials_list),
    State("api-credentials-add-dialog", "org-admin", add_secret_dialog),
    State("api-credentials-add-dialog-secret-step", "org-admin", add_secret_second_step),
    State("api-credentials-add-dialog-refused", "org-admin", add_secret_refused),
    State("api-credentials-add-dialog-shown", "org-admin", add_secret_shown),
    State("api-credentials-edit-dialog", "org-admin", edit_secret_dialog),
    State("api-credentials-edit-dialog-refused", "org-admin", edit_secret_refused),
    State("api-credentials-delete-dialog", "org-admin", delete_secret_dialog),
    State("api-credentials-add-page", "org-admin", visit(reverse("credentials:api-credential-add"), "Add Secret")),
    State(
        "api-credentials-edit-page",
        "org-admin",
        visit(
            lambda p: reverse("credentials:api-credential-edit", args=[p.credential_id]),
            "Edit Connection API Credentials",
        ),
    ),
    State(
        "api-credentials-delete-page",
        "org-admin",
        visit(
            lambda p: reverse("credentials:api-credential-delete", args=[p.credential_id]),
            "Delete Connection API Credentials?",
        ),
    ),
    # Tenant admin
    State("manage", "tenant-admin", visit(reverse("manage"), "Manage")),
    State("connectivity", "tenant-admin", visit(CONNECTIVITY, CONNECTIVITY_TILE)),
    State("connectivity-register-refused", "tenant-admin", register_refused),
    State("connectivity-new-request-refused", "tenant-admin", new_request_refused),
    State("edit-credentials-dialog", "tenant-admin", edit_credentials_dialog),
    State("edit-credentials-dialog-refused", "tenant-admin", edit_credentials_refused),
    State(
        "edit-credentials-page",
        "tenant-admin",
        visit(
            lambda p: reverse("credentials:connection-request-edit", args=[p.dev_request.pk]),
            "Edit Credentials for acme-dev",
        ),
    ),
    # Hub admin
    State("admin-center", "hub-admin", visit(reverse("admin-center"), "Admin Center")),
    State("email-outbox", "hub-admin", visit(reverse("email-outbox"), "Emails")),
    State("audit-log", "hub-admin", visit(reverse("audit-log"), "Audit log")),
    State(
        "pending-requests", "hub-admin", visit(reverse("approvals:connections-pending"), "API Management Connections")
    ),
    State(
        "pending-requests-reject-refused",
        "hub-admin",
        reject_without_reason("acme-dev", reverse("approvals:connections-pending")),
    ),
    State("approved-requests", "hub-admin", approved_requests),
    State(
        "reestablish",
        "hub-admin",
        visit(
            lambda p: reverse("credentials:connection-reestablish", args=[p.prod_request.pk]), "Re-establish Connection"
        ),
    ),
    State("reestablish-refused", "hub-admin", reestablish_refused),
    State("apis", "hub-admin", visit(reverse("credentials:api-list"), "APIs")),
    State("api-new", "hub-admin", visit(reverse("credentials:api-create"), "New API")),
    State("api-new-refused", "hub-admin", api_form_refused),
    State(
        "api-edit",
        "hub-admin",
        visit(lambda p: reverse("credentials:api-edit", args=[p.weather_api.pk]), "Weather API: consumption settings"),
    ),
    State(
        "api-keys",
        "hub-admin",
        visit(lambda p: reverse("credentials:api-keys", args=[p.weather_api.pk]), "Keys of Weather API"),
    ),
    State("api-keys-expiry-editor", "hub-admin", key_expiry_editor),
    State("api-keys-expiry-refused", "hub-admin", key_expiry_refused),
    State(
        "api-key-expiry-page",
        "hub-admin",
        visit(
            lambda p: reverse("credentials:api-key-expiry", args=[p.weather_api.pk, p.weather_key.pk]), "Change expiry"
        ),
    ),
    State("runtime-targets", "hub-admin", visit(reverse("credentials:runtime-target-list"), "Runtime targets")),
    State("runtime-target-new", "hub-admin", visit(reverse("credentials:runtime-target-create"), "New runtime target")),
    State("runtime-target-new-refused", "hub-admin", runtime_target_refused),
    State("runtime-target-created-credentials", "hub-admin", runtime_target_created),
    State(
        "runtime-target-edit",
        "hub-admin",
        visit(lambda p: reverse("credentials:runtime-target-edit", args=[p.target.pk]), "Edge gateway"),
    ),
    State("runtime-target-regenerate-confirm", "hub-admin", regenerate_confirm),
    # Second factor (hub admins and approvers)
    State("second-factor-enrol", "hub-admin", second_factor_enrol),
    State("second-factor-enrol-refused", "hub-admin", second_factor_enrol_refused),
    State("second-factor-recovery-codes", "hub-admin", recovery_codes_shown),
    State(
        "user-preferences-second-factor-enrolled",
        "approver",
        enrolled_then(reverse("user-preferences"), "User Preferences"),
    ),
    State("confirm-its-you", "hub-admin", enrolled_then(reverse("second_factor:confirm"), "Confirm it's you")),
    State("confirm-its-you-refused", "hub-admin", confirm_refused),
    # Approver
    State("approvals", "approver", visit(reverse("approvals:inbox"), "Approvals")),
    State("approvals-reject-refused", "approver", reject_without_reason("Payments API", reverse("approvals:inbox"))),
]


@pytest.mark.parametrize("state", STATES, ids=[state.id for state in STATES])
def test_page_has_no_serious_or_critical_accessibility_violation(page, live_server, portal, state):
    if state.username is not None:
        login(page, live_server, state.username)
    state.reach(page, portal)
    assert_accessible(page, state.id)


def test_audit_log_shows_every_column_in_full_at_desktop_width(page, live_server, portal):
    login(page, live_server, "hub-admin")
    page.goto(reverse("audit-log"))
    events = page.get_by_role("region", name="Audit events")
    first_row = events.get_by_role("row").nth(1)
    # Nothing is cut off at the right edge: the last two columns of the newest event are on screen whole.
    expect(first_row.get_by_role("cell").nth(4)).to_contain_text("renewal")
    expect(first_row.get_by_role("cell").nth(4)).to_be_in_viewport(ratio=1)
    expect(first_row.get_by_role("cell").nth(5)).to_be_in_viewport(ratio=1)
    expect(events.get_by_role("columnheader", name="Address")).to_be_in_viewport(ratio=1)


def test_audit_log_events_are_reached_with_the_keyboard(page, live_server, portal):
    login(page, live_server, "hub-admin")
    page.goto(reverse("audit-log"))
    page.get_by_role("link", name="Clear").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("region", name="Audit events")).to_be_focused()


def test_api_docs_lead_back_to_the_portal(page, live_server, portal):
    login(page, live_server, "hub-admin")
    api_docs(page, portal)
    page.get_by_role("link", name="← Back to Portico").click()
    expect(page.get_by_role("heading", name="Welcome, Hannah Hub-Admin")).to_be_visible()
