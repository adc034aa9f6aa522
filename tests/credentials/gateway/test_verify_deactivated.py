"""Deactivating a consumer or their organization stops their keys at the gateway within the sync
interval, on every process (each one syncs by the keys' updated_at), with the snapshot warm."""

from datetime import timedelta

from credentials.gateway import snapshot
from tests.credentials.gateway.helpers import reason_of


def settled(frozen, ask, secret) -> None:
    """Long after the key's last change (past the sync's overlap), with the snapshot warm."""
    frozen.shift(timedelta(seconds=snapshot.SYNC_OVERLAP_SECONDS + snapshot.CACHE_SECONDS + 1))
    assert ask(secret).status_code == 200


def test_a_deactivated_consumers_key_is_refused_within_the_sync_interval(ask, frozen, key, secret, consumer):
    settled(frozen, ask, secret)

    consumer.is_active = False
    consumer.save()
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))

    assert reason_of(ask(secret)) == "disabled"
    assert reason_of(ask(secret)) == "disabled"


def test_a_deactivated_organizations_keys_are_refused_and_come_back_when_it_is_active_again(
    ask, frozen, key, secret, organization
):
    settled(frozen, ask, secret)

    organization.is_active = False
    organization.save()
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))
    assert reason_of(ask(secret)) == "disabled"

    organization.is_active = True
    organization.save()
    frozen.shift(timedelta(seconds=snapshot.CACHE_SECONDS))
    assert ask(secret).status_code == 200


def test_a_key_of_a_consumer_deactivated_before_the_first_load_is_refused(ask, frozen, key, secret, consumer):
    consumer.is_active = False
    consumer.save()

    assert reason_of(ask(secret)) == "disabled"
