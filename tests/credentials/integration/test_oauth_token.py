"""POST /oauth/token (client credentials grant, RFC 6749 4.4) and bearer authentication (/api/me)."""

import base64
import logging
from datetime import timedelta
from urllib.parse import quote_plus

import pytest
from django.utils import timezone

from credentials.integration import access_tokens, credential_facts, oauth
from credentials.integration import services as integration_services
from credentials.integration.models import AccessToken, ApiCredential
from credentials.lib import crypto
from portal.models import AuditEvent
from tests.factories import make_api_credential

TOKEN = "/oauth/token"
ME = "/api/me"
FORM = "application/x-www-form-urlencoded"
TYPED_SECRET = "Typed.secret~with-all_the-SYMBOLS-0123456789"


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 2.3.1: each part form-encoded, then joined and base64-encoded.
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def ask_token(client, body: str = "grant_type=client_credentials", *, auth: str | None = None, ip="10.0.0.1"):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.post(TOKEN, body, content_type=FORM, REMOTE_ADDR=ip, **headers)


def issue(client, credential_and_secret, scope: str = "") -> dict:
    credential, secret = credential_and_secret
    body = "grant_type=client_credentials" + (f"&scope={quote_plus(scope)}" if scope else "")
    response = ask_token(client, body, auth=basic(credential.client_id, secret))
    assert response.status_code == 200, response.content
    return response.json()


def me(client, access_token: str):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {access_token}")


