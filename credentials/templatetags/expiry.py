"""How pages and emails say when a credential expires, in one wording: "6 days left",
"expires today", "expired"; "expires in 6 days, on 2026-12-07". Days are counted as a person
counts them (credentials.lib.validity.days_left), at the moment the page or email is rendered:
a reminder delivered a day late says so. Load with `{% load expiry %}`."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from credentials.lib import validity

register = template.Library()

# How an email's context carries a moment (portal.emails.minute): the portal's local time.
CONTEXT_FORMAT = "%Y-%m-%d %H:%M"


def _moment(value: datetime | str | None) -> datetime | None:
    """An aware datetime, or the context string of a queued email read in the portal's time zone."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.strptime(value, CONTEXT_FORMAT).replace(tzinfo=timezone.get_current_timezone())
        except ValueError:
            return None
    return None


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment)


def _zone() -> str:
    return timezone.get_current_timezone_name()


@register.filter
def time_left(value: datetime | str | None) -> str:
    """The badge text: "6 days left", "1 day left", "expires today", "expired" ("" if no expiry)."""
    moment = _moment(value)
    if moment is None:
        return ""
    now = timezone.now()
    if moment <= now:
        return "expired"
    days = validity.days_left(moment, now)
    if days == 0:
        return "expires today"
    return f"{days} day{'' if days == 1 else 's'} left"


@register.simple_tag
def expiry_badge(value: datetime | str | None) -> str:
    """time_left in a badge: red once expired, highlighted below WARN_DAYS days."""
    moment = _moment(value)
    if moment is None:
        return ""
    now = timezone.now()
    if moment <= now:
        modifier = " badge--bad"
    elif validity.days_left(moment, now) < validity.WARN_DAYS:
        modifier = " badge--warn"
    else:
        modifier = ""
    return format_html('<span class="badge{}">{}</span>', modifier, time_left(moment))


@register.simple_tag
def expires_in(value: datetime | str | None, plural: bool = False) -> str:
    """ "expires in 6 days, on 2026-12-07", "expires tomorrow, on 2026-12-08", "expires today, at
    15:00 UTC", "expired on 2026-12-01" ("expire ..." with plural=True: credentials expire)."""
    moment = _moment(value)
    if moment is None:
        return f"expire{'' if plural else 's'} on {value}" if value else ""
    now = timezone.now()
    local = _local(moment)
    date, clock = local.strftime("%Y-%m-%d"), f"{local:%H:%M} {_zone()}"
    days = validity.days_left(moment, now)
    if moment <= now:
        return f"expired today, at {clock}" if days == 0 else f"expired on {date}"
    verb = "expire" if plural else "expires"
    if days == 0:
        return f"{verb} today, at {clock}"
    if days == 1:
        return f"{verb} tomorrow, on {date}"
    return f"{verb} in {days} days, on {date}"


@register.filter
def expiry_moment(value: datetime | str | None) -> str:
    """The moment of expiry with the portal's time zone: "2026-12-07 15:00 UTC"."""
    moment = _moment(value)
    if moment is None:
        return str(value or "")
    return f"{_local(moment):%Y-%m-%d %H:%M} {_zone()}"
