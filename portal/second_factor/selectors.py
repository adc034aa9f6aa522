"""Reads of the second factor: who needs one, the user's devices, what User Preferences shows."""

from dataclasses import dataclass

from django_otp.plugins.otp_static.models import StaticDevice

from portal import roles
from portal.models import User
from portal.second_factor.models import AuthenticatorApp

# The roles whose actions the step-up guards: hub admins and approvers (by permission, as pages check).
SECOND_FACTOR_PERMS = (*roles.HUB_ADMIN_PERMS, *roles.APPROVER_PERMS)


def second_factor_applies(*, user: User) -> bool:
    """Hub admins and approvers enrol a second factor; other roles are never asked for one."""
    return user.is_active and any(user.has_perm(perm) for perm in SECOND_FACTOR_PERMS)


def totp_device(*, user: User) -> AuthenticatorApp | None:
    """The user's confirmed authenticator app, if enrolled."""
    return AuthenticatorApp.objects.filter(user=user, confirmed=True).first()


def pending_totp_device(*, user: User) -> AuthenticatorApp | None:
    """The authenticator app the user started to enrol and has not confirmed with a code yet."""
    return AuthenticatorApp.objects.filter(user=user, confirmed=False).order_by("-id").first()


def recovery_codes_left(*, user: User) -> int:
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return device.token_set.count() if device is not None else 0


@dataclass(frozen=True)
class SecondFactorStatus:
    """What the "Second factor" section of User Preferences shows."""

    device: AuthenticatorApp | None
    pending: bool
    recovery_codes_left: int


def second_factor_status(*, user: User) -> SecondFactorStatus | None:
    """None for users the second factor does not apply to (the section is not shown)."""
    if not second_factor_applies(user=user):
        return None
    device = totp_device(user=user)
    return SecondFactorStatus(
        device=device,
        pending=device is None and pending_totp_device(user=user) is not None,
        recovery_codes_left=recovery_codes_left(user=user) if device is not None else 0,
    )
