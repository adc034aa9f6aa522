"""Writes of the second factor: enrol, check a code (with the throttle), recovery codes, removal.

Throttle: django-otp's throttling fields on the TOTP device (`throttling_failure_count` and
`throttling_failure_timestamp`, moved by AuthenticatorApp.verify_token and ThrottlingMixin's
throttle_increment/throttle_reset) count the user's wrong codes, recovery codes included. Portico's
policy reads them: after FAILURE_LIMIT wrong codes, each within LOCK_MINUTES of the one before,
every further attempt is refused for LOCK_MINUTES from the last failure, without being checked or
counted. django-otp's own exponential back-off is off (OTP_TOTP_THROTTLE_FACTOR=0 in settings):
it would refuse a second try within a second as if the code were wrong.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from portal import audit
from portal.models import User
from portal.second_factor import codes
from portal.second_factor.models import AuthenticatorApp

FAILURE_LIMIT = 5
LOCK_MINUTES = 15
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


class SecondFactorError(Exception):
    """A code was refused (wrong, or the user is locked out); the message is for the user."""


@dataclass(frozen=True)
class Check:
    """A code that passed: the device it matched, and whether it was a recovery code."""

    device: AuthenticatorApp
    recovery_code: bool


def _locked_until(device: AuthenticatorApp) -> datetime | None:
    last_failure = device.throttling_failure_timestamp
    if device.throttling_failure_count >= FAILURE_LIMIT and last_failure is not None:
        until = last_failure + timedelta(minutes=LOCK_MINUTES)
        if timezone.now() < until:
            return until
    return None


@sensitive_variables("code")
def _check_code(*, device: AuthenticatorApp, code: str, allow_recovery: bool) -> tuple[bool, str]:
    """Check `code` against the locked row `device` (or the user's recovery codes); count a failure.

    Returns (passed, how it was refused or matched), for the caller to audit in the same transaction.
    """
    last_failure = device.throttling_failure_timestamp
    if last_failure is not None and timezone.now() - last_failure > timedelta(minutes=LOCK_MINUTES):
        device.throttle_reset(commit=False)  # the run of wrong codes is over: count afresh
    if _locked_until(device) is not None:
        return False, "locked"
    if allow_recovery and codes.looks_like_recovery_code(code):
        recovery = StaticDevice.objects.filter(user=device.user, confirmed=True).first()
        digest = codes.digest(code, pepper=settings.PORTICO_HASH_KEY)
        # StaticDevice.verify_token finds the token by its column (the digest) and deletes it: once only.
        if recovery is not None and recovery.verify_token(digest):
            device.throttle_reset(commit=True)
            return True, "recovery"
        device.throttle_increment(commit=True)
        return False, "wrong"
    code = "".join(code.split())
    if device.verify_token(code):  # saves the device: drift, last_t (no replay), throttle reset
        return True, "totp"
    return False, "wrong"


def _refusal(device: AuthenticatorApp, reason: str) -> SecondFactorError:
    until = _locked_until(device)
    if until is not None:
        minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
        return SecondFactorError(
            f"Too many wrong codes. Try again in {minutes} minute{'s' if minutes != 1 else ''}: "
            "further attempts are refused until then."
        )
    return SecondFactorError("That code is not right. Enter the current code of your authenticator app.")


def _audit_failure(device: AuthenticatorApp, reason: str, purpose: str) -> None:
    summary = (
        f"Second factor refused ({purpose}): attempts locked for {LOCK_MINUTES} minutes"
        if reason == "locked" or _locked_until(device) is not None
        else f"Second factor refused ({purpose}): wrong code, {device.throttling_failure_count} in a row"
    )
    audit.record(action="second_factor.verification_failed", target=device, actor=device.user, summary=summary)


@sensitive_variables("code")
def _verify(*, user: User, code: str, purpose: str, pending: bool = False) -> Check:
    """Check a code of `user` and audit a refusal; raises SecondFactorError (after committing the
    failure count and its audit row) when it does not pass."""
    with transaction.atomic():
        device = (
            AuthenticatorApp.objects.select_for_update()
            .filter(user=user, confirmed=not pending)
            .order_by("-id")
            .select_related("user")
            .first()
        )
        if device is None:
            raise SecondFactorError("There is no second factor to check: set one up in User Preferences.")
        passed, how = _check_code(device=device, code=code, allow_recovery=not pending)
        if not passed:
            _audit_failure(device, how, purpose)
    if not passed:
        raise _refusal(device, how)
    return Check(device=device, recovery_code=how == "recovery")


def second_factor_enrol_start(*, user: User) -> AuthenticatorApp:
    """A new, unconfirmed authenticator app with a fresh random key (any earlier unconfirmed one goes)."""
    with transaction.atomic():
        AuthenticatorApp.objects.filter(user=user, confirmed=False).delete()
        return AuthenticatorApp.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def _new_recovery_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    new = [codes.new_code() for _ in range(codes.CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=codes.digest(code, pepper=settings.PORTICO_HASH_KEY)) for code in new
    )
    return new


@sensitive_variables("code", "new")
def second_factor_enrol_confirm(*, user: User, code: str) -> tuple[AuthenticatorApp, list[str]]:
    """Confirm the pending authenticator app with its current code; returns it and 10 new recovery
    codes (stored hashed, returned only here). Audited; SecondFactorError if the code is refused."""
    check = _verify(user=user, code=code, purpose="enrolment", pending=True)
    with transaction.atomic():
        device = AuthenticatorApp.objects.select_for_update().get(pk=check.device.pk)
        AuthenticatorApp.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.created_at = timezone.now()  # "enrolled since": the confirmation, not the start
        device.save(update_fields=["confirmed", "created_at"])
        new = _new_recovery_codes(user)
        audit.record(
            action="second_factor.enrolled",
            target=device,
            actor=user,
            summary=f"Enrolled an authenticator app and {len(new)} recovery codes",
        )
    return device, new


@sensitive_variables("code")
def second_factor_step_up(*, user: User, code: str) -> AuthenticatorApp:
    """Check the user's code before a guarded action ("Confirm it's you"). Audited either way."""
    check = _verify(user=user, code=code, purpose="step-up")
    with transaction.atomic():
        how = "the authenticator app"
        if check.recovery_code:
            how = f"a recovery code ({StaticToken.objects.filter(device__user=user).count()} recovery codes left)"
        audit.record(
            action="second_factor.step_up",
            target=check.device,
            actor=user,
            summary=f"Confirmed it's them with {how}",
        )
    return check.device


@sensitive_variables("new")
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Replace the user's recovery codes with 10 new ones (returned once, stored hashed). Audited."""
    with transaction.atomic():
        device = AuthenticatorApp.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None:
            raise SecondFactorError("Set up an authenticator app first.")
        new = _new_recovery_codes(user)
        audit.record(
            action="second_factor.recovery_codes_regenerated",
            target=device,
            actor=user,
            summary=f"Made {len(new)} new recovery codes; the old ones no longer work",
        )
    return new


@sensitive_variables("code")
def second_factor_remove(*, user: User, code: str) -> None:
    """Remove the user's second factor (app and recovery codes) after a current code. Audited."""
    check = _verify(user=user, code=code, purpose="removal")
    with transaction.atomic():
        audit.record(
            action="second_factor.removed",
            target=check.device,
            actor=user,
            summary="Removed the authenticator app and the recovery codes",
        )
        AuthenticatorApp.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
