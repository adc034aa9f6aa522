"""What the browser tests share besides fixtures: the viewports, the demo cast and logging on."""

from axe_playwright_python.sync_playwright import Axe
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


# The impacts that fail a page: axe-core's "serious" and "critical" (its "minor" and "moderate" are advice).
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def accessibility_violations(page: Page) -> list[dict]:
    """The serious and critical violations axe-core finds on the page as it stands now.

    axe-core comes bundled in axe-playwright-python (its axe.min.js), injected into the page: nothing
    is fetched at test time.
    """
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    return [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]


def assert_accessible(page: Page, context_label: str) -> None:
    """Fails listing every serious or critical axe-core violation: rule id, impact, help and nodes."""
    violations = accessibility_violations(page)
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            why = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    at {target}: {node['html'][:160]}\n      {why}")
    assert not violations, f"{context_label} ({page.url}) has serious or critical violations:\n" + "\n".join(lines)
