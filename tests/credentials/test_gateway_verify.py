"""/gateway/verify: a runtime target asks whether a presented key is valid for an API."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credentials import crypto, gateway, reminders, services, tasks
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
@pytest.mark.parametrize("read", ["_fetch_secret_row", "_fetch_rows"], ids=["per-prefix-read", "snapshot-load"])
def test_a_dropped_database_connection_is_reopened_once_instead_of_a_health_check_per_request(
    client, monkeypatch, organization, consumer, read
):
    # This test commits: keep the deployment to the (made-up) target from being sent.
    monkeypatch.setattr(tasks.deploy_access_key, "delay_on_commit", lambda *args, **kwargs: None)
    if read == "_fetch_secret_row":
        monkeypatch.setattr(gateway, "SNAPSHOT_MAX_KEYS", 0)  # no snapshot: the per-prefix read answers
    mediator = make_gateway("mediator")
    api = Api.objects.create(name="Weather", slug="weather", provider=organization, runtime_target=mediator.target)
    _key, secret = services.api_key_issue(api=api, consumer=consumer)
    fetch = getattr(gateway, read)
    calls = []

    def dropped_once(argument):
        calls.append(argument)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return fetch(argument)

    monkeypatch.setattr(gateway, read, dropped_once)

    response = client.post(
        URL,
        {"key": secret.value, "api": "weather"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {mediator.token}"},
    )

    assert response.status_code == 200
    assert len(calls) == 2


# --- The snapshot: most answers read nothing, changes are seen within a second --------------------
def warm_target(ask) -> None:
    """Re-read the gateway's token (a malformed key reads nothing else), so counts are the key's."""
    assert reason_of(ask("not-a-key")) == "malformed"


def issue_keys(api, count: int) -> list[str]:
    from tests.factories import UserFactory

    return [
        services.api_key_issue(api=api, consumer=UserFactory(username=f"holder-{n}"))[1].value for n in range(count)
    ]


def test_keys_never_asked_before_are_answered_from_the_snapshot_without_a_query(
    ask, frozen, api, secret, django_assert_num_queries
):
    others = issue_keys(api, 3)
    assert ask(secret).status_code == 200  # loads the snapshot (and the gateway's token)
    assert gateway._snapshot.loads == 1

    with django_assert_num_queries(0):
        for other in others:
            assert ask(other).status_code == 200
        assert reason_of(ask(wrong_secret_for(crypto.secret_prefix(others[0], "key")))) == "unknown"


def test_a_stale_snapshot_costs_the_request_that_finds_it_one_query_then_none(
    ask, frozen, api, secret, django_assert_num_queries
):
    (other,) = issue_keys(api, 1)
    assert ask(secret).status_code == 200
    frozen.shift(timedelta(seconds=1.1))
    warm_target(ask)

    with django_assert_num_queries(1):  # the sync: the keys changed since the last one
        assert ask(other).status_code == 200
    with django_assert_num_queries(0):
        assert ask(secret).status_code == 200
    assert (gateway._snapshot.loads, gateway._snapshot.syncs) == (1, 1)


def test_a_key_issued_after_the_snapshot_was_loaded_passes_at_once_with_one_query(
    ask, frozen, api, outsider, secret, django_assert_num_queries
):
    assert ask(secret).status_code == 200
    _key, new = services.api_key_issue(api=api, consumer=outsider)

    with django_assert_num_queries(1):  # not in the snapshot yet: the per-prefix read
        assert ask(new.value).status_code == 200
    with django_assert_num_queries(0):
        assert ask(new.value).status_code == 200

    frozen.shift(timedelta(seconds=1.1))
    warm_target(ask)
    with django_assert_num_queries(1):  # the sync brings it into the snapshot...
        assert ask(secret).status_code == 200
    frozen.shift(timedelta(seconds=0.5))
    with django_assert_num_queries(0):  # ...so it no longer needs a read of its own
        assert ask(new.value).status_code == 200


def test_a_sync_that_finds_a_new_key_missing_reads_it_in_the_same_query(
    ask, frozen, api, outsider, secret, django_assert_num_queries
):
    assert ask(secret).status_code == 200
    frozen.shift(timedelta(seconds=1.1))
    _key, new = services.api_key_issue(api=api, consumer=outsider)
    warm_target(ask)

    with django_assert_num_queries(1):
        assert ask(new.value).status_code == 200


def test_an_unknown_prefix_is_read_once_and_then_remembered(ask, frozen, api, secret, django_assert_num_queries):
    assert ask(secret).status_code == 200
    unknown = crypto.generate_secret("key").value

    with django_assert_num_queries(1):
        assert reason_of(ask(unknown)) == "unknown"
    frozen.shift(timedelta(seconds=1.1))
    warm_target(ask)
    assert ask(secret).status_code == 200  # the sync
    with django_assert_num_queries(0):
        assert reason_of(ask(unknown)) == "unknown"


@pytest.mark.parametrize("gap", [0.3, 0.99])
def test_a_revocation_is_seen_within_the_sync_interval_with_the_snapshot_warm(
    ask, frozen, key, secret, consumer, gap, django_assert_num_queries
):
    assert ask(secret).status_code == 200
    frozen.shift(timedelta(seconds=gap))
    services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    frozen.move_to(NOW + timedelta(seconds=gateway.CACHE_SECONDS), tick=False)  # a sync is due
    warm_target(ask)
    with django_assert_num_queries(1):
        assert reason_of(ask(secret)) == "revoked"
    with django_assert_num_queries(0):
        assert reason_of(ask(secret)) == "revoked"
    assert (gateway._snapshot.loads, gateway._snapshot.syncs) == (1, 1)  # seen by the sync, not a reload


def test_a_rotated_secret_stops_at_its_grace_end_and_the_new_one_passes_with_the_snapshot_warm(
    ask, frozen, key, secret, consumer
):
    assert ask(secret).status_code == 200
    _key, new = services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(seconds=30))
    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))

    during = ask(secret)
    assert during.status_code == 200
    assert during.json()["rotated"] is True
    assert during.json()["expires_at"] == (NOW + timedelta(seconds=30)).isoformat()
    assert ask(new.value).status_code == 200

    frozen.move_to(NOW + timedelta(seconds=30), tick=False)  # the grace end, to the second
    assert reason_of(ask(secret)) == "rotated-out"
    assert ask(new.value).status_code == 200
    assert gateway._snapshot.loads == 1


def test_a_rotation_without_grace_stops_the_old_secret_within_the_sync_interval(ask, frozen, key, secret, consumer):
    assert ask(secret).status_code == 200
    _key, new = services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(0))

    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))

    assert reason_of(ask(secret)) == "rotated-out"
    assert ask(new.value).status_code == 200
    assert gateway._snapshot.loads == 1


def test_a_renewal_is_seen_within_the_sync_interval_with_the_snapshot_warm(ask, frozen, key, secret, consumer):
    frozen.move_to(NOW + timedelta(days=31), tick=False)
    assert reason_of(ask(secret)) == "expired"
    reminders.expire_key(key.pk)  # the sweep marks it expired
    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))
    assert reason_of(ask(secret)) == "expired"

    services.api_key_renew(api_key_id=key.pk, renewed_by=consumer)
    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))

    response = ask(secret)
    assert response.status_code == 200
    renewed_at = NOW + timedelta(days=31, seconds=gateway.CACHE_SECONDS)
    assert response.json()["expires_at"] == (renewed_at + timedelta(days=30)).isoformat()
    assert gateway._snapshot.loads == 1


def test_expiry_is_judged_to_the_second_from_the_snapshot(ask, frozen, key, secret, django_assert_num_queries):
    assert ask(secret).status_code == 200
    frozen.move_to(NOW + timedelta(days=30, seconds=-0.5), tick=False)
    assert ask(secret).json()["remaining_seconds"] == 0  # a sync (and the gateway's token)
    with django_assert_num_queries(0):
        assert ask(secret).status_code == 200

    frozen.move_to(NOW + timedelta(days=30), tick=False)

    with django_assert_num_queries(0):  # the same snapshot, judged against the clock
        assert reason_of(ask(secret)) == "expired"


def test_a_new_expiry_set_by_the_provider_is_seen_within_the_sync_interval(ask, frozen, key, secret, hub_admin):
    assert ask(secret).status_code == 200
    services.api_key_set_expiry(api_key_id=key.pk, expires_at=NOW + timedelta(seconds=2), changed_by=hub_admin)
    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))
    assert ask(secret).json()["remaining_seconds"] == 1

    frozen.shift(timedelta(seconds=1))

    assert reason_of(ask(secret)) == "expired"


def test_a_change_committed_late_is_still_seen_by_the_next_sync(ask, frozen, key, secret):
    assert ask(secret).status_code == 200
    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))
    assert ask(secret).status_code == 200  # a sync at NOW + 1 s
    # A revocation whose updated_at was taken before that sync, but committed after it.
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED, updated_at=NOW)

    frozen.shift(timedelta(seconds=gateway.CACHE_SECONDS))

    assert reason_of(ask(secret)) == "revoked"
    assert gateway._snapshot.loads == 1


def test_a_clock_that_goes_backwards_reloads_the_snapshot(ask, frozen, key, secret, consumer):
    assert ask(secret).status_code == 200
    frozen.move_to(NOW - timedelta(minutes=5), tick=False)
    services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)  # updated_at before every sync

    assert reason_of(ask(secret)) == "revoked"
    assert gateway._snapshot.loads == 2


def test_the_snapshot_is_reloaded_in_full_now_and_then(ask, frozen, key, secret):
    assert ask(secret).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED)  # no updated_at: not a write path

    frozen.shift(timedelta(seconds=gateway.FULL_RELOAD_SECONDS))

    assert reason_of(ask(secret)) == "revoked"
    assert gateway._snapshot.loads == 2


def test_beyond_its_limit_the_snapshot_is_dropped_for_per_prefix_reads(
    ask, frozen, api, secret, monkeypatch, django_assert_num_queries, caplog
):
    monkeypatch.setattr(gateway, "SNAPSHOT_MAX_KEYS", 2)
    others = issue_keys(api, 2)

    assert ask(secret).status_code == 200
    assert "per-prefix reads" in caplog.text
    assert len(gateway._snapshot) == 0
    for other in others:
        with django_assert_num_queries(1):
            assert ask(other).status_code == 200
        with django_assert_num_queries(0):
            assert ask(other).status_code == 200


def test_the_snapshot_keeps_only_secrets_that_may_still_pass(ask, frozen, api, key, secret, consumer, outsider):
    _key, rotated = services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(0))
    revoked_key, revoked = services.api_key_issue(api=api, consumer=outsider)
    services.api_key_revoke(api_key_id=revoked_key.pk, revoked_by=outsider)
    frozen.shift(timedelta(seconds=1))

    assert ask(rotated.value).status_code == 200
    assert len(gateway._snapshot) == 1
    assert reason_of(ask(secret)) == "rotated-out"  # read by its prefix
    assert reason_of(ask(revoked.value)) == "revoked"


WRITES = {
    "revoke": lambda key, actor: services.api_key_revoke(api_key_id=key.pk, revoked_by=actor),
    "rotate": lambda key, actor: services.api_key_rotate(api_key_id=key.pk, rotated_by=actor, grace=timedelta(hours=1)),
    "renew": lambda key, actor: services.api_key_renew(api_key_id=key.pk, renewed_by=actor),
    "set-expiry": lambda key, actor: services.api_key_set_expiry(api_key_id=key.pk, expires_at=None, changed_by=actor),
    # The sweep with the time it started: updated_at is still the real time of the write.
    "expire": lambda key, actor: reminders.expire_key(key.pk, now=key.expires_at),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_path_of_a_key_bumps_its_updated_at(frozen, key, consumer, write):
    later = NOW + timedelta(days=30 if write is WRITES["expire"] else 29, seconds=5)
    frozen.move_to(later, tick=False)

    write(key, consumer)

    key.refresh_from_db()
    assert key.updated_at == later


@pytest.mark.parametrize("pending", [False, True], ids=["issued", "pending"])
def test_a_key_issued_or_decided_bumps_its_updated_at(frozen, api, consumer, hub_admin, pending):
    key, _secret = services.api_key_issue(api=api, consumer=consumer, pending=pending)
    assert key.updated_at == NOW
    if pending:
        frozen.shift(timedelta(seconds=5))
        services.api_key_activate(api_key_id=key.pk, decided_by=hub_admin)
        key.refresh_from_db()
        assert key.updated_at == NOW + timedelta(seconds=5)


def test_a_flood_of_made_up_keys_costs_a_sync_now_and_then_instead_of_a_read_each(
    ask, frozen, api, secret, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(gateway._miss_reads, "per_second", 2)
    assert ask(secret).status_code == 200
    made_up = [crypto.generate_secret("key").value for _ in range(6)]

    with django_assert_num_queries(2):  # within the budget: one read each
        for value in made_up[:2]:
            assert reason_of(ask(value)) == "unknown"
    with django_assert_num_queries(0):  # over it, the snapshot synced less than MISS_SYNC_SECONDS ago
        for value in made_up[2:4]:
            assert reason_of(ask(value)) == "unknown"

    frozen.shift(timedelta(seconds=gateway.MISS_SYNC_SECONDS + 0.01))
    with django_assert_num_queries(1):  # one sync, which also reads this prefix
        assert reason_of(ask(made_up[4])) == "unknown"
    with django_assert_num_queries(0):
        assert reason_of(ask(made_up[5])) == "unknown"
    assert gateway._snapshot.miss_syncs == 1


def test_during_a_flood_a_new_key_passes_once_the_next_sync_ran(
    ask, frozen, api, secret, outsider, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(gateway._miss_reads, "per_second", 0)
    assert ask(secret).status_code == 200
    _key, new = services.api_key_issue(api=api, consumer=outsider)

    assert reason_of(ask(new.value)) == "unknown"  # issued after the last sync, which was just now
    frozen.shift(timedelta(seconds=gateway.MISS_SYNC_SECONDS + 0.01))

    with django_assert_num_queries(1):
        assert ask(new.value).status_code == 200
    with django_assert_num_queries(0):
        assert ask(new.value).status_code == 200
