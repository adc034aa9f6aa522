"""The Approvals inbox at scale: the same queries at any number of approvals, pages oldest first,
a clear message for a page that does not exist, and on every page only what the approver may
decide (named or through a group, never their own request, once each, not yet decided by them)."""

import html
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import views
from approvals.models import ApprovalRequest, Decision
from credentials.keys.models import Api, ApiKey
from portal.roles import Role
from tests.factories import OrganizationFactory, UserFactory

INBOX = "/approvals/"
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def pages_of_ten(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 10)


@pytest.fixture
def requester(organization):
    return UserFactory(username="requester", organization=organization, roles=(Role.CONSUMER,))


def make_approvals(
    requester, start: int, stop: int, *, named=(), group=None, status="pending", mode="any"
) -> list[ApprovalRequest]:
    """Renewal approvals of the requester's keys of api-<start>..api-<stop - 1>, the older the
    lower their number, for the `named` approvers and the members of `group`."""
    provider = OrganizationFactory(slug="provider")
    apis = Api.objects.bulk_create(
        Api(name=f"API {n:04d}", slug=f"api-{n:04d}", provider=provider) for n in range(start, stop)
    )
    keys = ApiKey.objects.bulk_create(
        ApiKey(consumer=requester, api=api, prefix=f"prt_key_{n:06d}", expires_at=timezone.now() + timedelta(days=5))
        for n, api in zip(range(start, stop), apis, strict=True)
    )
    approvals = ApprovalRequest.objects.bulk_create(
        ApprovalRequest(
            kind="key_renewal", status=status, mode=mode, api_key=key, requested_by=requester, approver_group=group
        )
        for key in keys
    )
    for n, approval in zip(range(start, stop), approvals, strict=True):
        approval.created_at = timezone.now() - timedelta(days=1) + timedelta(minutes=n)
    ApprovalRequest.objects.bulk_update(approvals, ["created_at"])
    ApprovalRequest.approvers.through.objects.bulk_create(
        ApprovalRequest.approvers.through(approvalrequest=approval, user=user)
        for approval in approvals
        for user in named
    )
    return approvals


def listed(response) -> list[str]:
    """The key prefixes of the inbox's rows, top to bottom."""
    table = response.content.decode().split('id="approval-inbox"')[1].split("</table>")[0]
    return re.findall(r"<code>(prt_key_\d+)…</code>", table)


def links(response) -> dict[str, str]:
    found = re.findall(r'<a href="(\?[^"]*)"[^>]*>(‹ Previous|Next ›)</a>', response.content.decode())
    return {label: html.unescape(href) for href, label in found}


def keys(numbers) -> list[str]:
    return [f"prt_key_{n:06d}" for n in numbers]


def test_the_inbox_costs_the_same_queries_at_3_and_at_60_approvals(client, approver, requester, hub_admin):
    client.force_login(approver)
    client.get(INBOX)  # the session's first request
    # "All approvers" rows show how many approved so far: their decisions and approvers.
    group = Group.objects.get(name=Role.APPROVER)
    make_approvals(requester, 0, 2, named=[approver, hub_admin], mode="all")
    make_approvals(requester, 2, 3, named=[approver, hub_admin], group=group, mode="all")
    with CaptureQueriesContext(connection) as few:
        assert client.get(INBOX).status_code == 200
    make_approvals(requester, 3, 40, named=[approver, hub_admin], mode="all")
    make_approvals(requester, 40, 60, named=[approver], group=group)
    with CaptureQueriesContext(connection) as many:
        response = client.get(INBOX)
    assert len(listed(response)) == 10
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_pages_list_the_oldest_first_and_keep_the_other_parameters(client, approver, requester):
    make_approvals(requester, 0, 25, named=[approver])
    client.force_login(approver)
    first = client.get(INBOX, {"from": "email"})
    assert listed(first) == keys(range(10)) and "Page 1 of 3" in first.content.decode()
    assert links(first)["Next ›"] == "?from=email&page=2"
    second = client.get(INBOX + links(first)["Next ›"])
    third = client.get(INBOX + links(second)["Next ›"])
    assert listed(second) == keys(range(10, 20)) and listed(third) == keys(range(20, 25))
    assert links(second)["‹ Previous"] == "?from=email&page=1"
    assert listed(client.get(INBOX + links(second)["‹ Previous"])) == listed(first)


def test_htmx_pages_answer_the_results_region_with_its_links(client, approver, requester):
    make_approvals(requester, 0, 25, named=[approver])
    client.force_login(approver)
    response = client.get(INBOX, {"page": "2"}, headers=HTMX)
    page = response.content.decode()
    assert "<html" not in page and 'id="inbox-results"' in page
    assert "Recently decided by you" not in page
    assert listed(response) == keys(range(10, 20))
    assert 'hx-get="?page=3"' in page and 'hx-target="#inbox-results"' in page
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("number", ["abc", "0", "4", "-2", "9" * 40])
def test_a_page_that_does_not_exist_says_so_and_shows_the_first(client, approver, requester, number):
    make_approvals(requester, 0, 25, named=[approver])
    client.force_login(approver)
    response = client.get(INBOX, {"page": number})
    assert response.status_code == 200
    shown = number if len(number) <= 20 else number[:20] + "…"
    page = html.unescape(response.content.decode())
    assert f"There is no page “{shown}” of this list (pages 1 to 3). Here is the first page." in page
    assert listed(response) == keys(range(10))


def test_every_page_lists_what_the_approver_may_decide_once_and_nothing_else(client, approver, requester, hub_admin):
    group = Group.objects.get(name=Role.APPROVER)
    others = Group.objects.create(name="Someone else's approvers")
    make_approvals(requester, 0, 6, named=[approver])  # named
    make_approvals(requester, 6, 10, group=group)  # through the approver's group
    make_approvals(requester, 10, 14, named=[approver, hub_admin], group=group)  # both: listed once
    make_approvals(approver, 20, 22, named=[approver], group=group)  # the approver's own request
    make_approvals(requester, 30, 32, named=[hub_admin], group=others)  # someone else's to decide
    make_approvals(requester, 40, 42, named=[approver], status="approved")  # no longer pending
    decided = make_approvals(requester, 50, 52, named=[approver, hub_admin], group=group)
    for approval in decided:  # "all approvers": this approver's part is done
        Decision.objects.create(approval_request=approval, approver=approver, verdict="approve")
    client.force_login(approver)
    seen = listed(client.get(INBOX)) + listed(client.get(INBOX, {"page": 2}))
    assert seen == keys(range(14))


def test_recently_decided_lists_the_approvers_last_20_decisions_newest_first(client, approver, requester, hub_admin):
    mine = make_approvals(requester, 0, 25, named=[approver], status="approved")
    theirs = make_approvals(requester, 30, 32, named=[hub_admin], status="approved")
    Decision.objects.bulk_create(
        [Decision(approval_request=approval, approver=approver, verdict="approve") for approval in mine]
        + [Decision(approval_request=approval, approver=hub_admin, verdict="approve") for approval in theirs]
    )
    client.force_login(approver)
    page = client.get(INBOX).content.decode()
    history = page.split("Recently decided by you")[1]
    assert re.findall(r"API (\d{4}) ·", history) == [f"{n:04d}" for n in range(24, 4, -1)]
