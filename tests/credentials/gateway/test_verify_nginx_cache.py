"""/gateway/verify tells nginx's verify cache (deploy/nginx/) how long it may keep an answer:
X-Accel-Expires "@<second>" (while nginx's clock reads that second) on a valid answer, "0" on the rest.
tests/integration/test_nginx_gateway.py runs the cache itself."""

from datetime import timedelta

import pytest

from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from tests.credentials.gateway.helpers import NOW, URL

SECOND = int(NOW.timestamp())


@pytest.mark.parametrize("into_the_second", [0, 0.5, 0.999])
def test_a_valid_answer_may_be_kept_until_the_end_of_its_wall_clock_second(ask, frozen, secret, into_the_second):
    frozen.move_to(NOW + timedelta(seconds=into_the_second), tick=False)

    response = ask(secret)

    assert response.status_code == 200
    assert response["X-Accel-Expires"] == f"@{SECOND}"
    assert response["Cache-Control"] == "no-store"  # for every other cache


def test_a_key_that_expires_before_the_second_ends_is_not_kept(ask, frozen, key, secret):
    ApiKey.objects.filter(pk=key.pk).update(expires_at=NOW + timedelta(seconds=0.9))

    response = ask(secret)

    assert response.status_code == 200
    assert response["X-Accel-Expires"] == "0"


def test_a_key_that_expires_as_the_second_ends_may_be_kept_through_it(ask, frozen, key, secret):
    ApiKey.objects.filter(pk=key.pk).update(expires_at=NOW + timedelta(seconds=1))

    assert ask(secret)["X-Accel-Expires"] == f"@{SECOND}"


def test_a_rotated_secret_whose_grace_ends_within_the_second_is_not_kept(ask, frozen, key, secret, consumer):
    key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(milliseconds=500))

    response = ask(secret)

    assert response.status_code == 200
    assert response.json()["rotated"] is True
    assert response["X-Accel-Expires"] == "0"


def test_refusals_are_never_kept(ask, frozen, key, secret, consumer):
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    response = ask(secret)

    assert response.status_code == 403
    assert response["X-Accel-Expires"] == "0"


def test_errors_are_never_kept(client, ask, frozen, secret):
    answers = [ask(secret, token="prt_gw_wrong"), ask(secret, api=""), client.put(URL)]

    assert [response.status_code for response in answers] == [401, 400, 405]
    assert [response["X-Accel-Expires"] for response in answers] == ["0", "0", "0"]
