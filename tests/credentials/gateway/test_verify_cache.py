"""/gateway/verify: the cached lookups (a revocation is seen within a second, a repeated key costs no
query) and robustness (a full cache, a dropped database connection)."""

from datetime import timedelta

import pytest
from django.db import OperationalError

from credentials.gateway import snapshot
from credentials.keys import services as key_services
from credentials.keys import tasks as key_tasks
from credentials.keys.models import Api, ApiKey
from credentials.lib import crypto, hot_reads
from tests.credentials.gateway.helpers import NOW, URL, make_gateway, reason_of


# --- Caching: revocation within a second ---------------------------------------------------------
def test_a_revoked_key_stops_passing_once_the_cached_lookup_is_a_second_old(ask, frozen, key, secret, consumer):
    assert ask(secret).status_code == 200
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    # Within the cache time this process may still answer from what it read before the revocation.
    assert ask(secret).status_code == 200

    frozen.shift(timedelta(seconds=1.1))

    assert reason_of(ask(secret)) == "revoked"


def test_expiry_is_judged_on_every_answer_even_from_the_cache(ask, frozen, api, consumer):
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=NOW + timedelta(milliseconds=500))
    assert ask(secret.value).status_code == 200

    frozen.shift(timedelta(milliseconds=600))  # the cached lookup is still fresh

    assert reason_of(ask(secret.value)) == "expired"


def test_a_cache_miss_costs_at_most_one_query_once_the_gateway_token_is_cached(
    ask, frozen, api, consumer, outsider, secret, django_assert_max_num_queries
):
    assert ask(secret).status_code == 200  # caches the gateway's token
    _key, other = key_services.api_key_issue(api=api, consumer=outsider)

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


# --- Robustness -------------------------------------------------------------------------------------
def test_the_cache_drops_stale_entries_when_full_and_everything_if_all_are_fresh(monkeypatch):
    monkeypatch.setattr(snapshot, "MAX_CACHED", 3)
    cache = snapshot._Cache()
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
@pytest.mark.parametrize(
    "module, read", [(hot_reads, "_first_row"), (snapshot, "_fetch_rows")], ids=["per-prefix-read", "snapshot-load"]
)
def test_a_dropped_database_connection_is_reopened_once_instead_of_a_health_check_per_request(
    client, monkeypatch, organization, consumer, module, read
):
    # This test commits: keep the deployment to the (made-up) target from being sent.
    monkeypatch.setattr(key_tasks.deploy_access_key, "apply_async", lambda *args, **kwargs: None)
    if read == "_first_row":
        monkeypatch.setattr(snapshot, "SNAPSHOT_MAX_KEYS", 0)  # no snapshot: the per-prefix read answers
    mediator = make_gateway("mediator")
    api = Api.objects.create(name="Weather", slug="weather", provider=organization, runtime_target=mediator.target)
    _key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    fetch = getattr(module, read)
    calls = []

    def dropped_once(*arguments):
        calls.append(arguments)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return fetch(*arguments)

    monkeypatch.setattr(module, read, dropped_once)

    response = client.post(
        URL,
        {"key": secret.value, "api": "weather"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {mediator.token}"},
    )

    assert response.status_code == 200
    assert len(calls) == 2
