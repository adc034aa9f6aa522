"""/gateway/verify: what a gateway is told about a valid key, and every reason a key is refused."""

from datetime import timedelta

import pytest
from django.urls import reverse

from credentials.keys import services as key_services
from credentials.keys.models import Api, ApiKey
from credentials.lib import crypto
from tests.credentials.gateway.helpers import NOW, URL, reason_of, wrong_secret_for


# --- Valid keys ---------------------------------------------------------------------------------
def test_an_active_key_is_valid_with_its_consumer_expiry_and_remaining_validity(ask, key, secret):
    response = ask(secret)

    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "api": "weather",
        "consumer": "consumer",
        "key_id": key.prefix,
        "expires_at": (NOW + timedelta(days=30)).isoformat(),
        "remaining_seconds": 30 * 24 * 3600,
        "rotated": False,
    }
    assert response["X-Portico-Consumer"] == "consumer"
    assert response["Cache-Control"] == "no-store"


def test_a_key_that_never_expires_is_valid_without_expiry(ask, frozen, api, consumer):
    api.key_lifetime_days = None
    api.save()
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)

    response = ask(secret.value)

    assert response.status_code == 200
    assert response.json()["expires_at"] is None
    assert response.json()["remaining_seconds"] is None


def test_the_key_and_api_may_come_as_headers_on_a_get_as_nginx_sends_them(client, mediator, secret):
    response = client.get(
        URL,
        headers={"Authorization": f"Bearer {mediator.token}", "X-Portico-Key": secret, "X-Portico-Api": "weather"},
    )

    assert response.status_code == 200
    assert response.json()["valid"] is True


def test_headers_win_over_the_body(client, mediator, secret):
    response = client.post(
        URL,
        {"key": "not-a-key", "api": "weather"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {mediator.token}", "X-Portico-Key": secret},
    )

    assert response.status_code == 200


def test_a_form_body_is_accepted(client, mediator, secret):
    response = client.post(
        URL, {"key": secret, "api": "weather"}, headers={"Authorization": f"Bearer {mediator.token}"}
    )

    assert response.status_code == 200


def test_the_route_is_named_for_reverse():
    assert reverse("gateway-verify") == URL


# --- Every reason ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "presented",
    [
        "",
        "not-a-key",
        "prt_key_ABCDEFGH_short",
        crypto.generate_secret("cs").value,  # another kind of Portico secret
        crypto.generate_secret("gw").value,
    ],
    ids=["empty", "garbage", "truncated", "client-secret", "gateway-token"],
)
def test_a_malformed_key_is_refused_as_malformed(ask, api, presented):
    response = ask(presented)

    assert reason_of(response) == "malformed"
    assert response["X-Portico-Reason"] == "malformed"


def test_a_key_with_a_wrong_checksum_is_malformed(ask, secret):
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")

    assert reason_of(ask(tampered)) == "malformed"


def test_a_missing_key_is_malformed(client, mediator, api):
    response = client.post(
        URL, {"api": "weather"}, content_type="application/json", headers={"Authorization": f"Bearer {mediator.token}"}
    )

    assert reason_of(response) == "malformed"


def test_a_well_formed_key_that_portico_never_issued_is_unknown(ask, api):
    assert reason_of(ask(crypto.generate_secret("key").value)) == "unknown"


def test_a_wrong_secret_for_a_known_prefix_is_unknown(ask, key):
    assert reason_of(ask(wrong_secret_for(key.prefix))) == "unknown"


def test_a_key_for_another_api_is_unknown(ask, frozen, organization, mediator, consumer, secret):
    Api.objects.create(name="Maps", slug="maps", provider=organization, runtime_target=mediator.target)

    assert reason_of(ask(secret, api="maps")) == "unknown"


def test_a_key_enforced_by_another_gateway_is_unknown_to_this_one(
    ask, frozen, organization, other_gateway, consumer, secret
):
    other_api = Api.objects.create(name="Maps", slug="maps", provider=organization, runtime_target=other_gateway.target)
    _key, other_secret = key_services.api_key_issue(api=other_api, consumer=consumer)

    assert reason_of(ask(other_secret.value, api="maps")) == "unknown"
    # The other gateway, asking about its own key, is told it is valid.
    assert ask(other_secret.value, api="maps", token=other_gateway.token).status_code == 200
    # And it learns nothing about this gateway's keys.
    assert reason_of(ask(secret, token=other_gateway.token)) == "unknown"


def test_a_revoked_key_is_refused_as_revoked(ask, key, secret, consumer):
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    assert reason_of(ask(secret)) == "revoked"


def test_a_key_past_its_expiry_is_refused_as_expired(ask, frozen, key, secret):
    frozen.move_to(NOW + timedelta(days=30), tick=False)

    assert reason_of(ask(secret)) == "expired"


def test_a_key_the_sweep_marked_expired_is_refused_as_expired(ask, key, secret):
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.EXPIRED)

    assert reason_of(ask(secret)) == "expired"


def test_a_key_waiting_for_approval_is_inactive(ask, frozen, api, consumer):
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer, pending=True)

    assert reason_of(ask(secret.value)) == "inactive"


def test_a_key_whose_request_was_rejected_is_inactive(ask, frozen, api, consumer, hub_admin):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer, pending=True)
    key_services.api_key_decline(api_key_id=key.pk, decided_by=hub_admin, reason="Not for production use")

    assert reason_of(ask(secret.value)) == "inactive"


def test_a_rotated_secret_passes_during_its_grace_and_is_rotated_out_after(ask, frozen, key, secret, consumer):
    _key, new_secret = key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(hours=1))

    during = ask(secret)
    assert during.status_code == 200
    assert during.json()["rotated"] is True
    assert during.json()["expires_at"] == (NOW + timedelta(hours=1)).isoformat()
    assert during.json()["remaining_seconds"] == 3600
    assert ask(new_secret.value).json()["rotated"] is False

    frozen.shift(timedelta(hours=1))

    assert reason_of(ask(secret)) == "rotated-out"
    assert ask(new_secret.value).status_code == 200


def test_a_revoked_key_answers_revoked_for_a_rotated_out_secret_too(ask, frozen, key, secret, consumer):
    key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(0))
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    assert reason_of(ask(secret)) == "revoked"


def test_a_renewed_key_passes_again_with_its_new_expiry(ask, frozen, key, secret, consumer):
    frozen.move_to(NOW + timedelta(days=31), tick=False)
    assert reason_of(ask(secret)) == "expired"

    key_services.api_key_renew(api_key_id=key.pk, renewed_by=consumer)
    frozen.shift(timedelta(seconds=1.1))

    response = ask(secret)
    assert response.status_code == 200
    assert response.json()["expires_at"] == (NOW + timedelta(days=61)).isoformat()


def test_an_api_moved_to_another_gateway_stops_passing_at_the_old_one_within_a_second(
    ask, frozen, api, other_gateway, secret
):
    assert ask(secret).status_code == 200
    Api.objects.filter(pk=api.pk).update(runtime_target=other_gateway.target)

    frozen.shift(timedelta(seconds=1.1))

    assert reason_of(ask(secret)) == "unknown"
    assert ask(secret, token=other_gateway.token).status_code == 200


def test_an_api_that_is_not_the_gateways_costs_no_key_read(ask, secret, django_assert_num_queries):
    ask(secret)  # caches the gateway's token and its APIs

    with django_assert_num_queries(0):
        assert reason_of(ask(secret, api="no-such-api")) == "unknown"
