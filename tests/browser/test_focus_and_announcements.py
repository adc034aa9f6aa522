"""Focus and announcements after htmx actions (issue 13, part 7), in a real browser.

After Renew, Approve, Reject, Save, Done or Delete the focus is on the updated row, the control the
user came from or the message, never on <body>; a dialog gives the focus back to the control that
opened it; #messages is one live region for the whole visit, its content replaced, so a screen
reader announces each result; a slow action says that it is busy; the runtime targets page's
periodic refresh leaves the focus where it is; repeated row buttons name their row.
"""

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from approvals.demo import seed_api_keys, seed_connection_requests
from credentials.connections.views import EDIT_SUCCESS
from tests.browser.helpers import login
from tests.factories import RuntimeTargetFactory, client_secret_json, make_api_credential

pytestmark = pytest.mark.usefixtures("demo_accounts")

WEATHER = "Weather API"
NEW_CLIENT_ID = "sb-apiaccess-new!b4321|api-portal-xsuaa!b1120"


# --- helpers --------------------------------------------------------------------------------------
def row(page: Page, name: str) -> Locator:
    """The table row whose first cell says `name`."""
    return page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))


def mark_messages(page: Page) -> None:
    """Tag the #messages element so that a later look can tell whether it is still the same node."""
    page.evaluate("document.getElementById('messages').dataset.seen = 'before'")


def expect_the_same_live_region(page: Page, text: str) -> None:
    """The message says `text` (it starts so), inside the #messages element that was there before the action."""
    messages = page.locator("#messages")
    expect(messages.get_by_role("status")).to_contain_text(text)
    expect(messages).to_have_attribute("aria-live", "polite")
    expect(messages).to_have_attribute("data-seen", "before")


