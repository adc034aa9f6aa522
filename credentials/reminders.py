"""Celery beat's sweeps over expiring credentials: renewal reminders, expiry, connection health.

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
from django.urls import reverse
from django.utils import timezone

from credentials import services
from credentials.models import ApiKey, ConnectionRequest, ExpiryReminder
from credentials.token_check import check_token
from portal import audit
from portal.emails import send_templated_email
from portal.models import User
from portal.roles import Role

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


def connection_admin_emails(connection_request: ConnectionRequest) -> list[str]:
    """Who is told about a connection's credentials: hub admins, the tenant organization's tenant
    admins, and the optional team address, so reminders never depend on one person."""
    hub_admins = User.objects.filter(groups__name=Role.HUB_ADMIN, is_active=True)
    tenant_admins = User.objects.filter(
        organization=connection_request.tenant.organization_id,
        groups__name=Role.API_PORTAL_ADMINISTRATOR,
        is_active=True,
    ).filter(groups__name=Role.API_PORTAL_REGISTRATION)
    addresses = set(hub_admins.values_list("email", flat=True)) | set(tenant_admins.values_list("email", flat=True))
    if settings.PORTICO_REMINDER_TEAM_EMAIL:
        addresses.add(settings.PORTICO_REMINDER_TEAM_EMAIL)
    return sorted(a for a in addresses if a)


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
    if subject_type == ExpiryReminder.Subject.API_KEY:
        objects = ApiKey.objects.select_related("api", "consumer").in_bulk(ids)
    else:
        objects = ConnectionRequest.objects.select_related("tenant__organization").in_bulk(ids)
    for reminder in claimed:
        subject = objects.get(reminder.subject_id)
        if subject is None:
            continue
        if subject_type == ExpiryReminder.Subject.API_KEY:
            email = send_templated_email(
                name="key-expiry-reminder",
                to=[subject.consumer.email],
                context={
                    "key": subject,
                    "days": reminder.threshold_days,
                    "link_path": reverse("credentials:my-api-keys"),
                },
                dedupe_key=f"reminder:{reminder.pk}",
            )
        else:
            email = send_templated_email(
                name="connection-expiry-reminder",
                to=connection_admin_emails(subject),
                context={
                    "request": subject,
                    "days": reminder.threshold_days,
                    "link_path": reverse("credentials:connection-reestablish", args=[subject.pk]),
                },
                dedupe_key=f"reminder:{reminder.pk}",
            )
        reminder.email = email
        reminder.sent_at = now
    ExpiryReminder.objects.bulk_update(claimed, ["email", "sent_at"])
    return len(claimed)


# --- expiry -----------------------------------------------------------------------------------------
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
        send_templated_email(
            name="key-expired",
            to=[key.consumer.email],
            context={"key": key, "link_path": reverse("credentials:my-api-keys")},
            dedupe_key=f"key-expired:{key.pk}:{key.expires_at.isoformat()}",
        )
    return True


def expire_due_keys(*, dry_run: bool = False, now: datetime | None = None) -> int:
    """The expiry sweep: active keys past their expiry become expired."""
    count = 0
    for pk in expired_key_ids(now):
        if dry_run or expire_key(pk, now):
            count += 1
    return count


# --- connection health ------------------------------------------------------------------------------
def approved_connection_ids() -> list[int]:
    return list(ConnectionRequest.objects.filter(status=ConnectionRequest.Status.APPROVED).values_list("pk", flat=True))


def check_connection(connection_request_id: int) -> ConnectionRequest.Health | None:
    """Fetch a token with the stored credentials (no lock held meanwhile) and record the result.

    A connection that starts failing is flagged for re-establishing and its admins are emailed
    once per incident; one that works again is healthy again.
    """
    request = ConnectionRequest.objects.select_related("tenant").filter(pk=connection_request_id).first()
    if request is None or request.status != ConnectionRequest.Status.APPROVED:
        return None
    result = check_token(request.tenant_credentials())
    now = timezone.now()
    with transaction.atomic():
        request = (
            ConnectionRequest.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=connection_request_id)
        )
        was_failing = request.health == ConnectionRequest.Health.FAILING
        request.health = ConnectionRequest.Health.HEALTHY if result.ok else ConnectionRequest.Health.FAILING
        request.health_message = result.message[:500]
        request.health_checked_at = now
        request.save(update_fields=["health", "health_message", "health_checked_at", "updated_at"])
        if not result.ok and not was_failing:
            audit.record(
                action="connection_request.health_failing",
                target=request,
                organization=request.tenant.organization,
                summary=f"Token fetch failed: {result.message[:300]}",
            )
            send_templated_email(
                name="connection-failing",
                to=connection_admin_emails(request),
                context={
                    "request": request,
                    "message": result.message,
                    "link_path": reverse("credentials:connection-reestablish", args=[request.pk]),
                },
                dedupe_key=f"connection-failing:{request.pk}:{now.isoformat()}",
            )
        elif result.ok and was_failing:
            audit.record(
                action="connection_request.health_restored",
                target=request,
                organization=request.tenant.organization,
                summary="Token fetch works again",
            )
    return ConnectionRequest.Health(request.health)
