"""What the browser tests share besides fixtures: the viewports, the demo cast and logging on."""

from playwright.sync_api import Page, expect

from portal.demo import DEMO_PASSWORD, DEMO_USERS

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# username -> the name the header shows at the top right, from the demo cast.
DISPLAY_NAMES = {username: f"{first} {last}" for username, first, last, _ in DEMO_USERS}
# username -> the role names User Preferences lists for that user.
ROLE_NAMES = {username: sorted(str(role) for role in roles) for username, _, _, roles in DEMO_USERS}
USERNAMES = list(DISPLAY_NAMES)


def login(page: Page, live_server, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log on through the real login form and wait until the header shows the signed-in user."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log on").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
