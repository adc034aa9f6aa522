"""How long tenant credentials stay valid (SAP: 365 days; 65 for those generated before
February 2024). Plain date arithmetic, no Django."""

from datetime import UTC, datetime, timedelta

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


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until expiry; negative once expired (an hour past expiry is -1)."""
    seconds = (expires_at - now).total_seconds()
    return int(seconds // 86400)
