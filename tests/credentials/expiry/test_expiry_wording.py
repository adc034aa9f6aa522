"""How pages say the time left (issue 13, part 4): days counted as a person counts them, in the
portal's time zone, in one wording everywhere ("6 days left", "1 day left", "expires today",
"expired")."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template import Context, Template
from django.test import override_settings
from django.urls import reverse

from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from tests.factories import ApiFactory, ApiKeyFactory, ConnectionRequestFactory

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EXPIRY = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def render(source: str, **context) -> str:
    return Template("{% load expiry %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("now", "badge", "phrase"),
    [
        (NOW, "6 days left", "expires in 6 days, on 2026-12-07"),
        (datetime(2026, 12, 1, 20, 0, tzinfo=UTC), "6 days left", "expires in 6 days, on 2026-12-07"),
        (datetime(2026, 12, 6, 23, 0, tzinfo=UTC), "1 day left", "expires tomorrow, on 2026-12-07"),
        (datetime(2026, 12, 7, 0, 30, tzinfo=UTC), "expires today", "expires today, at 15:00 UTC"),
        (datetime(2026, 12, 7, 15, 0, tzinfo=UTC), "expired", "expired today, at 15:00 UTC"),
        (datetime(2026, 12, 9, 8, 0, tzinfo=UTC), "expired", "expired on 2026-12-07"),
    ],
)
def test_the_time_left_reads_as_a_person_counts_it(now, badge, phrase):
    with time_machine.travel(now, tick=False):
        assert render("{{ when|time_left }}", when=EXPIRY) == badge
        assert render("{% expires_in when %}", when=EXPIRY) == phrase


def test_the_badge_is_red_once_expired_highlighted_under_30_days_and_plain_beyond():
    with time_machine.travel(NOW, tick=False):
        assert render("{% expiry_badge when %}", when=EXPIRY) == '<span class="badge badge--warn">6 days left</span>'
        assert render("{% expiry_badge when %}", when=NOW + timedelta(days=29, hours=1)) == (
            '<span class="badge badge--warn">29 days left</span>'
        )
        assert render("{% expiry_badge when %}", when=NOW + timedelta(days=30)) == (
            '<span class="badge">30 days left</span>'
        )
        assert render("{% expiry_badge when %}", when=NOW - timedelta(minutes=1)) == (
            '<span class="badge badge--bad">expired</span>'
        )
        assert render("{% expiry_badge when %}", when=None) == ""


@override_settings(TIME_ZONE="Europe/Berlin")
def test_the_dates_are_those_of_the_portals_time_zone():
    late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 00:30 on Dec 8 in Berlin
    with time_machine.travel(NOW, tick=False):
        assert render("{{ when|time_left }}", when=late) == "7 days left"
        assert render("{% expires_in when %}", when=late) == "expires in 7 days, on 2026-12-08"
        assert render("{{ when|expiry_moment }}", when=late) == "2026-12-08 00:30 Europe/Berlin"
    with time_machine.travel(datetime(2026, 12, 7, 23, 0, tzinfo=UTC), tick=False):  # midnight in Berlin
        assert render("{% expires_in when %}", when=late) == "expires today, at 00:30 Europe/Berlin"


# --- pages ------------------------------------------------------------------------------------------
def test_a_90_day_key_renewed_now_shows_90_days_left_on_my_api_keys(client, consumer):
    api = ApiFactory(name="Weather", slug="weather", key_lifetime_days=90)
    with time_machine.travel(NOW, tick=False):
        key, _secret, _ = key_services.api_key_request(api=api, consumer=consumer)
    with time_machine.travel(NOW + timedelta(days=85), tick=False):
        key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)
    with time_machine.travel(NOW + timedelta(days=85, seconds=1), tick=False):
        client.force_login(consumer)
        page = client.get(reverse("credentials:my-api-keys")).content.decode()
    assert '<span class="badge">90 days left</span>' in page
    assert "89 days left" not in page


@pytest.fixture
def key_in_6_days_3_hours(consumer):
    with time_machine.travel(NOW, tick=False):
        return ApiKeyFactory(
            consumer=consumer, api=ApiFactory(name="Weather"), expires_at=NOW + timedelta(days=6, hours=3)
        )


def test_a_key_expiring_in_6_days_3_hours_reads_6_days_left_wherever_it_is_shown(
    client, consumer, hub_admin, key_in_6_days_3_hours
):
    key = key_in_6_days_3_hours
    warn = '<span class="badge badge--warn">6 days left</span>'
    # Late in the day the key has 5 days 15 hours left, but still 6 dates to go.
    with time_machine.travel(NOW + timedelta(hours=8), tick=False):
        client.force_login(consumer)
        assert warn in client.get(reverse("credentials:my-api-keys")).content.decode()
        client.force_login(hub_admin)
        assert warn in client.get(reverse("credentials:api-keys", args=[key.api_id])).content.decode()
        assert warn in client.get(reverse("admin-center")).content.decode()


def test_a_key_expiring_later_today_says_expires_today_and_an_expired_one_says_expired(
    client, consumer, key_in_6_days_3_hours
):
    key = key_in_6_days_3_hours
    client.force_login(consumer)
    with time_machine.travel(key.expires_at - timedelta(hours=2), tick=False):
        page = client.get(reverse("credentials:my-api-keys")).content.decode()
    assert '<span class="badge badge--warn">expires today</span>' in page
    with time_machine.travel(key.expires_at + timedelta(minutes=5), tick=False):
        page = client.get(reverse("credentials:my-api-keys")).content.decode()
    assert '<span class="badge badge--bad">expired</span>' in page


def test_connection_credentials_show_the_same_wording(client, hub_admin, tenant):
    with time_machine.travel(NOW, tick=False):
        ConnectionRequestFactory(tenant=tenant, status="approved", expires_at=NOW + timedelta(days=1, hours=1))
    client.force_login(hub_admin)
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):  # 23 hours left, but tomorrow
        page = client.get(reverse("admin-center")).content.decode()
    assert '<span class="badge badge--warn">1 day left</span>' in page


@override_settings(TIME_ZONE="America/New_York")
def test_my_api_keys_counts_the_dates_of_the_portals_time_zone(client, consumer):
    # 02:00 UTC on Dec 8 is still Dec 7 in New York; 09:00 UTC on Dec 1 is Dec 1 there.
    with time_machine.travel(NOW, tick=False):
        ApiKeyFactory(consumer=consumer, expires_at=datetime(2026, 12, 8, 2, 0, tzinfo=UTC))
        client.force_login(consumer)
        page = client.get(reverse("credentials:my-api-keys")).content.decode()
    assert "6 days left" in page and ">2026-12-07</time>" in page
    assert ApiKey.objects.get().days_left(NOW) == 6
