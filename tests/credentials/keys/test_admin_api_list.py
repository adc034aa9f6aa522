"""Admin Center > APIs: the list of the APIs with their consumption settings."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from credentials.keys.models import Api, ApiKey
from tests.credentials.keys.helpers import APIS, HTMX, make_keys, page_text


# --- the list -------------------------------------------------------------------------------------
def test_api_list_shows_each_apis_consumption_settings(client, hub_admin, api, target, approver):
    api.runtime_target = target
    api.renewal_requires_approval = True
    api.approval_mode = Api.ApprovalMode.ALL
    api.save()
    api.approvers.add(approver)
    Api.objects.create(name="Weather", slug="weather", provider=api.provider, key_lifetime_days=None)
    make_keys(api, 2)
    ApiKey.objects.filter(api=api).update(status=ApiKey.Status.REVOKED)
    make_keys(api, 3, start=10)
    client.force_login(hub_admin)
    page = page_text(client.get(APIS))
    for text in ("Payments", "payments", "90 days", "All approvers", approver.get_full_name(), "mediator-eu"):
        assert text in page
    assert "Unlimited" in page  # Weather
    assert "3 active keys" in page  # revoked keys do not count
    assert "0 active keys" in page


def test_expired_keys_do_not_count_as_active(client, hub_admin, api):
    make_keys(api, 2)
    make_keys(api, 1, start=5, days=-3)
    client.force_login(hub_admin)
    assert "2 active keys" in page_text(client.get(APIS))


def test_api_list_costs_the_same_queries_at_5_and_50_apis(client, hub_admin, organization, approver, target):
    client.force_login(hub_admin)

    def add_apis(start: int, count: int) -> None:
        for i in range(start, start + count):
            api = Api.objects.create(
                name=f"API {i:03d}", slug=f"api-{i:03d}", provider=organization, runtime_target=target
            )
            api.approvers.add(approver)
            make_keys(api, 1, start=i)

    add_apis(0, 5)
    with CaptureQueriesContext(connection) as at_5:
        assert client.get(APIS).status_code == 200
    add_apis(5, 45)
    with CaptureQueriesContext(connection) as at_50:
        assert client.get(APIS).status_code == 200
    assert len(at_50) == len(at_5)


def test_htmx_pagination_of_the_api_list_returns_only_the_results(client, hub_admin, api):
    client.force_login(hub_admin)
    response = client.get(APIS, headers=HTMX)
    assert "<html" not in response.content.decode()
    assert 'id="api-results"' in response.content.decode()
    assert "HX-Request" in response["Vary"]