# --- the token endpoint --------------------------------------------------------------------------
def test_basic_authentication_gets_a_bearer_token(client, credential):
    response = ask_token(client, auth=basic(credential[0].client_id, credential[1]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store" and response["Pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200 and body["scope"] == "read write"
    assert body["access_token"].startswith("prt_at_")


def test_form_fields_authenticate_too(client, credential):
    credential, secret = credential
    body = f"grant_type=client_credentials&client_id={credential.client_id}&client_secret={quote_plus(secret)}"

    response = ask_token(client, body)

    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


def test_a_typed_secret_with_symbols_works_both_ways(client, organization):
    credential, secret = make_api_credential(organization, client_secret=TYPED_SECRET)

    assert ask_token(client, auth=basic(credential.client_id, secret)).status_code == 200
    body = f"grant_type=client_credentials&client_id={credential.client_id}&client_secret={quote_plus(secret)}"
    assert ask_token(client, body).status_code == 200


def test_the_token_is_signed_and_stored_nowhere(client, credential):
    value = issue(client, credential)["access_token"]

    claims = access_tokens.read(value)
    assert claims is not None and value.startswith(f"{claims.prefix}_")
    assert claims.client_id == credential[0].client_id and claims.secret_version == 1
    assert claims.scopes == "read write"
    assert not AccessToken.objects.exists()
    rows = [*ApiCredential.objects.values(), *AuditEvent.objects.values()]
    assert rows and not any(value in str(row) for row in rows)


def test_the_lifetime_is_the_credentials_own(client, organization):
    credential = make_api_credential(organization, expires_in=600)

    issued_at = timezone.now()
    body = issue(client, credential)

    claims = access_tokens.read(body["access_token"])
    assert body["expires_in"] == 600
    assert claims is not None and timedelta(seconds=599) <= claims.expires_at - issued_at <= timedelta(seconds=601)


def test_a_client_may_ask_for_less_than_its_role_allows(client, credential):
    body = issue(client, credential, scope="read")

    assert body["scope"] == "read"
    claims = access_tokens.read(body["access_token"])
    assert claims is not None and claims.scopes == "read"


def test_a_read_only_client_cannot_ask_for_write(client, organization):
    read_only = integration_services.role_ensure_defaults(organization=organization)[1]
    credential, secret = make_api_credential(organization, role=read_only)

    response = ask_token(client, "grant_type=client_credentials&scope=write", auth=basic(credential.client_id, secret))

    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()


def test_issuing_notes_the_credentials_last_use(client, credential):
    issue(client, credential)

    credential[0].refresh_from_db()
    assert credential[0].last_used_at is not None


def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(client, credential):
    response = ask_token(client, auth=basic(credential[0].client_id, credential[1] + "x"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    assert "access_token" not in response.json()


def test_an_unknown_client_answers_as_a_wrong_secret_does(client, credential):
    wrong_secret = ask_token(client, auth=basic(credential[0].client_id, "nope")).json()
    unknown = ask_token(client, auth=basic("no-such-client", "nope")).json()

    assert unknown == wrong_secret


@pytest.mark.parametrize(
    "auth",
    ["Basic not-base64!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer something"],
)
def test_malformed_client_authentication_is_invalid_client(client, credential, auth):
    response = ask_token(client, auth=auth)

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_no_client_authentication_is_invalid_client(client, credential):
    response = ask_token(client)

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "client ID and secret" in response.json()["error_description"]


def test_both_authentication_methods_at_once_are_invalid_request(client, credential):
    credential, secret = credential
    body = f"grant_type=client_credentials&client_id={credential.client_id}&client_secret={quote_plus(secret)}"

    response = ask_token(client, body, auth=basic(credential.client_id, secret))

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "not both" in response.json()["error_description"]


def test_basic_with_the_same_client_id_in_the_body_is_accepted(client, credential):
    credential, secret = credential
    body = f"grant_type=client_credentials&client_id={credential.client_id}"

    assert ask_token(client, body, auth=basic(credential.client_id, secret)).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", "invalid_request"),
        ("scope=read", "invalid_request"),
        ("grant_type=password&username=a&password=b", "unsupported_grant_type"),
        ("grant_type=authorization_code&code=x", "unsupported_grant_type"),
        ("grant_type=client_credentials&grant_type=client_credentials", "invalid_request"),
        ("grant_type=client_credentials&scope=admin", "invalid_scope"),
    ],
)
def test_requests_rfc6749_refuses_get_its_error(client, credential, body, error):
    response = ask_token(client, body, auth=basic(credential[0].client_id, credential[1]))

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


def test_query_parameters_are_refused(client, credential):
    response = client.post(
        TOKEN + "?grant_type=client_credentials",
        "grant_type=client_credentials",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(credential[0].client_id, credential[1]),
    )

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_a_json_body_is_invalid_request(client, credential):
    response = client.post(
        TOKEN,
        {"grant_type": "client_credentials"},
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(credential[0].client_id, credential[1]),
    )

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in response.json()["error_description"]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_answer_405(client, db, method):
    response = getattr(client, method)(TOKEN)

    assert response.status_code == 405 and response["Allow"] == "POST"


def test_no_csrf_token_is_needed(credential):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    assert ask_token(strict, auth=basic(credential[0].client_id, credential[1])).status_code == 200


def test_neither_secret_nor_token_reaches_the_logs(client, credential, caplog):
    caplog.set_level(logging.DEBUG)

    value = issue(client, credential)["access_token"]
    ask_token(client, auth=basic(credential[0].client_id, "wrong-" + credential[1]))

    assert credential[1] not in caplog.text and value not in caplog.text
    assert credential[0].client_id in caplog.text  # failures name the client, by its public ID


# --- failures are rate-limited -------------------------------------------------------------------
def test_repeated_failures_from_one_address_get_429_with_retry_after(client, credential, settings):
    settings.PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT = 3
    for _ in range(3):
        assert ask_token(client, auth=basic("guess", "guess"), ip="10.0.0.9").status_code == 401

    blocked = ask_token(client, auth=basic(credential[0].client_id, credential[1]), ip="10.0.0.9")

    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= settings.PORTICO_OAUTH_FAILURE_WINDOW
    assert blocked.json()["error"] == "temporarily_unavailable"
    # Another address is not held back by this one's failures.
    assert ask_token(client, auth=basic(credential[0].client_id, credential[1]), ip="10.0.0.10").status_code == 200


def test_failures_for_one_client_from_other_addresses_do_not_block_it(client, credential, settings):
    # A client ID is not a secret: failing with it from elsewhere must not lock its owner out.
    settings.PORTICO_OAUTH_FAILURE_LIMIT = 3
    for number in range(3):
        ask_token(client, auth=basic(credential[0].client_id, "wrong"), ip=f"10.0.1.{number}")

    response = ask_token(client, auth=basic(credential[0].client_id, credential[1]), ip="10.0.2.1")

    assert response.status_code == 200


def test_the_window_ends_and_the_client_may_try_again(client, credential, settings, time_machine):
    settings.PORTICO_OAUTH_FAILURE_LIMIT = 2
    time_machine.move_to(timezone.now(), tick=False)
    for _ in range(2):
        ask_token(client, auth=basic(credential[0].client_id, "wrong"))
    assert ask_token(client, auth=basic(credential[0].client_id, credential[1])).status_code == 429

    time_machine.shift(timedelta(seconds=settings.PORTICO_OAUTH_FAILURE_WINDOW + 1))

    assert ask_token(client, auth=basic(credential[0].client_id, credential[1])).status_code == 200


def test_successes_do_not_count_as_failures(client, credential, settings):
    settings.PORTICO_OAUTH_FAILURE_LIMIT = 2
    for _ in range(5):
        issue(client, credential)


# --- bearer authentication: /api/me ---------------------------------------------------------------
def test_api_me_shows_the_organization_and_role_of_the_token(client, credential, organization):
    value = issue(client, credential)["access_token"]

    response = me(client, value)

    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == {"slug": "acme", "name": organization.name}
    assert body["role"] == {"id": credential[0].role.public_id, "name": "Admin", "kind": "admin"}
    assert body["api_credential"]["client_id"] == credential[0].client_id
    assert body["api_credential"]["id"] == credential[0].public_id
    assert body["scope"] == "read write" and 0 < body["expires_in"] <= 7200


def test_api_me_without_a_token_is_401_with_a_bearer_challenge(client, db):
    response = client.get(ME)

    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="Portico"'


@pytest.mark.parametrize("value", ["nonsense", "prt_at_AAAAAAAA_" + "A" * 38, crypto.generate_secret("at").value])
def test_api_me_with_a_bad_token_is_invalid_token(client, db, value):
    response = me(client, value)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_an_expired_token_is_refused(client, credential, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    value = issue(client, credential)["access_token"]
    time_machine.shift(timedelta(seconds=7199))
    assert me(client, value).status_code == 200

    time_machine.shift(timedelta(seconds=1))

    assert me(client, value).status_code == 401


def test_a_token_dies_when_its_credentials_secret_changes(client, credential, org_admin):
    value = issue(client, credential)["access_token"]

    integration_services.api_credential_set_secret(credential_id=credential[0].pk, changed_by=org_admin)

    assert me(client, value).status_code == 401


def test_a_token_issued_under_an_older_secret_version_is_refused(client, credential, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    value = issue(client, credential)["access_token"]
    # As another process would change it: this one still holds the facts it read at issuing.
    ApiCredential.objects.filter(pk=credential[0].pk).update(secret_version=2)
    time_machine.shift(timedelta(seconds=credential_facts.CACHE_SECONDS))

    assert me(client, value).status_code == 401


def test_a_token_dies_with_its_credentials(client, credential, org_admin):
    value = issue(client, credential)["access_token"]

    integration_services.api_credential_delete(credential_id=credential[0].pk, deleted_by=org_admin)

    assert me(client, value).status_code == 401


def test_a_bearer_token_is_not_a_session(client, credential, org_admin):
    client.force_login(org_admin)

    assert client.get(ME).status_code == 401


def test_write_needs_the_scope_and_the_role_at_the_time_of_use(rf, client, credential, organization, org_admin):
    admin_token = issue(client, credential)["access_token"]
    read_token = issue(client, credential, scope="read")["access_token"]

    def bearer(value: str) -> oauth.BearerAuth:
        return oauth.BearerAuth(*oauth.authenticate_bearer(rf.get(ME, HTTP_AUTHORIZATION=f"Bearer {value}")))

    assert bearer(admin_token).allows("write") and bearer(admin_token).allows("read")
    assert not bearer(read_token).allows("write") and bearer(read_token).allows("read")

    read_only = integration_services.role_ensure_defaults(organization=organization)[1]
    integration_services.api_credential_update(credential_id=credential[0].pk, updated_by=org_admin, role=read_only)

    assert not bearer(admin_token).allows("write") and bearer(admin_token).allows("read")
    assert oauth.insufficient_scope("write").status_code == 403
