"""A URL that is not one says that https is required: the rules stay as they were (https only,
outside the tests' loopback), only "Enter a valid URL." said nothing of the scheme."""

import html
import json

import httpx
import pytest

from credentials.connections.models import ConnectionRequest, Tenant
from credentials.keys.models import RuntimeTarget
from tests.factories import make_api_credential

HTTPS_REQUIRED = "Enter a valid https:// URL (https is required)."
JSONAPI = "application/vnd.api+json"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_registering_an_api_portal_with_a_url_that_is_not_one_says_https_is_required(client, tenant_admin):
    client.force_login(tenant_admin)
    response = client.post("/manage/connectivity/tenants/", {"alias": "acme-prod", "url": "not a url"})
    page = page_text(response)
    assert HTTPS_REQUIRED in page
    assert "Enter a valid URL." not in page
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("field", ["base_url", "health_url"])
def test_a_runtime_target_url_that_is_not_one_says_https_is_required(client, hub_admin, field):
    client.force_login(hub_admin)
    form = {"name": "mediator-eu", "base_url": "https://gw.example.com", "health_url": "", field: "not a url"}
    page = page_text(client.post("/admin-center/targets/new/", form))
    assert HTTPS_REQUIRED in page
    assert "Enter a valid URL." not in page
    assert not RuntimeTarget.objects.exists()


def test_pasted_credentials_with_a_broken_url_say_https_is_required(client, tenant_admin, tenant):
    client.force_login(tenant_admin)
    paste = json.dumps(
        {
            "url": "https://acme.example.com:99999",
            "tokenUrl": "https://acme.example.com/oauth/token",
            "clientId": "x",
            "clientSecret": "y",
        }
    )
    page = page_text(client.post("/manage/connectivity/requests/", {"tenant": tenant.pk, "credentials": paste}))
    assert 'The "url" field is not a valid https:// URL (https is required).' in page
    assert not ConnectionRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_json_api_says_https_is_required_for_a_redirect_uri(live_server, organization):
    credential, secret = make_api_credential(organization, name="Provisioning script")
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        token = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(credential.client_id, secret)
        ).json()["access_token"]
        body = {"data": {"type": "api_credentials", "id": credential.public_id, "attributes": {"redirect_uri": "/cb"}}}
        response = http.patch(
            f"/api/api_credentials/{credential.public_id}",
            headers={"Accept": JSONAPI, "Content-Type": JSONAPI, "Authorization": f"Bearer {token}"},
            content=json.dumps(body),
        )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["source"]["pointer"] == "/data/attributes/redirect_uri"
    assert error["detail"] == HTTPS_REQUIRED
