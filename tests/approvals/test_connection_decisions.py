"""Hub admins decide connection requests in place; decisions apply exactly once, to what was reviewed."""

import re

import pytest
from django.test import Client

from approvals.models import ApprovalRequest, Decision
from approvals.services import AlreadyDecided, ApprovalError, approval_decide
from credentials.connections.models import ConnectionRequest
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import UserFactory, client_secret_json

SECRET = "s3cr3t-VALUE-123="


def decide_url(request: ConnectionRequest) -> str:
    return f"/admin-center/connections/{request.pk}/decide/"


def test_pending_requests_page_lists_submitted_requests(client, hub_admin, submitted):
    client.force_login(hub_admin)
    page = client.get("/admin-center/connections/pending/").content.decode()
    assert "Pending Requests" in page
    assert "acme-dev" in page
    assert "Approve" in page and "Reject" in page
    assert SECRET not in page


def test_approving_in_place_establishes_the_connection_and_emails_the_requester(
    client, hub_admin, submitted, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            decide_url(submitted),
            {"reviewed": submitted.review_version, "verdict": "approve"},
            headers={"HX-Request": "true"},
        )
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert f'id="pending-{submitted.pk}"' in page
    assert "is approved" in page
    assert response["HX-Trigger"] == "connection-request-decided"
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.APPROVED
    assert submitted.decided_by == hub_admin
    assert ApprovalRequest.objects.get(connection_request=submitted).status == ApprovalRequest.Status.APPROVED
    assert AuditEvent.objects.filter(action="connection_request.approve", target_id=str(submitted.pk)).count() == 1
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [submitted.submitted_by.email]
    assert "approved" in mail.subject.lower()
    assert SECRET not in mail.body
    assert SECRET not in mail.alternatives[0][0]


def test_rejecting_needs_a_reason(client, hub_admin, submitted, mailoutbox):
    client.force_login(hub_admin)
    response = client.post(
        decide_url(submitted),
        {"reviewed": submitted.review_version, "verdict": "reject", "reason": ""},
        headers={"HX-Request": "true"},
    )
    assert "Give a reason for the rejection." in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED
    assert mailoutbox == []


def test_rejecting_with_a_reason_emails_it(
    client, hub_admin, submitted, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            decide_url(submitted),
            {"reviewed": submitted.review_version, "verdict": "reject", "reason": "Wrong subaccount"},
            headers={"HX-Request": "true"},
        )
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.REJECTED
    assert submitted.rejection_reason == "Wrong subaccount"
    assert "Wrong subaccount" in mailoutbox[0].body


def test_without_htmx_a_decision_redirects_back_to_the_list(client, hub_admin, submitted):
    client.force_login(hub_admin)
    response = client.post(decide_url(submitted), {"reviewed": submitted.review_version, "verdict": "approve"})
    assert response.status_code == 302
    assert response["Location"] == "/admin-center/connections/pending/"


def test_a_second_decision_gets_a_clear_message_and_changes_nothing(client, hub_admin, submitted, organization):
    other_admin = UserFactory(organization=organization, roles=(Role.HUB_ADMIN,))
    approval_decide(approval_request_id=ApprovalRequest.objects.get().pk, approver=other_admin, verdict="approve")
    client.force_login(hub_admin)
    response = client.post(
        decide_url(submitted),
        {"reviewed": submitted.review_version, "verdict": "reject", "reason": "too late"},
        headers={"HX-Request": "true"},
    )
    assert "already approved" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.APPROVED
    assert Decision.objects.count() == 1


def test_deciding_twice_through_the_service_raises_already_decided(hub_admin, submitted):
    approval = ApprovalRequest.objects.get()
    approval_decide(approval_request_id=approval.pk, approver=hub_admin, verdict="approve")
    with pytest.raises(AlreadyDecided):
        approval_decide(approval_request_id=approval.pk, approver=hub_admin, verdict="approve")
    assert AuditEvent.objects.filter(action="connection_request.approve").count() == 1


def test_nobody_decides_their_own_request(tenant_admin, submitted):
    tenant_admin.groups.add(*tenant_admin.groups.model.objects.filter(name=Role.HUB_ADMIN))
    with pytest.raises(ApprovalError, match="your own request"):
        approval_decide(approval_request_id=ApprovalRequest.objects.get().pk, approver=tenant_admin, verdict="approve")


def test_only_hub_admins_may_decide(client, approver, consumer, tenant_admin, submitted):
    for user in (approver, consumer, tenant_admin):
        client.force_login(user)
        assert (
            client.post(decide_url(submitted), {"reviewed": submitted.review_version, "verdict": "approve"}).status_code
            == 403
        )
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED


def test_an_unknown_verdict_is_refused(client, hub_admin, submitted):
    client.force_login(hub_admin)
    response = client.post(
        decide_url(submitted),
        {"reviewed": submitted.review_version, "verdict": "maybe"},
        headers={"HX-Request": "true"},
    )
    assert "Choose Approve or Reject." in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED


def test_decide_refuses_get(client, hub_admin, submitted):
    client.force_login(hub_admin)
    assert client.get(decide_url(submitted)).status_code == 405


# --- A decision applies to what was reviewed ------------------------------------------------------
REVIEWED = re.compile(r'name="reviewed" value="([^"]+)"')


def reviewed_on_the_page(client, path: str) -> str:
    """The version of the request that the page shows, as its decision forms post it."""
    found = REVIEWED.findall(client.get(path).content.decode())
    assert found, "the decision form carries the version it was reviewed at"
    return found[0]


def test_approving_what_was_swapped_after_the_review_is_refused_and_shows_the_new_credentials(
    client, hub_admin, tenant_admin, submitted, httpserver
):
    client.force_login(hub_admin)
    reviewed = reviewed_on_the_page(client, "/admin-center/connections/pending/")
    # The tenant admin swaps the credentials for another token URL, without testing them.
    tenant_browser = Client()
    tenant_browser.force_login(tenant_admin)
    swapped = client_secret_json(httpserver.url_for("/elsewhere/token"), client_id="sb-swapped!b9|other!b1")
    edited = tenant_browser.post(
        f"/manage/connectivity/requests/{submitted.pk}/edit/", {"credentials": swapped, "skip_test": "on"}
    )
    assert edited.status_code == 302

    response = client.post(
        decide_url(submitted), {"verdict": "approve", "reviewed": reviewed}, headers={"HX-Request": "true"}
    )

    page = response.content.decode()
    assert "changed after you opened" in page
    assert "sb-swapped!b9|other!b1" in page  # the row as it is now
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED
    assert not Decision.objects.filter(approval_request__connection_request=submitted).exists()
    assert not AuditEvent.objects.filter(action="connection_request.approve").exists()


def test_approving_what_was_reviewed_still_works(client, hub_admin, submitted):
    client.force_login(hub_admin)
    reviewed = reviewed_on_the_page(client, "/admin-center/connections/pending/")

    client.post(decide_url(submitted), {"verdict": "approve", "reviewed": reviewed}, headers={"HX-Request": "true"})

    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.APPROVED


def test_a_decision_posted_without_the_reviewed_version_is_refused(client, hub_admin, submitted):
    client.force_login(hub_admin)

    response = client.post(decide_url(submitted), {"verdict": "approve"}, headers={"HX-Request": "true"})

    assert "Reload the page" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED
