import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from portal.audit import record

URL = "/admin-center/audit/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def log(count: int = 1, *, action: str = "test.event", summary: str = "event", **kwargs: object) -> None:
    """Write `count` audit events the way services do; summaries are numbered when count > 1."""
    with transaction.atomic():
        for n in range(1, count + 1):
            record(action=action, summary=f"{summary} #{n:03d};" if count > 1 else summary, **kwargs)


def event_count(html: str) -> str:
    """The count line above the results table, e.g. "12 events"."""
    match = re.search(r'<p class="muted">(\d+ events?)</p>', html)
    assert match is not None
    return match.group(1)


def log_on(day: datetime, **kwargs: object) -> None:
    with time_machine.travel(day, tick=False):
        log(**kwargs)


@pytest.fixture
def hub_client(client, hub_admin):
    client.force_login(hub_admin)
    return client


def page(client, **params: object) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_audit_page_lists_who_did_what_to_which_object_and_from_where(hub_client, consumer, organization):
    log(
        action="organization.renamed",
        target=organization,
        actor=consumer,
        ip_address="203.0.113.9",
        summary="Renamed the account",
    )

    html = page(hub_client)

    assert event_count(html) == "1 event"
    assert "consumer" in html
    assert "organization.renamed" in html
    assert f'Acme Corporation <span class="muted">(portal.Organization #{organization.pk})</span>' in html
    assert "Renamed the account" in html
    assert "203.0.113.9" in html


def test_the_audit_page_lists_the_newest_event_first(hub_client):
    log_on(datetime(2025, 3, 1, 12, tzinfo=UTC), summary="older event")
    log_on(datetime(2025, 3, 2, 12, tzinfo=UTC), summary="newer event")

    html = page(hub_client)

    assert html.index("newer event") < html.index("older event")


def test_the_audit_page_says_when_nothing_matches(hub_client):
    html = page(hub_client)

    assert event_count(html) == "0 events"
    assert "No audit events match these filters." in html


def test_the_audit_page_filters_by_action(hub_client):
    log(action="apikey.renewed", summary="renewal of key A")
    log(action="apikey.revoked", summary="revocation of key B")

    html = page(hub_client, action="apikey.renewed")

    assert "renewal of key A" in html
    assert "revocation of key B" not in html
    assert event_count(html) == "1 event"


def test_the_audit_page_offers_the_actions_that_occur_as_choices(hub_client):
    log(action="apikey.renewed")
    log(action="connection.approved")

    html = page(hub_client)

    assert '<option value="apikey.renewed">apikey.renewed</option>' in html
    assert '<option value="connection.approved">connection.approved</option>' in html


def test_the_audit_page_filters_by_user(hub_client, consumer, approver):
    log(actor=consumer, summary="done by the consumer")
    log(actor=approver, summary="done by the approver")

    html = page(hub_client, actor="approver")

    assert "done by the approver" in html
    assert "done by the consumer" not in html


@pytest.mark.parametrize(
    ("text", "found"),
    [("rotation", "Key rotation started"), ("ROTATION", "Key rotation started"), ("globex", "Account touched")],
)
def test_the_audit_page_searches_summaries_and_objects(hub_client, other_organization, text, found):
    log(summary="Key rotation started")
    log(target=other_organization, summary="Account touched")
    log(summary="Something else")

    html = page(hub_client, q=text)

    assert found in html
    assert "Something else" not in html
    assert event_count(html) == "1 event"


def test_the_audit_page_filters_by_date_range_including_both_ends(hub_client):
    log_on(datetime(2025, 3, 1, 23, 59, tzinfo=UTC), summary="before the range")
    log_on(datetime(2025, 3, 2, 0, 0, tzinfo=UTC), summary="first day of the range")
    log_on(datetime(2025, 3, 5, 23, 59, tzinfo=UTC), summary="last day of the range")
    log_on(datetime(2025, 3, 6, 0, 0, tzinfo=UTC), summary="after the range")

    html = page(hub_client, since="2025-03-02", until="2025-03-05")

    assert "first day of the range" in html
    assert "last day of the range" in html
    assert "before the range" not in html
    assert "after the range" not in html


