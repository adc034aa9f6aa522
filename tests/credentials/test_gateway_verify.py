"""/gateway/verify: a runtime target asks whether a presented key is valid for an API."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credentials import crypto, gateway, services, tasks
from credentials.models import Api, ApiKey, RuntimeTarget

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
URL = "/gateway/verify"


@dataclass
class Gateway:
    target: RuntimeTarget
    token: str


def make_gateway(name: str) -> Gateway:
    token = crypto.generate_secret("gw")
    target = RuntimeTarget.objects.create(
        name=name,
        base_url=f"https://{name}.example.com",
        signing_secret="signing-secret",
        verify_token_prefix=token.prefix,
        verify_token_digest=token.digest,
    )
    return Gateway(target=target, token=token.value)


def wrong_secret_for(prefix: str) -> str:
    """A well-formed key (right checksum) with a known key's prefix but another secret."""
    body = f"{prefix}_{'A' * crypto.SECRET_LENGTH}"
    return body + crypto._checksum(body)


@pytest.fixture(autouse=True)
def fresh_gateway_state():
    gateway.reset_state()
    yield
    gateway.reset_state()


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    gateway.reset_state()  # the buffer's last flush, taken on the real clock, would be in the future
    return time_machine


@pytest.fixture
def mediator(db):
    return make_gateway("mediator")


@pytest.fixture
def other_gateway(db):
    return make_gateway("other-mediator")


@pytest.fixture
def api(organization, mediator):
    return Api.objects.create(
        name="Weather", slug="weather", provider=organization, key_lifetime_days=30, runtime_target=mediator.target
    )


@pytest.fixture
def issued(frozen, api, consumer):
    return services.api_key_issue(api=api, consumer=consumer)


@pytest.fixture
def key(issued):
    return issued[0]


@pytest.fixture
def secret(issued):
    return issued[1].value


@pytest.fixture
def ask(client, mediator):
    def ask(key: str, api: str = "weather", token: str | None = None, **kwargs):
        return client.post(
            URL,
            {"key": key, "api": api},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token or mediator.token}"},
            **kwargs,
        )

    return ask


def reason_of(response) -> str:
    assert response.status_code == 403, response.content
    assert response.json()["valid"] is False
    return response.json()["reason"]


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
    _key, secret = services.api_key_issue(api=api, consumer=consumer)

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
    _key, other_secret = services.api_key_issue(api=other_api, consumer=consumer)

    assert reason_of(ask(other_secret.value, api="maps")) == "unknown"
    # The other gateway, asking about its own key, is told it is valid.
    assert ask(other_secret.value, api="maps", token=other_gateway.token).status_code == 200
    # And it learns nothing about this gateway's keys.
    assert reason_of(ask(secret, token=other_gateway.token)) == "unknown"


def test_a_revoked_key_is_refused_as_revoked(ask, key, secret, consumer):
    services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    assert reason_of(ask(secret)) == "revoked"


def test_a_key_past_its_expiry_is_refused_as_expired(ask, frozen, key, secret):
    frozen.move_to(NOW + timedelta(days=30), tick=False)

    assert reason_of(ask(secret)) == "expired"


def test_a_key_the_sweep_marked_expired_is_refused_as_expired(ask, key, secret):
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.EXPIRED)

    assert reason_of(ask(secret)) == "expired"


def test_a_key_waiting_for_approval_is_inactive(ask, frozen, api, consumer):
    _key, secret = services.api_key_issue(api=api, consumer=consumer, pending=True)

    assert reason_of(ask(secret.value)) == "inactive"


def test_a_key_whose_request_was_rejected_is_inactive(ask, frozen, api, consumer, hub_admin):
    key, secret = services.api_key_issue(api=api, consumer=consumer, pending=True)
    services.api_key_decline(api_key_id=key.pk, decided_by=hub_admin, reason="Not for production use")

    assert reason_of(ask(secret.value)) == "inactive"


def test_a_rotated_secret_passes_during_its_grace_and_is_rotated_out_after(ask, frozen, key, secret, consumer):
    _key, new_secret = services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(hours=1))

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
    services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(0))
    services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    assert reason_of(ask(secret)) == "revoked"


def test_a_renewed_key_passes_again_with_its_new_expiry(ask, frozen, key, secret, consumer):
    frozen.move_to(NOW + timedelta(days=31), tick=False)
    assert reason_of(ask(secret)) == "expired"

    services.api_key_renew(api_key_id=key.pk, renewed_by=consumer)
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


# --- Caching: revocation within a second ---------------------------------------------------------
def test_a_revoked_key_stops_passing_once_the_cached_lookup_is_a_second_old(ask, frozen, key, secret, consumer):
    assert ask(secret).status_code == 200
    services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    # Within the cache time this process may still answer from what it read before the revocation.
    assert ask(secret).status_code == 200

    frozen.shift(timedelta(seconds=1.1))

    assert reason_of(ask(secret)) == "revoked"


