"""Approved Requests at scale: the same queries at any number of rows, pages that keep the search
and the sort, a clear message for a page that does not exist, and only approved requests."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.connections import selectors, views
from credentials.connections.forms import ApprovedRequestsFilterForm
from credentials.connections.models import ConnectionRequest, Tenant
from tests.factories import OrganizationFactory, pasted_credentials

APPROVED = "/admin-center/connections/approved/"
HTMX = {"HX-Request": "true"}
SORTS = ["-approved", "approved", "expires", "-expires", "alias", "-alias", "health", "-health"]


@pytest.fixture(autouse=True)
def pages_of_ten(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 10)


def make_approved(start: int, stop: int, *, decided_by, submitted_by, same_time=False, **fields) -> None:
    """Approved requests of tenants tenant-<start>..tenant-<stop - 1>, across three organizations."""
    now = timezone.now()
    credentials = pasted_credentials()
    organizations = [OrganizationFactory(slug=f"org-{n}") for n in range(3)]
    tenants = Tenant.objects.bulk_create(
        Tenant(organization=organizations[n % 3], alias=f"tenant-{n:04d}", registered_by=submitted_by)
        for n in range(start, stop)
    )
    ConnectionRequest.objects.bulk_create(
        ConnectionRequest(
            tenant=tenant,
            status=ConnectionRequest.Status.APPROVED,
            credential_kind=credentials.kind,
            credentials=credentials.to_storage(),
            api_url=credentials.url,
            token_url=credentials.token_url,
            client_id=f"client-{n:04d}",
            generated_at=now,
            expires_at=now + timedelta(days=100 + n),
            credentials_updated_at=now,
            submitted_by=submitted_by,
            decided_by=decided_by,
            decided_at=now if same_time else now - timedelta(minutes=n),
            health=list(ConnectionRequest.Health)[n % 3],
            **fields,
        )
        for n, tenant in zip(range(start, stop), tenants, strict=True)
    )


def aliases(response) -> list[str]:
    return re.findall(r"<strong>(tenant-\d{4})</strong>", response.content.decode())


def links(response) -> dict[str, str]:
    """The pagination's links by their label, as a browser would follow them."""
    found = re.findall(r'<a href="(\?[^"]*)"[^>]*>(‹ Previous|Next ›)</a>', response.content.decode())
    return {label: html.unescape(href) for href, label in found}


@pytest.mark.parametrize("sort", SORTS)
def test_the_page_costs_the_same_queries_at_3_and_at_60_rows(client, hub_admin, tenant_admin, sort):
    client.force_login(hub_admin)
    client.get(APPROVED)  # the session's first request
    make_approved(0, 3, decided_by=hub_admin, submitted_by=tenant_admin)
    with CaptureQueriesContext(connection) as few:
        assert client.get(APPROVED, {"sort": sort}).status_code == 200
    make_approved(3, 60, decided_by=hub_admin, submitted_by=tenant_admin)
    with CaptureQueriesContext(connection) as many:
        response = client.get(APPROVED, {"sort": sort})
    assert len(aliases(response)) == 10
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_the_page_does_not_read_the_encrypted_credentials(client, hub_admin, tenant_admin):
    make_approved(0, 3, decided_by=hub_admin, submitted_by=tenant_admin)
    client.force_login(hub_admin)
    with CaptureQueriesContext(connection) as queries:
        client.get(APPROVED)
    page_query = next(q["sql"] for q in queries.captured_queries if "client_id" in q["sql"])
    assert '"credentials_connectionrequest"."credentials"' not in page_query


def test_next_and_previous_keep_the_search_and_the_sort(client, hub_admin, tenant_admin):
    make_approved(0, 60, decided_by=hub_admin, submitted_by=tenant_admin)
    # Rows another approver decided: the search (an approver's user name) leaves them out.
    make_approved(60, 65, decided_by=tenant_admin, submitted_by=tenant_admin)
    client.force_login(hub_admin)
    first = client.get(APPROVED, {"q": "hub-admin", "sort": "-expires"})
    assert "60 approved connections" in first.content.decode()
    assert "Page 1 of 6" in first.content.decode()
    assert aliases(first) == [f"tenant-{n:04d}" for n in range(59, 49, -1)]
    assert "‹ Previous" not in links(first)
    second = client.get(APPROVED + links(first)["Next ›"])
    assert "q=hub-admin" in links(first)["Next ›"] and "sort=-expires" in links(first)["Next ›"]
    assert aliases(second) == [f"tenant-{n:04d}" for n in range(49, 39, -1)]
    assert "Page 2 of 6" in second.content.decode()
    back = client.get(APPROVED + links(second)["‹ Previous"])
    assert aliases(back) == aliases(first)


