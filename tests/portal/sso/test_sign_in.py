"""Single sign-on through the views, against a provider on loopback (tests/portal/sso/conftest.py)."""

import logging
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group

from portal.models import AuditEvent, User
from portal.sso.models import SsoIdentity
from tests.factories import OrganizationFactory, UserFactory
from tests.portal.sso.conftest import CLIENT_ID, CLIENT_SECRET, rsa_key

HUB_ADMIN = {"preferred_username": "hannah", "groups": ["portal-hub-admins", "staff"], "organization": "acme"}


@pytest.fixture
def acme(db):
    return OrganizationFactory(slug="acme", name="Acme Corporation")


def roles(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def login_page_alert(client) -> str:
    html = client.get("/accounts/login/").content.decode()
    start = html.index('role="alert">') + len('role="alert">')
    return html[start : html.index("</div>", start)]


def test_the_authorization_request_carries_state_nonce_and_a_pkce_challenge(client, provider):
    params = provider.authorize(client)

    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://testserver/oidc/callback/"
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert set(params["scope"].split()) >= {"openid", "groups"}


def test_the_redirect_uri_is_the_configured_one_whatever_host_the_request_names(client, provider, settings):
    settings.SITE_URL = "https://portal.example.com"
    params = provider.authorize(client, "/oidc/authenticate/")
    response = client.get("/oidc/authenticate/", HTTP_HOST="evil.example")

    assert params["redirect_uri"] == "https://portal.example.com/oidc/callback/"
    assert "evil.example" not in response["Location"]


def test_a_first_sign_in_creates_the_account_in_its_organization_with_the_roles_of_its_groups(client, provider, acme):
    response = provider.sign_in(client, **HUB_ADMIN)

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="hannah")
    assert client.session[SESSION_KEY] == str(user.pk)
    assert user.organization == acme
    assert roles(user) == {"Hub admin"}
    assert not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).subject == "hannah"
    actions = list(AuditEvent.objects.filter(actor=user).order_by("id").values_list("action", flat=True))
    assert actions == ["sso.account_create", "user.role_add", "sso.sign_in"]
    assert client.get("/admin-center/").status_code == 200
    # The PKCE verifier went to the token endpoint, the client authenticated with HTTP Basic.
    assert provider.token_requests[-1]["form"]["redirect_uri"] == "http://testserver/oidc/callback/"
    assert "client_secret" not in provider.token_requests[-1]["form"]


def test_each_sign_in_makes_the_roles_follow_the_groups_and_audits_each_change(client, provider, acme):
    provider.sign_in(client, **HUB_ADMIN)
    user = User.objects.get(username="hannah")
    client.post("/accounts/logout/")

    provider.sign_in(client, **{**HUB_ADMIN, "groups": ["portal-consumers"]})

    assert roles(user) == {"Consumer"}
    changes = AuditEvent.objects.filter(actor=user, action__in=["user.role_add", "user.role_remove"]).order_by("id")
    assert [e.summary for e in changes] == [
        f"Role Hub admin given: group portal-hub-admins at {provider.issuer.split('//')[1]}",
        f"Role Consumer given: group portal-consumers at {provider.issuer.split('//')[1]}",
        f"Role Hub admin taken away: no group at {provider.issuer.split('//')[1]} gives it any more",
    ]
    assert client.get("/admin-center/").status_code in {302, 403}


def test_roles_the_mapping_does_not_name_are_left_as_portico_gave_them(client, provider, acme):
    provider.sign_in(client, **HUB_ADMIN)
    user = User.objects.get(username="hannah")
    user.groups.add(Group.objects.get(name="Approver"))
    client.post("/accounts/logout/")

    provider.sign_in(client, **HUB_ADMIN)

    assert roles(user) == {"Hub admin", "Approver"}


def test_a_user_in_no_mapped_group_is_refused_with_a_message_and_gets_no_account(client, provider, acme):
    response = provider.sign_in(client, preferred_username="nobody", groups=["staff"], organization="acme")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not User.objects.filter(username="nobody").exists()
    assert SESSION_KEY not in client.session
    host = provider.issuer.split("//")[1]
    assert login_page_alert(client) == (
        f"Your account at {host} is in no group that gives a Portico role. Ask your administrator for access."
    )
    refusal = AuditEvent.objects.get(action="sso.sign_in_refused")
    assert refusal.summary == f"Single sign-on of nobody at {host} refused: in no group that gives a Portico role"


def test_a_user_of_an_unknown_organization_is_refused_and_gets_no_account(client, provider, acme):
    provider.sign_in(client, preferred_username="stranger", groups=["portal-consumers"], organization="initech")

    assert not User.objects.filter(username="stranger").exists()
    assert login_page_alert(client) == (
        f"Your account at {provider.issuer.split('//')[1]} names the organization “initech”, which Portico does "
        "not know. Ask your administrator for access."
    )
    assert AuditEvent.objects.filter(action="sso.sign_in_refused").count() == 1


def test_a_user_who_left_every_mapped_group_is_refused_and_loses_the_roles(client, provider, acme):
    provider.sign_in(client, **HUB_ADMIN)
    user = User.objects.get(username="hannah")
    client.post("/accounts/logout/")

    provider.sign_in(client, **{**HUB_ADMIN, "groups": []})

    assert roles(user) == set()
    assert SESSION_KEY not in client.session
    assert AuditEvent.objects.filter(actor=user, action="user.role_remove").count() == 1


def test_a_provider_user_never_takes_over_a_local_account_of_the_same_name(client, provider, acme):
    local = UserFactory(username="hannah", organization=acme)

    provider.sign_in(client, **HUB_ADMIN)

    signed_in = User.objects.get(pk=client.session[SESSION_KEY])
    assert signed_in != local and signed_in.username.startswith("hannah-")
    assert roles(local) == set()