def test_expiry_is_judged_on_every_answer_even_from_the_cache(ask, frozen, api, consumer):
    key, secret = services.api_key_issue(api=api, consumer=consumer)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=NOW + timedelta(milliseconds=500))
    assert ask(secret.value).status_code == 200

    frozen.shift(timedelta(milliseconds=600))  # the cached lookup is still fresh

    assert reason_of(ask(secret.value)) == "expired"


def test_a_cache_miss_costs_at_most_one_query_once_the_gateway_token_is_cached(
    ask, frozen, api, consumer, outsider, secret, django_assert_max_num_queries
):
    assert ask(secret).status_code == 200  # caches the gateway's token
    _key, other = services.api_key_issue(api=api, consumer=outsider)

    with django_assert_max_num_queries(1):
        response = ask(other.value)

    assert response.status_code == 200
    assert response.json()["consumer"] == "outsider"


def test_a_repeated_key_is_answered_without_a_query(ask, secret, django_assert_num_queries):
    assert ask(secret).status_code == 200

    with django_assert_num_queries(0):
        assert ask(secret).status_code == 200


def test_an_unknown_key_costs_one_query_and_its_repetition_none(ask, api, django_assert_num_queries):
    unknown = crypto.generate_secret("key").value
    ask(unknown)
    other_unknown = crypto.generate_secret("key").value

    with django_assert_num_queries(1):
        assert reason_of(ask(other_unknown)) == "unknown"
    with django_assert_num_queries(0):
        assert reason_of(ask(other_unknown)) == "unknown"


def test_a_malformed_key_is_refused_without_a_database_read(ask, secret, django_assert_num_queries):
    ask(secret)  # caches the gateway's token

    with django_assert_num_queries(0):
        assert reason_of(ask(secret[:-3])) == "malformed"


# --- Last use: buffered, not written per request ---------------------------------------------------
def test_last_use_is_not_written_per_request_but_flushed_in_one_update(ask, frozen, api, key, secret, outsider):
    other_key, other = services.api_key_issue(api=api, consumer=outsider)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert ask(secret).status_code == 200
            assert ask(other.value).status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    key.refresh_from_db()
    assert key.last_used_at is None

    frozen.shift(timedelta(seconds=gateway.LAST_USED_FLUSH_SECONDS))
    with CaptureQueriesContext(connection) as queries:
        assert ask(secret).status_code == 200

    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    # One time for the batch, its latest use: last use is accurate to the flush interval.
    for used in (key, other_key):
        used.refresh_from_db()
        assert used.last_used_at == NOW + timedelta(seconds=gateway.LAST_USED_FLUSH_SECONDS)


def test_the_buffer_flushes_at_exit_and_never_moves_last_use_backwards(ask, frozen, key, secret):
    ask(secret)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=NOW + timedelta(minutes=1))  # another process, later

    assert gateway.last_used.flush() == 0
    key.refresh_from_db()
    assert key.last_used_at == NOW + timedelta(minutes=1)


def test_a_flush_writes_the_buffered_use(ask, frozen, key, secret):
    ask(secret)

    assert gateway.last_used.flush() == 1
    key.refresh_from_db()
    assert key.last_used_at == NOW


def test_a_refused_key_records_no_use(ask, frozen, key, secret, consumer):
    services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    ask(secret)

    assert gateway.last_used.flush() == 0


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


# --- Robustness -------------------------------------------------------------------------------------
def test_the_cache_drops_stale_entries_when_full_and_everything_if_all_are_fresh(monkeypatch):
    monkeypatch.setattr(gateway, "MAX_CACHED", 3)
    cache = gateway._Cache()
    for n in range(3):
        cache.put(f"prt_key_{n}", n, fetched_at=100.0)

    cache.put("prt_key_new", "new", fetched_at=101.5)  # the three are more than a second old

    assert cache.get("prt_key_new", 101.5) == (True, "new")
    assert cache.get("prt_key_0", 100.5) == (False, None)

    for n in range(2):
        cache.put(f"prt_key_fresh{n}", n, fetched_at=101.6)
    cache.put("prt_key_last", "last", fetched_at=101.7)  # full of fresh entries: start over

    assert cache.get("prt_key_last", 101.7) == (True, "last")
    assert cache.get("prt_key_fresh0", 101.7) == (False, None)


@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_is_reopened_once_instead_of_a_health_check_per_request(
    client, monkeypatch, organization, consumer
):
    # This test commits: keep the deployment to the (made-up) target from being sent.
    monkeypatch.setattr(tasks.deploy_access_key, "delay_on_commit", lambda *args, **kwargs: None)
    mediator = make_gateway("mediator")
    api = Api.objects.create(name="Weather", slug="weather", provider=organization, runtime_target=mediator.target)
    _key, secret = services.api_key_issue(api=api, consumer=consumer)
    fetch = gateway._fetch_secret_row
    calls = []

    def dropped_once(prefix):
        calls.append(prefix)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return fetch(prefix)

    monkeypatch.setattr(gateway, "_fetch_secret_row", dropped_once)

    response = client.post(
        URL,
        {"key": secret.value, "api": "weather"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {mediator.token}"},
    )

    assert response.status_code == 200
    assert len(calls) == 2
