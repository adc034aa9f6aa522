"""Fixtures of the second factor tests: a frozen clock, an app's current code, enrolment as a user does it."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django_otp.oath import totp

from credentials.keys import services as key_services
from portal.models import User
from portal.second_factor.models import AuthenticatorApp
from tests.factories import ApiFactory

RECOVERY_CODE = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def app_code(device: AuthenticatorApp) -> str:
    """The code the user's authenticator app shows now (the clock is time_machine's)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def wrong_code(device: AuthenticatorApp) -> str:
    right = int(app_code(device))
    return f"{(right + 500_000) % 1_000_000:06d}"


@pytest.fixture
def clock(time_machine):
    """Frozen time; `clock.shift(timedelta(...))` moves it. An app code is used once a time step,
    so tests move 30 seconds on between two codes."""
    time_machine.move_to(START, tick=False)
    return time_machine


@dataclass
class Enrolled:
    client: Client
    user: User
    device: AuthenticatorApp
    recovery_codes: list[str]

    def code(self) -> str:
        self.device.refresh_from_db()
        return app_code(self.device)


def enrol(client: Client, user: User, clock) -> Enrolled:
    """Log on and enrol an authenticator app through User Preferences, as the user would."""
    client.force_login(user)
    assert client.post("/preferences/second-factor/start/").status_code == 302
    device = AuthenticatorApp.objects.get(user=user, confirmed=False)
    response = client.post("/preferences/second-factor/enrol/", {"code": app_code(device)})
    assert response.status_code == 200, response.content
    clock.shift(timedelta(seconds=30))  # the next code the app shows
    device.refresh_from_db()
    return Enrolled(client, user, device, RECOVERY_CODE.findall(response.content.decode()))


@pytest.fixture
def enrolled_approver(client, approver, clock) -> Enrolled:
    return enrol(client, approver, clock)


@pytest.fixture
def enrolled_hub_admin(client, hub_admin, clock) -> Enrolled:
    return enrol(client, hub_admin, clock)


@pytest.fixture
def pending_approval(consumer, approver):
    """A consumer's key request that waits for the approver's decision."""
    api = ApiFactory(name="Payments", slug="payments", renewal_requires_approval=True, approver_users=[approver])
    _key, _secret, approval = key_services.api_key_request(api=api, consumer=consumer)
    return approval
