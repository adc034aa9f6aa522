"""The second factor in a real browser: a hub admin enrols an authenticator app in User Preferences,
confirms it's them when deciding a connection request long after the last check, and uses a
recovery code once.

The test plays the authenticator app: it reads the key the enrolment page shows for entry by hand
and computes the code from it (RFC 6238), as a user's app would. The clock is time_machine's and
ticks; the live server runs in this process, so it moves with it. A code is used once a 30-second
step: the tests shift the clock to reach the next code or a stale check, never sleep.
"""

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django_otp.oath import totp
from playwright.sync_api import Locator, Page, expect

from approvals.demo import seed_connection_requests
from credentials.connections.models import ConnectionRequest
from tests.browser.helpers import login

SECTION = "Second factor"
KEY_GROUPS = re.compile(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})*")
RECOVERY_CODE = re.compile(r"[a-z2-9]{5}-[a-z2-9]{5}")
WRONG = "That code is not right. Enter the current code of your authenticator app."
CONFIRMED = "Confirmed. For the next 15 minutes you will not be asked again."
STALE = timedelta(minutes=16)  # past PORTICO_STEP_UP_MINUTES (15)


# --- the authenticator app ------------------------------------------------------------------------
def app_code(key: str) -> str:
    """The code an authenticator app set up with `key` (as the page shows it) shows now."""
    return f"{totp(base64.b32decode(key.replace(' ', '')), step=30, digits=6):06d}"


def wrong_code(key: str) -> str:
    return f"{(int(app_code(key)) + 500_000) % 1_000_000:06d}"


@dataclass
class Enrolled:
    key: str  # as the enrolment page shows it, in groups of four
    recovery_codes: list[str]


# --- what the user does ---------------------------------------------------------------------------
def second_factor_section(page: Page) -> Locator:
    return page.get_by_role("region", name=SECTION)


def code_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Code", exact=True)


def message(page: Page) -> Locator:
    return page.get_by_role("status")


def start_enrolment(page: Page) -> str:
    """From User Preferences to the enrolment page; returns the key shown for entry by hand."""
    page.goto(reverse("user-preferences"))
    second_factor_section(page).get_by_role("button", name="Set up a second factor").click()
    expect(page.get_by_role("heading", name="Set up a second factor", level=1)).to_be_visible()
    return page.locator("#manual-key").inner_text()


def enter_code(page: Page, code: str, button: str) -> None:
    code_box(page).fill(code)
    page.get_by_role("button", name=button).click()


def enrol(page: Page) -> Enrolled:
    """Enrol with the current code; stays on the page that shows the recovery codes."""
    key = start_enrolment(page)
    enter_code(page, app_code(key), "Confirm and finish")
    expect(page.get_by_role("heading", name="Your second factor is set up", level=1)).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem").all_inner_texts()
    return Enrolled(key=key, recovery_codes=codes)


def pending_row(page: Page, alias: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_text(alias, exact=True))


def approve(page: Page, alias: str) -> None:
    page.goto(reverse("approvals:connections-pending"))
    pending_row(page, alias).get_by_role("button", name=f"Approve the connection request of {alias}").click()


def expect_code_refused(page: Page) -> None:
    """The error stands beside the field, which is marked invalid and described by it."""
    expect(page.locator(".field-error")).to_have_text(WRONG)
    expect(code_box(page)).to_have_attribute("aria-invalid", "true")
    expect(code_box(page)).to_have_accessible_description(WRONG)


# --- data and clock -------------------------------------------------------------------------------
@pytest.fixture
def clock(time_machine):
    """A ticking clock from now, for the live server too (same process); `clock.shift()` moves it."""
    time_machine.move_to(datetime.now(UTC), tick=True)
    return time_machine


@pytest.fixture
def acme_dev(demo_accounts) -> ConnectionRequest:
    """The demo's connection request for acme-dev, waiting for a hub admin's decision."""
    seed_connection_requests(demo_accounts)
    return ConnectionRequest.objects.get(tenant__alias="acme-dev")


