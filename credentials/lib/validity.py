"""How long tenant credentials stay valid (SAP: 365 days; 65 for those generated before
February 2024), and how many days a credential has left. Plain date arithmetic; the one Django
piece is the portal's time zone, in which people read the dates."""

from datetime import UTC, datetime, timedelta, tzinfo

from django.utils import timezone

VALIDITY_CHANGE = datetime(2024, 2, 1, tzinfo=UTC)
VALIDITY_BEFORE_CHANGE = timedelta(days=65)
VALIDITY = timedelta(days=365)
# Lists highlight credentials with fewer days left than this.
WARN_DAYS = 30


def credential_validity(generated_at: datetime) -> timedelta:
    return VALIDITY_BEFORE_CHANGE if generated_at < VALIDITY_CHANGE else VALIDITY


def credential_expiry(generated_at: datetime, certificate_not_after: datetime | None = None) -> datetime:
    """The end of validity; a certificate that expires earlier wins."""
    expiry = generated_at + credential_validity(generated_at)
    if certificate_not_after is not None and certificate_not_after < expiry:
        return certificate_not_after
    return expiry


def days_left(expires_at: datetime, now: datetime, tz: tzinfo | None = None) -> int:
    """Days until expiry as a person counts them: the expiry's date minus today's date, both in
    `tz` (default: the portal's time zone, as pages show dates). A key renewed for 90 days has 90
    left, one expiring later today 0, yesterday's -1. Whether it has expired is a question of the
    instant (`expires_at <= now`), not of dates: on its last day a key has 0 days left either way."""
    zone = tz or timezone.get_current_timezone()
    return (expires_at.astimezone(zone).date() - now.astimezone(zone).date()).days
