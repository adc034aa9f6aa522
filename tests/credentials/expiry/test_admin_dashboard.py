"""Admin Center dashboard (what expires in 90 days) and the Emails outbox page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.expiry.dashboard import expiry_chart, expiry_weeks
from credentials.keys import services as key_services
from credentials.keys.models import ApiKey
from portal.emails import send_templated_email
from portal.models import OutboundEmail
from tests.factories import ApiFactory, UserFactory


def key_expiring_in(days: float, consumer) -> ApiKey:
    api = ApiFactory(key_lifetime_days=365)
    key, _secret, _ = key_services.api_key_request(api=api, consumer=consumer)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() + timedelta(days=days))
    return key


def test_expiry_weeks_count_keys_by_week_for_90_days(consumer, outsider, organization):
    key_expiring_in(2, consumer)
    key_expiring_in(10, outsider)
    key_expiring_in(12, UserFactory(organization=organization))
    key_expiring_in(200, UserFactory(organization=organization))  # beyond 90 days: not counted
    weeks = expiry_weeks()
    assert len(weeks) == 13
    assert [w.keys for w in weeks[:3]] == [1, 2, 0]
    assert sum(w.keys for w in weeks) == 3


def test_the_chart_stacks_bars_within_the_plot(db):
    weeks = expiry_weeks()
    chart = expiry_chart(weeks)
    assert len(chart.bars) == 13
    assert all(chart.plot_top <= bar.connections_y <= chart.plot_bottom for bar in chart.bars)


def test_dashboard_shows_the_chart_and_the_soonest_keys(client, hub_admin, consumer, django_assert_max_num_queries):
    key = key_expiring_in(5, consumer)
    client.force_login(hub_admin)
    with django_assert_max_num_queries(12):
        page = client.get("/admin-center/").content.decode()
    assert "Expiring in the next 90 days" in page
    assert "<svg" in page and "chart__keys" in page
    assert key.prefix in page
    assert "1 API key and 0 connection credentials" in page


@pytest.mark.parametrize("role", ["consumer", "tenant_admin", "org_admin", "approver"])
def test_only_hub_admins_see_the_dashboard_and_the_emails(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get("/admin-center/").status_code == 403
    assert client.get("/admin-center/emails/").status_code == 403


def test_the_emails_page_lists_the_outbox_with_state_and_attempts(
    client, hub_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_templated_email(
            name="key-expired",
            to=["someone@example.com"],
            context={"key": ApiKey(prefix="prt_key_abcdefgh", api=ApiFactory.build(name="Weather")), "link_path": "/"},
        )
    email = OutboundEmail.objects.get()
    assert email.state == OutboundEmail.State.SENT
    client.force_login(hub_admin)
    page = client.get("/admin-center/emails/").content.decode()
    assert "someone@example.com" in page and "Your API key for Weather has expired" in page and "sent" in page
    fragment = client.get("/admin-center/emails/?state=pending", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and "No emails in this state." in fragment


def test_an_email_with_the_same_dedupe_key_is_written_once(db):
    context = {"key": ApiKey(prefix="prt_key_abcdefgh", api=ApiFactory.build(name="Weather")), "link_path": "/"}
    first = send_templated_email(name="key-expired", to=["a@example.com"], context=context, dedupe_key="x:1")
    second = send_templated_email(name="key-expired", to=["a@example.com"], context=context, dedupe_key="x:1")
    assert first is not None and second is None
    assert OutboundEmail.objects.count() == 1
