"""/gateway/verify: only runtime targets are answered, and the endpoint skips what people's requests
need (session, cookies, CSRF); other methods and malformed requests are refused."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from credentials.keys.models import RuntimeTarget
from credentials.lib import crypto
from tests.credentials.gateway.helpers import URL, reason_of


# --- The gateway's own authentication -------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-token",
        "Basic bWVkaWF0b3I6c2VjcmV0",
        "Bearer " + crypto.generate_secret("gw").value,  # well-formed, never issued
    ],
    ids=["missing", "empty", "garbage", "basic", "unknown-token"],
)
def test_a_caller_that_is_not_a_gateway_gets_401_and_learns_nothing(client, secret, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post(URL, {"key": secret, "api": "weather"}, content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="portico-gateway"'
    assert "valid" not in response.json()
    assert "reason" not in response.json()


def test_a_gateway_token_with_a_wrong_secret_gets_401(ask, mediator, secret):
    prefix = crypto.secret_prefix(mediator.token, "gw")
    body = f"{prefix}_{'B' * crypto.SECRET_LENGTH}"

    assert ask(secret, token=body + crypto._checksum(body)).status_code == 401


def test_an_api_key_is_not_a_gateway_token(ask, secret):
    assert ask(secret, token=secret).status_code == 401


def test_a_replaced_gateway_token_stops_working_within_a_second(ask, frozen, mediator, secret):
    assert ask(secret).status_code == 200
    replacement = crypto.generate_secret("gw")
    RuntimeTarget.objects.filter(pk=mediator.target.pk).update(
        verify_token_prefix=replacement.prefix, verify_token_digest=replacement.digest
    )

    frozen.shift(timedelta(seconds=1.1))

    assert ask(secret).status_code == 401
    assert ask(secret, token=replacement.value).status_code == 200


# --- The endpoint skips what people's requests need -----------------------------------------------
def test_the_answer_reads_no_session_and_sets_no_cookie(client, mediator, consumer, secret):
    client.force_login(consumer)  # a session cookie is sent, as a browser would

    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            URL,
            {"key": secret, "api": "weather"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {mediator.token}"},
        )

    assert response.status_code == 200
    assert not [q for q in queries if "django_session" in q["sql"]]
    assert not response.cookies
    assert "Set-Cookie" not in response


def test_the_endpoint_needs_no_csrf_token(mediator, secret):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        URL,
        {"key": secret, "api": "weather"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {mediator.token}"},
    )

    assert response.status_code == 200


def test_the_route_answers_the_same_without_the_middleware(settings, ask, secret):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "credentials.gateway.GatewayVerifyMiddleware"]

    assert ask(secret).status_code == 200
    assert reason_of(ask(secret[:-1])) == "malformed"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_refused(client, mediator, method):
    response = getattr(client, method)(URL, headers={"Authorization": f"Bearer {mediator.token}"})

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_a_missing_api_is_a_bad_request(client, mediator, secret):
    response = client.post(
        URL, {"key": secret}, content_type="application/json", headers={"Authorization": f"Bearer {mediator.token}"}
    )

    assert response.status_code == 400


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client, mediator, body):
    response = client.post(
        URL, body, content_type="application/json", headers={"Authorization": f"Bearer {mediator.token}"}
    )

    assert response.status_code == 400


def test_the_key_in_the_query_string_is_ignored(client, mediator, secret):
    response = client.get(
        f"{URL}?key={secret}&api=weather",
        headers={"Authorization": f"Bearer {mediator.token}", "X-Portico-Api": "weather"},
    )

    assert reason_of(response) == "malformed"
