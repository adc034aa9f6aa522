"""/gateway/verify: the snapshot of the keys. Most answers read nothing, and changes are seen within a
second."""

from datetime import timedelta

import pytest

from credentials.gateway import services as gateway
from credentials.gateway import snapshot
from credentials.keys import expire
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from credentials.lib import crypto
from tests.credentials.gateway.helpers import NOW, reason_of, wrong_secret_for


# --- The snapshot: most answers read nothing, changes are seen within a second --------------------
def warm_target(ask) -> None:
    """Re-read the gateway's token (a malformed key reads nothing else), so counts are the key's."""
    assert reason_of(ask("not-a-key")) == "malformed"


def issue_keys(api, count: int) -> list[str]:
    from tests.factories import UserFactory

    return [
        key_services.api_key_issue(api=api, consumer=UserFactory(username=f"holder-{n}"))[1].value for n in range(count)
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
    _key, new = key_services.api_key_issue(api=api, consumer=outsider)

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
    _key, new = key_services.api_key_issue(api=api, consumer=outsider)
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
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)

    frozen.move_to(NOW + timedelta(seconds=snapshot.CACHE_SECONDS), tick=False)  # a sync is due
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
    _key, new = key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(seconds=30))
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))

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
    _key, new = key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(0))

    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))

    assert reason_of(ask(secret)) == "rotated-out"
    assert ask(new.value).status_code == 200
    assert gateway._snapshot.loads == 1


def test_a_renewal_is_seen_within_the_sync_interval_with_the_snapshot_warm(ask, frozen, key, secret, consumer):
    frozen.move_to(NOW + timedelta(days=31), tick=False)
    assert reason_of(ask(secret)) == "expired"
    expire.expire_key(key.pk)  # the sweep marks it expired
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))
    assert reason_of(ask(secret)) == "expired"

    key_services.api_key_renew(api_key_id=key.pk, renewed_by=consumer)
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))

    response = ask(secret)
    assert response.status_code == 200
    renewed_at = NOW + timedelta(days=31, seconds=snapshot.CACHE_SECONDS)
    assert response.json()["expires_at"] == (renewed_at + timedelta(days=30)).isoformat()
    assert gateway._snapshot.loads == 1


def test_expiry_is_judged_to_the_second_from_the_snapshot(ask, frozen, key, secret, django_assert_num_queries):
    assert ask(secret).status_code == 200
    frozen.move_to(NOW + timedelta(days=30, seconds=-0.5), tick=False)
    assert ask(secret).json()["remaining_seconds"] == 0  # a sync (and the gateway's token)
    with django_assert_num_queries(0):
        assert ask(secret).status_code == 200

    frozen.move_to(NOW + timedelta(days=30), tick=False)

    assert reason_of(ask(secret)) == "expired"


def test_a_snapshot_serves_only_within_its_wall_clock_second(ask, frozen, key, secret, django_assert_num_queries):
    """nginx keeps an answer to the end of its second: a snapshot never outlives its second either,
    so a revocation reaches the edge within a second in all (deploy/nginx/README.md)."""
    frozen.move_to(NOW + timedelta(seconds=0.1), tick=False)
    assert ask(secret).status_code == 200  # the sync
    frozen.move_to(NOW + timedelta(seconds=0.9), tick=False)
    with django_assert_num_queries(0):
        assert ask(secret).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED, updated_at=NOW + timedelta(seconds=0.9))

    frozen.move_to(NOW + timedelta(seconds=1.0), tick=False)  # 0.1 s later, a new second

    assert reason_of(ask(secret)) == "revoked"


def test_a_new_expiry_set_by_the_provider_is_seen_within_the_sync_interval(ask, frozen, key, secret, hub_admin):
    assert ask(secret).status_code == 200
    key_services.api_key_set_expiry(api_key_id=key.pk, expires_at=NOW + timedelta(seconds=2), changed_by=hub_admin)
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))
    assert ask(secret).json()["remaining_seconds"] == 1

    frozen.shift(timedelta(seconds=1))

    assert reason_of(ask(secret)) == "expired"


def test_a_change_committed_late_is_still_seen_by_the_next_sync(ask, frozen, key, secret):
    assert ask(secret).status_code == 200
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))
    assert ask(secret).status_code == 200  # a sync at NOW + 1 s
    # A revocation whose updated_at was taken before that sync, but committed after it.
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED, updated_at=NOW)

    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))

    assert reason_of(ask(secret)) == "revoked"
    assert gateway._snapshot.loads == 1


def test_a_clock_that_goes_backwards_reloads_the_snapshot(ask, frozen, key, secret, consumer):
    assert ask(secret).status_code == 200
    frozen.move_to(NOW - timedelta(minutes=5), tick=False)
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)  # updated_at before every sync

    assert reason_of(ask(secret)) == "revoked"
    assert gateway._snapshot.loads == 2


def test_the_snapshot_is_reloaded_in_full_now_and_then(ask, frozen, key, secret):
    assert ask(secret).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED)  # no updated_at: not a write path

    frozen.shift(timedelta(seconds=snapshot.FULL_RELOAD_SECONDS))

    assert reason_of(ask(secret)) == "revoked"
    assert gateway._snapshot.loads == 2


def test_beyond_its_limit_the_snapshot_is_dropped_for_per_prefix_reads(
    ask, frozen, api, secret, monkeypatch, django_assert_num_queries, caplog
):
    monkeypatch.setattr(snapshot, "SNAPSHOT_MAX_KEYS", 2)
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
    _key, rotated = key_services.api_key_rotate(api_key_id=key.pk, rotated_by=consumer, grace=timedelta(0))
    revoked_key, revoked = key_services.api_key_issue(api=api, consumer=outsider)
    key_services.api_key_revoke(api_key_id=revoked_key.pk, revoked_by=outsider)
    frozen.shift(timedelta(seconds=1))

    assert ask(rotated.value).status_code == 200
    assert len(gateway._snapshot) == 1
    assert reason_of(ask(secret)) == "rotated-out"  # read by its prefix
    assert reason_of(ask(revoked.value)) == "revoked"


WRITES = {
    "revoke": lambda key, actor: key_services.api_key_revoke(api_key_id=key.pk, revoked_by=actor),
    "rotate": lambda key, actor: key_services.api_key_rotate(
        api_key_id=key.pk, rotated_by=actor, grace=timedelta(hours=1)
    ),
    "renew": lambda key, actor: key_services.api_key_renew(api_key_id=key.pk, renewed_by=actor),
    "set-expiry": lambda key, actor: key_services.api_key_set_expiry(
        api_key_id=key.pk, expires_at=None, changed_by=actor
    ),
    # The sweep with the time it started: updated_at is still the real time of the write.
    "expire": lambda key, actor: expire.expire_key(key.pk, now=key.expires_at),
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
    key, _secret = key_services.api_key_issue(api=api, consumer=consumer, pending=pending)
    assert key.updated_at == NOW
    if pending:
        frozen.shift(timedelta(seconds=5))
        key_services.api_key_activate(api_key_id=key.pk, decided_by=hub_admin)
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

    frozen.shift(timedelta(seconds=snapshot.MISS_SYNC_SECONDS + 0.01))
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
    _key, new = key_services.api_key_issue(api=api, consumer=outsider)

    assert reason_of(ask(new.value)) == "unknown"  # issued after the last sync, which was just now
    frozen.shift(timedelta(seconds=snapshot.MISS_SYNC_SECONDS + 0.01))

    with django_assert_num_queries(1):
        assert ask(new.value).status_code == 200
    with django_assert_num_queries(0):
        assert ask(new.value).status_code == 200