def test_htmx_pages_answer_the_results_region_with_its_links(client, hub_admin, tenant_admin):
    make_approved(0, 25, decided_by=hub_admin, submitted_by=tenant_admin)
    client.force_login(hub_admin)
    response = client.get(APPROVED, {"sort": "alias", "page": "2"}, headers=HTMX)
    page = response.content.decode()
    assert "<html" not in page and 'id="approved-results"' in page
    assert aliases(response) == [f"tenant-{n:04d}" for n in range(10, 20)]
    assert 'hx-get="?sort=alias&amp;page=3"' in page and 'hx-target="#approved-results"' in page


@pytest.mark.parametrize("sort", SORTS)
def test_pages_list_every_row_once_even_when_the_sorted_values_tie(client, hub_admin, tenant_admin, sort):
    # One decision time and three health values for 25 rows: only the tie-break orders them.
    make_approved(0, 25, decided_by=hub_admin, submitted_by=tenant_admin, same_time=True)
    client.force_login(hub_admin)
    seen = [alias for number in (1, 2, 3) for alias in aliases(client.get(APPROVED, {"sort": sort, "page": number}))]
    assert sorted(seen) == [f"tenant-{n:04d}" for n in range(25)]


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_ends_with_the_id_in_its_direction(sort):
    # A total order, or rows that tie would move between pages on PostgreSQL; the id in the
    # sort's direction, so that one index serves both directions.
    ordering = ApprovedRequestsFilterForm.SORTS[sort]
    order_by = selectors.connection_request_approved_list(ordering=ordering).query.order_by
    assert order_by == (ordering, "-pk" if sort.startswith("-") else "pk")


@pytest.mark.parametrize("number", ["abc", "0", "-1", "4", "1.5", "", "9" * 40])
def test_a_page_that_does_not_exist_says_so_and_shows_the_first(client, hub_admin, tenant_admin, number):
    make_approved(0, 25, decided_by=hub_admin, submitted_by=tenant_admin)
    client.force_login(hub_admin)
    response = client.get(APPROVED, {"page": number, "sort": "alias"})
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    if number:  # an empty page number is the first page
        shown = number if len(number) <= 20 else number[:20] + "…"
        assert f"There is no page “{shown}” of this list (pages 1 to 3). Here is the first page." in page
    else:
        assert "There is no page" not in page
    assert aliases(response) == [f"tenant-{n:04d}" for n in range(10)]


def test_a_page_that_exists_shows_no_message(client, hub_admin, tenant_admin):
    make_approved(0, 25, decided_by=hub_admin, submitted_by=tenant_admin)
    client.force_login(hub_admin)
    assert "There is no page" not in client.get(APPROVED, {"page": "3"}).content.decode()


def test_a_sort_that_does_not_exist_says_so_and_keeps_the_search(client, hub_admin, tenant_admin):
    make_approved(0, 5, decided_by=hub_admin, submitted_by=tenant_admin)
    client.force_login(hub_admin)
    response = client.get(APPROVED, {"q": "tenant-0003", "sort": "password"})
    assert response.status_code == 200
    assert "Sort by one of the table&#x27;s columns" in response.content.decode()
    assert aliases(response) == ["tenant-0003"]


def test_only_approved_requests_are_listed_on_any_page(client, hub_admin, tenant_admin):
    make_approved(0, 12, decided_by=hub_admin, submitted_by=tenant_admin)
    make_approved(100, 109, decided_by=hub_admin, submitted_by=tenant_admin)
    for status, first in (("submitted", 100), ("rejected", 103), ("withdrawn", 106)):
        ConnectionRequest.objects.filter(client_id__in=[f"client-{n:04d}" for n in range(first, first + 3)]).update(
            status=status
        )
    client.force_login(hub_admin)
    seen = [alias for number in (1, 2) for alias in aliases(client.get(APPROVED, {"page": number}))]
    assert sorted(seen) == [f"tenant-{n:04d}" for n in range(12)]
    assert "12 approved connections" in client.get(APPROVED).content.decode()
