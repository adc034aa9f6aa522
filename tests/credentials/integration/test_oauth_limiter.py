"""The token endpoint's limit of failures: per address, and per client ID at one address. Nobody can
lock a client out by guessing its secret from somewhere else, and guessing stays bounded per address."""

import base64
from urllib.parse import quote_plus

import pytest

from tests.factories import make_api_credential

TOKEN = "/oauth/token"
FORM = "application/x-www-form-urlencoded"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def ask_token(client, client_id: str, secret: str, *, ip: str, **extra: str):
    return client.post(
        TOKEN,
        "grant_type=client_credentials",
        content_type=FORM,
        REMOTE_ADDR=ip,
        HTTP_AUTHORIZATION=basic(client_id, secret),
        **extra,
    )


@pytest.fixture
def limits(settings):
    settings.PORTICO_OAUTH_FAILURE_LIMIT = 3  # per client ID at one address
    settings.PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT = 6  # per address, whatever the client ID
    return settings


def test_wrong_secrets_from_one_address_do_not_lock_the_owner_out_elsewhere(client, credential, limits):
    credential, secret = credential
    for _ in range(10):
        ask_token(client, credential.client_id, "wrong", ip=ATTACKER)

    response = ask_token(client, credential.client_id, secret, ip=OWNER)

    assert response.status_code == 200
    bearer = f"Bearer {response.json()['access_token']}"
    assert client.get("/api/me", HTTP_AUTHORIZATION=bearer).status_code == 200


def test_the_guessing_address_is_refused_for_that_client_even_with_the_right_secret(client, credential, limits):
    credential, secret = credential
    for _ in range(3):
        assert ask_token(client, credential.client_id, "wrong", ip=ATTACKER).status_code == 401

    refused = ask_token(client, credential.client_id, secret, ip=ATTACKER)

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= limits.PORTICO_OAUTH_FAILURE_WINDOW
    assert refused.json()["error"] == "temporarily_unavailable"
    assert "Try again in" in refused.json()["error_description"]
    assert "access_token" not in refused.json()


def test_an_address_over_the_client_limit_may_still_use_another_client(client, credential, organization, limits):
    credential, _secret = credential
    other, other_secret = make_api_credential(organization, name="Other client")
    for _ in range(3):
        ask_token(client, credential.client_id, "wrong", ip=ATTACKER)

    assert ask_token(client, other.client_id, other_secret, ip=ATTACKER).status_code == 200


def test_an_address_over_its_own_limit_is_refused_for_every_client(client, credential, limits):
    credential, secret = credential
    for number in range(6):
        assert ask_token(client, f"guess-{number}", "guess", ip=ATTACKER).status_code == 401

    refused = ask_token(client, credential.client_id, secret, ip=ATTACKER)

    assert refused.status_code == 429 and "Retry-After" in refused
    # Another address is not held back by this one's failures.
    assert ask_token(client, credential.client_id, secret, ip=OWNER).status_code == 200


def test_guessing_is_bounded_per_address_however_many_client_ids_it_tries(client, credential, limits):
    answers = [ask_token(client, f"guess-{number}", "guess", ip=ATTACKER).status_code for number in range(20)]

    assert answers.count(401) == 6 and set(answers[6:]) == {429}


def test_rotating_x_forwarded_for_entries_does_not_escape_the_address_limit(client, credential, limits):
    # Behind one proxy of ours: the client writes what it likes on the left, the proxy appends the truth.
    limits.PORTICO_TRUSTED_PROXY_COUNT = 1
    credential, secret = credential
    for number in range(3):
        ask_token(
            client, credential.client_id, "wrong", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, {ATTACKER}"
        )

    refused = ask_token(client, credential.client_id, secret, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=ATTACKER)
    allowed = ask_token(client, credential.client_id, secret, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=OWNER)

    assert refused.status_code == 429
    assert allowed.status_code == 200
