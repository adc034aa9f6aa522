from datetime import UTC, datetime, timedelta

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


def test_days_left_counts_whole_days_and_goes_negative_after_expiry():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert days_left(now + timedelta(days=29, hours=23), now) == 29
    assert days_left(now + timedelta(days=30), now) == 30
    assert days_left(now - timedelta(hours=1), now) == -1
