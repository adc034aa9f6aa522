"""S3: API keys, My API Keys, renewal at once or through approvals, rotation and revocation."""

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from approvals import services
from approvals.models import ApprovalRequest, Decision
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey, KeySecret
from credentials.lib import crypto
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import ApiFactory, UserFactory

MY_KEYS = "/preferences/api-keys/"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def instant_api(db):
    return ApiFactory(name="Weather", slug="weather", key_lifetime_days=90)


@pytest.fixture
def approval_api(approver):
    return ApiFactory(
        name="Payments",
        slug="payments",
        key_lifetime_days=30,
        renewal_requires_approval=True,
        approver_users=[approver],
    )


@pytest.fixture
def unlimited_api(db):
    return ApiFactory(name="Catalog", slug="catalog", key_lifetime_days=None)


def issue(api, consumer):
    key, secret, _ = key_services.api_key_request(api=api, consumer=consumer)
    return key, secret


# --- requesting a key -------------------------------------------------------------------------------
def test_requesting_a_key_shows_it_once_and_stores_only_its_hash(client, consumer, instant_api):
    client.force_login(consumer)
    response = client.post("/apis/weather/keys/")
    page = text(response)
    key = ApiKey.objects.get(consumer=consumer)
    secret_row = KeySecret.objects.get(api_key=key)
    shown = page.split('id="new-secret" value="')[1].split('"')[0]
    assert shown.startswith(key.prefix + "_")
    assert crypto.secret_prefix(shown, "key") == key.prefix
    assert secret_row.digest == crypto.hash_secret(shown)
    assert shown not in secret_row.digest
    assert "no-store" in response["Cache-Control"]
    assert "only time" in page
    assert key.status == ApiKey.Status.ACTIVE
    assert 89 <= key.days_left() <= 90
    assert shown not in " ".join(AuditEvent.objects.values_list("summary", flat=True))
    # A second visit of My API Keys never shows it again.
    assert shown not in text(client.get(MY_KEYS))


def test_a_second_key_for_the_same_api_is_refused(client, consumer, instant_api):
    issue(instant_api, consumer)
    client.force_login(consumer)
    response = client.post("/apis/weather/keys/", follow=True)
    assert "You already have a key for Weather" in text(response)
    assert ApiKey.objects.filter(consumer=consumer).count() == 1


