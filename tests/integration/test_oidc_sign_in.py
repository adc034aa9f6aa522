"""Single sign-on through a real OpenID Provider (node's oidc-provider, tests/integration/oidc.py) on
loopback, driven by Chromium: the code flow with state, nonce and PKCE, the provider's development
login page (the login name picks the account), roles from its groups, and log-out at the provider.

Portico answers in live_server, a thread of this process, so the settings of each test apply to it.
"""

import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from csp.constants import NONCE, NONE, SELF
from playwright.sync_api import Browser, Page, expect, sync_playwright

from portal.models import AuditEvent, Organization, User
from portal.roles import ensure_role_groups
from portal.sso import discovery
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.integration.oidc import CLIENT_ID, CLIENT_SECRET, GROUP_ROLES, OpenIdProvider, running_provider

# Playwright's sync API runs an event loop in this thread; the ORM calls beside it are fine.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def openid_provider(tmp_path_factory, live_server) -> Iterator[OpenIdProvider]:
    with running_provider(tmp_path_factory.mktemp("oidc"), live_server.url) as provider:
        yield provider


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"These tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium).", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def portal(settings, live_server, openid_provider):
    """Portico trusting the provider (its issuer is http on loopback, which needs DEBUG on)."""
    issuer = openid_provider.issuer
    settings.DEBUG = True
    settings.SITE_URL = live_server.url
    settings.PORTICO_OIDC_ISSUER = issuer
    settings.PORTICO_OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.PORTICO_OIDC_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.PORTICO_OIDC_GROUP_ROLES = GROUP_ROLES
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "portal.sso.backend.PorticoOIDCBackend"]
    # As portal/settings.py does with PORTICO_OIDC_ISSUER set: the log-out form may lead to the provider.
    directives = dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    directives["form-action"] = [SELF, issuer]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": directives}
    assert NONCE in directives["script-src"] and directives["object-src"] == [NONE]
    ensure_role_groups()
    Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme Corporation"})
    discovery.clear_cache()
    yield live_server.url
    discovery.clear_cache()


@pytest.fixture
def page(browser, portal) -> Iterator[Page]:
    context = browser.new_context(base_url=portal)
    yield context.new_page()
    context.close()


def sign_in_at_provider(page: Page, login: str) -> None:
    """From Portico's log-on page through the provider's development login page."""
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/interaction/"))
    page.get_by_placeholder("Enter any login").fill(login)
    page.get_by_placeholder("and password").fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def log_out(page: Page, provider: OpenIdProvider) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(re.compile(r".*/accounts/login/$"))


def roles(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_a_hub_admin_signs_in_through_the_provider_and_finds_the_admin_center(page, openid_provider):
    sign_in_at_provider(page, "hub-admin")

    page.wait_for_url(re.compile(r".*/$"))
    expect(page.get_by_role("banner").get_by_role("link", name="Hannah Tester")).to_be_visible()
    assert roles("hub-admin") == {"Hub admin"}
    assert User.objects.get(username="hub-admin").organization.slug == "acme"
    page.goto("/admin-center/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert urlsplit(page.url).path == "/admin-center/"
    assert list(
        AuditEvent.objects.filter(actor_username="hub-admin").order_by("id").values_list("action", flat=True)
    ) == ["sso.account_create", "user.role_add", "sso.sign_in"]


def test_a_consumer_signs_in_with_the_consumer_role(page, openid_provider):
    sign_in_at_provider(page, "consumer")

    page.wait_for_url(re.compile(r".*/$"))
    expect(page.get_by_role("banner").get_by_role("link", name="Casey Tester")).to_be_visible()
    assert roles("consumer") == {"Consumer"}


def test_a_user_in_no_mapped_group_is_refused_with_a_message_and_no_account(page, openid_provider):
    sign_in_at_provider(page, "nobody")

    page.wait_for_url(re.compile(r".*/accounts/login/$"))
    expect(page.get_by_role("alert")).to_have_text(
        f"Your account at 127.0.0.1:{openid_provider.port} is in no group that gives a Portico role. "
        "Ask your administrator for access."
    )
    assert not User.objects.filter(username="nobody").exists()
    assert AuditEvent.objects.filter(action="sso.sign_in_refused").count() == 1


def test_a_user_of_an_unknown_organization_is_refused_with_a_message_and_no_account(page, openid_provider):
    sign_in_at_provider(page, "stranger")

    page.wait_for_url(re.compile(r".*/accounts/login/$"))
    expect(page.get_by_role("alert")).to_contain_text("names the organization “initech”, which Portico does not know")
    assert not User.objects.filter(username="stranger").exists()


def test_roles_follow_the_provider_groups_at_the_next_sign_in_and_log_out_ends_the_provider_session(
    page, openid_provider
):
    sign_in_at_provider(page, "consumer")
    page.wait_for_url(re.compile(r".*/$"))
    assert roles("consumer") == {"Consumer"}

    openid_provider.set_groups("consumer", ["portal-hub-admins"])
    try:
        log_out(page, openid_provider)
        # The provider's session ended: its login page asks again.
        sign_in_at_provider(page, "consumer")
        page.wait_for_url(re.compile(r".*/$"))
    finally:
        openid_provider.set_groups("consumer", ["portal-consumers"])

    assert roles("consumer") == {"Hub admin"}
    changes = AuditEvent.objects.filter(
        actor_username="consumer", action__in=["user.role_add", "user.role_remove"]
    ).order_by("id")
    assert [(e.action, e.summary.split(":")[0]) for e in changes] == [
        ("user.role_add", "Role Consumer given"),
        ("user.role_add", "Role Hub admin given"),
        ("user.role_remove", "Role Consumer taken away"),
    ]
    assert AuditEvent.objects.filter(actor_username="consumer", action="sso.sign_in").count() == 2
