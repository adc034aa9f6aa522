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
from credentials.expiry.models import ExpiryReminder, email_dedupe_key
from credentials.keys import notifications as key_notifications
from credentials.keys.models import ApiKey
from portal import bulk
from portal.emails import Draft, queue_templated_emails

logger = logging.getLogger(__name__)


BATCH = 1000


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


def _claim(batch: list[Due], now: datetime) -> dict[int, tuple[int, int]]:
    """Insert the batch's reminder rows in one statement, conflicts ignored: the rows it returns
    are the ones this sweep inserted, and owes an email, {reminder id: (subject id, threshold)}.

    A row another worker inserted first is skipped (ON CONFLICT DO NOTHING waits for that worker's
    transaction, then skips the row if it committed). Every worker inserts in the due query's order,
    so two never wait on each other. Raw SQL: the ORM's bulk_create cannot say which rows it
    inserted when it ignores conflicts."""
    table = connection.ops.quote_name(ExpiryReminder._meta.db_table)
    now_value = connection.ops.adapt_datetimefield_value(now)
    source, params = bulk.rows_source(
        {"subject_id": "bigint", "expires_at": "timestamptz", "threshold_days": "integer"},
        [(due.subject_id, due.expires_at, due.threshold) for due in batch],
    )
    with connection.cursor() as cursor:
        # SQLite needs a WHERE before an ON CONFLICT of an INSERT ... SELECT.
        cursor.execute(
            f"INSERT INTO {table} (subject_type, sent_at, created_at, subject_id, expires_at, threshold_days) "  # noqa: S608 - the model's own table
            f"SELECT %s, %s, %s, r.subject_id, r.expires_at, r.threshold_days FROM {source} WHERE true "
            "ON CONFLICT DO NOTHING RETURNING id, subject_id, threshold_days",
            [batch[0].subject_type, now_value, now_value, *params],
        )
        return {reminder_id: (subject_id, threshold) for reminder_id, subject_id, threshold in cursor.fetchall()}


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
                claimed = _claim(batch, now)
                if claimed:
                    _queue_emails(batch[0].subject_type, claimed)
                sent += len(claimed)
    return sent


def _queue_emails(subject_type: str, claimed: dict[int, tuple[int, int]]) -> None:
    """Write the claimed reminders' emails to the outbox in one statement (dedupe key: the reminder's)."""
    ids = [subject_id for subject_id, _threshold in claimed.values()]
    drafts: list[Draft] = []
    # A batch comes from one window, so all its reminders share one threshold; grouped anyway.
    by_threshold: dict[int, list[int]] = {}
    for reminder_id, (_subject_id, threshold) in claimed.items():
        by_threshold.setdefault(threshold, []).append(reminder_id)
    # The emails count the days left from expires_at when they are rendered, at delivery
    # (credentials/templatetags/expiry.py); the threshold only chose the window.
    if subject_type == ExpiryReminder.Subject.API_KEY:
        keys = {row["pk"]: row for row in ApiKey.objects.filter(pk__in=ids).values(*key_notifications.REMINDER_FIELDS)}
        for threshold, reminder_ids in by_threshold.items():
            # A key deleted since the due query has no email; its reminder row stays, without one.
            present = [r for r in reminder_ids if claimed[r][0] in keys]
            drafts += key_notifications.api_key_expiry_reminders(
                [keys[claimed[r][0]] for r in present],
                days=threshold,
                dedupe_keys=[email_dedupe_key(r) for r in present],
            )
    else:
        requests = ConnectionRequest.objects.select_related("tenant__organization").in_bulk(ids)
        for threshold, reminder_ids in by_threshold.items():
            present = [r for r in reminder_ids if claimed[r][0] in requests]
            drafts += connection_notifications.connection_expiry_reminders(
                [requests[claimed[r][0]] for r in present],
                days=threshold,
                dedupe_keys=[email_dedupe_key(r) for r in present],
            )
    queue_templated_emails(drafts)
