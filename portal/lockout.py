"""The page of a throttled log-on (django-axes' AXES_LOCKOUT_CALLABLE), for /accounts/login/ and
/django-admin/login/ alike: 429, how long to wait, and Retry-After.

The same page whether the user name exists or not, so it tells nobody which accounts there are.
"""

import math
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def _remaining(request: HttpRequest, username: str | None) -> timedelta:
    """How long this user stays locked out at this address: the cool-off from its last counted failure."""
    cool_off = get_cool_off(request) or timedelta(0)
    latest = (
        AccessAttempt.objects.filter(username=username, ip_address=getattr(request, "axes_ip_address", None))
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if latest is None:
        return cool_off
    return max(timedelta(seconds=1), latest + cool_off - timezone.now())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """429 with the wait in minutes, and Retry-After in seconds."""
    remaining = _remaining(request, get_client_username(request, credentials))
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(max(1, math.ceil(remaining.total_seconds())))
    return response
