"""The header every page shares: who is signed in, the sections their roles open, logging on and out."""

import pytest
from django.db import transaction
from playwright.sync_api import Locator, Page, expect

from portal import audit
from portal.demo import DEMO_PASSWORD
from portal.models import User
from tests.browser.helpers import DESKTOP, DISPLAY_NAMES, ROLE_NAMES, USERNAMES, login

pytestmark = pytest.mark.usefixtures("demo_accounts")

NOT_HUB_ADMINS = [username for username in USERNAMES if username != "hub-admin"]


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


def expect_login_page(page: Page) -> None:
    expect(page.get_by_role("heading", name="Log on to Portico")).to_be_visible()
    expect(page.get_by_role("button", name="Log on")).to_be_visible()


@pytest.mark.parametrize("username", USERNAMES)
def test_header_shows_the_signed_in_user_at_the_top_right(page, live_server, username):
    login(page, live_server, username)

    expect(page.get_by_role("heading", name=f"Welcome, {DISPLAY_NAMES[username]}")).to_be_visible()
    profile = page.get_by_role("link", name=DISPLAY_NAMES[username], exact=True)
    expect(profile).to_be_visible()
    box = profile.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] < 80, "the profile name is in the header bar"
    assert box["x"] + box["width"] > DESKTOP["width"] * 0.75, "the profile name is at the right"


@pytest.mark.parametrize("username", USERNAMES)
def test_profile_name_opens_user_preferences_with_the_users_roles(page, live_server, username):
    login(page, live_server, username)

    page.get_by_role("link", name=DISPLAY_NAMES[username], exact=True).click()

    expect(page.get_by_role("heading", name="User Preferences")).to_be_visible()
    expect(page.get_by_role("list", name="Roles").get_by_role("listitem")).to_have_text(ROLE_NAMES[username])
    expect(page.get_by_text(f"{username}@acme.example")).to_be_visible()
    expect(page.get_by_text("Acme Corporation")).to_be_visible()


@pytest.mark.parametrize("username", USERNAMES)
def test_admin_center_is_in_the_navigation_of_hub_admins_only(page, live_server, username):
    login(page, live_server, username)

    expect(main_nav(page).get_by_role("link", name="Home")).to_be_visible()
    expect(main_nav(page).get_by_role("link", name="Admin Center")).to_have_count(1 if username == "hub-admin" else 0)


@pytest.fixture
def audit_event(demo_accounts):
    hub_admin = User.objects.get(username="hub-admin")
    with transaction.atomic():
        return audit.record(
            action="connection_request.submit",
            actor=hub_admin,
            target=demo_accounts,
            summary="Submitted a connection request for the API portal acme-dev",
            ip_address="203.0.113.7",
        )


@pytest.mark.usefixtures("audit_event")
def test_hub_admin_opens_the_admin_center_and_the_audit_log(page, live_server, snapshot):
    login(page, live_server, "hub-admin")

    main_nav(page).get_by_role("link", name="Admin Center").click()
    expect(page.get_by_role("heading", name="Admin Center", exact=True)).to_be_visible()
    expect(main_nav(page).get_by_role("link", name="Admin Center")).to_have_attribute("aria-current", "page")
    snapshot(page, "admin-center")

    page.get_by_role("navigation", name="Admin Center").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="connection_request.submit")
    expect(row).to_contain_text("hub-admin")
    expect(row).to_contain_text("Submitted a connection request for the API portal acme-dev")
    expect(row).to_contain_text("203.0.113.7")


@pytest.mark.parametrize("path", ["/admin-center/", "/admin-center/audit/"])
@pytest.mark.parametrize("username", NOT_HUB_ADMINS)
def test_other_roles_are_refused_the_admin_center(page, live_server, snapshot, username, path):
    login(page, live_server, username)

    response = page.goto(path)

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You may not open this page")).to_be_visible()
    expect(page.get_by_role("link", name=DISPLAY_NAMES[username], exact=True)).to_be_visible()
    snapshot(page, "refused")
    page.get_by_role("link", name="Back to the home page").click()
    expect(page.get_by_role("heading", name=f"Welcome, {DISPLAY_NAMES[username]}")).to_be_visible()


@pytest.mark.parametrize("username", USERNAMES)
def test_log_out_returns_to_the_login_page(page, live_server, username):
    login(page, live_server, username)

    page.get_by_role("button", name="Log out").click()

    expect_login_page(page)
    expect(page.get_by_role("link", name=DISPLAY_NAMES[username], exact=True)).to_have_count(0)
    page.goto("/")
    expect_login_page(page)


def test_a_wrong_password_shows_an_error_on_the_login_page(page, live_server):
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill("consumer")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log on").click()

    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    expect_login_page(page)
    expect(page.get_by_label("User name")).to_have_value("consumer")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_a_page_behind_login_returns_there_after_logging_on(page, live_server):
    page.goto("/preferences/")
    expect_login_page(page)
    page.get_by_label("User name").fill("consumer")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log on").click()

    expect(page.get_by_role("heading", name="User Preferences")).to_be_visible()


@pytest.mark.parametrize(
    ("username", "path"),
    [
        pytest.param(None, "/accounts/login/", id="login"),
        pytest.param("hub-admin", "/", id="hub-admin-home"),
        pytest.param("hub-admin", "/preferences/", id="hub-admin-preferences"),
        pytest.param("hub-admin", "/admin-center/", id="hub-admin-admin-center"),
        pytest.param("hub-admin", "/admin-center/audit/", id="hub-admin-audit-log"),
        pytest.param("tenant-admin", "/", id="tenant-admin-home"),
        pytest.param("consumer", "/admin-center/", id="consumer-refused"),
    ],
)
@pytest.mark.usefixtures("audit_event")
def test_header_and_page_fit_a_phone_screen(phone_page, live_server, username, path):
    if username:
        login(phone_page, live_server, username)
    phone_page.goto(path)

    expect(phone_page.get_by_role("heading", level=1)).to_be_in_viewport()
    if username:
        expect(phone_page.get_by_role("link", name=DISPLAY_NAMES[username], exact=True)).to_be_in_viewport()
        expect(phone_page.get_by_role("button", name="Log out")).to_be_in_viewport()
    assert phone_page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways on a phone"
    )
