"""The reminder sweep: renewal reminders before API keys and connection credentials expire.

Reminders are sent exactly once per (what, which expiry, which threshold): the sweep inserts an
ExpiryReminder row under a unique constraint and writes its email to the outbox in the same
transaction; a second sweep, or a second worker at the same moment, finds the row and sends
nothing. A renewed key has a new expiry, so its reminders start a fresh cycle.

The sweeps read only what is due: an indexed range on expires_at per threshold window, streamed in
batches, so their cost follows the number of due rows, not the number that exist.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from credentials.connections import notifications as connection_notifications
from credentials.connections.models import ConnectionRequest
from credentials.expiry.models import ExpiryReminder
from credentials.keys import notifications as key_notifications
from credentials.keys.models import ApiKey

logger = logging.getLogger(__name__)


BATCH = 500


def thresholds() -> list[int]:
    """The reminder thresholds in days, largest first (setting PORTICO_REMINDER_DAYS)."""
    return sorted({int(d) for d in settings.PORTICO_REMINDER_DAYS if int(d) > 0}, reverse=True)


def windows(now: datetime) -> list[tuple[int, datetime, datetime]]:
    """(threshold, after, until): a row expiring in (after, until] is due for that threshold.

    Each expiry falls in one window, the smallest threshold it has reached, so a key first seen
    five days before expiry gets the 7-day reminder only, never a late 30-day one.
    """
    days = thresholds()
    result = []
    for i, threshold in enumerate(days):
        smaller = days[i + 1] if i + 1 < len(days) else 0
        result.append((threshold, now + timedelta(days=smaller), now + timedelta(days=threshold)))
    return result


@dataclass(frozen=True)
class Due:
    subject_type: str
    subject_id: int
    expires_at: datetime
    threshold: int


def _not_reminded(queryset: QuerySet, subject_type: str, threshold: int) -> QuerySet:
    reminded = ExpiryReminder.objects.filter(
        subject_type=subject_type,
        subject_id=OuterRef("pk"),
        expires_at=OuterRef("expires_at"),
        threshold_days=threshold,
    )
    return queryset.filter(~Exists(reminded))


def keys_due_in_window(threshold: int, after: datetime, until: datetime) -> QuerySet:
    """(pk, expires_at) of active keys expiring in (after, until] not yet reminded at `threshold`."""
    keys = ApiKey.objects.filter(status=ApiKey.Status.ACTIVE, expires_at__gt=after, expires_at__lte=until)
    # A reminder at `threshold` is owed only to a key that was valid longer than that: a key just
    # renewed for 30 days gets no "expires in 30 days" email beside its renewal email.
    keys = keys.alias(valid_from=Coalesce("renewed_at", "created_at")).filter(
        valid_from__lt=F("expires_at") - timedelta(days=threshold)
    )
    keys = _not_reminded(keys, ExpiryReminder.Subject.API_KEY, threshold)
    return keys.order_by("expires_at", "pk").values_list("pk", "expires_at")


def due_key_reminders(now: datetime | None = None) -> Iterator[Due]:
    """Active, expiring keys that reached a threshold and were not reminded of it (streamed)."""
    now = now or timezone.now()
    for threshold, after, until in windows(now):
        for pk, expires_at in keys_due_in_window(threshold, after, until).iterator(BATCH):
            yield Due(ExpiryReminder.Subject.API_KEY, pk, expires_at, threshold)


def due_connection_reminders(now: datetime | None = None) -> Iterator[Due]:
    """Approved connections whose credentials reached a threshold and were not reminded of it."""
    now = now or timezone.now()
    for threshold, after, until in windows(now):
        requests = ConnectionRequest.objects.filter(
            status=ConnectionRequest.Status.APPROVED,
            expires_at__gt=after,
            expires_at__lte=until,
            generated_at__lt=F("expires_at") - timedelta(days=threshold),
        )
        requests = _not_reminded(requests, ExpiryReminder.Subject.CONNECTION, threshold)
        for pk, expires_at in requests.order_by("expires_at", "pk").values_list("pk", "expires_at").iterator(BATCH):
            yield Due(ExpiryReminder.Subject.CONNECTION, pk, expires_at, threshold)


def _batches(items: Iterator[Due], size: int = BATCH) -> Iterator[list[Due]]:
    batch: list[Due] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _claim(batch: list[Due]) -> list[ExpiryReminder]:
    """Insert the batch's reminder rows; return those this sweep owns (no email yet), locked."""
    ExpiryReminder.objects.bulk_create(
        [
            ExpiryReminder(
                subject_type=d.subject_type,
                subject_id=d.subject_id,
                expires_at=d.expires_at,
                threshold_days=d.threshold,
            )
            for d in batch
        ],
        ignore_conflicts=True,
    )
    keys = {(d.subject_type, d.subject_id, d.expires_at, d.threshold) for d in batch}
    rows = ExpiryReminder.objects.filter(
        subject_type=batch[0].subject_type,
        subject_id__in=[d.subject_id for d in batch],
        email__isnull=True,
    )
    if connection.features.has_select_for_update_skip_locked:
        # Another worker sweeping at the same moment skips the rows this one holds.
        rows = rows.select_for_update(skip_locked=True)
    return [r for r in rows if (r.subject_type, r.subject_id, r.expires_at, r.threshold_days) in keys]


def send_due_reminders(*, dry_run: bool = False, now: datetime | None = None) -> int:
    """The reminder sweep: one email per key or connection and threshold reached (exactly once)."""
    now = now or timezone.now()
    sent = 0
    for source in (due_key_reminders(now), due_connection_reminders(now)):
        for batch in _batches(source):
            if dry_run:
                for due in batch:
                    logger.info("Would remind %s %s (%s days)", due.subject_type, due.subject_id, due.threshold)
                sent += len(batch)
                continue
            with transaction.atomic():
                claimed = _claim(batch)
                sent += _send_batch(claimed, now)
    return sent


def _send_batch(claimed: list[ExpiryReminder], now: datetime) -> int:
    if not claimed:
        return 0
    subject_type = claimed[0].subject_type
    ids = [r.subject_id for r in claimed]
    objects: dict[int, ApiKey] | dict[int, ConnectionRequest]
    if subject_type == ExpiryReminder.Subject.API_KEY:
        objects = ApiKey.objects.select_related("api", "consumer").in_bulk(ids)
    else:
        objects = ConnectionRequest.objects.select_related("tenant__organization").in_bulk(ids)
    for reminder in claimed:
        subject = objects.get(reminder.subject_id)
        if subject is None:
            continue
        dedupe_key = f"reminder:{reminder.pk}"
        if isinstance(subject, ApiKey):  # i.e. subject_type is API_KEY: objects holds that one model
            email = key_notifications.api_key_expiry_reminder(
                subject, days=reminder.threshold_days, dedupe_key=dedupe_key
            )
        else:
            email = connection_notifications.connection_expiry_reminder(
                subject, days=reminder.threshold_days, dedupe_key=dedupe_key
            )
        reminder.email = email
        reminder.sent_at = now
    ExpiryReminder.objects.bulk_update(claimed, ["email", "sent_at"])
    return len(claimed)