def test_a_deactivated_user_is_refused(client, provider, acme):
    provider.sign_in(client, **HUB_ADMIN)
    User.objects.filter(username="hannah").update(is_active=False)
    client.post("/accounts/logout/")

    provider.sign_in(client, **HUB_ADMIN)

    assert SESSION_KEY not in client.session
    assert "deactivated" in login_page_alert(client)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id_token_claims": {"aud": "another-client"}}, "the ID token is for another client (audience)"),
        ({"id_token_claims": {"iss": "https://other.example"}}, "the ID token is from another issuer"),
        ({"id_token_claims": {"exp": int(time.time()) - 120}}, "the ID token has expired"),
        ({"id_token_claims": {"nonce": "not-this-sign-in"}}, "the ID token's nonce is not the one of this sign-in"),
        ({"signing_key": rsa_key()}, "the ID token's signature is wrong"),
        ({"id_token_claims": {"sub": "mallory"}}, "the userinfo answer is about another subject"),
    ],
)
def test_a_refused_id_token_signs_nobody_in(client, provider, acme, change, reason):
    for name, value in change.items():
        setattr(provider, name, value)

    response = provider.sign_in(client, **HUB_ADMIN)

    assert response["Location"] == "/accounts/login/"
    assert SESSION_KEY not in client.session
    assert not User.objects.exists()
    assert "Single sign-on with" in login_page_alert(client)
    failure = AuditEvent.objects.get(action="sso.sign_in_failed")
    assert failure.summary.endswith(reason)


def test_an_id_token_expired_within_the_clock_skew_leeway_is_accepted(client, provider, acme):
    provider.id_token_claims = {"exp": int(time.time()) - 30}

    provider.sign_in(client, **HUB_ADMIN)

    assert client.session[SESSION_KEY] == str(User.objects.get(username="hannah").pk)


def test_an_id_token_signed_with_the_client_secret_is_refused(client, provider, acme):
    provider.account = {"sub": "hannah", **HUB_ADMIN}
    params = provider.authorize(client)
    forged = jwt.encode(
        {
            "iss": provider.issuer,
            "sub": "hannah",
            "aud": CLIENT_ID,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "nonce": provider.nonce,
        },
        CLIENT_SECRET,
        algorithm="HS256",
        headers={"kid": "test-key-1"},
    )
    provider.issued_id_tokens.clear()
    provider.id_token = lambda nonce: forged  # type: ignore[method-assign]

    client.get("/oidc/callback/", {"code": "the-code", "state": params["state"]})

    assert SESSION_KEY not in client.session
    assert AuditEvent.objects.get(action="sso.sign_in_failed").summary.endswith("algorithm 'HS256' is not accepted")


def test_the_code_is_redeemed_with_the_configured_redirect_uri_whatever_host_the_request_names(
    client, provider, acme, settings
):
    settings.SITE_URL = "https://portal.example.com"

    provider.sign_in(client, **HUB_ADMIN)

    assert provider.token_requests[-1]["form"]["redirect_uri"] == "https://portal.example.com/oidc/callback/"


def test_an_answer_that_names_another_issuer_is_refused(client, provider, acme):
    provider.account = {"sub": "hannah", **HUB_ADMIN}
    params = provider.authorize(client)

    client.get("/oidc/callback/", {"code": "the-code", "state": params["state"], "iss": "https://evil.example"})

    assert SESSION_KEY not in client.session
    assert provider.token_requests == []
    assert AuditEvent.objects.get(action="sso.sign_in_failed").summary.endswith("the answer names another issuer")


def test_an_answer_with_an_unknown_state_or_replayed_is_refused(client, provider, acme):
    provider.account = {"sub": "hannah", **HUB_ADMIN}
    params = provider.authorize(client)
    client.get("/oidc/callback/", {"code": "the-code", "state": params["state"]})

    replay = client.get("/oidc/callback/", {"code": "the-code", "state": params["state"]})
    unknown = client.get("/oidc/callback/", {"code": "the-code", "state": "never-issued"})

    assert replay["Location"] == unknown["Location"] == "/accounts/login/"
    assert len(provider.token_requests) == 1
    assert AuditEvent.objects.filter(action="sso.sign_in_failed").count() == 2
    assert AuditEvent.objects.filter(action="sso.sign_in").count() == 1


def test_logging_out_ends_the_provider_session_too(client, provider, acme):
    provider.sign_in(client, **HUB_ADMIN)

    response = client.post("/accounts/logout/")

    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/session/end"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["id_token_hint"] == provider.issued_id_tokens[-1]
    assert query["post_logout_redirect_uri"] == "http://testserver/accounts/login/"
    assert SESSION_KEY not in client.session


def test_a_local_log_out_stays_in_portico(client, provider, consumer):
    client.force_login(consumer)

    response = client.post("/accounts/logout/")

    assert response["Location"] == "/accounts/login/"


def test_no_secret_or_token_reaches_the_logs_or_the_audit_log(client, provider, acme, caplog):
    caplog.set_level(logging.DEBUG)
    provider.sign_in(client, **HUB_ADMIN)
    provider.id_token_claims = {"aud": "another-client"}
    client.post("/accounts/logout/")
    provider.sign_in(client, **HUB_ADMIN)

    secrets = [CLIENT_SECRET, "access-token-4d3c2b1a", *provider.issued_id_tokens]
    audit_text = " ".join(AuditEvent.objects.values_list("summary", flat=True))
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in audit_text
