"""Emails to consumers about their keys: renewed (the new validity), renewal or request rejected
(with the reason), activated, expiry changed, expired, and the reminders before expiry. Each is
written to the outbox in the caller's transaction (portal.emails). Only the key's prefix is
named, never a secret."""

from typing import Any

from django.urls import reverse

from credentials.keys.models import ApiKey
from portal.emails import Draft, minute, send_templated_email
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


# What a reminder says about a key, read in one query for a whole batch (no model instances).
REMINDER_FIELDS = (
    "pk", "prefix", "expires_at", "consumer__email", "consumer__first_name", "consumer__last_name",
    "consumer__username", "api__name", "api__renewal_requires_approval",
)  # fmt: skip


def api_key_expiry_reminders(keys: list[dict[str, Any]], *, days: int, dedupe_keys: list[str]) -> list[Draft]:
    """Remind each key's consumer that its key expires soon: drafts for the bulk outbox, rendered
    when delivered, so their context is plain values taken now. The email counts the days left
    itself, from `expires_at`, when it is rendered; `days` is the threshold that was reached (the
    30-, 7- or 1-day reminder). `keys` are rows of REMINDER_FIELDS."""
    link_path = _my_api_keys()
    drafts = []
    for key, dedupe_key in zip(keys, dedupe_keys, strict=True):
        # As User.get_full_name, falling back to the username.
        name = f"{key['consumer__first_name']} {key['consumer__last_name']}".strip() or key["consumer__username"]
        context = {
            "consumer_name": name,
            "key_prefix": key["prefix"],
            "api_name": key["api__name"],
            "expires_at": minute(key["expires_at"]),
            "renewal_requires_approval": key["api__renewal_requires_approval"],
            "days": days,
            "link_path": link_path,
        }
        drafts.append(
            Draft(name="key-expiry-reminder", to=[key["consumer__email"]], context=context, dedupe_key=dedupe_key)
        )
    return drafts
