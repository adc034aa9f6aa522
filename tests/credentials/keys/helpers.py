"""Helpers of the Admin Center tests (APIs, runtime targets): the pages' URLs and text, form data, keys in bulk."""

import html
from datetime import timedelta

from django.utils import timezone

from credentials.keys.models import Api, ApiKey
from portal.roles import Role
from tests.factories import ApiKeyFactory, UserFactory

APIS = "/admin-center/apis/"
NEW_API = "/admin-center/apis/new/"
HTMX = {"HX-Request": "true"}


def edit_url(api: Api) -> str:
    return f"/admin-center/apis/{api.pk}/edit/"


def keys_url(api: Api) -> str:
    return f"/admin-center/apis/{api.pk}/keys/"


def expiry_url(key: ApiKey) -> str:
    return f"/admin-center/apis/{key.api_id}/keys/{key.pk}/expiry/"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def make_keys(api: Api, count: int, *, start: int = 0, days: int = 60) -> list[ApiKey]:
    """`count` active keys of `api`, each held by a consumer of its own (one open key per consumer)."""
    now = timezone.now()
    keys = []
    for i in range(start, start + count):
        consumer = UserFactory(username=f"holder-{i:03d}", roles=(Role.CONSUMER,))
        keys.append(
            ApiKeyFactory.build(
                consumer=consumer,
                api=api,
                prefix=f"prt_key_{i:08d}",
                status=ApiKey.Status.ACTIVE,
                expires_at=now + timedelta(days=days),
            )
        )
    return ApiKey.objects.bulk_create(keys)


def valid_form(organization, **overrides) -> dict[str, object]:
    data = {
        "name": "Orders API",
        "slug": "orders",
        "description": "Create and track orders.",
        "provider": organization.pk,
        "key_lifetime_days": "180",
        "approval_mode": "any",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def expiry_data(key: ApiKey, *, when: str = "", unlimited: bool = False) -> dict[str, str]:
    data = {f"key-{key.pk}-expires_at": when}
    if unlimited:
        data[f"key-{key.pk}-unlimited"] = "on"
    return data