def test_a_new_key_for_an_api_that_needs_approval_waits_for_it(
    consumer, approver, approval_api, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        key, _secret, approval = key_services.api_key_request(api=approval_api, consumer=consumer)
    assert key.status == ApiKey.Status.PENDING
    assert approval.kind == ApprovalRequest.Kind.KEY_REQUEST
    assert mailoutbox[0].to == [approver.email]
    with django_capture_on_commit_callbacks(execute=True):
        services.approval_decide(approval_request_id=approval.pk, approver=approver, verdict="approve")
    key.refresh_from_db()
    assert key.status == ApiKey.Status.ACTIVE
    assert 29 <= key.days_left() <= 30


def test_revoking_and_requesting_again_does_not_skip_the_approval(consumer, approver, approval_api):
    key, _secret, approval = key_services.api_key_request(api=approval_api, consumer=consumer)
    services.approval_decide(approval_request_id=approval.pk, approver=approver, verdict="approve")
    key_services.api_key_revoke(api_key_id=key.pk, revoked_by=consumer)
    again, _secret, approval = key_services.api_key_request(api=approval_api, consumer=consumer)
    assert again.status == ApiKey.Status.PENDING
    assert approval is not None and approval.status == ApprovalRequest.Status.PENDING


# --- My API Keys --------------------------------------------------------------------------------------
def test_my_api_keys_lists_only_my_keys_with_status_expiry_and_renew(
    client, consumer, outsider, instant_api, unlimited_api
):
    mine, _ = issue(instant_api, consumer)
    unlimited, _ = issue(unlimited_api, consumer)
    theirs, _ = issue(instant_api, outsider)
    client.force_login(consumer)
    page = text(client.get(MY_KEYS))
    assert "My API Keys" in page
    assert mine.prefix in page and unlimited.prefix in page
    assert theirs.prefix not in page
    row = page.split(f'id="key-{mine.pk}"')[1].split("</tr>")[0]
    assert "Renew" in row and "days left" in row and "active" in row
    unlimited_row = page.split(f'id="key-{unlimited.pk}"')[1].split("</tr>")[0]
    assert "Unlimited" in unlimited_row
    assert "Renew" not in unlimited_row


def test_another_consumers_key_answers_404_whatever_the_url(client, consumer, outsider, instant_api):
    theirs, _ = issue(instant_api, outsider)
    before = theirs.expires_at
    client.force_login(consumer)
    for url in (
        f"/preferences/api-keys/{theirs.pk}/renew/",
        f"/preferences/api-keys/{theirs.pk}/revoke/",
        f"/preferences/api-keys/{theirs.pk}/withdraw-renewal/",
        f"/preferences/api-keys/{theirs.pk}/rotate/",
    ):
        assert client.post(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == ApiKey.Status.ACTIVE and theirs.expires_at == before


@pytest.mark.parametrize("role", ["tenant_admin", "hub_admin", "org_admin", "approver"])
def test_my_api_keys_is_for_consumers(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(MY_KEYS).status_code == 403


# --- renewal without approval --------------------------------------------------------------------------
def test_renew_without_approval_renews_at_once_and_emails_the_new_validity(
    client, consumer, instant_api, mailoutbox, django_capture_on_commit_callbacks
):
    key, secret = issue(instant_api, consumer)
    with time_machine.travel(timezone.now() + timedelta(days=80), tick=False):
        client.force_login(consumer)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/preferences/api-keys/{key.pk}/renew/", headers={"HX-Request": "true"})
        page = text(response)
        key.refresh_from_db()
        assert key.expires_at == timezone.now() + timedelta(days=90)
    assert f'id="key-{key.pk}"' in page and "is renewed until" in page
    assert "<html" not in page
    assert AuditEvent.objects.filter(action="api_key.renew").count() == 1
    mail = mailoutbox[-1]
    assert mail.to == [consumer.email]
    assert f"{key.expires_at:%Y-%m-%d}" in mail.body
    assert secret.value not in mail.body


def test_renew_without_htmx_redirects_to_my_api_keys(client, consumer, instant_api):
    key, _ = issue(instant_api, consumer)
    client.force_login(consumer)
    response = client.post(f"/preferences/api-keys/{key.pk}/renew/")
    assert response.status_code == 302 and response["Location"] == MY_KEYS


def test_a_forged_renew_of_an_unlimited_key_is_refused(client, consumer, unlimited_api):
    key, _ = issue(unlimited_api, consumer)
    client.force_login(consumer)
    response = client.post(f"/preferences/api-keys/{key.pk}/renew/", follow=True)
    assert "unlimited expiration period are not renewed" in text(response)
    key.refresh_from_db()
    assert key.expires_at is None and key.renewed_at is None
    assert not AuditEvent.objects.filter(action="api_key.renew").exists()


def test_renew_refuses_get(client, consumer, instant_api):
    key, _ = issue(instant_api, consumer)
    client.force_login(consumer)
    assert client.get(f"/preferences/api-keys/{key.pk}/renew/").status_code == 405


# --- renewal with approval -----------------------------------------------------------------------------
@pytest.fixture
def approved_key(consumer, approver, approval_api):
    key, _secret, approval = key_services.api_key_request(api=approval_api, consumer=consumer)
    services.approval_decide(approval_request_id=approval.pk, approver=approver, verdict="approve")
    key.refresh_from_db()
    return key


def test_renew_with_approval_waits_and_the_approver_is_emailed(
    client, consumer, approver, approved_key, mailoutbox, django_capture_on_commit_callbacks
):
    before = approved_key.expires_at
    client.force_login(consumer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/preferences/api-keys/{approved_key.pk}/renew/", headers={"HX-Request": "true"})
    page = text(response)
    assert "waits for approval" in page
    assert "pending renewal" in page
    assert "Withdraw renewal" in page
    approved_key.refresh_from_db()
    assert approved_key.expires_at == before
    assert approved_key.display_status() == "pending renewal"
    assert mailoutbox[-1].to == [approver.email]
    assert "Approvals" in mailoutbox[-1].body


def test_the_approver_approves_in_place_and_the_key_is_renewed(
    client, consumer, approver, approved_key, mailoutbox, django_capture_on_commit_callbacks
):
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    client.force_login(approver)
    inbox = text(client.get("/approvals/"))
    assert "API key renewal" in inbox and approved_key.prefix in inbox
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/approvals/{approval.pk}/decide/",
                {"reviewed": approval.api_key.review_version, "verdict": "approve"},
                headers={"HX-Request": "true"},
            )
        approved_key.refresh_from_db()
        assert approved_key.expires_at == timezone.now() + timedelta(days=30)
    assert "Approved" in text(response)
    assert approved_key.renewal_pending_since is None
    assert "renewed" in mailoutbox[-1].subject


def test_the_approver_rejects_with_a_reason_and_the_consumer_gets_it(
    client, consumer, approver, approved_key, mailoutbox, django_capture_on_commit_callbacks
):
    before = approved_key.expires_at
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    client.force_login(approver)
    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"reviewed": approval.api_key.review_version, "verdict": "reject", "reason": ""},
        headers={"HX-Request": "true"},
    )
    assert "Give a reason for the rejection." in text(response)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/approvals/{approval.pk}/decide/",
            {"reviewed": approval.api_key.review_version, "verdict": "reject", "reason": "Usage too high"},
            headers={"HX-Request": "true"},
        )
    approved_key.refresh_from_db()
    assert approved_key.expires_at == before
    assert approved_key.renewal_pending_since is None
    assert "Usage too high" in mailoutbox[-1].body
    assert "rejected" in mailoutbox[-1].subject