def test_the_audit_page_combines_filters(hub_client, consumer, approver):
    log_on(datetime(2025, 3, 1, 12, tzinfo=UTC), action="apikey.renewed", actor=consumer, summary="renewal one")
    log_on(datetime(2025, 3, 9, 12, tzinfo=UTC), action="apikey.renewed", actor=consumer, summary="renewal two")
    log_on(datetime(2025, 3, 9, 12, tzinfo=UTC), action="apikey.renewed", actor=approver, summary="renewal three")
    log_on(datetime(2025, 3, 9, 12, tzinfo=UTC), action="apikey.revoked", actor=consumer, summary="revocation")

    html = page(hub_client, action="apikey.renewed", actor="consumer", since="2025-03-05")

    assert "renewal two" in html
    assert event_count(html) == "1 event"


def test_the_audit_page_shows_an_error_for_a_range_that_ends_before_it_starts(hub_client):
    html = page(hub_client, since="2025-03-10", until="2025-03-01")

    assert "The end date is before the start date." in html


def test_the_audit_page_shows_an_error_for_an_invalid_date(hub_client):
    html = page(hub_client, since="2025-02-30")

    assert "Enter a valid date." in html


def test_the_audit_results_region_shows_the_range_error_to_htmx(hub_client):
    """The filter form swaps only the results region, so the error must be inside it."""
    response = hub_client.get(URL, {"since": "2025-03-10", "until": "2025-03-01"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "The end date is before the start date." in html


def test_the_audit_page_paginates_fifty_events_a_page(hub_client):
    log(55)

    first = page(hub_client)
    second = page(hub_client, page=2)

    assert "Page 1 of 2" in first
    assert "event #055;" in first
    assert "event #006;" in first
    assert "event #005;" not in first
    assert "Page 2 of 2" in second
    assert "event #005;" in second
    assert "event #001;" in second
    assert "event #006;" not in second


def test_the_audit_page_keeps_the_filters_in_the_page_links(hub_client):
    log(51, action="apikey.renewed")
    log(action="apikey.revoked")

    html = page(hub_client, action="apikey.renewed")

    assert 'href="?action=apikey.renewed&amp;page=2"' in html


def test_the_audit_page_answers_htmx_with_the_results_region_only(hub_client):
    log(summary="visible in both")

    response = hub_client.get(URL, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="audit-results">')
    assert "<html" not in html
    assert "visible in both" in html
    assert 'name="since"' not in html  # the filter form stays on the page


def test_the_audit_page_answers_a_plain_request_with_the_full_page(hub_client):
    log(summary="visible in both")

    response = hub_client.get(URL)

    html = response.content.decode()
    assert "<html" in html
    assert 'id="audit-results"' in html
    assert 'name="since"' in html
    assert "visible in both" in html


def test_the_audit_page_answers_a_boosted_htmx_navigation_with_the_full_page(hub_client):
    response = hub_client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")

    assert "<html" in response.content.decode()


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_the_audit_page_varies_on_the_htmx_header(hub_client, headers):
    response = hub_client.get(URL, **headers)

    assert "HX-Request" in response["Vary"]


def test_the_audit_page_filters_htmx_requests_too(hub_client):
    log(action="apikey.renewed", summary="renewal of key A")
    log(action="apikey.revoked", summary="revocation of key B")

    response = hub_client.get(URL, {"action": "apikey.revoked"}, **HTMX)

    html = response.content.decode()
    assert "revocation of key B" in html
    assert "renewal of key A" not in html


def test_the_audit_page_costs_the_same_queries_at_10_and_at_200_events(
    hub_client, consumer, organization, django_assert_max_num_queries
):
    log(10, actor=consumer, target=organization)
    with django_assert_max_num_queries(7) as at_10:
        page(hub_client)

    log(190, actor=consumer, target=organization)
    with django_assert_max_num_queries(7) as at_200:
        html = page(hub_client)

    assert event_count(html) == "200 events"
    assert len(at_200.captured_queries) == len(at_10.captured_queries)


def test_the_audit_page_results_region_costs_the_same_queries_at_10_and_at_200_events(
    hub_client, consumer, organization, django_assert_max_num_queries
):
    log(10, actor=consumer, target=organization)
    with django_assert_max_num_queries(7) as at_10:
        hub_client.get(URL, **HTMX)

    log(190, actor=consumer, target=organization)
    with django_assert_max_num_queries(7) as at_200:
        hub_client.get(URL, {"page": 4}, **HTMX)

    assert len(at_200.captured_queries) == len(at_10.captured_queries)
