"""Admin Center > APIs: the keys of one API, and Change expiry."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.keys.models import Api, ApiKey, KeyDeployment
from portal.models import AuditEvent
from tests.credentials.keys.helpers import HTMX, expiry_data, expiry_url, keys_url, make_keys, page_text
from tests.factories import ApiKeyFactory


# --- the keys of one API --------------------------------------------------------------------------
def test_the_keys_page_shows_each_key_with_status_expiry_use_and_deployment(client, hub_admin, api, key, outsider):
    soon = make_keys(api, 1, start=1, days=12)[0]
    unlimited = ApiKeyFactory(consumer=outsider, api=api, prefix="prt_key_UNLIMITD", expires_at=None)
    unlimited.last_used_at = timezone.now()
    unlimited.deployment_state = ApiKey.Deployment.DEPLOYED
    unlimited.save()
    client.force_login(hub_admin)
    page = page_text(client.get(keys_url(api)))
    assert key.consumer.get_full_name() in page and "prt_key_AbCd1234" in page
    assert "Active" in page
    assert "40 days left" in page
    assert 'badge--warn">12 days left' in page  # fewer than 30 days: highlighted
    assert soon.prefix in page
    assert "Unlimited" in page and "Deployed" in page
    assert "Never" in page  # last used
    assert "Change expiry" in page
    assert "No runtime target" in page


def test_the_keys_page_shows_the_computed_status(client, hub_admin, api, key):
    key.expires_at = timezone.now() - timedelta(hours=1)  # still stored active: the sweep has not run
    key.save()
    client.force_login(hub_admin)
    assert 'badge--bad">Expired' in page_text(client.get(keys_url(api)))


def test_the_keys_page_costs_the_same_queries_at_5_and_50_keys(client, hub_admin, api, target):
    api.runtime_target = target
    api.save()
    client.force_login(hub_admin)
    make_keys(api, 5)
    with CaptureQueriesContext(connection) as at_5:
        assert client.get(keys_url(api)).status_code == 200
    make_keys(api, 45, start=5)
    with CaptureQueriesContext(connection) as at_50:
        assert client.get(keys_url(api)).status_code == 200
    assert len(at_50) == len(at_5)


def test_the_keys_page_is_paginated_and_searchable(client, hub_admin, api):
    make_keys(api, 30)
    client.force_login(hub_admin)
    page = page_text(client.get(keys_url(api)))
    assert "Page 1 of 2" in page and "30 keys" in page
    response = client.get(keys_url(api) + "?q=holder-007", headers=HTMX)
    fragment = page_text(response)
    assert "<html" not in fragment
    assert "holder-007" in fragment and "holder-008" not in fragment
    assert "HX-Request" in response["Vary"]


def test_a_key_of_another_api_is_404_under_this_api(client, hub_admin, api, key, organization):
    other = Api.objects.create(name="Weather", slug="weather", provider=organization)
    client.force_login(hub_admin)
    assert client.get(f"/admin-center/apis/{other.pk}/keys/{key.pk}/expiry/").status_code == 404
    assert client.post(f"/admin-center/apis/{other.pk}/keys/{key.pk}/expiry/", {}).status_code == 404


# --- Change expiry --------------------------------------------------------------------------------


def in_days(days: int) -> str:
    return f"{timezone.now() + timedelta(days=days):%Y-%m-%dT%H:%M}"


def test_change_expiry_with_htmx_answers_with_the_updated_row_and_emails_the_consumer(
    client, hub_admin, key, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    new_expiry = in_days(200)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=new_expiry), headers=HTMX)
    assert response.status_code == 200
    fragment = page_text(response)
    assert "<html" not in fragment
    assert fragment.lstrip().startswith(f'<tbody id="key-{key.pk}"')
    assert "editor-row" not in fragment  # saved: the editor closes
    assert "199 days left" in fragment or "200 days left" in fragment
    assert 'hx-swap-oob="true"' in fragment and "The consumer is told by email." in fragment
    assert response["HX-Trigger"] == "apiKeyExpiryChanged"
    assert "HX-Request" in response["Vary"]
    key.refresh_from_db()
    assert f"{key.expires_at:%Y-%m-%dT%H:%M}" == new_expiry
    event = AuditEvent.objects.get(action="api_key.set_expiry")
    assert event.actor == hub_admin and key.prefix in event.summary
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [key.consumer.email]
    assert key.prefix in mail.body
    assert f"{key.expires_at:%Y-%m-%d %H:%M}" in mail.body


def test_change_expiry_without_htmx_redirects_to_the_keys_page(
    client, hub_admin, key, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=in_days(10)))
    assert response.status_code == 302
    assert response["Location"] == f"{keys_url(key.api)}#key-{key.pk}"
    key.refresh_from_db()
    assert key.days_left() in (9, 10)
    assert len(mailoutbox) == 1
    page = page_text(client.get(response["Location"]))
    assert f"Key {key.prefix} of {key.consumer.get_full_name()} now expires on" in page


def test_making_a_key_unlimited_tells_the_consumer_it_never_expires(
    client, hub_admin, key, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=in_days(5), unlimited=True), headers=HTMX)
    assert "Unlimited" in page_text(response)
    key.refresh_from_db()
    assert key.expires_at is None
    assert "from " in AuditEvent.objects.get(action="api_key.set_expiry").summary
    assert "to unlimited" in AuditEvent.objects.get(action="api_key.set_expiry").summary
    assert "never expires" in mailoutbox[0].body


def test_an_expired_key_given_a_future_expiry_is_active_again(client, hub_admin, key):
    key.status = ApiKey.Status.EXPIRED
    key.expires_at = timezone.now() - timedelta(days=2)
    key.save()
    client.force_login(hub_admin)
    client.post(expiry_url(key), expiry_data(key, when=in_days(30)), headers=HTMX)
    key.refresh_from_db()
    assert key.status == ApiKey.Status.ACTIVE


def test_changing_the_expiry_deploys_the_key_to_the_runtime_target(
    client, hub_admin, key, target, django_capture_on_commit_callbacks
):
    key.api.runtime_target = target
    key.api.save()
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks():
        client.post(expiry_url(key), expiry_data(key, when=in_days(30)), headers=HTMX)
    deployment = KeyDeployment.objects.get(api_key=key)
    assert deployment.reason == "changed" and deployment.target == target
    assert deployment.payload["expires_at"] is not None


INVALID_EXPIRIES = [
    pytest.param("", "Choose the new expiry date and time, or tick Unlimited.", id="empty"),
    pytest.param("yesterday", "Enter a date and time", id="not-a-date"),
    pytest.param("2001-01-01T10:00", "The new expiry must be in the future.", id="past"),
    pytest.param("2999-01-01T10:00", "at most 10 years ahead", id="too-far"),
]


@pytest.mark.parametrize(("when", "message"), INVALID_EXPIRIES)
def test_an_invalid_expiry_with_htmx_reopens_the_row_with_the_error_and_changes_nothing(
    client, hub_admin, key, mailoutbox, when, message, django_capture_on_commit_callbacks
):
    before = key.expires_at
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=when), headers=HTMX)
    assert response.status_code == 200
    fragment = page_text(response)
    assert "<html" not in fragment
    assert message in fragment
    assert 'class="editor-row"' in fragment  # the editor stays open beside the error
    key.refresh_from_db()
    assert key.expires_at == before
    assert not AuditEvent.objects.filter(action="api_key.set_expiry").exists()
    assert mailoutbox == []


@pytest.mark.parametrize(("when", "message"), INVALID_EXPIRIES)
def test_an_invalid_expiry_without_htmx_shows_the_form_page_with_the_error(client, hub_admin, key, when, message):
    before = key.expires_at
    client.force_login(hub_admin)
    response = client.post(expiry_url(key), expiry_data(key, when=when))
    assert response.status_code == 200
    page = page_text(response)
    assert "<html" in page and "Change expiry" in page
    assert message in page
    key.refresh_from_db()
    assert key.expires_at == before


def test_a_revoked_keys_expiry_cannot_be_changed(client, hub_admin, key):
    key.status = ApiKey.Status.REVOKED
    key.save()
    client.force_login(hub_admin)
    assert "Change expiry" not in page_text(client.get(keys_url(key.api))).split("</thead>")[1]
    response = client.post(expiry_url(key), expiry_data(key, when=in_days(30)))
    assert response.status_code == 200
    assert "This key is revoked." in page_text(response)
    key.refresh_from_db()
    assert key.expires_at is not None and key.status == ApiKey.Status.REVOKED
    assert not AuditEvent.objects.filter(action="api_key.set_expiry").exists()


def test_the_change_expiry_page_works_without_javascript(client, hub_admin, key):
    client.force_login(hub_admin)
    page = page_text(client.get(expiry_url(key)))
    assert "<html" in page
    assert f'action="{expiry_url(key)}"' in page
    assert f'name="key-{key.pk}-expires_at"' in page
    assert "Unlimited (never expires)" in page
