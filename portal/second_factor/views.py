"""User Preferences > Second factor, and "Confirm it's you" (the step-up)."""

from base64 import b32encode
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from portal.http import HtmxHttpRequest
from portal.second_factor import selectors, services
from portal.second_factor.forms import CodeForm
from portal.second_factor.qr import qr_svg
from portal.second_factor.step_up import SESSION_KEY, mark_checked, safe_next, step_up_required


def second_factor_role_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Hub admins and approvers only (either role); 403 for the others."""

    @wraps(view)
    def wrapped(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not selectors.second_factor_applies(user=request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def preferences_page(request: HtmxHttpRequest, **extra: Any) -> TemplateResponse:
    """User Preferences, with the Second factor section (portal.views.user_preferences shows it too)."""
    context = {
        "role_names": sorted(request.user.groups.values_list("name", flat=True)),
        "second_factor": selectors.second_factor_status(user=request.user),
        "remove_form": CodeForm(),
        "step_up_minutes": settings.PORTICO_STEP_UP_MINUTES,
        "require_second_factor": settings.PORTICO_REQUIRE_SECOND_FACTOR,
        **extra,
    }
    return TemplateResponse(request, "portal/user_preferences.html", context)


def _recovery_codes_page(request: HtmxHttpRequest, recovery_codes: list[str], *, enrolled: bool) -> HttpResponse:
    context = {"recovery_codes": recovery_codes, "enrolled": enrolled}
    response = TemplateResponse(request, "portal/second_factor/recovery_codes.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@second_factor_role_required
def enrol_start(request: HtmxHttpRequest) -> HttpResponse:
    """Make a new authenticator app key and go to the page that shows it."""
    if selectors.totp_device(user=request.user) is not None:
        messages.info(request, "You already have a second factor. Remove it first to set up another app.")
        return redirect("user-preferences")
    services.second_factor_enrol_start(user=request.user)
    return redirect("second_factor:enrol")


@sensitive_variables()
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
@never_cache
@second_factor_role_required
def enrol(request: HtmxHttpRequest) -> HttpResponse:
    """The pending app's key (QR code and text) and the code that confirms it; then the recovery codes."""
    device = selectors.pending_totp_device(user=request.user)
    if device is None:
        return redirect("user-preferences")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, recovery_codes = services.second_factor_enrol_confirm(
                user=request.user, code=form.cleaned_data["code"]
            )
        except services.SecondFactorError as exc:
            form.add_error("code", str(exc))
        else:
            mark_checked(request, device)
            return _recovery_codes_page(request, recovery_codes, enrolled=True)
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "qr_code": qr_svg(device.config_url, label=f"QR code of your {settings.SITE_NAME} authenticator key"),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
    }
    response = TemplateResponse(request, "portal/second_factor/enrol.html", context)
    response["Cache-Control"] = "no-store"
    return response


@sensitive_variables()
@require_POST
@never_cache
@second_factor_role_required
@step_up_required
def recovery_codes_regenerate(request: HtmxHttpRequest) -> HttpResponse:
    """New recovery codes, shown once; the old ones stop working. Asks for a fresh second factor."""
    try:
        recovery_codes = services.recovery_codes_regenerate(user=request.user)
    except services.SecondFactorError as exc:
        messages.error(request, str(exc))
        return redirect("user-preferences")
    return _recovery_codes_page(request, recovery_codes, enrolled=False)


@sensitive_post_parameters("code")
@require_POST
@second_factor_role_required
def remove(request: HtmxHttpRequest) -> HttpResponse:
    """Remove the second factor after a current code (or a recovery code)."""
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            services.second_factor_remove(user=request.user, code=form.cleaned_data["code"])
        except services.SecondFactorError as exc:
            form.add_error("code", str(exc))
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, "Your second factor is removed: the app and the recovery codes no longer work.")
            return redirect("user-preferences")
    return preferences_page(request, remove_form=form)


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
@login_required
def confirm(request: HtmxHttpRequest) -> HttpResponse:
    """ "Confirm it's you": a code of the app or a recovery code, then back to where the user was."""
    back = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if selectors.totp_device(user=request.user) is None:
        return redirect(back)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.second_factor_step_up(user=request.user, code=form.cleaned_data["code"])
        except services.SecondFactorError as exc:
            form.add_error("code", str(exc))
        else:
            mark_checked(request, device)
            minutes = settings.PORTICO_STEP_UP_MINUTES
            messages.success(request, f"Confirmed. For the next {minutes} minutes you will not be asked again.")
            return redirect(back)
    context = {"form": form, "next": back}
    return TemplateResponse(request, "portal/second_factor/confirm.html", context)
