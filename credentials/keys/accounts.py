"""What the keys do when an account of the shell changes: a user or an organization saved with
its `is_active` (deactivated, or active again) bumps its keys, so every gateway process sees the
change within a second. Connected in credentials.apps; the work is the service's."""

from typing import Any

from credentials.keys.services import api_keys_of_accounts_changed
from portal.models import Organization, User


def _touches_is_active(kwargs: dict[str, Any]) -> bool:
    update_fields = kwargs.get("update_fields")
    return not kwargs.get("raw") and (update_fields is None or "is_active" in update_fields)


def consumer_saved(sender: type, instance: User, **kwargs: Any) -> None:
    if _touches_is_active(kwargs):
        api_keys_of_accounts_changed(consumer_id=instance.pk)


def organization_saved(sender: type, instance: Organization, **kwargs: Any) -> None:
    if _touches_is_active(kwargs):
        api_keys_of_accounts_changed(organization_id=instance.pk)
