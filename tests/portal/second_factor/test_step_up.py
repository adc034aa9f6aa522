"""Guarded actions (deciding an approval or a connection request, rolling a runtime target's
credentials) ask for the second factor again when the session's last check is too old."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from approvals.models import ApprovalRequest, Decision
from credentials.connections.models import ConnectionRequest
from credentials.keys.models import RuntimeTarget
from portal.models import AuditEvent
from tests.factories import RuntimeTargetFactory
from tests.portal.second_factor.conftest import enrol

CONFIRM = "/confirm-its-you/"
INBOX = "http://testserver/approvals/"


def decide(client: Client, approval: ApprovalRequest, **headers: str):
    approval = ApprovalRequest.objects.select_related("api_key").get(pk=approval.pk)  # as the inbox shows it
    return client.post(
        f"/approvals/{approval.pk}/decide/",
        {"reviewed": approval.api_key.review_version, "verdict": "approve"},
        headers={"Referer": INBOX, **headers},
    )


def assert_undecided(approval: ApprovalRequest) -> None:
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING
    assert not Decision.objects.filter(approval_request=approval).exists()


def test_with_a_fresh_check_the_decision_goes_through(enrolled_approver, pending_approval, clock):
    clock.shift(timedelta(minutes=14))
    response = decide(enrolled_approver.client, pending_approval)
    assert response.status_code == 302 and response["Location"] == "/approvals/"
    pending_approval.refresh_from_db()
    assert pending_approval.status == ApprovalRequest.Status.APPROVED


def test_a_stale_check_refuses_the_decision_until_the_approver_confirms(enrolled_approver, pending_approval, clock):
    client = enrolled_approver.client
    clock.shift(timedelta(minutes=16))

    refused = decide(client, pending_approval)
    page = refused.content.decode()
    assert refused.status_code == 403
    assert "nothing was changed yet" in page
    assert 'href="/confirm-its-you/?next=%2Fapprovals%2F"' in page
    assert_undecided(pending_approval)

    confirm_page = client.get(CONFIRM, {"next": "/approvals/"}).content.decode()
    assert 'name="next" value="/approvals/"' in confirm_page
    confirmed = client.post(CONFIRM, {"code": enrolled_approver.code(), "next": "/approvals/"})
    assert confirmed.status_code == 302 and confirmed["Location"] == "/approvals/"
    assert AuditEvent.objects.filter(action="second_factor.step_up", actor=enrolled_approver.user).count() == 1

    assert decide(client, pending_approval).status_code == 302
    pending_approval.refresh_from_db()
    assert pending_approval.status == ApprovalRequest.Status.APPROVED


def test_the_step_up_minutes_are_a_setting(enrolled_approver, pending_approval, clock, settings):
    settings.PORTICO_STEP_UP_MINUTES = 60
    clock.shift(timedelta(minutes=59))
    assert decide(enrolled_approver.client, pending_approval).status_code == 302
    pending_approval.refresh_from_db()
    assert pending_approval.status == ApprovalRequest.Status.APPROVED


def test_an_htmx_decision_is_sent_to_confirm_with_hx_redirect(enrolled_approver, pending_approval, clock):
    clock.shift(timedelta(minutes=16))
    response = decide(
        enrolled_approver.client,
        pending_approval,
        HX_Request="true",
        HX_Current_URL="http://testserver/approvals/?page=2",
    )
    assert response.status_code == 200
    redirect = urlsplit(response["HX-Redirect"])
    assert redirect.path == CONFIRM
    assert parse_qs(redirect.query) == {"next": ["/approvals/?page=2"]}
    assert_undecided(pending_approval)


def test_a_stale_check_refuses_a_connection_decision(client, hub_admin, submitted, clock):
    enrolled = enrol(client, hub_admin, clock)
    clock.shift(timedelta(minutes=16))
    response = enrolled.client.post(
        f"/admin-center/connections/{submitted.pk}/decide/",
        {"reviewed": submitted.review_version, "verdict": "approve"},
        headers={"HX-Request": "true"},
    )
    assert urlsplit(response["HX-Redirect"]).path == CONFIRM
    submitted.refresh_from_db()
    assert submitted.status == ConnectionRequest.Status.SUBMITTED
    assert submitted.decided_by is None


def test_a_stale_check_refuses_rolling_a_runtime_targets_credentials(enrolled_hub_admin, clock):
    target = RuntimeTargetFactory(name="edge")
    before = (target.signing_secret, target.verify_token_digest)
    clock.shift(timedelta(minutes=16))
    response = enrolled_hub_admin.client.post(f"/admin-center/targets/{target.pk}/regenerate/")
    assert response.status_code == 403
    target = RuntimeTarget.objects.get(pk=target.pk)
    assert (target.signing_secret, target.verify_token_digest) == before
    assert not AuditEvent.objects.filter(action="runtime_target.regenerate_credentials").exists()

    enrolled_hub_admin.client.post(CONFIRM, {"code": enrolled_hub_admin.code()})
    assert enrolled_hub_admin.client.post(f"/admin-center/targets/{target.pk}/regenerate/").status_code == 302
    target = RuntimeTarget.objects.get(pk=target.pk)
    assert target.verify_token_digest != before[1]


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/approvals/", "http://evil.example/approvals/"]
)
def test_confirming_never_redirects_to_another_site(enrolled_approver, clock, next_url):
    clock.shift(timedelta(minutes=16))
    response = enrolled_approver.client.post(CONFIRM, {"code": enrolled_approver.code(), "next": next_url})
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_referer_of_another_site_is_not_offered_as_the_way_back(enrolled_approver, pending_approval, clock):
    clock.shift(timedelta(minutes=16))
    page = decide(enrolled_approver.client, pending_approval, Referer="https://evil.example/").content.decode()
    assert "evil.example" not in page


def test_without_a_second_factor_nothing_changes_unless_it_is_required(client, approver, pending_approval):
    client.force_login(approver)
    assert decide(client, pending_approval).status_code == 302
    pending_approval.refresh_from_db()
    assert pending_approval.status == ApprovalRequest.Status.APPROVED


def test_a_required_second_factor_sends_the_approver_to_enrol_first(client, approver, pending_approval, settings):
    settings.PORTICO_REQUIRE_SECOND_FACTOR = True
    client.force_login(approver)

    refused = decide(client, pending_approval)
    page = refused.content.decode()
    assert refused.status_code == 403
    assert "Your role must use a second factor for this action: nothing was changed." in page
    assert 'href="/preferences/#second-factor"' in page
    assert_undecided(pending_approval)

    htmx = decide(client, pending_approval, HX_Request="true")
    assert htmx["HX-Redirect"] == "/preferences/#second-factor"
    assert_undecided(pending_approval)
    preferences = client.get("/preferences/").content.decode()
    assert "Required for your role." in preferences


def test_a_required_second_factor_lets_an_enrolled_approver_decide(client, approver, pending_approval, clock, settings):
    settings.PORTICO_REQUIRE_SECOND_FACTOR = True
    enrolled = enrol(client, approver, clock)
    assert decide(enrolled.client, pending_approval).status_code == 302
    pending_approval.refresh_from_db()
    assert pending_approval.status == ApprovalRequest.Status.APPROVED
