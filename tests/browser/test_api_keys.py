"""S3 in a real browser: a consumer renews API keys from User Preferences > My API Keys, at once or
after an approver approves (or rejects, with a reason); a renewed key goes to its API's runtime
target, which may be down for a while; and the paths around it: other people's keys, unlimited
keys, rotation, revocation, asking for a key in the APIs catalog.

Every test starts from the demo data (`make run` shows the same): `consumer` holds a key for the
Payments API (renewal needs approval by `approver`, 30 days, 5 days left), the Weather API (renews
at once, 90 days, 20 days left) and the Product Catalog API (unlimited).
"""

import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect
from pytest_httpserver import HTTPServer

from approvals import services as approval_services
from approvals.demo import seed_api_keys
from approvals.models import ApprovalRequest
from credentials.keys import services as key_services
from credentials.keys.deployment import retry_due_deployments
from credentials.keys.models import Api, ApiKey, KeyDeployment
from portal.models import User
from portal.roles import Role
from tests.browser.helpers import DESKTOP, DISPLAY_NAMES, PHONE, login
from tests.factories import ApiFactory, RuntimeTargetFactory, UserFactory

PAYMENTS, WEATHER, CATALOG = "Payments API", "Weather API", "Product Catalog API"
CONSUMER_EMAIL = "consumer@acme.example"
REJECTION_REASON = "Payments keys are renewed after the quarterly security review; ask again in July."


# --- data -----------------------------------------------------------------------------------------
@pytest.fixture
def demo_keys(demo_accounts) -> dict[str, ApiKey]:
    """The demo's keys of `consumer` by API name; the emails the seeding sent are cleared."""
    seed_api_keys(demo_accounts)
    mail.outbox.clear()
    return {key.api.name: key for key in ApiKey.objects.select_related("api").filter(consumer__username="consumer")}


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gateway() -> Iterator[HTTPServer]:
    """The Weather API's gateway: a real HTTP server on a loopback port, not started, so the port
    is closed until the test calls `gateway.start()`."""
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request("/gateway/access-keys", method="POST").respond_with_json({"applied": True})
    yield server
    if server.is_running():
        server.clear()
        server.stop()


def renewal_approval(key: ApiKey) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(api_key=key, kind=ApprovalRequest.Kind.KEY_RENEWAL).latest("created_at")


def emails_to_consumer() -> list[mail.EmailMessage]:
    return [email for email in mail.outbox if CONSUMER_EMAIL in email.to]


def day(value: datetime) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d}"


def assert_about(value: datetime | None, expected: datetime) -> None:
    assert value is not None
    assert abs(value - expected) < timedelta(minutes=5), f"{value} is not about {expected}"


# --- page helpers ---------------------------------------------------------------------------------
def message(page: Page) -> Locator:
    """The message at the top of the page that says how an action went."""
    return page.get_by_role("status")


def open_my_api_keys(page: Page) -> None:
    """Profile name at the top right > User Preferences > My API Keys, as S3 step 1 says."""
    page.get_by_role("link", name=DISPLAY_NAMES["consumer"], exact=True).click()
    expect(page.get_by_role("heading", name="User Preferences", level=1)).to_be_visible()
    page.get_by_role("navigation", name="User Preferences").get_by_role("link", name="My API Keys").click()
    expect(page.get_by_role("heading", name="My API Keys")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="User Preferences").get_by_role("link", name="My API Keys")
    ).to_have_attribute("aria-current", "page")


def key_row(page: Page, api_name: str) -> Locator:
    """The row of the consumer's key for one API (the API's name stands alone in its first cell)."""
    return page.get_by_role("row").filter(has=page.get_by_text(api_name, exact=True))


def renew_button(scope: Page | Locator) -> Locator:
    # "Renew the Weather API key": the word first, then the row it renews (not "Withdraw renewal").
    return scope.get_by_role("button", name=re.compile(r"^Renew\b"))


