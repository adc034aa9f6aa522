from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from portal.models import AuditEvent, OutboundEmail


def audit_event_list(
    *,
    q: str = "",
    action: str = "",
    actor: str = "",
    target_type: str = "",
    target_id: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events, newest first, filtered as the Admin Center's audit page asks."""
    events = AuditEvent.objects.all()
    if q:
        events = events.filter(Q(summary__icontains=q) | Q(target_repr__icontains=q) | Q(actor_username__icontains=q))
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor_username=actor)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since:
        events = events.filter(created_at__date__gte=since)
    if until:
        events = events.filter(created_at__date__lte=until)
    return events.order_by("-created_at", "-id")


def audit_action_choices() -> list[str]:
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def outbound_email_list(*, state: str = "") -> QuerySet[OutboundEmail]:
    emails = OutboundEmail.objects.defer("body_text", "body_html").order_by("-created_at", "-id")
    if state in OutboundEmail.State.values:
        emails = emails.filter(state=state)
    return emails


# Beat queues every due email each minute, so a due email still waiting this long past its time
# means no worker is sending (or none reaches the database).
OUTBOX_STALLED_AFTER = timedelta(minutes=5)
OUTBOX_WAITING_SHOWN = 20


@dataclass(frozen=True)
class OutboxOwed:
    """What the outbox owes, read from the table (the broker may hold nothing, or be down)."""

    count: int  # pending emails
    oldest_at: datetime | None  # when the oldest pending email was written
    stalled: int  # pending emails due for longer than OUTBOX_STALLED_AFTER
    refused: int  # pending emails the mail server refused at least once
    next_try_at: datetime | None  # the earliest next attempt
    waiting: list[OutboundEmail]  # the oldest OUTBOX_WAITING_SHOWN pending emails, oldest first

    @property
    def not_shown(self) -> int:
        return self.count - len(self.waiting)


def outbox_owed(now: datetime | None = None) -> OutboxOwed:
    """Two queries at any size of the outbox: the pending emails' aggregate and the oldest of them
    (the state filter uses the outbound_email_due index; pending emails are few once sent)."""
    now = now or timezone.now()
    pending = OutboundEmail.objects.filter(state=OutboundEmail.State.PENDING)
    row = pending.aggregate(
        count=Count("pk"),
        oldest_at=Min("created_at"),
        stalled=Count("pk", filter=Q(next_attempt_at__lte=now - OUTBOX_STALLED_AFTER)),
        refused=Count("pk", filter=Q(attempts__gt=0)),
        next_try_at=Min("next_attempt_at"),
    )
    waiting = list(pending.defer("body_text", "body_html").order_by("created_at", "id")[:OUTBOX_WAITING_SHOWN])
    return OutboxOwed(waiting=waiting, **row)
