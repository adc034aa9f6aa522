"""Admin Center > APIs: only hub admins manage APIs and their keys; wrong methods; the Admin Center's links."""

import pytest

from credentials.keys.models import Api
from portal.models import AuditEvent
from tests.credentials.keys.helpers import (
    APIS,
    NEW_API,
    edit_url,
    expiry_data,
    expiry_url,
    keys_url,
    page_text,
    valid_form,
)


# --- who may ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["consumer", "org_admin", "tenant_admin", "approver", "outsider"])
def test_only_hub_admins_manage_apis_and_keys(client, request, role, organization, api, key):
    client.force_login(request.getfixturevalue(role))
    for method, url, data in [
        ("get", APIS, None),
        ("get", NEW_API, None),
        ("post", NEW_API, valid_form(organization, slug="sneaky")),
        ("get", edit_url(api), None),
        ("post", edit_url(api), valid_form(organization, name="Hijacked", slug="payments")),
        ("get", keys_url(api), None),
        ("get", expiry_url(key), None),
        ("post", expiry_url(key), expiry_data(key, unlimited=True)),
    ]:
        response = getattr(client, method)(url, data) if data else getattr(client, method)(url)
        assert response.status_code == 403, (method, url)
    api.refresh_from_db()
    key.refresh_from_db()
    assert api.name == "Payments" and not Api.objects.filter(slug="sneaky").exists()
    assert key.expires_at is not None
    assert not AuditEvent.objects.exists()


def test_anonymous_visitors_are_sent_to_log_on(client, api):
    response = client.get(APIS)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", APIS),
        ("put", NEW_API),
        ("delete", "/admin-center/apis/1/edit/"),
        ("post", "/admin-center/apis/1/keys/"),
    ],
)
def test_wrong_methods_are_405(client, hub_admin, method, url):
    client.force_login(hub_admin)
    assert getattr(client, method)(url).status_code == 405


def test_the_admin_center_links_to_apis_and_runtime_targets(client, hub_admin):
    client.force_login(hub_admin)
    page = page_text(client.get("/admin-center/"))
    assert 'href="/admin-center/apis/"' in page and 'href="/admin-center/targets/"' in page
    assert "Runtime targets" in page