def open_approvals(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()


def approval_row(page: Page, api_name: str) -> Locator:
    """The inbox row of the request for a key of one API."""
    return page.get_by_role("row").filter(has_text=api_name)


def post_form(page: Page, url: str) -> None:
    """Submit a plain form to `url` with the page's CSRF token: what a hand-made request does."""
    page.evaluate(
        """url => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = url;
            form.append(document.querySelector("input[name=csrfmiddlewaretoken]").cloneNode());
            document.body.append(form);
            form.submit();
        }""",
        url,
    )


# --- S3 step 1 and 2: My API Keys -----------------------------------------------------------------
def test_consumer_reaches_my_api_keys_from_the_profile_name_and_sees_every_key(page, live_server, demo_keys):
    login(page, live_server, "consumer")

    open_my_api_keys(page)

    for column in ("API", "Key", "Status", "Expires"):
        expect(page.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    payments, weather = demo_keys[PAYMENTS], demo_keys[WEATHER]
    expect(key_row(page, PAYMENTS)).to_contain_text("active")
    expect(key_row(page, PAYMENTS)).to_contain_text(day(payments.expires_at))
    expect(key_row(page, PAYMENTS)).to_contain_text("5 days left")
    expect(key_row(page, WEATHER)).to_contain_text("active")
    expect(key_row(page, WEATHER)).to_contain_text(day(weather.expires_at))
    expect(key_row(page, WEATHER)).to_contain_text("20 days left")
    expect(key_row(page, CATALOG)).to_contain_text("active")
    expect(key_row(page, CATALOG)).to_contain_text("Unlimited")
    for key in demo_keys.values():
        expect(key_row(page, key.api.name)).to_contain_text(key.prefix)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_renew_stands_to_the_right_of_each_key_except_the_unlimited_one(new_page, live_server, demo_keys, viewport):
    page = new_page(PHONE if viewport == "phone" else DESKTOP)
    login(page, live_server, "consumer")
    open_my_api_keys(page)

    for api_name in (PAYMENTS, WEATHER):
        row = key_row(page, api_name)
        expect(renew_button(row)).to_be_visible()
        key_box = row.get_by_text(demo_keys[api_name].prefix).bounding_box()
        renew_box = renew_button(row).bounding_box()
        assert key_box and renew_box
        assert renew_box["x"] + renew_box["width"] <= page.viewport_size["width"], "Renew is on the page, not off it"
        if viewport == "desktop":
            assert renew_box["x"] > key_box["x"] + key_box["width"], "Renew stands to the right of the key"
    expect(renew_button(key_row(page, CATALOG))).to_have_count(0)
    expect(page.get_by_text("Keys with an unlimited expiration period have no Renew action.")).to_be_visible()


# --- S3 step 3 and 4: renew at once -----------------------------------------------------------------
def test_weather_key_renews_at_once_and_the_consumer_gets_its_new_validity_by_email(
    page, live_server, demo_keys, snapshot
):
    weather = demo_keys[WEATHER]
    login(page, live_server, "consumer")
    open_my_api_keys(page)
    url = page.url

    renew_button(key_row(page, WEATHER)).click()

    expect(message(page)).to_contain_text("Your Weather API key is renewed until")
    weather.refresh_from_db()
    expect(message(page)).to_have_text(
        f"Your Weather API key is renewed until {day(weather.expires_at)}. We emailed you its new validity."
    )
    row = key_row(page, WEATHER)
    expect(row).to_contain_text(day(weather.expires_at))
    expect(row).to_contain_text(re.compile(r"(89|90) days left"))
    expect(renew_button(row)).to_be_visible()
    assert page.url == url, "renewed in place"
    assert_about(weather.expires_at, timezone.now() + timedelta(days=90))
    assert weather.status == ApiKey.Status.ACTIVE
    [email] = emails_to_consumer()
    assert "Weather API" in email.subject
    assert day(weather.expires_at) in email.subject
    assert f"valid until {weather.expires_at:%Y-%m-%d %H:%M} UTC" in email.body
    assert weather.prefix in email.body
    snapshot(page, "renewed")

    page.reload()
    expect(key_row(page, WEATHER)).to_contain_text(day(weather.expires_at))


def test_an_expired_key_shows_expired_and_renew_brings_it_back(page, live_server, demo_keys):
    weather = demo_keys[WEATHER]
    ApiKey.objects.filter(pk=weather.pk).update(expires_at=timezone.now() - timedelta(days=2))
    login(page, live_server, "consumer")
    open_my_api_keys(page)
    row = key_row(page, WEATHER)
    expect(row.get_by_text("expired", exact=True)).to_have_count(2)  # its status, and beside its expiry
    expect(row.get_by_role("link", name="Rotate")).to_have_count(0)

    renew_button(row).click()

    expect(message(page)).to_contain_text("Your Weather API key is renewed until")
    expect(row).to_contain_text("active")
    expect(row).not_to_contain_text("expired")
    expect(row).to_contain_text(re.compile(r"(89|90) days left"))
    expect(row.get_by_role("link", name="Rotate")).to_be_visible()


# --- S3 step 3: renewal by approval -------------------------------------------------------------------
def test_payments_renewal_waits_for_the_approver_who_approves_it_in_place(new_page, live_server, demo_keys, snapshot):
    payments = demo_keys[PAYMENTS]
    old_expiry = payments.expires_at
    consumer = new_page()
    login(consumer, live_server, "consumer")
    open_my_api_keys(consumer)

    renew_button(key_row(consumer, PAYMENTS)).click()

    expect(message(consumer)).to_have_text(
        "Your renewal of the Payments API key waits for approval by its approvers. We will email you their decision."
    )
    row = key_row(consumer, PAYMENTS)
    expect(row).to_contain_text("pending renewal")
    expect(row).to_contain_text(day(old_expiry))
    expect(row.get_by_role("button", name="Withdraw renewal")).to_be_visible()
    expect(renew_button(row)).to_have_count(0)
    payments.refresh_from_db()
    assert payments.expires_at == old_expiry, "not renewed before the approval"
    assert [email.subject for email in mail.outbox] == ["Approval needed: API key renewal for Payments API"]
    assert mail.outbox[0].to == ["approver@acme.example"]
    snapshot(consumer, "pending-renewal")

    approver = new_page()
    login(approver, live_server, "approver")
    open_approvals(approver)
    request_row = approval_row(approver, PAYMENTS)
    expect(request_row).to_contain_text("API key renewal")
    expect(request_row).to_contain_text(DISPLAY_NAMES["consumer"])
    expect(request_row).to_contain_text(payments.prefix)
    expect(request_row).to_contain_text(day(old_expiry))
    snapshot(approver, "inbox")
    url = approver.url

    request_row.get_by_role("button", name="Approve").click()

    expect(message(approver)).to_have_text(
        "API key renewal for Payments API approved: the key is renewed and the consumer is emailed."
    )
    expect(request_row).to_contain_text("Approved")
    expect(request_row.get_by_role("button", name="Approve")).to_have_count(0)
    assert approver.url == url, "decided in place"
    snapshot(approver, "approved")

    consumer.reload()
    payments.refresh_from_db()
    assert_about(payments.expires_at, timezone.now() + timedelta(days=30))
    row = key_row(consumer, PAYMENTS)
    expect(row).to_contain_text(day(payments.expires_at))
    expect(row).to_contain_text(re.compile(r"(29|30) days left"))
    expect(row).not_to_contain_text("pending renewal")
    expect(renew_button(row)).to_be_visible()
    [email] = emails_to_consumer()
    assert "Payments API" in email.subject and day(payments.expires_at) in email.subject
    assert f"valid until {payments.expires_at:%Y-%m-%d %H:%M} UTC" in email.body


def test_approver_rejects_a_second_renewal_with_a_reason_and_the_key_keeps_its_expiry(
    new_page, live_server, demo_keys, snapshot
):
    payments = demo_keys[PAYMENTS]
    consumer_user = User.objects.get(username="consumer")
    approver_user = User.objects.get(username="approver")
    # Round one, approved.
    _, first = key_services.api_key_renewal_request(api_key_id=payments.pk, consumer=consumer_user)
    approval_services.approval_decide(approval_request_id=first.pk, approver=approver_user, verdict="approve")
    payments.refresh_from_db()
    renewed_expiry = payments.expires_at
    mail.outbox.clear()

    consumer = new_page()
    login(consumer, live_server, "consumer")
    open_my_api_keys(consumer)
    renew_button(key_row(consumer, PAYMENTS)).click()
    expect(key_row(consumer, PAYMENTS)).to_contain_text("pending renewal")

    approver = new_page()
    login(approver, live_server, "approver")
    open_approvals(approver)
    request_row = approval_row(approver, PAYMENTS)
    request_row.get_by_text("Reject", exact=True).click()
    reason = request_row.get_by_label("Reason for rejection")
    expect(reason).to_be_visible()

    # No reason at all: the browser does not send it.
    request_row.get_by_role("button", name="Reject request").click()
    expect(reason).to_be_focused()
    # Only spaces: Portico refuses it and says why, beside the field.
    reason.fill("   ")
    request_row.get_by_role("button", name="Reject request").click()
    expect(message(approver)).to_have_text("Give a reason for the rejection.")
    expect(request_row.get_by_text("Give a reason for the rejection.")).to_be_visible()
    expect(request_row.get_by_role("button", name="Approve")).to_be_visible()
    assert renewal_approval(payments).status == ApprovalRequest.Status.PENDING
    snapshot(approver, "reason-refused")

    request_row.get_by_label("Reason for rejection").fill(REJECTION_REASON)
    request_row.get_by_role("button", name="Reject request").click()

    expect(message(approver)).to_have_text(
        "API key renewal for Payments API rejected: the consumer is emailed your reason."
    )
    expect(request_row).to_contain_text("Rejected")
    snapshot(approver, "rejected")

    consumer.reload()
    row = key_row(consumer, PAYMENTS)
    expect(row).not_to_contain_text("pending renewal")
    expect(row).to_contain_text(day(renewed_expiry))
    expect(renew_button(row)).to_be_visible()
    payments.refresh_from_db()
    assert payments.expires_at == renewed_expiry
    [email] = emails_to_consumer()
    assert "Payments API" in email.subject and "rejected" in email.subject
    assert f"Reason: {REJECTION_REASON}" in email.body
    assert f"stays valid until {renewed_expiry:%Y-%m-%d %H:%M} UTC" in email.body


def test_consumer_withdraws_a_renewal_that_waits_for_approval(new_page, live_server, demo_keys):
    payments = demo_keys[PAYMENTS]
    consumer = new_page()
    login(consumer, live_server, "consumer")
    open_my_api_keys(consumer)
    renew_button(key_row(consumer, PAYMENTS)).click()
    expect(key_row(consumer, PAYMENTS)).to_contain_text("pending renewal")

    key_row(consumer, PAYMENTS).get_by_role("button", name="Withdraw renewal").click()

    expect(message(consumer)).to_have_text("You withdrew the renewal of your Payments API key.")
    row = key_row(consumer, PAYMENTS)
    expect(row).not_to_contain_text("pending renewal")
    expect(row).to_contain_text(day(payments.expires_at))
    expect(renew_button(row)).to_be_visible()
    assert renewal_approval(payments).status == ApprovalRequest.Status.CANCELLED

    approver = new_page()
    login(approver, live_server, "approver")
    open_approvals(approver)
    expect(approver.get_by_text("No requests are waiting for your decision.")).to_be_visible()


def test_approver_decides_from_a_phone(phone_page, live_server, demo_keys, snapshot):
    consumer_user = User.objects.get(username="consumer")
    key_services.api_key_renewal_request(api_key_id=demo_keys[PAYMENTS].pk, consumer=consumer_user)
    login(phone_page, live_server, "approver")
    open_approvals(phone_page)
    request_row = approval_row(phone_page, PAYMENTS)
    expect(request_row).to_contain_text("API key renewal")
    expect(request_row).to_contain_text(DISPLAY_NAMES["consumer"])
    approve = request_row.get_by_role("button", name="Approve")
    expect(approve).to_be_visible()
    box = approve.bounding_box()
    assert box and box["x"] + box["width"] <= phone_page.viewport_size["width"], "Approve is on the screen"
    snapshot(phone_page, "waiting")

    approve.click()

    expect(message(phone_page)).to_have_text(
        "API key renewal for Payments API approved: the key is renewed and the consumer is emailed."
    )
    expect(request_row).to_contain_text("Approved")


# --- S3 step 4: Deploy Access Key -----------------------------------------------------------------
def test_renewed_key_waits_while_the_runtime_target_is_down_and_deploys_once_it_is_up(
    page, live_server, demo_keys, gateway, snapshot
):
    weather = demo_keys[WEATHER]
    target = RuntimeTargetFactory(
        name="Weather gateway", base_url=f"http://127.0.0.1:{gateway.port}/gateway/", health_url=""
    )
    Api.objects.filter(pk=weather.api_id).update(runtime_target=target)
    login(page, live_server, "consumer")
    open_my_api_keys(page)
    expect(key_row(page, WEATHER)).to_contain_text("Not at Weather gateway")

    renew_button(key_row(page, WEATHER)).click()

    expect(message(page)).to_contain_text("Your Weather API key is renewed until")
    expect(key_row(page, WEATHER).get_by_text("Waiting for Weather gateway", exact=True)).to_be_visible()
    expect(key_row(page, WEATHER)).to_contain_text("The gateway is unavailable; Portico retries at")
    deployment = KeyDeployment.objects.get(api_key=weather)
    assert deployment.state == KeyDeployment.State.PENDING
    assert deployment.attempts == 1 and "could not connect" in deployment.last_error
    assert len(emails_to_consumer()) == 1, "the email does not wait for the gateway"
    snapshot(page, "deployment-pending")

    gateway.start()
    with time_machine.travel(deployment.next_attempt_at + timedelta(seconds=1)):
        assert retry_due_deployments() == 1
    page.reload()

    expect(key_row(page, WEATHER).get_by_text("Live at Weather gateway", exact=True)).to_be_visible()
    [(request, _)] = gateway.log
    weather.refresh_from_db()
    sent = json.loads(request.get_data())
    assert (sent["key_id"], sent["status"], sent["expires_at"]) == (
        weather.prefix,
        "active",
        weather.expires_at.isoformat(),
    )


# --- error paths ----------------------------------------------------------------------------------
def test_another_consumers_key_cannot_be_renewed(page, live_server, demo_keys, demo_accounts):
    dana = UserFactory(username="dana", organization=demo_accounts, roles=(Role.CONSUMER,))
    dana_key, _, _ = key_services.api_key_request(api=demo_keys[WEATHER].api, consumer=dana)
    expiry = dana_key.expires_at
    login(page, live_server, "consumer")
    open_my_api_keys(page)
    expect(page.get_by_text(dana_key.prefix)).to_have_count(0)

    renew_url = reverse("credentials:api-key-renew", args=[dana_key.pk])
    with page.expect_response(f"**{renew_url}") as response:
        post_form(page, renew_url)

    assert response.value.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    dana_key.refresh_from_db()
    assert dana_key.expires_at == expiry
    assert not mail.outbox


def test_a_forged_renewal_of_the_unlimited_key_is_refused(page, live_server, demo_keys):
    catalog = demo_keys[CATALOG]
    login(page, live_server, "consumer")
    open_my_api_keys(page)

    post_form(page, reverse("credentials:api-key-renew", args=[catalog.pk]))

    expect(message(page)).to_have_text("Keys with an unlimited expiration period are not renewed.")
    expect(page.get_by_role("heading", name="My API Keys")).to_be_visible()
    expect(key_row(page, CATALOG)).to_contain_text("Unlimited")
    catalog.refresh_from_db()
    assert catalog.expires_at is None and catalog.renewed_at is None
    assert not mail.outbox


def test_rotate_shows_the_new_secret_once_with_a_copy_button(page, live_server, demo_keys, snapshot):
    weather = demo_keys[WEATHER]
    old_prefix = weather.prefix
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, live_server, "consumer")
    open_my_api_keys(page)

    key_row(page, WEATHER).get_by_role("link", name="Rotate").click()
    expect(page.get_by_role("heading", name="Rotate the Weather API key")).to_be_visible()
    page.get_by_label("1 hour").check()
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name="Rotate").click()

    expect(page.get_by_role("heading", name="Your new secret for Weather API")).to_be_visible()
    assert "no-store" in posted.value.headers["cache-control"]
    expect(page.get_by_role("alert")).to_contain_text("Copy it now.")
    secret_box = page.get_by_role("textbox", name="API key")
    secret = secret_box.input_value()
    weather.refresh_from_db()
    assert secret.startswith(weather.prefix) and weather.prefix != old_prefix
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    snapshot(page, "secret-shown")

    page.get_by_role("link", name="Done: go to My API Keys").click()
    expect(key_row(page, WEATHER)).to_contain_text(weather.prefix)
    assert secret not in page.content()
    page.goto(live_server.url + reverse("credentials:api-key-rotate", args=[weather.pk]))
    expect(page.get_by_role("heading", name="Rotate the Weather API key")).to_be_visible()
    expect(page.get_by_role("textbox", name="API key")).to_have_count(0)
    expect(page.get_by_text("Older secrets still in their grace period")).to_contain_text(old_prefix)
    assert secret not in page.content()


