"""GET /api/api_credentials/<id>: the plain read answered without DRF's stack
(credentials/integration/jsonapi/credential_read.py) gives the same bytes and headers as the DRF
view, costs one query, and leaves every other request and every refusal to the DRF view."""

import json

import pytest
from django.utils import timezone

from credentials.integration import credential_facts
from credentials.integration import services as integration_services
from credentials.integration.jsonapi import credential_read
from tests.credentials.integration.test_api_jsonapi_http import VALIDATOR
from tests.credentials.integration.test_oauth_token import issue
from tests.factories import make_api_credential

JSONAPI = "application/vnd.api+json"


@pytest.fixture
def frozen(time_machine):
    # Both answers of a comparison are made at the same instant (their Expires header).
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


@pytest.fixture
def admin(organization):
    return make_api_credential(organization, name="Provisioning script")


@pytest.fixture
def token(client, admin):
    return issue(client, admin)["access_token"]


@pytest.fixture
def drf_only(monkeypatch):
    """Switch the plain read off: every request goes through the DRF view."""

    def switch_off() -> None:
        monkeypatch.setattr(credential_read, "answer", lambda request, public_id: None)

    return switch_off


def read(client, public_id: str, token: str | None, path: str = "", **headers: str):
    if token:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    return client.get(f"/api/api_credentials/{public_id}{path}", **headers)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            "name": "Zürich sync ☃",
            "redirect_uri": "https://app.example.com/callback",
            "reference": "ERP-42",
            "reference_origin": "erp",
            "metadata": {"team": "billing", "nested": [1, {"b": None, "ok": True}], "line": "\u2028", "ü": 1.5},
        },
        {"client_secret": "Typed.secret~with-all_the-SYMBOLS-0123456789", "mode": "test", "expires_in": 600},
        {"role": "read_only"},
    ],
    ids=["defaults", "every-text", "typed-secret-test-mode", "read-only-role"],
)
def test_the_plain_read_answers_exactly_what_the_drf_view_answers(
    client, organization, token, fields, drf_only, frozen, django_assert_num_queries
):
    if fields.get("role") == "read_only":
        fields = {"role": integration_services.role_ensure_defaults(organization=organization)[1]}
    credential, _ = make_api_credential(organization, **fields)
    headers = {"HTTP_ACCEPT": JSONAPI, "CONTENT_TYPE": JSONAPI}

    with django_assert_num_queries(1):
        plain = read(client, credential.public_id, token, **headers)
    drf_only()
    through_drf = read(client, credential.public_id, token, **headers)

    assert plain.status_code == through_drf.status_code == 200
    assert plain.content == through_drf.content
    assert dict(plain.headers) == dict(through_drf.headers)
    VALIDATOR.validate(json.loads(plain.content))


def test_a_read_only_token_reads_through_the_plain_read(client, organization, admin, django_assert_num_queries):
    read_only = integration_services.role_ensure_defaults(organization=organization)[1]
    reporting = make_api_credential(organization, name="Reporting", role=read_only)
    value = issue(client, reporting)["access_token"]

    with django_assert_num_queries(1):
        response = read(client, admin[0].public_id, value)

    assert response.status_code == 200 and response.json()["data"]["attributes"]["name"] == "Provisioning script"


def test_the_plain_read_checks_the_token_and_shows_the_change_of_another_process_at_once(
    client, admin, token, org_admin
):
    assert read(client, admin[0].public_id, token).json()["data"]["attributes"]["name"] == "Provisioning script"

    # Another process renames it: the resource is read anew on every request, never cached.
    admin[0].__class__.objects.filter(pk=admin[0].pk).update(name="Renamed")

    assert read(client, admin[0].public_id, token).json()["data"]["attributes"]["name"] == "Renamed"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("?include=role,organization", {}),
        ("?fields[api_credentials]=name", {}),
        ("", {"HTTP_ACCEPT": "application/json"}),
        ("", {"HTTP_ACCEPT": f"{JSONAPI}; ext=x, */*"}),
        ("", {"CONTENT_TYPE": f"{JSONAPI}; charset=utf-8"}),
    ],
    ids=["include", "sparse-fieldset", "other-accept", "accept-list", "content-type-parameter"],
)
def test_other_reads_are_the_drf_views(client, admin, token, path, headers, drf_only, frozen):
    plain = read(client, admin[0].public_id, token, path, **headers)
    drf_only()
    through_drf = read(client, admin[0].public_id, token, path, **headers)

    assert plain.status_code == through_drf.status_code
    assert plain.content == through_drf.content


def test_include_and_sparse_fieldsets_still_work(client, admin, token):
    included = read(client, admin[0].public_id, token, "?include=role").json()
    sparse = read(client, admin[0].public_id, token, "?fields[api_credentials]=name").json()

    assert [resource["type"] for resource in included["included"]] == ["roles"]
    assert set(sparse["data"]["attributes"]) == {"name"}


def test_head_is_the_drf_views(client, admin, token):
    response = client.head(f"/api/api_credentials/{admin[0].public_id}", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize(
    ("who", "expected"),
    [("nobody", 401), ("bad token", 401), ("other organization", 404), ("unknown id", 404), ("nul", 404)],
)
def test_refusals_are_the_drf_views_error_documents(client, admin, token, other_organization, who, expected):
    public_id, value = admin[0].public_id, token
    if who == "nobody":
        value = None
    elif who == "bad token":
        value = token[:-1] + ("0" if token[-1] != "0" else "1")
    elif who == "other organization":
        public_id = make_api_credential(other_organization, name="Globex app")[0].public_id
    elif who == "unknown id":
        public_id = "NoSuchId00"
    elif who == "nul":
        public_id = "Abc%00def"

    response = read(client, public_id, value, HTTP_ACCEPT=JSONAPI)

    assert response.status_code == expected
    assert response["Content-Type"] == JSONAPI
    assert response.json()["errors"][0]["status"] == str(expected)


def test_a_deleted_credentials_token_reads_nothing(client, admin, token, org_admin):
    other, _ = make_api_credential(admin[0].organization, name="Other")
    integration_services.api_credential_delete(credential_id=admin[0].pk, deleted_by=org_admin)

    response = read(client, other.public_id, token)

    assert response.status_code == 401


def test_the_plain_read_does_not_run_the_per_request_health_check(client, admin, token, django_assert_num_queries):
    from django.db import connection

    credential_facts.facts_for(admin[0].client_id)
    connection.health_check_done = False

    with django_assert_num_queries(1):
        assert read(client, admin[0].public_id, token).status_code == 200
    assert connection.health_check_done is True


def test_a_token_without_the_read_scope_is_refused_by_the_drf_view(client, admin):
    value = issue(client, admin, scope="write")["access_token"]

    response = read(client, admin[0].public_id, value, HTTP_ACCEPT=JSONAPI)

    assert response.status_code == 403 and response.json()["errors"][0]["status"] == "403"


def test_an_id_with_nul_is_answered_without_a_query(client, admin, token, django_assert_num_queries):
    read(client, admin[0].public_id, token)  # the token's facts are read

    with django_assert_num_queries(0):
        assert read(client, "Abc%00def", token, HTTP_ACCEPT=JSONAPI).status_code == 404
