"""Emails to consumers about their keys: renewed (the new validity), renewal or request rejected
(with the reason), activated, expiry changed, expired, and the reminders before expiry. Each is
written to the outbox in the caller's transaction (portal.emails). Only the key's prefix is
named, never a secret."""

from django.urls import reverse

from credentials.keys.models import ApiKey
from portal.emails import send_templated_email
from portal.models import OutboundEmail

RENEWED = "key-renewed"
ACTIVATED = "key-activated"
REQUEST_REJECTED = "key-request-rejected"
RENEWAL_REJECTED = "key-renewal-rejected"
EXPIRY_CHANGED = "key-expiry-changed"


def _my_api_keys() -> str:
    return reverse("credentials:my-api-keys")


def api_key_changed(api_key: ApiKey, template: str, reason: str = "") -> OutboundEmail | None:
    """Tell the consumer what happened to their key (one of the templates above)."""
    return send_templated_email(
        name=template,
        to=[api_key.consumer.email],
        context={"key": api_key, "reason": reason, "link_path": _my_api_keys()},
    )


def api_key_expired(api_key: ApiKey) -> OutboundEmail | None:
    """Tell the consumer their key expired (once per expiry)."""
    return send_templated_email(
        name="key-expired",
        to=[api_key.consumer.email],
        context={"key": api_key, "link_path": _my_api_keys()},
        dedupe_key=f"key-expired:{api_key.pk}:{api_key.expires_at.isoformat() if api_key.expires_at else ''}",
    )


def api_key_expiry_reminder(api_key: ApiKey, *, days: int, dedupe_key: str) -> OutboundEmail | None:
    """Remind the consumer that their key expires in `days` days."""
    return send_templated_email(
        name="key-expiry-reminder",
        to=[api_key.consumer.email],
        context={"key": api_key, "days": days, "link_path": _my_api_keys()},
        dedupe_key=dedupe_key,
    )