def test_revoke_asks_for_confirmation_and_the_row_shows_revoked(page, live_server, demo_keys):
    weather = demo_keys[WEATHER]
    login(page, live_server, "consumer")
    open_my_api_keys(page)
    questions = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    key_row(page, WEATHER).get_by_role("button", name="Revoke").click()
    expect(key_row(page, WEATHER)).to_contain_text("active")
    assert questions == [f"Revoke the Weather API key {weather.prefix}? Clients using it stop working at once."]
    weather.refresh_from_db()
    assert weather.status == ApiKey.Status.ACTIVE

    page.once("dialog", lambda dialog: dialog.accept())
    key_row(page, WEATHER).get_by_role("button", name="Revoke").click()

    expect(message(page)).to_have_text(f"Your Weather API key {weather.prefix} is revoked. It no longer works.")
    row = key_row(page, WEATHER)
    expect(row).to_contain_text("revoked")
    expect(row).not_to_contain_text("days left")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(row.get_by_role("link", name="Request a new key")).to_be_visible()
    weather.refresh_from_db()
    assert weather.status == ApiKey.Status.REVOKED


def test_request_api_key_from_the_catalog_shows_the_key_once(page, live_server, demo_keys, demo_accounts, snapshot):
    ApiFactory(name="Maps API", slug="maps", description="Geocoding and routes.", provider=demo_accounts)
    login(page, live_server, "consumer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="APIs").click()
    expect(page.get_by_role("heading", name="APIs", level=1)).to_be_visible()
    snapshot(page, "catalog")
    maps = page.get_by_role("region", name="Maps API")
    expect(page.get_by_role("region", name=WEATHER)).to_contain_text("You hold a key for this API")

    maps.get_by_role("button", name="Request API key").click()

    expect(page.get_by_role("heading", name="Your API key for Maps API")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Copy it now.")
    secret = page.get_by_role("textbox", name="API key").input_value()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    key = ApiKey.objects.get(api__slug="maps", consumer__username="consumer")
    assert secret.startswith(key.prefix)

    page.get_by_role("link", name="Done: go to My API Keys").click()
    expect(key_row(page, "Maps API")).to_contain_text("active")
    assert secret not in page.content()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="APIs").click()
    expect(page.get_by_role("region", name="Maps API")).to_contain_text("You hold a key for this API")
    expect(page.get_by_role("region", name="Maps API").get_by_role("button", name="Request API key")).to_have_count(0)


def test_a_key_for_an_api_that_needs_approval_is_shown_once_and_waits_for_the_approvers(page, live_server, demo_keys):
    consumer_user = User.objects.get(username="consumer")
    key_services.api_key_revoke(api_key_id=demo_keys[PAYMENTS].pk, revoked_by=consumer_user)
    mail.outbox.clear()
    login(page, live_server, "consumer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="APIs").click()
    payments = page.get_by_role("region", name=PAYMENTS)
    expect(payments).to_contain_text("Needs approval")

    payments.get_by_role("button", name="Request API key").click()

    expect(page.get_by_role("heading", name="Your API key for Payments API")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Copy it now.")
    expect(page.get_by_text("this key works once its approvers approve it")).to_be_visible()
    secret = page.get_by_role("textbox", name="API key").input_value()
    assert [email.to for email in mail.outbox] == [["approver@acme.example"]]

    page.get_by_role("link", name="Done: go to My API Keys").click()
    new_key = ApiKey.objects.get(api__slug="payments", status=ApiKey.Status.PENDING)
    row = page.get_by_role("row").filter(has=page.get_by_text(new_key.prefix))
    expect(row).to_contain_text("pending approval")
    expect(row).to_contain_text("on approval")
    expect(renew_button(row)).to_have_count(0)
    old_row = page.get_by_role("row").filter(has=page.get_by_text(demo_keys[PAYMENTS].prefix))
    expect(old_row).to_contain_text("revoked")
    expect(old_row.get_by_role("link", name="Request a new key")).to_have_count(0)
    assert secret not in page.content()


# --- how each key stands at its gateway -------------------------------------------------------------
def test_my_api_keys_says_live_at_the_gateway_once_it_took_the_renewed_key(page, live_server, demo_keys, gateway):
    gateway.start()
    target = RuntimeTargetFactory(
        name="Demo gateway", base_url=f"http://127.0.0.1:{gateway.port}/gateway/", health_url=""
    )
    Api.objects.filter(pk=demo_keys[WEATHER].api_id).update(runtime_target=target)
    login(page, live_server, "consumer")
    page.goto(live_server.url + reverse("credentials:my-api-keys"))
    expect(key_row(page, WEATHER)).to_contain_text("Not at Demo gateway")
    expect(key_row(page, CATALOG)).to_contain_text("Not enforced by a gateway")

    renew_button(key_row(page, WEATHER)).click()
    expect(message(page)).to_contain_text("Your Weather API key is renewed until")
    page.reload()

    deployed = KeyDeployment.objects.get(api_key=demo_keys[WEATHER], state=KeyDeployment.State.DEPLOYED)
    cell = key_row(page, WEATHER).get_by_role("cell").filter(has_text="Live at")
    expect(cell).to_contain_text("Live at Demo gateway")
    expect(cell).to_contain_text(f"since {timezone.localtime(deployed.deployed_at):%Y-%m-%d %H:%M}")
    assert len(gateway.log) == 1