class HeldRequests:
    """POSTs to one URL held by the browser until the test lets them go, to see a slow action."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def __call__(self, route: Route) -> None:
        if route.request.method == "POST":
            self.routes.append(route)
        else:
            route.continue_()

    def release(self, page: Page) -> None:
        for _ in range(100):  # Playwright hands the held request over between its calls
            if self.routes:
                break
            page.wait_for_timeout(20)
        assert self.routes, "the action sent its request"
        for route in self.routes:
            route.continue_()


@pytest.fixture
def hold(page: Page) -> Iterator[Callable[[str], HeldRequests]]:
    def start(url_glob: str) -> HeldRequests:
        held = HeldRequests()
        page.route(url_glob, held)
        return held

    yield start
    page.unroute_all(behavior="ignoreErrors")


# --- row actions ----------------------------------------------------------------------------------
def test_renew_says_it_is_busy_then_leaves_the_focus_on_the_updated_row(page, live_server, demo_accounts, hold):
    seed_api_keys(demo_accounts)
    login(page, live_server, "consumer")
    page.goto(f"{live_server.url}/preferences/api-keys/")
    mark_messages(page)
    weather = row(page, WEATHER)
    row_id = weather.get_attribute("id")
    renew = weather.get_by_role("button", name=re.compile(r"^Renew\b"))
    held = hold("**/renew/")

    renew.focus()
    page.keyboard.press("Enter")

    expect(renew).to_be_disabled()
    renew_form = weather.locator("form").filter(has=page.get_by_role("button", name=re.compile(r"^Renew\b")))
    expect(renew_form).to_have_attribute("aria-busy", "true")
    expect(renew_form.get_by_text("Working…")).to_be_visible()
    held.release(page)
    expect_the_same_live_region(page, "Your Weather API key is renewed until")
    expect(page.get_by_text("Working…").filter(visible=True)).to_have_count(0)
    expect(page.locator(f'[id="{row_id}"]')).to_be_focused()  # the focus is on the renewed row


def test_revoke_leaves_the_focus_on_the_row_it_revoked(page, live_server, demo_accounts):
    seed_api_keys(demo_accounts)
    login(page, live_server, "consumer")
    page.goto(f"{live_server.url}/preferences/api-keys/")
    mark_messages(page)
    weather = row(page, WEATHER)
    row_id = weather.get_attribute("id")
    page.once("dialog", lambda dialog: dialog.accept())

    weather.get_by_role("button", name="Revoke the Weather API key").click()

    expect_the_same_live_region(page, "is revoked")
    expect(page.locator(f'[id="{row_id}"]')).to_be_focused()


def test_approve_and_reject_on_pending_requests_leave_the_focus_in_the_row(page, live_server, demo_accounts):
    seed_connection_requests(demo_accounts)
    login(page, live_server, "hub-admin")
    page.goto(f"{live_server.url}/admin-center/connections/pending/")
    mark_messages(page)
    dev = row(page, "acme-dev")
    row_id = dev.get_attribute("id")

    # A rejection without a reason is refused: the focus goes to the reason box, marked invalid.
    dev.get_by_text("Reject", exact=True).click()
    dev.get_by_label("Reason for rejection").fill("   ")
    dev.get_by_role("button", name=re.compile(r"^Reject request\W+the connection request of acme-dev$")).click()
    expect(page.locator("#messages").get_by_role("status")).to_have_text("Give a reason for the rejection.")
    expect(dev.get_by_label("Reason for rejection")).to_be_focused()
    expect(dev.get_by_label("Reason for rejection")).to_have_attribute("aria-invalid", "true")

    dev.get_by_role("button", name="Approve the connection request of acme-dev").click()

    expect_the_same_live_region(page, "The connection request of acme-dev is approved.")
    expect(page.locator(f'[id="{row_id}"]')).to_be_focused()  # the focus is on the decided row


# --- dialogs --------------------------------------------------------------------------------------
def test_edit_credentials_tests_the_connection_visibly_then_returns_the_focus_to_its_trigger(
    page, live_server, demo_accounts, token_endpoint, hold
):
    seed_connection_requests(demo_accounts)
    login(page, live_server, "tenant-admin")
    page.goto(f"{live_server.url}/manage/connectivity/")
    mark_messages(page)
    edit = row(page, "acme-dev").get_by_role("link", name="Edit Credentials for acme-dev")
    edit.click()
    dialog = page.get_by_role("dialog", name="Edit Credentials for acme-dev")
    dialog.get_by_role("textbox", name="API Portal Access Credentials", exact=True).fill(
        client_secret_json(token_endpoint, client_id=NEW_CLIENT_ID)
    )
    held = hold("**/edit/")

    dialog.get_by_role("button", name="Save").click()

    expect(dialog.get_by_role("button", name="Save")).to_be_disabled()
    expect(dialog.locator("form")).to_have_attribute("aria-busy", "true")
    expect(dialog.get_by_text("Testing the connection…")).to_be_visible()
    held.release(page)
    expect(dialog).to_have_count(0)
    expect_the_same_live_region(page, EDIT_SUCCESS)
    expect(row(page, "acme-dev")).to_contain_text(NEW_CLIENT_ID)
    # The row was replaced with its new credentials: the focus is on its Edit Credentials again.
    expect(row(page, "acme-dev").get_by_role("link", name="Edit Credentials for acme-dev")).to_be_focused()


def test_escape_returns_the_focus_to_the_trigger(page, live_server, demo_accounts):
    seed_connection_requests(demo_accounts)
    login(page, live_server, "tenant-admin")
    page.goto(f"{live_server.url}/manage/connectivity/")
    edit = row(page, "acme-dev").get_by_role("link", name="Edit Credentials for acme-dev")
    edit.click()
    expect(page.get_by_role("dialog")).to_be_visible()

    page.keyboard.press("Escape")

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(edit).to_be_focused()


def test_save_in_the_pencil_dialog_returns_the_focus_to_the_rows_pencil(page, live_server, demo_accounts):
    credential, _ = make_api_credential(demo_accounts, name="Billing sync")
    login(page, live_server, "org-admin")
    page.goto(f"{live_server.url}/account/integration/connection-api-credentials/")
    mark_messages(page)
    row(page, credential.client_id).get_by_role("link", name="Edit Billing sync").click()
    dialog = page.get_by_role("dialog", name="Edit Connection API Credentials")
    dialog.get_by_label("Short Description").fill("Billing sync (EU)")

    dialog.get_by_role("button", name="Save").click()

    expect(dialog).to_have_count(0)
    expect_the_same_live_region(page, "You've updated the connection API credentials “Billing sync (EU)”.")
    expect(row(page, credential.client_id).get_by_role("link", name="Edit Billing sync (EU)")).to_be_focused()


def test_done_after_a_new_secret_returns_the_focus_to_add_secret(page, live_server):
    login(page, live_server, "org-admin")
    page.goto(f"{live_server.url}/account/integration/connection-api-credentials/")
    page.get_by_role("link", name="Add Secret").click()
    dialog = page.get_by_role("dialog", name="Add Secret")
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_role("button", name="Done").click()
    expect(dialog.get_by_text("Your new connection API credentials")).to_be_visible()
    # The dialog keeps the focus while it shows the secret (it lands once htmx's swap has settled).
    expect(dialog.locator(":focus")).to_have_count(1)

    dialog.get_by_role("button", name="I have copied them").click()

    expect(dialog).to_have_count(0)
    # The list behind the dialog was replaced with the new row: Add Secret is a new link.
    expect(page.get_by_role("link", name="Add Secret")).to_be_focused()


def test_delete_puts_the_focus_on_the_message_that_says_what_happened(page, live_server, demo_accounts):
    credential, _ = make_api_credential(demo_accounts, name="Old script")
    login(page, live_server, "org-admin")
    page.goto(f"{live_server.url}/account/integration/connection-api-credentials/")
    mark_messages(page)
    row(page, credential.client_id).get_by_role("link", name="Delete Old script").click()

    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(row(page, credential.client_id)).to_have_count(0)
    expect_the_same_live_region(page, "You've deleted the connection API credentials “Old script”")
    expect(page.locator("#messages").get_by_role("status")).to_be_focused()


# --- background refresh ---------------------------------------------------------------------------
def test_the_runtime_targets_refresh_keeps_the_focus_where_it_is(page, live_server):
    RuntimeTargetFactory(name="Weather gateway")
    RuntimeTargetFactory(name="Payments gateway")
    page.clock.install()
    login(page, live_server, "hub-admin")
    page.goto(f"{live_server.url}/admin-center/targets/")
    edit = row(page, "Payments gateway").get_by_role("link", name="Edit Payments gateway")
    edit.focus()
    edit.evaluate("element => { element.dataset.seen = 'before' }")

    with page.expect_response(lambda response: response.url.endswith("/admin-center/targets/")):
        page.clock.fast_forward("01:01")  # the table refreshes every 60 seconds

    again = row(page, "Payments gateway").get_by_role("link", name="Edit Payments gateway")
    expect(again).not_to_have_attribute("data-seen", "before")  # the refresh replaced the table
    expect(again).to_be_focused()


# --- names ----------------------------------------------------------------------------------------
def test_repeated_row_buttons_name_their_row(page, live_server, demo_accounts):
    seed_api_keys(demo_accounts)
    seed_connection_requests(demo_accounts)
    RuntimeTargetFactory(name="Weather gateway")
    login(page, live_server, "consumer")
    page.goto(f"{live_server.url}/preferences/api-keys/")
    weather = row(page, WEATHER)
    expect(weather.get_by_role("button", name="Renew the Weather API key")).to_be_visible()
    expect(weather.get_by_role("button", name="Revoke the Weather API key")).to_be_visible()
    expect(weather.get_by_role("link", name="Rotate the Weather API key")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    login(page, live_server, "hub-admin")
    page.goto(f"{live_server.url}/admin-center/connections/pending/")
    expect(page.get_by_role("button", name="Approve the connection request of acme-dev")).to_be_visible()
    page.goto(f"{live_server.url}/admin-center/connections/approved/")
    expect(page.get_by_role("link", name="Re-establish Connection for acme-prod")).to_be_visible()
    page.goto(f"{live_server.url}/admin-center/targets/")
    expect(page.get_by_role("link", name="Edit Weather gateway")).to_be_visible()
