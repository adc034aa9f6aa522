"""The expiry sweep: active keys past their expiry become expired."""

from collections.abc import Iterator
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from credentials.keys import notifications, services
from credentials.keys.models import ApiKey
from portal import audit

BATCH = 500


def expired_key_ids(now: datetime | None = None) -> Iterator[int]:
    now = now or timezone.now()
    keys = ApiKey.objects.filter(status=ApiKey.Status.ACTIVE, expires_at__lte=now).order_by("expires_at", "pk")
    yield from keys.values_list("pk", flat=True).iterator(BATCH)


def expire_key(api_key_id: int, now: datetime | None = None) -> bool:
    """Mark one key expired (compare-and-set), audit it, withdraw it from its target, email once."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk=api_key_id, status=ApiKey.Status.ACTIVE, expires_at__lte=now).update(
            status=ApiKey.Status.EXPIRED,
            updated_at=timezone.now(),  # the real time: the gateway syncs by it
        )
        if not changed:
            return False  # renewed meanwhile, or another worker got there first
        key = ApiKey.objects.select_related("api__runtime_target", "consumer").get(pk=api_key_id)
        audit.record(
            action="api_key.expire", target=key, summary=f"{key.prefix} expired on {key.expires_at:%Y-%m-%d %H:%M}"
        )
        services.api_key_deploy(api_key=key, reason="expired")
        notifications.api_key_expired(key)
    return True


def expire_due_keys(*, dry_run: bool = False, now: datetime | None = None) -> int:
    """The expiry sweep: active keys past their expiry become expired."""
    count = 0
    for pk in expired_key_ids(now):
        if dry_run or expire_key(pk, now):
            count += 1
    return count
