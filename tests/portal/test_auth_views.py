import re

import pytest
from django.contrib.auth import SESSION_KEY

from tests.factories import TEST_PASSWORD, UserFactory

OTHER_ROLES = ["consumer", "org_admin", "tenant_admin", "approver", "outsider"]
ADMIN_CENTER_PAGES = ["/admin-center/", "/admin-center/audit/"]


def profile_link(html: str) -> re.Match[str] | None:
    return re.search(r'<a class="user-menu__name" href="(?P<href>[^"]*)"[^>]*>(?P<name>[^<]*)</a>', html)


# --- Log in and log out ---------------------------------------------------------------------------
def test_logging_in_with_the_right_password_opens_the_home_page(client, consumer):
    response = client.post("/accounts/login/", {"username": "consumer", "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(consumer.pk)
    assert client.get("/").status_code == 200


def test_logging_in_with_a_wrong_password_shows_an_error_and_stays_logged_out(client, consumer):
    response = client.post("/accounts/login/", {"username": "consumer", "password": "wrong-password"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302


def test_logging_in_returns_to_the_page_that_asked_for_it(client, consumer):
    response = client.post(
        "/accounts/login/", {"username": "consumer", "password": TEST_PASSWORD, "next": "/preferences/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/preferences/"


def test_logging_in_refuses_to_redirect_to_another_site(client, consumer):
    response = client.post(
        "/accounts/login/", {"username": "consumer", "password": TEST_PASSWORD, "next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_deactivated_user_cannot_log_in(client, consumer):
    consumer.is_active = False
    consumer.save()

    response = client.post("/accounts/login/", {"username": "consumer", "password": TEST_PASSWORD})

    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def test_a_logged_in_user_opening_the_login_page_goes_home(client, consumer):
    client.force_login(consumer)

    response = client.get("/accounts/login/")

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logging_out_ends_the_session_and_returns_to_the_login_page(client, consumer):
    client.force_login(consumer)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302


def test_logging_out_by_get_is_refused_and_keeps_the_session(client, consumer):
    client.force_login(consumer)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert client.session[SESSION_KEY] == str(consumer.pk)


def test_the_header_offers_a_log_out_form_that_posts(client, consumer):
    client.force_login(consumer)

    html = client.get("/").content.decode()

    assert re.search(r'<form method="post" action="/accounts/logout/">', html)


# --- Header: profile name and User Preferences ----------------------------------------------------
def test_the_header_shows_the_profile_name_linking_to_user_preferences(client, organization):
    user = UserFactory(username="ada", first_name="Ada", last_name="Lovelace", organization=organization)
    client.force_login(user)

    link = profile_link(client.get("/").content.decode())

    assert link is not None
    assert link["name"] == "Ada Lovelace"
    assert link["href"] == "/preferences/"


def test_the_header_shows_the_user_name_when_the_profile_has_no_name(client, organization):
    user = UserFactory(username="nameless", first_name="", last_name="", organization=organization)
    client.force_login(user)

    link = profile_link(client.get("/preferences/").content.decode())

    assert link is not None
    assert link["name"] == "nameless"


def test_the_header_has_no_profile_link_for_anonymous_visitors(client, db):
    html = client.get("/accounts/login/").content.decode()

    assert profile_link(html) is None
    assert "/accounts/logout/" not in html


def test_user_preferences_shows_the_profile_and_its_roles(client, tenant_admin):
    client.force_login(tenant_admin)

    response = client.get("/preferences/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "tenant-admin@example.com" in html
    assert "Acme Corporation" in html
    assert "APIPortal.Administrator" in html
    assert "AuthGroup.APIPortalRegistration" in html


def test_user_preferences_needs_login(client, db):
    response = client.get("/preferences/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/preferences/"


# --- Admin Center: hub admins only ----------------------------------------------------------------
def test_the_hub_admin_sees_the_admin_center_entry(client, hub_admin):
    client.force_login(hub_admin)

    html = client.get("/").content.decode()

    nav = re.search(r'<nav class="main-nav".*?</nav>', html, re.DOTALL)
    assert nav is not None
    assert 'href="/admin-center/"' in nav.group()


@pytest.mark.parametrize("who", OTHER_ROLES)
def test_other_roles_do_not_see_the_admin_center_entry(db, client, request, who):
    client.force_login(request.getfixturevalue(who))

    response = client.get("/")

    assert response.status_code == 200
    assert b"/admin-center/" not in response.content
    assert b"Admin Center" not in response.content


@pytest.mark.parametrize("url", ADMIN_CENTER_PAGES)
def test_the_hub_admin_opens_the_admin_center_pages(client, hub_admin, url):
    client.force_login(hub_admin)

    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ADMIN_CENTER_PAGES)
@pytest.mark.parametrize("who", OTHER_ROLES)
def test_other_roles_are_refused_the_admin_center_pages(db, client, request, who, url):
    client.force_login(request.getfixturevalue(who))

    response = client.get(url)

    assert response.status_code == 403
    assert b"You may not open this page" in response.content


@pytest.mark.parametrize("url", ADMIN_CENTER_PAGES)
def test_anonymous_visitors_are_sent_to_log_in_before_the_admin_center(client, db, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", [*ADMIN_CENTER_PAGES, "/", "/preferences/"])
def test_posting_to_a_page_that_only_reads_is_refused(client, hub_admin, url):
    client.force_login(hub_admin)

    response = client.post(url)

    assert response.status_code == 405
    assert response["Allow"] == "GET"
