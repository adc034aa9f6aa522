"""/gateway/verify: the last use of a key is buffered and flushed in one update, not written per request."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from credentials.gateway import last_used as last_used_module
from credentials.gateway import services as gateway
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from tests.credentials.gateway.helpers import NOW


# --- Last use: buffered, not written per request ---------------------------------------------------
def test_last_use_is_not_written_per_request_but_flushed_in_one_update(ask, frozen, api, key, secret, outsider):
    other_key, other = key_services.api_key_issue(api=api, consumer=outsider)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert ask(secret).status_code == 200
            assert ask(other.value).status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    key.refresh_from_db()
    assert key.last_used_at is None

    frozen.shift(timedelta(seconds=last_used_module.LAST_USED_FLUSH_SECONDS))
    with CaptureQueriesContext(connection) as queries:
        assert ask(secret).status_code == 200

    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    # One time for the batch, its latest use: last use is accurate to the flush interval.
    for used in (key, other_key):
        used.refresh_from_db()
        assert used.last_used_at == NOW + timedelta(seconds=last_used_module.LAST_USED_FLUSH_SECONDS)


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
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    ask(secret)

    assert gateway.last_used.flush() == 0
