"""S4 in a real browser: an organization admin manages the account's connection API credentials
(Account > Integration > Connection API Credentials), and the credentials obtain tokens.

Every test starts from the demo accounts: org-admin is the organization admin of `acme`.
"""

import re

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from credentials.integration.models import ApiCredential
from credentials.integration.services import API_CREDENTIAL_LIMIT_MESSAGE
from credentials.lib import crypto
from portal.models import Organization
from tests.browser.helpers import login
from tests.factories import make_api_credential

pytestmark = pytest.mark.usefixtures("demo_accounts")

TYPED_SECRET = "Acme-billing.sync~2026-Qm7Rx4Tz9Lp2"
LIMIT_TEXT = "already has 3 connection API credentials"


# --- page helpers ---------------------------------------------------------------------------------
def open_connection_api_credentials(page: Page) -> None:
    """Account > Integration > Connection API Credentials, by the links a person clicks."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    integration = page.get_by_role("region", name="Integration")
    integration.get_by_role("link", name=re.compile("Connection API Credentials")).click()
    expect(page.get_by_role("heading", name="Connection API Credentials", level=1)).to_be_visible()


def add_dialog(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Add Secret")


def open_add_secret(page: Page) -> Locator:
    url = page.url
    page.get_by_role("link", name="Add Secret").click()
    dialog = add_dialog(page)
    expect(dialog).to_be_visible()
    assert page.url == url, "the dialog opens in place"
    return dialog


def add_secret(page: Page, description: str = "", secret: str = "") -> tuple[str, str]:
    """Walk the wizard; returns the client ID and secret it shows once."""
    dialog = open_add_secret(page)
    if description:
        dialog.get_by_label("Short Description").fill(description)
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_role("textbox", name="Client Secret")).to_be_visible()
    if secret:
        dialog.get_by_role("textbox", name="Client Secret").fill(secret)
    dialog.get_by_role("button", name="Done").click()
    expect(dialog.get_by_text("Your new connection API credentials")).to_be_visible()
    return shown_credentials(dialog)


def shown_credentials(dialog: Locator) -> tuple[str, str]:
    return (
        dialog.get_by_role("textbox", name="Client ID", exact=True).input_value(),
        dialog.get_by_role("textbox", name="Client Secret", exact=True).input_value(),
    )


def row(page: Page, client_id: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_text(client_id, exact=True))


def body_rows(page: Page) -> Locator:
    return page.locator("#api-credentials tbody tr").filter(has=page.locator("code.client-id"))


def message(page: Page) -> Locator:
    return page.locator("#messages").get_by_role("status")


def token_for(live_server, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=httpx.BasicAuth(client_id, secret),
        timeout=10,
    )


# --- S4 -------------------------------------------------------------------------------------------
def test_add_secret_shows_the_new_credentials_once_and_they_obtain_tokens(page, live_server, snapshot):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, live_server, "org-admin")
    open_connection_api_credentials(page)
    expect(page.get_by_text("0 of 3 in use")).to_be_visible()
    snapshot(page, "empty")

    dialog = open_add_secret(page)
    expect(dialog.get_by_text("1 Short Description")).to_be_visible()
    dialog.get_by_label("Short Description").fill("Billing sync")
    snapshot(page, "step-1")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_role("textbox", name="Client Secret")).to_be_visible()
    expect(dialog.get_by_text("Billing sync")).to_be_visible()
    snapshot(page, "step-2")
    dialog.get_by_role("button", name="Back").click()
    expect(dialog.get_by_label("Short Description")).to_have_value("Billing sync")
    dialog.get_by_role("button", name="Next").click()
    dialog.get_by_role("button", name="Done").click()

    expect(dialog.get_by_text("Your new connection API credentials")).to_be_visible()
    expect(dialog.get_by_role("alert")).to_contain_text("only time")
    client_id, secret = shown_credentials(dialog)
    assert secret.startswith("prt_cs_")
    dialog.get_by_role("button", name="Copy the client secret").click()
    expect(dialog.get_by_role("button", name="Copy the client secret")).to_have_text("Copied")
    snapshot(page, "shown-once")
    # Behind the dialog the list has the new row already.
    dialog.get_by_role("button", name="I have copied them").click()
    expect(add_dialog(page)).to_have_count(0)
    expect(row(page, client_id)).to_contain_text("Billing sync")
    expect(row(page, client_id)).to_contain_text("Generated")
    expect(page.get_by_text("1 of 3 in use")).to_be_visible()

    # Shown once: a fresh look at the page never shows the secret again.
    page.reload()
    assert secret not in page.content()

    # S4.5: the credentials obtain a token for the REST API.
    response = token_for(live_server, client_id, secret)
    assert response.status_code == 200
    me = httpx.get(
        f"{live_server.url}/api/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}, timeout=10
    )
    assert me.json()["organization"]["slug"] == "acme" and me.json()["role"]["name"] == "Admin"
    page.reload()
    expect(row(page, client_id)).not_to_contain_text("never")


def test_a_typed_client_secret_must_meet_the_rules_the_form_states(page, live_server, snapshot):
    login(page, live_server, "org-admin")
    open_connection_api_credentials(page)
    make_api_credential(Organization.objects.get(slug="acme"), client_secret=TYPED_SECRET.upper())
    dialog = open_add_secret(page)
    dialog.get_by_label("Short Description").fill("Typed secret")
    dialog.get_by_role("button", name="Next").click()
    secret_field = dialog.get_by_role("textbox", name="Client Secret")
    expect(dialog.get_by_text("A typed secret needs:")).to_be_visible()
    expect(dialog.get_by_role("listitem").filter(has_text="32 to 128 characters")).to_be_visible()

    for typed, problem in [
        ("short-1", "it needs at least 32"),
        ("this has spaces and is long enough to pass 1", "not allowed: space"),
        ("onlylowercaselettersbutlongenoughyes", "only lower-case letters"),
        (TYPED_SECRET.upper(), "Another credential of your account uses this secret"),
    ]:
        secret_field.fill(typed)
        dialog.get_by_role("button", name="Done").click()
        expect(dialog.locator(".field-errors")).to_contain_text(problem)
        expect(secret_field).to_have_attribute("aria-invalid", "true")
    snapshot(page, "rule-broken")
    assert ApiCredential.objects.filter(name="Typed secret").count() == 0

    secret_field.fill(TYPED_SECRET)
    dialog.get_by_role("button", name="Done").click()

    expect(dialog.get_by_text("Your new connection API credentials")).to_be_visible()
    client_id, shown = shown_credentials(dialog)
    assert shown == TYPED_SECRET
    dialog.get_by_role("button", name="I have copied them").click()
    expect(row(page, client_id)).to_contain_text("Custom")
    assert token_for(live_server, client_id, TYPED_SECRET).status_code == 200


def test_the_fourth_secret_is_refused_with_a_clear_message(page, live_server, snapshot):
    login(page, live_server, "org-admin")
    open_connection_api_credentials(page)
    for number in range(3):
        add_secret(page, f"App {number + 1}")
        add_dialog(page).get_by_role("button", name="I have copied them").click()
    expect(body_rows(page)).to_have_count(3)
    expect(page.get_by_text("3 of 3 in use: delete one to add another")).to_be_visible()

    # At the limit Add Secret keeps its label, is disabled, and the count beside it says why.
    add = page.get_by_role("button", name="Add Secret")
    expect(add).to_be_disabled()
    expect(add).to_have_accessible_description("3 of 3 in use: delete one to add another")
    snapshot(page, "refused")
    # The server refuses it too (a page opened before the third was added, a typed URL).
    page.goto(live_server.url + "/account/integration/connection-api-credentials/add/")
    expect(page.get_by_text(LIMIT_TEXT)).to_be_visible()
    assert ApiCredential.objects.count() == 3


def test_a_second_admin_who_finishes_last_is_refused_at_done(new_page, live_server, snapshot):
    organization = Organization.objects.get(slug="acme")
    make_api_credential(organization, name="One")
    make_api_credential(organization, name="Two")
    first, second = new_page(), new_page()
    for page in (first, second):
        login(page, live_server, "org-admin")
        open_connection_api_credentials(page)
    slow = open_add_secret(second)
    slow.get_by_role("button", name="Next").click()
    expect(slow.get_by_label("Client Secret")).to_be_visible()

    add_secret(first, "Three")
    slow.get_by_role("button", name="Done").click()

    expect(slow.get_by_role("alert")).to_contain_text(API_CREDENTIAL_LIMIT_MESSAGE)
    # Behind the dialog, the list shows what the other admin added.
    expect(second.get_by_text("3 of 3 in use")).to_be_visible()
    expect(body_rows(second)).to_have_count(3)
    snapshot(second, "refused-at-done")
    assert ApiCredential.objects.count() == 3


def test_the_pencil_edits_description_and_secret_but_never_the_client_id(page, live_server, snapshot):
    login(page, live_server, "org-admin")
    open_connection_api_credentials(page)
    client_id, old_secret = add_secret(page, "Billing sync")
    add_dialog(page).get_by_role("button", name="I have copied them").click()

    row(page, client_id).get_by_role("link", name="Edit Billing sync").click()
    dialog = page.get_by_role("dialog", name="Edit Connection API Credentials")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text(client_id)).to_be_visible()
    expect(dialog.get_by_text("cannot be changed")).to_be_visible()
    expect(dialog.get_by_role("textbox", name="Client ID")).to_have_count(0)
    snapshot(page, "edit-dialog")
    dialog.get_by_label("Short Description").fill("Billing sync (EU)")
    dialog.get_by_role("button", name="Save").click()

    expect(dialog).to_have_count(0)
    expect(message(page)).to_have_text("You've updated the connection API credentials “Billing sync (EU)”.")
    expect(row(page, client_id)).to_contain_text("Billing sync (EU)")

    # A new generated secret: shown once, and the old one stops working.
    token = token_for(live_server, client_id, old_secret).json()["access_token"]
    row(page, client_id).get_by_role("link", name="Edit Billing sync (EU)").click()
    dialog = page.get_by_role("dialog", name="Edit Connection API Credentials")
    dialog.get_by_label("Generate a new secret").check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_text("The new client secret")).to_be_visible()
    shown_client_id, new_secret = shown_credentials(dialog)
    assert shown_client_id == client_id
    snapshot(page, "new-secret")
    dialog.get_by_role("button", name="I have copied it").click()
    assert token_for(live_server, client_id, old_secret).status_code == 401
    assert token_for(live_server, client_id, new_secret).status_code == 200
    assert httpx.get(f"{live_server.url}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    # A typed secret that breaks the rules: the dialog says why, and nothing changes.
    row(page, client_id).get_by_role("link", name="Edit Billing sync (EU)").click()
    dialog = page.get_by_role("dialog", name="Edit Connection API Credentials")
    dialog.get_by_label("Type a new secret").check()
    dialog.get_by_label("New client secret").fill("too-short")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".field-errors")).to_contain_text("it needs at least 32")
    snapshot(page, "edit-rule-broken")
    dialog.get_by_role("button", name="Cancel").click()
    credential = ApiCredential.objects.get(client_id=client_id)
    assert crypto.verify_secret(new_secret, credential.secret_digest)

    # A forged POST with another client ID is refused; the client ID stays.
    csrf = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    forged = page.request.post(
        f"{live_server.url}/account/integration/connection-api-credentials/{credential.public_id}/edit/",
        form={"name": "forged", "role": credential.role.public_id, "secret_action": "keep", "client_id": "mine-now"},
        headers={"X-CSRFToken": csrf, "Referer": live_server.url},
    )
    assert forged.status == 400
    credential.refresh_from_db()
    assert credential.client_id == client_id and credential.name == "Billing sync (EU)"


def test_delete_asks_for_confirmation_then_removes_the_row(page, live_server, snapshot):
    login(page, live_server, "org-admin")
    open_connection_api_credentials(page)
    client_id, secret = add_secret(page, "Old script")
    add_dialog(page).get_by_role("button", name="I have copied them").click()

    row(page, client_id).get_by_role("link", name="Delete Old script").click()
    dialog = page.get_by_role("dialog", name="Delete Connection API Credentials?")
    expect(dialog).to_contain_text("cannot be undone")
    snapshot(page, "confirm")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row(page, client_id)).to_be_visible()

    row(page, client_id).get_by_role("link", name="Delete Old script").click()
    page.get_by_role("dialog", name="Delete Connection API Credentials?").get_by_role("button", name="Delete").click()

    expect(row(page, client_id)).to_have_count(0)
    expect(message(page)).to_contain_text("You've deleted the connection API credentials “Old script”")
    expect(page.get_by_text("0 of 3 in use")).to_be_visible()
    assert token_for(live_server, client_id, secret).status_code == 401


def test_the_pages_fit_a_phone(phone_page, live_server, snapshot):
    page = phone_page
    login(page, live_server, "org-admin")
    open_connection_api_credentials(page)
    client_id, _ = add_secret(page, "Phone app")
    dialog = add_dialog(page)
    box = dialog.bounding_box()
    assert box is not None and box["width"] <= 390
    copy = dialog.get_by_role("button", name="Copy the client secret")
    expect(copy).to_be_in_viewport()
    snapshot(page, "shown-once")
    dialog.get_by_role("button", name="I have copied them").click()
    add_secret(page, "A second app with a much longer short description than most")
    add_dialog(page).get_by_role("button", name="I have copied them").click()

    expect(row(page, client_id)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing runs off the side"
    edit = row(page, client_id).get_by_role("link", name="Edit Phone app")
    expect(edit).to_be_in_viewport()
    snapshot(page, "list")
    edit.click()
    expect(page.get_by_role("dialog", name="Edit Connection API Credentials")).to_be_visible()
    snapshot(page, "edit")