def test_nobody_approves_their_own_request(consumer, approved_key, approval_api):
    approval_api.approvers.add(consumer)
    consumer.groups.add(*consumer.groups.model.objects.filter(name=Role.APPROVER))
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    approval.approvers.add(consumer)  # even when named on the request itself
    before = approved_key.expires_at

    with pytest.raises(services.ApprovalError, match="You cannot decide on your own request"):
        services.approval_decide(approval_request_id=approval.pk, approver=consumer, verdict="approve")

    approved_key.refresh_from_db()
    assert approved_key.expires_at == before and approved_key.renewal_pending_since is not None
    assert not Decision.objects.filter(approval_request=approval).exists()


def test_an_approver_does_not_see_their_own_request_in_the_inbox_and_cannot_post_it(
    client, consumer, approved_key, approval_api
):
    approval_api.approvers.add(consumer)
    consumer.groups.add(*consumer.groups.model.objects.filter(name=Role.APPROVER))
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    approval.approvers.add(consumer)
    client.force_login(consumer)

    assert approved_key.prefix not in text(client.get("/approvals/"))
    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"reviewed": approved_key.review_version, "verdict": "approve"},
        headers={"HX-Request": "true"},
    )
    assert "You cannot decide on your own request" in text(response)
    assert not Decision.objects.filter(approval_request=approval).exists()


def test_someone_who_is_not_an_approver_of_the_api_cannot_decide(client, consumer, approved_key, organization):
    other_approver = UserFactory(organization=organization, roles=(Role.APPROVER,))
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    client.force_login(other_approver)
    assert approved_key.prefix not in text(client.get("/approvals/"))
    assert (
        client.post(
            f"/approvals/{approval.pk}/decide/", {"reviewed": approval.api_key.review_version, "verdict": "approve"}
        ).status_code
        == 404
    )
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING


def test_in_all_mode_the_key_is_renewed_when_the_last_approver_approves(
    consumer, approver, approved_key, approval_api, organization
):
    second = UserFactory(organization=organization, roles=(Role.APPROVER,))
    approval_api.approvers.add(second)
    approval_api.approval_mode = "all"
    approval_api.save()
    before = approved_key.expires_at
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    services.approval_decide(approval_request_id=approval.pk, approver=approver, verdict="approve")
    approved_key.refresh_from_db()
    assert approved_key.expires_at == before
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING
    services.approval_decide(approval_request_id=approval.pk, approver=second, verdict="approve")
    approved_key.refresh_from_db()
    assert approved_key.expires_at > before
    assert AuditEvent.objects.filter(action="api_key.renew").count() == 1


def test_in_all_mode_one_rejection_ends_the_request(consumer, approver, approved_key, approval_api, organization):
    second = UserFactory(organization=organization, roles=(Role.APPROVER,))
    approval_api.approvers.add(second)
    approval_api.approval_mode = "all"
    approval_api.save()
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    services.approval_decide(approval_request_id=approval.pk, approver=second, verdict="reject", comment="No")
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.REJECTED
    with pytest.raises(services.AlreadyDecided):
        services.approval_decide(approval_request_id=approval.pk, approver=approver, verdict="approve")


def test_a_double_click_opens_one_renewal(consumer, approved_key):
    _key, first = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    _key, second = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    assert first.pk == second.pk
    assert ApprovalRequest.objects.filter(api_key=approved_key, status="pending").count() == 1


