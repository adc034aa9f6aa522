"""The log-on page with single sign-on, and with the local passwords turned off."""

from django.contrib.auth import SESSION_KEY

from tests.factories import TEST_PASSWORD


def test_the_login_page_offers_single_sign_on_when_an_issuer_is_set(client, provider):
    html = client.get("/accounts/login/?next=/preferences/").content.decode()

    assert 'href="/oidc/authenticate/?next=/preferences/"' in html
    assert "Sign in with single sign-on" in html
    assert 'name="password"' in html


def test_the_login_page_has_no_single_sign_on_without_an_issuer(client, db):
    html = client.get("/accounts/login/").content.decode()

    assert "single sign-on" not in html
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_with_local_login_off_the_password_fields_are_gone_and_a_posted_password_is_refused(
    client, provider, settings, consumer
):
    settings.PORTICO_LOCAL_LOGIN = False

    html = client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/login/", {"username": consumer.username, "password": TEST_PASSWORD})

    assert 'name="password"' not in html and "Sign in with single sign-on" in html
    assert response.status_code == 403
    assert "Log-on with a password is turned off" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_sign_in_returns_to_the_page_that_asked_for_it_but_never_to_another_site(client, provider, organization):
    provider.account = {
        "sub": "hannah",
        "preferred_username": "hannah",
        "groups": ["portal-consumers"],
        "organization": "acme",
    }

    params = provider.authorize(client, "/oidc/authenticate/?next=/preferences/")
    response = client.get("/oidc/callback/", {"code": "c", "state": params["state"]})
    assert response["Location"] == "/preferences/"

    client.post("/accounts/logout/")
    params = provider.authorize(client, "/oidc/authenticate/?next=https://evil.example/")
    response = client.get("/oidc/callback/", {"code": "c", "state": params["state"]})
    assert response["Location"] == "/"
