"""Rotate says until when the old secret keeps working: on each grace choice before rotating, and
as a moment (date, time and zone) on the page that shows the new secret."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from credentials.keys import services as key_services
from credentials.keys.models import KeySecret
from tests.factories import ApiFactory

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def issued(frozen, consumer):
    api = ApiFactory(name="Weather", slug="weather", key_lifetime_days=90)
    key, secret, _ = key_services.api_key_request(api=api, consumer=consumer)
    return key, secret


def rotate_url(key) -> str:
    return f"/preferences/api-keys/{key.pk}/rotate/"


def test_each_grace_choice_says_until_when(client, consumer, issued):
    key, _ = issued
    client.force_login(consumer)
    page = text(client.get(rotate_url(key)))
    assert "1 hour (until 2026-12-02 16:00 UTC)" in page
    assert "1 day (until 2026-12-03 15:00 UTC)" in page
    assert "7 days (until 2026-12-09 15:00 UTC)" in page
    assert "the grace period you chose" not in page


def test_after_rotating_the_page_says_until_when_the_old_secret_works(client, consumer, issued):
    key, old = issued
    client.force_login(consumer)
    page = text(client.post(rotate_url(key), {"grace": str(7 * 86400)}))
    assert f"The old secret {old.prefix}… keeps working until 2026-12-09 15:00 UTC" in page
    assert "the grace period you chose" not in page
    assert KeySecret.objects.get(prefix=old.prefix).valid_until == NOW + timedelta(days=7)


def test_after_rotating_with_no_grace_the_page_says_the_old_secret_stopped(client, consumer, issued):
    key, old = issued
    client.force_login(consumer)
    page = text(client.post(rotate_url(key), {"grace": "0"}))
    assert f"The old secret {old.prefix}… stopped working now (2026-12-02 15:00 UTC)" in page
