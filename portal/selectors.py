from datetime import date

from django.db.models import Q, QuerySet

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
