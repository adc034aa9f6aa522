"""The step-up: a guarded action asks for a second factor again when the session's check is stale.

The time of the last check is kept in the session (set by `mark_checked` when a code passes);
`step_up_required` refuses a POST of a guarded view, before it runs, when that time is older than
PORTICO_STEP_UP_MINUTES, and sends the user to "Confirm it's you", which returns them to the page
they came from. With PORTICO_REQUIRE_SECOND_FACTOR, hub admins and approvers without a second
factor are sent to enrol first. Users without a device, when it is not required, pass as before.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

import django_otp
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from portal.second_factor import selectors
from portal.second_factor.models import AuthenticatorApp

SESSION_KEY = "portico_second_factor_checked_at"


def mark_checked(request: HttpRequest, device: AuthenticatorApp) -> None:
    """The session's user just proved their second factor: guarded actions pass for a while."""
    django_otp.login(request, device)
    request.session[SESSION_KEY] = timezone.now().timestamp()


def check_is_fresh(request: HttpRequest) -> bool:
    checked_at = request.session.get(SESSION_KEY)
    if not isinstance(checked_at, int | float):
        return False
    age = timezone.now().timestamp() - checked_at
    return 0 <= age <= settings.PORTICO_STEP_UP_MINUTES * 60


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """`candidate` as a path of this site, or the home page: never an open redirect."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(candidate)
        path = parts.path or "/"
        return path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    return reverse("home")


def _came_from(request: HttpRequest) -> str:
    """The page the guarded action was sent from: htmx names it, browsers send the Referer."""
    htmx = getattr(request, "htmx", None)
    current = htmx.current_url if htmx else None
    return safe_next(request, current or request.headers.get("Referer"))


def _answer(request: HttpRequest, *, enrol: bool) -> HttpResponse:
    back = _came_from(request)
    if enrol:
        url = reverse("user-preferences") + "#second-factor"
    else:
        url = reverse("second_factor:confirm") + "?" + urlencode({"next": back})
    if getattr(request, "htmx", None):
        # htmx does not swap a 4xx: it follows HX-Redirect (django-htmx answers 200 with it).
        return HttpResponseClientRedirect(url)
    context = {"enrol": enrol, "url": url, "back": back}
    return render(request, "portal/second_factor/step_up_required.html", context, status=403)


def step_up_answer(request: HttpRequest) -> HttpResponse | None:
    """None when the request may go on; else the answer that sends the user to confirm or enrol."""
    user = request.user
    if not user.is_authenticated:
        return None  # login_required or role_required, outside, sends them to log on
    if selectors.totp_device(user=user) is not None:
        return None if check_is_fresh(request) else _answer(request, enrol=False)
    if settings.PORTICO_REQUIRE_SECOND_FACTOR and selectors.second_factor_applies(user=user):
        return _answer(request, enrol=True)
    return None


def step_up_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Guard a view's POST with the step-up; place it below login/role checks, so outsiders get
    their 403 first. The view does not run at all when a fresh second factor is needed."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            answer = step_up_answer(request)
            if answer is not None:
                return answer
        return view(request, *args, **kwargs)

    return wrapped
