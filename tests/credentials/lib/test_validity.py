from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from credentials.lib.validity import credential_expiry, credential_validity, days_left


def test_credentials_generated_from_february_2024_are_valid_365_days():
    generated = datetime(2024, 2, 1, tzinfo=UTC)
    assert credential_validity(generated) == timedelta(days=365)
    assert credential_expiry(generated) == datetime(2025, 1, 31, tzinfo=UTC)


def test_credentials_generated_before_february_2024_keep_65_days():
    generated = datetime(2024, 1, 31, 23, 59, tzinfo=UTC)
    assert credential_validity(generated) == timedelta(days=65)
    assert credential_expiry(generated) == generated + timedelta(days=65)


def test_a_certificate_that_expires_first_sets_the_expiry():
    generated = datetime(2026, 1, 1, tzinfo=UTC)
    certificate_end = datetime(2026, 6, 1, tzinfo=UTC)
    assert credential_expiry(generated, certificate_end) == certificate_end


def test_a_certificate_that_outlives_the_validity_does_not_extend_it():
    generated = datetime(2026, 1, 1, tzinfo=UTC)
    assert credential_expiry(generated, datetime(2030, 1, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_90_day_key_renewed_a_second_ago_has_90_days_left():
    now = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    assert days_left(now + timedelta(days=90), now + timedelta(seconds=1)) == 90


def test_days_left_counts_calendar_days_not_whole_24_hours():
    expiry = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert days_left(expiry, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == 6  # 6 days 6 hours
    assert days_left(expiry, datetime(2026, 12, 1, 20, 0, tzinfo=UTC)) == 6  # 5 days 19 hours
    assert days_left(expiry, datetime(2026, 12, 6, 23, 59, tzinfo=UTC)) == 1  # tomorrow
    assert days_left(expiry, datetime(2026, 12, 7, 0, 1, tzinfo=UTC)) == 0  # later today
    assert days_left(expiry, datetime(2026, 12, 7, 16, 0, tzinfo=UTC)) == 0  # earlier today: still today's date
    assert days_left(expiry, datetime(2026, 12, 8, 9, 0, tzinfo=UTC)) == -1


def test_days_left_counts_the_dates_of_the_portals_time_zone(settings):
    # 23:30 UTC on Dec 7 is 00:30 on Dec 8 in Berlin; 09:00 UTC on Dec 1 is Dec 1 there too.
    expiry, now = datetime(2026, 12, 7, 23, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert days_left(expiry, now) == 6
    settings.TIME_ZONE = "Europe/Berlin"
    assert days_left(expiry, now) == 7
    assert days_left(expiry, now, ZoneInfo("America/New_York")) == 6
