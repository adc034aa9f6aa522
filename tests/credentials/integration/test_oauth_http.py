"""Every answer of POST /oauth/token, and /api/me, over real HTTP: httpx against the live server."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from credentials.integration import services as integration_services

pytestmark = pytest.mark.django_db(transaction=True)
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        yield client


def get_token(http, credential) -> str:
    response = http.post("/oauth/token", data=GRANT, auth=credential_auth(credential))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def credential_auth(credential) -> httpx.BasicAuth:
    return httpx.BasicAuth(credential[0].client_id, credential[1])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_success_with_http_basic(http, credential):
    response = http.post("/oauth/token", data=GRANT, auth=credential_auth(credential))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200 and body["scope"] == "read write"
    assert http.get("/api/me", headers=bearer(body["access_token"])).json()["organization"]["slug"] == "acme"


def test_success_with_form_fields(http, credential):
    data = {**GRANT, "client_id": credential[0].client_id, "client_secret": credential[1]}

    response = http.post("/oauth/token", data=data)

    assert response.status_code == 200 and response.json()["access_token"].startswith("prt_at_")


def test_unknown_client_is_invalid_client_401_with_www_authenticate(http, credential):
    response = http.post("/oauth/token", data=GRANT, auth=httpx.BasicAuth("unknown-client", "whatever"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_wrong_secret_is_invalid_client(http, credential):
    response = http.post("/oauth/token", data=GRANT, auth=httpx.BasicAuth(credential[0].client_id, "wrong"))

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


def test_unsupported_grant_type(http, credential):
    data = {"grant_type": "password", "username": "a", "password": "b"}

    response = http.post("/oauth/token", data=data, auth=credential_auth(credential))

    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_missing_grant_type_is_invalid_request(http, credential):
    response = http.post("/oauth/token", data={"scope": "read"}, auth=credential_auth(credential))

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_both_authentication_methods_are_invalid_request(http, credential):
    data = {**GRANT, "client_id": credential[0].client_id, "client_secret": credential[1]}

    response = http.post("/oauth/token", data=data, auth=credential_auth(credential))

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_get_is_405(http, db):
    response = http.get("/oauth/token")

    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_an_expired_token_is_refused_by_api_me(http, credential, time_machine):
    value = get_token(http, credential)
    assert http.get("/api/me", headers=bearer(value)).status_code == 200

    time_machine.move_to(timezone.now() + timedelta(seconds=7200))

    response = http.get("/api/me", headers=bearer(value))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_token_dies_when_the_secret_changes(http, credential, org_admin):
    value = get_token(http, credential)

    integration_services.api_credential_set_secret(credential_id=credential[0].pk, changed_by=org_admin)

    assert http.get("/api/me", headers=bearer(value)).status_code == 401
    old = http.post("/oauth/token", data=GRANT, auth=credential_auth(credential))
    assert old.status_code == 401


def test_a_token_dies_when_the_credentials_are_deleted(http, credential, org_admin):
    value = get_token(http, credential)

    integration_services.api_credential_delete(credential_id=credential[0].pk, deleted_by=org_admin)

    assert http.get("/api/me", headers=bearer(value)).status_code == 401


def test_repeated_failures_get_429_with_retry_after(http, credential, settings):
    wrong = httpx.BasicAuth(credential[0].client_id, "wrong")
    for _ in range(settings.PORTICO_OAUTH_FAILURE_LIMIT):
        assert http.post("/oauth/token", data=GRANT, auth=wrong).status_code == 401

    response = http.post("/oauth/token", data=GRANT, auth=credential_auth(credential))

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"


def test_api_me_without_a_token_is_401_with_a_bearer_challenge(http, db):
    response = http.get("/api/me")

    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="Portico"'