def test_the_consumer_withdraws_a_pending_renewal(client, consumer, approved_key):
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    client.force_login(consumer)
    response = client.post(f"/preferences/api-keys/{approved_key.pk}/withdraw-renewal/", headers={"HX-Request": "true"})
    assert "You withdrew the renewal" in text(response)
    approval.refresh_from_db()
    approved_key.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.CANCELLED
    assert approved_key.renewal_pending_since is None
    assert Decision.objects.count() == 1  # only the approval of the key itself


# --- revoke and rotate ------------------------------------------------------------------------------------
def test_the_consumer_revokes_their_key(client, consumer, instant_api):
    key, _ = issue(instant_api, consumer)
    client.force_login(consumer)
    response = client.post(f"/preferences/api-keys/{key.pk}/revoke/", headers={"HX-Request": "true"})
    assert "is revoked" in text(response)
    key.refresh_from_db()
    assert key.status == ApiKey.Status.REVOKED
    assert AuditEvent.objects.filter(action="api_key.revoke", target_id=str(key.pk)).count() == 1


def test_rotation_shows_a_new_secret_once_and_keeps_the_old_one_for_the_grace(client, consumer, instant_api):
    key, old = issue(instant_api, consumer)
    client.force_login(consumer)
    assert "Keep the old secret working for" in text(client.get(f"/preferences/api-keys/{key.pk}/rotate/"))
    response = client.post(f"/preferences/api-keys/{key.pk}/rotate/", {"grace": "86400"})
    page = text(response)
    new_value = page.split('id="new-secret" value="')[1].split('"')[0]
    assert new_value != old.value
    assert "no-store" in response["Cache-Control"]
    key.refresh_from_db()
    assert key.prefix == crypto.secret_prefix(new_value, "key")
    old_secret = KeySecret.objects.get(prefix=old.prefix)
    assert old_secret.valid_until is not None
    assert timedelta(hours=23) < old_secret.valid_until - timezone.now() <= timedelta(days=1)


def test_rotation_refuses_a_grace_over_7_days(client, consumer, instant_api):
    key, _ = issue(instant_api, consumer)
    client.force_login(consumer)
    response = client.post(f"/preferences/api-keys/{key.pk}/rotate/", {"grace": str(8 * 86400)})
    assert "Select a valid choice" in text(response)
    assert KeySecret.objects.filter(api_key=key).count() == 1


def test_a_target_is_told_active_not_pending_renewal_while_a_renewal_waits(consumer, approved_key):
    from credentials.keys.services import _key_payload

    key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    approved_key.refresh_from_db()
    payload = _key_payload(approved_key, "d-1")
    assert payload["status"] == "active"
    assert [s["prefix"] for s in payload["secrets"]] == [approved_key.prefix]
    assert all(len(s["hash"]) == 64 for s in payload["secrets"])


def test_a_renewal_is_refused_when_every_approver_of_the_api_was_deactivated(consumer, approver, approval_api):
    key, _secret = issue(approval_api, consumer)
    services.approval_decide(approval_request_id=key.approval_requests.get().pk, approver=approver, verdict="approve")
    approver.is_active = False
    approver.save(update_fields=["is_active"])

    with pytest.raises(services.ApprovalError, match="has no approver who could decide"):
        key_services.api_key_renewal_request(api_key_id=key.pk, consumer=consumer)

    key.refresh_from_db()
    assert key.renewal_pending_since is None
    assert not ApprovalRequest.objects.filter(api_key=key, kind=ApprovalRequest.Kind.KEY_RENEWAL).exists()


def test_approving_a_renewal_of_a_key_that_changed_after_the_review_is_refused(
    client, consumer, approver, approved_key
):
    _key, approval = key_services.api_key_renewal_request(api_key_id=approved_key.pk, consumer=consumer)
    client.force_login(approver)
    reviewed = re.findall(r'name="reviewed" value="([^"]+)"', text(client.get("/approvals/")))[0]
    rotated, _secret = key_services.api_key_rotate(
        api_key_id=approved_key.pk, rotated_by=consumer, grace=timedelta(hours=1)
    )

    response = client.post(
        f"/approvals/{approval.pk}/decide/",
        {"reviewed": reviewed, "verdict": "approve"},
        headers={"HX-Request": "true"},
    )

    assert "This key changed after you opened the page" in text(response)
    assert rotated.prefix in text(response)
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING
    assert not Decision.objects.filter(approval_request=approval).exists()
    assert not AuditEvent.objects.filter(action="api_key.renew", target_id=str(approved_key.pk)).exists()
