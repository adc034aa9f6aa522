"""My API Keys at scale: the same queries at any number of keys, pages in API order, a clear
message for a page that does not exist, and only the consumer's own keys on every page."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.keys import views
from credentials.keys.models import Api, ApiKey
from tests.factories import OrganizationFactory

MY_KEYS = "/preferences/api-keys/"
HTMX = {"HX-Request": "true"}
STATES = [
    {"status": ApiKey.Status.ACTIVE},
    {"status": ApiKey.Status.ACTIVE, "renewal_pending_since": timezone.now()},
    {"status": ApiKey.Status.REVOKED, "revoked_at": timezone.now()},
    {"status": ApiKey.Status.PENDING, "expires_at": None},
    {"status": ApiKey.Status.EXPIRED},
]


@pytest.fixture(autouse=True)
def pages_of_ten(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 10)


def make_keys(consumer, start: int, stop: int, *, prefix: str = "c") -> list[ApiKey]:
    """A key of the consumer for each of the APIs api-<start>..api-<stop - 1> (made when missing),
    in turn active, renewal pending, revoked, pending approval and expired."""
    provider = OrganizationFactory(slug="provider")
    apis = [
        Api.objects.get_or_create(slug=f"api-{n:04d}", defaults={"name": f"API {n:04d}", "provider": provider})[0]
        for n in range(start, stop)
    ]
    return ApiKey.objects.bulk_create(
        ApiKey(
            consumer=consumer,
            api=api,
            prefix=f"prt_key_{prefix}{n:06d}",
            **{"expires_at": timezone.now() + timedelta(days=40), **STATES[n % len(STATES)]},
        )
        for n, api in zip(range(start, stop), apis, strict=True)
    )


def prefixes(response) -> list[str]:
    return re.findall(r"<code>(prt_key_\w+)…</code>", response.content.decode())


def links(response) -> dict[str, str]:
    found = re.findall(r'<a href="(\?[^"]*)"[^>]*>(‹ Previous|Next ›)</a>', response.content.decode())
    return {label: html.unescape(href) for href, label in found}


def test_the_page_costs_the_same_queries_at_3_and_at_60_keys(client, consumer):
    client.force_login(consumer)
    client.get(MY_KEYS)  # the session's first request
    make_keys(consumer, 0, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(MY_KEYS).status_code == 200
    make_keys(consumer, 3, 60)
    with CaptureQueriesContext(connection) as many:
        response = client.get(MY_KEYS)
    assert len(prefixes(response)) == 10
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_pages_follow_the_api_names_and_list_every_key_once(client, consumer):
    make_keys(consumer, 0, 25)
    client.force_login(consumer)
    first = client.get(MY_KEYS)
    assert "Page 1 of 3" in first.content.decode()
    assert prefixes(first) == [f"prt_key_c{n:06d}" for n in range(10)]
    second = client.get(MY_KEYS + links(first)["Next ›"])
    third = client.get(MY_KEYS + links(second)["Next ›"])
    assert prefixes(second) == [f"prt_key_c{n:06d}" for n in range(10, 20)]
    assert prefixes(third) == [f"prt_key_c{n:06d}" for n in range(20, 25)]
    assert "Next ›" not in links(third)
    assert prefixes(client.get(MY_KEYS + links(third)["‹ Previous"])) == prefixes(second)


def test_an_api_with_several_keys_lists_the_newest_first_and_each_once(client, consumer):
    api = Api.objects.create(name="API 0000", slug="api-0000", provider=OrganizationFactory(slug="provider"))
    now = timezone.now()
    for prefix, minutes in (("prt_key_old", 0), ("prt_key_newest", 2), ("prt_key_newer", 1)):
        key = ApiKey.objects.create(consumer=consumer, api=api, prefix=prefix, status=ApiKey.Status.REVOKED)
        ApiKey.objects.filter(pk=key.pk).update(created_at=now + timedelta(minutes=minutes))
    make_keys(consumer, 1, 18)
    client.force_login(consumer)
    seen = prefixes(client.get(MY_KEYS)) + prefixes(client.get(MY_KEYS, {"page": 2}))
    assert seen[:3] == ["prt_key_newest", "prt_key_newer", "prt_key_old"]
    assert len(seen) == len(set(seen)) == 20


def test_htmx_pages_answer_the_key_table_with_its_links(client, consumer):
    make_keys(consumer, 0, 25)
    client.force_login(consumer)
    response = client.get(MY_KEYS, {"page": "2"}, headers=HTMX)
    page = response.content.decode()
    assert "<html" not in page and 'id="key-table"' in page
    assert prefixes(response) == [f"prt_key_c{n:06d}" for n in range(10, 20)]
    assert 'hx-get="?page=3"' in page and 'hx-target="#key-table"' in page


@pytest.mark.parametrize("number", ["abc", "0", "4", "2.0", "9" * 40])
def test_a_page_that_does_not_exist_says_so_and_shows_the_first(client, consumer, number):
    make_keys(consumer, 0, 25)
    client.force_login(consumer)
    response = client.get(MY_KEYS, {"page": number})
    assert response.status_code == 200
    shown = number if len(number) <= 20 else number[:20] + "…"
    page = html.unescape(response.content.decode())
    assert f"There is no page “{shown}” of this list (pages 1 to 3). Here is the first page." in page
    assert prefixes(response) == [f"prt_key_c{n:06d}" for n in range(10)]


def test_every_page_lists_only_the_consumers_own_keys(client, consumer, outsider):
    make_keys(outsider, 0, 30, prefix="o")  # the same APIs, another consumer's keys
    make_keys(consumer, 0, 15)
    client.force_login(consumer)
    seen = [prefix for number in (1, 2) for prefix in prefixes(client.get(MY_KEYS, {"page": number}))]
    assert sorted(seen) == [f"prt_key_c{n:06d}" for n in range(15)]
    assert "Page 1 of 2" in client.get(MY_KEYS).content.decode()


def test_a_closed_key_offers_a_new_one_only_when_its_api_has_no_open_key(client, consumer):
    make_keys(consumer, 0, 25)  # keys 2, 7, 12, ... are revoked
    ApiKey.objects.create(consumer=consumer, api=Api.objects.get(slug="api-0002"), prefix="prt_key_again0002")
    client.force_login(consumer)
    page = client.get(MY_KEYS).content.decode()
    rows = dict(re.findall(r"<code>(prt_key_\w+)…</code>(.*?)</tr>", page, re.S))
    assert "Request a new key" not in rows["prt_key_c000002"]  # its API has an open key again
    assert "Request a new key" in rows["prt_key_c000007"]