# --- enrolment ------------------------------------------------------------------------------------
def test_a_hub_admin_enrols_an_authenticator_app_from_user_preferences(page, live_server, demo_accounts, snapshot):
    login(page, live_server, "hub-admin")
    page.goto(reverse("user-preferences"))
    expect(second_factor_section(page)).to_contain_text("Protect your hub admin and approver actions")
    snapshot(page, "preferences-not-enrolled")

    key = start_enrolment(page)
    expect(page.get_by_role("img", name="QR code of your Portico authenticator key")).to_be_visible()
    assert KEY_GROUPS.fullmatch(key), key
    assert len(key.replace(" ", "")) == 32, "a 160-bit key, as authenticator apps expect"

    enter_code(page, wrong_code(key), "Confirm and finish")
    expect_code_refused(page)
    expect(page.locator("#manual-key")).to_have_text(key)  # the same key: the app set up stays valid
    snapshot(page, "enrol-refused")

    enter_code(page, app_code(key), "Confirm and finish")
    expect(page.get_by_role("heading", name="Your second factor is set up", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("This is the only time Portico shows them")
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes), codes
    snapshot(page, "recovery-codes")

    page.get_by_role("link", name="Done: I have stored them").click()
    section = second_factor_section(page)
    expect(section).to_contain_text("Authenticator app enrolled since")
    expect(section).to_contain_text("10 of 10 left")
    expect(section.get_by_role("button", name="Set up a second factor")).to_have_count(0)

    # Shown once: the enrolment page now leads back to User Preferences, without key or codes.
    page.goto(reverse("second_factor:enrol"))
    expect(page.get_by_role("heading", name="User Preferences", level=1)).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes")).to_have_count(0)
    for code in codes:
        expect(page.get_by_text(code)).to_have_count(0)


def test_a_user_without_a_second_factor_role_sees_no_second_factor_section(page, live_server, demo_accounts):
    login(page, live_server, "consumer")
    page.goto(reverse("user-preferences"))
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(second_factor_section(page)).to_have_count(0)


# --- step-up --------------------------------------------------------------------------------------
def test_a_decision_soon_after_the_last_check_asks_for_no_code(page, live_server, acme_dev, clock):
    login(page, live_server, "hub-admin")
    enrol(page)
    clock.shift(timedelta(minutes=14))

    approve(page, "acme-dev")

    expect(message(page)).to_have_text("The connection request of acme-dev is approved.")
    assert page.url.endswith(reverse("approvals:connections-pending"))


def test_a_stale_check_sends_the_hub_admin_to_confirm_before_the_decision(page, live_server, acme_dev, clock, snapshot):
    login(page, live_server, "hub-admin")
    enrolled = enrol(page)
    clock.shift(STALE)

    approve(page, "acme-dev")

    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()
    assert page.url.endswith("/confirm-its-you/?next=%2Fadmin-center%2Fconnections%2Fpending%2F"), page.url
    expect(code_box(page)).to_be_focused()
    snapshot(page, "confirm")
    acme_dev.refresh_from_db()
    assert acme_dev.status == ConnectionRequest.Status.SUBMITTED and acme_dev.decided_by is None

    enter_code(page, wrong_code(enrolled.key), "Confirm")
    expect_code_refused(page)
    snapshot(page, "confirm-refused")
    acme_dev.refresh_from_db()
    assert acme_dev.status == ConnectionRequest.Status.SUBMITTED

    enter_code(page, app_code(enrolled.key), "Confirm")
    expect(page.get_by_role("heading", name="API Management Connections", level=1)).to_be_visible()
    expect(message(page)).to_have_text(CONFIRMED)
    snapshot(page, "back-to-pending")
    acme_dev.refresh_from_db()
    assert acme_dev.status == ConnectionRequest.Status.SUBMITTED, "confirming decides nothing by itself"

    pending_row(page, "acme-dev").get_by_role("button", name="Approve").click()
    expect(message(page)).to_have_text("The connection request of acme-dev is approved.")
    expect(pending_row(page, "acme-dev")).to_contain_text("Approved")
    acme_dev.refresh_from_db()
    assert acme_dev.status == ConnectionRequest.Status.APPROVED
    assert acme_dev.decided_by.username == "hub-admin"


def test_cancel_on_the_confirm_page_goes_back_without_deciding(page, live_server, acme_dev, clock):
    login(page, live_server, "hub-admin")
    enrol(page)
    clock.shift(STALE)
    approve(page, "acme-dev")
    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()

    page.get_by_role("link", name="Cancel").click()

    expect(page.get_by_role("heading", name="API Management Connections", level=1)).to_be_visible()
    expect(pending_row(page, "acme-dev").get_by_role("button", name="Approve")).to_be_visible()
    acme_dev.refresh_from_db()
    assert acme_dev.status == ConnectionRequest.Status.SUBMITTED


# --- recovery codes -------------------------------------------------------------------------------
def test_a_recovery_code_confirms_once(page, live_server, acme_dev, clock, snapshot):
    login(page, live_server, "hub-admin")
    first, second, *_ = enrol(page).recovery_codes
    clock.shift(STALE)

    approve(page, "acme-dev")
    enter_code(page, first, "Confirm")
    expect(message(page)).to_have_text(CONFIRMED)
    pending_row(page, "acme-dev").get_by_role("button", name="Approve").click()
    expect(message(page)).to_have_text("The connection request of acme-dev is approved.")
    page.goto(reverse("user-preferences"))
    expect(second_factor_section(page)).to_contain_text("9 of 10 left")

    # Later, a plain form (no htmx) guarded the same way: a page says nothing was changed.
    clock.shift(STALE)
    second_factor_section(page).get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()
    expect(page.get_by_text("nothing was changed yet")).to_be_visible()
    snapshot(page, "step-up-required")
    page.get_by_role("link", name="Confirm it's you").click()

    enter_code(page, first, "Confirm")
    expect_code_refused(page)
    enter_code(page, second, "Confirm")
    expect(page.get_by_role("heading", name="User Preferences", level=1)).to_be_visible()
    expect(message(page)).to_have_text(CONFIRMED)
    expect(second_factor_section(page)).to_contain_text("8 of 10 left")
