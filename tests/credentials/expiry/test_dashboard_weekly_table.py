"""The Admin Center dashboard gives its weekly numbers as a table too: the chart is a picture a
screen reader cannot read and a phone shrinks, the table says the same thing in words."""

import html
import re
from datetime import timedelta

from django.utils import timezone

from credentials.connections.models import ConnectionRequest
from credentials.keys.models import ApiKey
from tests.factories import ApiKeyFactory, ConnectionRequestFactory, TenantFactory

DASHBOARD = "/admin-center/"


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def weekly_table(page: str) -> str:
    match = re.search(r'<table[^>]*id="expiring-by-week".*?</table>', page, re.S)
    assert match, "the dashboard has no table of the weekly numbers"
    return match.group(0)


def test_the_weekly_numbers_are_a_table_with_a_caption_and_headers(client, hub_admin, consumer, tenant_admin):
    now = timezone.now()
    ApiKeyFactory(consumer=consumer, expires_at=now + timedelta(days=2))
    ApiKeyFactory(consumer=consumer, expires_at=now + timedelta(days=3))
    ConnectionRequestFactory(
        tenant=TenantFactory(registered_by=tenant_admin),
        status=ConnectionRequest.Status.APPROVED,
        expires_at=now + timedelta(days=9),
    )
    client.force_login(hub_admin)
    table = weekly_table(client.get(DASHBOARD).content.decode())

    caption = re.search(r"<caption[^>]*>(.*?)</caption>", table, re.S)
    assert caption and text(caption.group(1)).startswith("Expiring API keys and connection credentials, by week")
    columns = [text(h) for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', table, re.S)]
    assert columns == ["Week of", "API keys", "Connection credentials", "Total"]
    rows = re.findall(r"<tr>\s*<th scope=\"row\"[^>]*>(.*?)</th>(.*?)</tr>", table, re.S)
    assert len(rows) == 13
    first_week = now.astimezone(timezone.get_current_timezone())
    assert text(rows[0][0]) == f"{first_week:%b} {first_week.day}"
    assert [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1], re.S)] == ["2", "0", "2"]
    assert [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[1][1], re.S)] == ["0", "1", "1"]
    assert ApiKey.objects.count() == 2


def test_the_chart_points_to_the_table(client, hub_admin):
    client.force_login(hub_admin)
    page = client.get(DASHBOARD).content.decode()
    svg = re.search(r"<svg[^>]*>", page)
    assert svg
    # The chart is a picture: screen readers hear its name, which sends them to the table.
    labelled_by = re.search(r'aria-labelledby="([^"]+)"', svg.group(0))
    assert labelled_by
    name = re.search(rf'id="{labelled_by.group(1)}"[^>]*>(.*?)<', page, re.S)
    assert name and "the table below gives the numbers" in text(name.group(1))
