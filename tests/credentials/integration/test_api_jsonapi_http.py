"""The JSON:API provisioning API (/api/...) over real HTTP: httpx against the live server.

Every answer body of /api/ is validated against the JSON:API 1.0 JSON Schema (tests/jsonapi/).
"""

import json
from datetime import timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest
from django.urls import reverse
from django.utils import timezone

from credentials.integration import services as integration_services
from credentials.integration.models import ApiCredential, Role
from portal.models import AuditEvent
from tests.factories import make_api_credential

pytestmark = pytest.mark.django_db(transaction=True)

JSONAPI = "application/vnd.api+json"
SCHEMA = json.loads((Path(__file__).parents[2] / "jsonapi" / "schema-1.0.json").read_text())
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


def _validate_jsonapi(response: httpx.Response) -> None:
    if not response.request.url.path.startswith("/api/") or response.request.url.path in ("/api/me",):
        return
    if response.request.url.path.startswith(("/api/openapi", "/api/docs")):
        return
    response.read()
    if response.status_code == 204 or response.request.method == "HEAD":
        assert response.content == b""
        return
    assert response.headers["content-type"] == JSONAPI, response.text
    VALIDATOR.validate(response.json())


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=10, event_hooks={"response": [_validate_jsonapi]}) as client:
        yield client


def token_for(http, credential, secret) -> str:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(credential.client_id, secret))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def headers(token: str | None, **extra: str) -> dict[str, str]:
    """What a Commerce Layer client sends: the JSON:API media type on every request."""
    sent = {"Accept": JSONAPI, "Content-Type": JSONAPI}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return {**sent, **extra}


@pytest.fixture
def admin_credential(organization):
    return make_api_credential(organization, name="Provisioning script", reference="ERP-1")


@pytest.fixture
def token(http, admin_credential):
    return token_for(http, *admin_credential)


@pytest.fixture
def roles(organization):
    admin, read_only = integration_services.role_ensure_defaults(organization=organization)
    return {"admin": admin, "read_only": read_only}


@pytest.fixture
def read_only_token(http, organization, roles):
    credential, secret = make_api_credential(organization, name="Reporting", role=roles["read_only"])
    return token_for(http, credential, secret)


@pytest.fixture
def foreign(http, other_organization):
    credential, secret = make_api_credential(other_organization, name="Globex app")
    return credential, token_for(http, credential, secret)


def patch_body(credential: ApiCredential, attributes: dict | None = None, relationships: dict | None = None) -> str:
    data = {"type": "api_credentials", "id": credential.public_id, "attributes": attributes or {}}
    data["relationships"] = relationships or {}
    return json.dumps({"data": data})


def snapshot(credential: ApiCredential) -> dict:
    credential.refresh_from_db()
    return {f.attname: getattr(credential, f.attname) for f in ApiCredential._meta.concrete_fields}


# --- S5: the PATCH of the scenario -------------------------------------------------------------------
def test_s5_patch_sets_reference_and_role_answers_200_with_the_resource_and_is_audited(
    http, token, admin_credential, roles, client, org_admin
):
    credential = admin_credential[0]
    body = {
        "data": {
            "type": "api_credentials",
            "id": credential.public_id,
            "attributes": {"reference": "ANY-EXTERNAL-REFEFERNCE"},
            "relationships": {"role": {"data": {"type": "roles", "id": roles["read_only"].public_id}}},
        }
    }

    response = http.patch(f"/api/api_credentials/{credential.public_id}", headers=headers(token), json=body)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == credential.public_id and data["type"] == "api_credentials"
    assert data["links"]["self"].endswith(f"/api/api_credentials/{credential.public_id}")
    assert set(data["attributes"]) == {
        "name", "kind", "confidential", "redirect_uri", "client_id", "scopes", "expires_in", "mode", "custom",
        "created_at", "updated_at", "reference", "reference_origin", "metadata",
    }  # fmt: skip
    assert data["attributes"]["reference"] == "ANY-EXTERNAL-REFEFERNCE" and data["attributes"]["scopes"] == "read"
    for name in ("organization", "role"):
        links = data["relationships"][name]["links"]
        assert links["self"].endswith(f"/api/api_credentials/{credential.public_id}/relationships/{name}")
        assert links["related"].endswith(f"/api/api_credentials/{credential.public_id}/{name}")
    assert data["relationships"]["role"]["data"] == {"type": "roles", "id": roles["read_only"].public_id}
    credential.refresh_from_db()
    assert credential.reference == "ANY-EXTERNAL-REFEFERNCE" and credential.role == roles["read_only"]
    event = AuditEvent.objects.filter(action="api_credential.update").get()
    assert "ANY-EXTERNAL-REFEFERNCE" in event.summary and "role Admin → Read-only" in event.summary
    assert event.summary.endswith(f"through the REST API by client {credential.client_id}")
    # ... and the Connection API Credentials page shows it.
    client.force_login(org_admin)
    page = client.get(reverse("credentials:api-credential-list")).content.decode()
    assert "Read-only" in page


def test_patch_accepts_empty_members_numbers_as_strings_and_include_and_fields(http, token, admin_credential):
    credential = admin_credential[0]

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}?include=role&fields[api_credentials]=expires_in,role",
        headers=headers(token),
        content=patch_body(credential, {"expires_in": "3600"}),
    )

    assert response.status_code == 200, response.text
    document = response.json()
    assert document["data"]["attributes"] == {"expires_in": 3600}
    assert [resource["type"] for resource in document["included"]] == ["roles"]
    credential.refresh_from_db()
    assert credential.expires_in == 3600


def test_patch_with_nothing_to_change_answers_200_and_records_nothing(http, token, admin_credential):
    credential = admin_credential[0]

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}", headers=headers(token), content=patch_body(credential)
    )

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="api_credential.update").exists()


def test_unsetting_the_role_leaves_the_read_only_role_and_never_a_null_relationship(
    http, token, admin_credential, roles
):
    credential = admin_credential[0]

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token),
        content=patch_body(credential, relationships={"role": {"data": None}}),
    )

    assert response.status_code == 200
    assert response.json()["data"]["relationships"]["role"]["data"]["id"] == roles["read_only"].public_id
    credential.refresh_from_db()
    assert credential.role == roles["read_only"]


@pytest.mark.parametrize(
    ("attributes", "pointer", "code"),
    [
        ({"client_id": "mine"}, "/data/attributes/client_id", "read_only_attribute"),
        ({"mode": "test"}, "/data/attributes/mode", "read_only_attribute"),
        ({"colour": "blue"}, "/data/attributes/colour", "unknown_attribute"),
        ({"expires_in": 0}, "/data/attributes/expires_in", "min_value"),
        ({"expires_in": "7200.5"}, "/data/attributes/expires_in", "invalid"),
        ({"expires_in": "soon"}, "/data/attributes/expires_in", "invalid"),
        ({"expires_in": True}, "/data/attributes/expires_in", "invalid"),
        ({"metadata": ["a"]}, "/data/attributes/metadata", "invalid"),
        ({"metadata": {"big": "x" * 20_000}}, "/data/attributes/metadata", "too_big"),
        ({"redirect_uri": "http://example.com/cb"}, "/data/attributes/redirect_uri", "invalid"),
        ({"redirect_uri": "/relative"}, "/data/attributes/redirect_uri", "invalid"),
        ({"name": "n" * 201}, "/data/attributes/name", "max_length"),
        ({"reference": "r" * 201}, "/data/attributes/reference", "max_length"),
    ],
)
def test_patch_refuses_bad_attributes_with_422_and_a_pointer_and_changes_nothing(
    http, token, admin_credential, attributes, pointer, code
):
    credential = admin_credential[0]
    before = snapshot(credential)

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token),
        content=patch_body(credential, {"name": "Changed", **attributes}),
    )

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["source"]["pointer"], e["code"], e["status"]) for e in errors] == [(pointer, code, "422")]
    assert errors[0]["title"] == "Unprocessable Entity" and errors[0]["detail"]
    assert snapshot(credential) == before
    assert not AuditEvent.objects.filter(action="api_credential.update").exists()


def test_patch_refuses_a_role_of_another_organization(http, token, admin_credential, other_organization):
    credential = admin_credential[0]
    foreign_role = integration_services.role_ensure_defaults(organization=other_organization)[1]
    before = snapshot(credential)

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token),
        content=patch_body(
            credential, {"name": "x"}, {"role": {"data": {"type": "roles", "id": foreign_role.public_id}}}
        ),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/relationships/role/data"
    assert snapshot(credential) == before


def test_patch_refuses_setting_the_organization(http, token, admin_credential, other_organization):
    credential = admin_credential[0]

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token),
        content=patch_body(
            credential, relationships={"organization": {"data": {"type": "organizations", "id": "globex"}}}
        ),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/relationships/organization"


@pytest.mark.parametrize(
    "data",
    [
        {"type": "roles", "id": "{id}", "attributes": {"name": "x"}},
        {"type": "api_credentials", "id": "SomeOther01", "attributes": {"name": "x"}},
    ],
)
def test_a_mismatched_type_or_id_is_409_and_changes_nothing(http, token, admin_credential, data):
    credential = admin_credential[0]
    before = snapshot(credential)
    data = {**data, "id": data["id"].format(id=credential.public_id)}

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}", headers=headers(token), content=json.dumps({"data": data})
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["status"] == "409"
    assert snapshot(credential) == before


def test_a_patch_without_id_is_400(http, token, admin_credential):
    credential = admin_credential[0]

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token),
        content=json.dumps({"data": {"type": "api_credentials", "attributes": {"name": "x"}}}),
    )

    assert response.status_code == 400


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", f"{JSONAPI}; charset=utf-8"])
def test_a_wrong_content_type_is_415_and_changes_nothing(http, token, admin_credential, content_type):
    credential = admin_credential[0]
    before = snapshot(credential)

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token, **{"Content-Type": content_type}),
        content=patch_body(credential, {"name": "x"}),
    )

    assert response.status_code == 415 and response.json()["errors"][0]["code"] == "unsupported_media_type"
    assert snapshot(credential) == before


@pytest.mark.parametrize("accept", ["application/json", "text/html", f"{JSONAPI}; charset=utf-8"])
def test_an_accept_that_excludes_jsonapi_is_406(http, token, accept):
    response = http.get("/api/api_credentials", headers=headers(token, Accept=accept))

    assert response.status_code == 406


def test_an_oversized_body_is_413_and_changes_nothing(http, token, admin_credential):
    credential = admin_credential[0]
    before = snapshot(credential)

    response = http.patch(
        f"/api/api_credentials/{credential.public_id}",
        headers=headers(token),
        content=patch_body(credential, {"name": "x", "reference_origin": "o" * 70_000}),
    )

    assert response.status_code == 413 and response.json()["errors"][0]["code"] == "too_large"
    assert snapshot(credential) == before


@pytest.mark.parametrize(("method", "expected"), [("PUT", 405), ("OPTIONS", 204), ("HEAD", 200)])
def test_other_methods_answer_without_a_server_error(http, token, admin_credential, method, expected):
    response = http.request(
        method,
        f"/api/api_credentials/{admin_credential[0].public_id}",
        headers=headers(token),
        content=patch_body(admin_credential[0]) if method == "PUT" else None,
    )

    assert response.status_code == expected
    assert "PATCH" in response.headers["allow"]


def test_accept_with_wildcards_and_no_content_type_on_get_are_fine(http, token):
    response = http.get("/api/api_credentials", headers={"Authorization": f"Bearer {token}", "Accept": "*/*"})

    assert response.status_code == 200


# --- Create, retrieve, list, delete ----------------------------------------------------------------
def test_create_answers_201_with_the_secret_once_and_is_audited(http, token, roles, client, org_admin):
    body = {
        "data": {
            "type": "api_credentials",
            "attributes": {"name": "Created by API", "expires_in": "600", "metadata": {"team": "ops"}},
            "relationships": {"role": {"data": {"type": "roles", "id": roles["read_only"].public_id}}},
        }
    }

    response = http.post("/api/api_credentials", headers=headers(token), json=body)

    assert response.status_code == 201, response.text
    data = response.json()["data"]
    secret = data["attributes"]["client_secret"]
    assert response.headers["location"].endswith(f"/api/api_credentials/{data['id']}")
    assert "no-store" in response.headers["cache-control"]
    credential = ApiCredential.objects.get(public_id=data["id"])
    assert credential.role == roles["read_only"] and credential.expires_in == 600
    assert secret not in credential.secret_digest
    assert AuditEvent.objects.filter(action="api_credential.create", target_id=str(credential.pk)).exists()
    again = http.get(f"/api/api_credentials/{data['id']}", headers=headers(token)).json()["data"]
    assert "client_secret" not in again["attributes"]
    # The new secret works, and the page lists the credential.
    assert token_for(http, credential, secret)
    client.force_login(org_admin)
    assert "Created by API" in client.get(reverse("credentials:api-credential-list")).content.decode()


def test_create_refuses_the_fourth_credential_and_changes_nothing(http, token, organization):
    make_api_credential(organization, name="two")
    make_api_credential(organization, name="three")
    body = {"data": {"type": "api_credentials", "attributes": {"name": "four"}, "relationships": {}}}

    response = http.post("/api/api_credentials", headers=headers(token), json=body)

    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "limit_reached"
    assert ApiCredential.objects.filter(organization=organization).count() == 3


def test_create_refuses_a_wrong_type_with_409(http, token):
    body = {"data": {"type": "roles", "attributes": {"name": "x"}}}

    response = http.post("/api/api_credentials", headers=headers(token), json=body)

    assert response.status_code == 409
    assert ApiCredential.objects.count() == 1


def test_retrieve_with_include_and_sparse_fieldsets(http, token, admin_credential):
    credential = admin_credential[0]

    response = http.get(
        f"/api/api_credentials/{credential.public_id}?include=role,organization"
        "&fields[api_credentials]=name,role,organization&fields[roles]=name",
        headers=headers(token),
    )

    assert response.status_code == 200
    document = response.json()
    assert document["data"]["attributes"] == {"name": "Provisioning script"}
    assert set(document["data"]["relationships"]) == {"role", "organization"}
    included = {resource["type"]: resource for resource in document["included"]}
    assert included["roles"]["attributes"] == {"name": "Admin"}
    assert included["organizations"]["id"] == "acme"


def test_an_unknown_include_is_400(http, token, admin_credential):
    response = http.get(f"/api/api_credentials/{admin_credential[0].public_id}?include=secrets", headers=headers(token))

    assert response.status_code == 400


def test_list_counts_with_page_size_1_and_encodes_brackets_in_links(http, token, organization):
    make_api_credential(organization, name="second app")
    make_api_credential(organization, name="third", reference="ERP-3")

    response = http.get("/api/api_credentials?page[size]=1", headers=headers(token))

    document = response.json()
    assert document["meta"] == {"record_count": 3, "page_count": 3}
    assert len(document["data"]) == 1
    assert "page%5Bnumber%5D=2" in document["links"]["next"] and "[" not in document["links"]["next"]
    second = http.get(document["links"]["next"], headers=headers(token)).json()
    assert second["data"][0]["attributes"]["name"] == "second app"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("filter[q][name_cont]=app", ["second app"]),
        ("filter[name]=third", ["third"]),
        ("filter[q][reference_eq]=ERP-3", ["third"]),
        ("filter[reference]=ERP-1", ["Provisioning script"]),
        ("filter[q][kind_eq]=connection&sort=-name", ["third", "second app", "Provisioning script"]),
        ("filter[q][mode_eq]=test", []),
        ("filter[q][name_start]=Prov", ["Provisioning script"]),
        ("sort=name", ["Provisioning script", "second app", "third"]),
    ],
)
def test_list_filters_and_sorts(http, token, organization, query, names):
    make_api_credential(organization, name="second app")
    make_api_credential(organization, name="third", reference="ERP-3")

    response = http.get(f"/api/api_credentials?{query}", headers=headers(token))

    assert response.status_code == 200
    assert [resource["attributes"]["name"] for resource in response.json()["data"]] == names
    assert response.json()["meta"]["record_count"] == len(names)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[secret]=x", "filter[secret]"),
        ("sort=secret_digest", "sort"),
        ("page[size]=0", "page[size]"),
        ("page[size]=26", "page[size]"),
        ("page[number]=zero", "page[number]"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(http, token, query, parameter):
    response = http.get(f"/api/api_credentials?{query}", headers=headers(token))

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": parameter}


def test_delete_answers_204_removes_it_from_the_page_and_is_audited(http, token, organization, client, org_admin):
    other, _ = make_api_credential(organization, name="Doomed")

    response = http.delete(f"/api/api_credentials/{other.public_id}", headers=headers(token))

    assert response.status_code == 204
    assert not ApiCredential.objects.filter(pk=other.pk).exists()
    assert AuditEvent.objects.filter(action="api_credential.delete").count() == 1
    client.force_login(org_admin)
    assert "Doomed" not in client.get(reverse("credentials:api-credential-list")).content.decode()
    assert http.delete(f"/api/api_credentials/{other.public_id}", headers=headers(token)).status_code == 404


def test_a_change_on_the_page_is_visible_through_the_api(http, token, admin_credential, org_admin, roles):
    credential = admin_credential[0]

    integration_services.api_credential_edit(
        credential_id=credential.pk,
        edited_by=org_admin,
        name="Renamed on the page",
        role=roles["admin"],
        new_secret=False,
    )

    data = http.get(f"/api/api_credentials/{credential.public_id}", headers=headers(token)).json()["data"]
    assert data["attributes"]["name"] == "Renamed on the page"


def test_roles_and_organizations_and_relationship_links(http, token, admin_credential, roles):
    credential = admin_credential[0]

    listed = http.get("/api/roles", headers=headers(token)).json()
    assert {r["id"] for r in listed["data"]} == {roles["admin"].public_id, roles["read_only"].public_id}
    assert listed["meta"] == {"record_count": 2, "page_count": 1}
    role = http.get(f"/api/roles/{roles['read_only'].public_id}", headers=headers(token)).json()["data"]
    assert role["attributes"]["scopes"] == "read"
    organizations = http.get("/api/organizations", headers=headers(token)).json()
    assert [o["id"] for o in organizations["data"]] == ["acme"]
    assert http.get("/api/organizations/acme", headers=headers(token)).status_code == 200
    related = http.get(f"/api/api_credentials/{credential.public_id}/role", headers=headers(token)).json()
    assert related["data"]["id"] == roles["admin"].public_id
    linkage = http.get(
        f"/api/api_credentials/{credential.public_id}/relationships/organization", headers=headers(token)
    ).json()
    assert linkage["data"] == {"type": "organizations", "id": "acme"}


# --- Authorization --------------------------------------------------------------------------------
def test_another_organizations_resources_answer_404_and_are_not_changed(http, token, foreign, other_organization):
    credential, _ = foreign
    other_role = integration_services.role_ensure_defaults(organization=other_organization)[0]
    before = snapshot(credential)
    path = f"/api/api_credentials/{credential.public_id}"

    assert http.get(path, headers=headers(token)).status_code == 404
    assert http.patch(path, headers=headers(token), content=patch_body(credential, {"name": "x"})).status_code == 404
    assert http.delete(path, headers=headers(token)).status_code == 404
    assert http.get(f"{path}/role", headers=headers(token)).status_code == 404
    assert http.get(f"/api/roles/{other_role.public_id}", headers=headers(token)).status_code == 404
    assert http.get("/api/organizations/globex", headers=headers(token)).status_code == 404
    listed = http.get("/api/api_credentials", headers=headers(token)).json()["data"]
    assert credential.public_id not in {resource["id"] for resource in listed}
    assert snapshot(credential) == before


def test_a_read_only_token_reads_and_cannot_write(http, read_only_token, admin_credential):
    credential = admin_credential[0]
    before = snapshot(credential)
    path = f"/api/api_credentials/{credential.public_id}"

    assert http.get(path, headers=headers(read_only_token)).status_code == 200
    patched = http.patch(path, headers=headers(read_only_token), content=patch_body(credential, {"name": "x"}))
    assert patched.status_code == 403 and patched.json()["errors"][0]["status"] == "403"
    assert http.delete(path, headers=headers(read_only_token)).status_code == 403
    created = http.post(
        "/api/api_credentials",
        headers=headers(read_only_token),
        json={"data": {"type": "api_credentials", "attributes": {}}},
    )
    assert created.status_code == 403
    assert snapshot(credential) == before and ApiCredential.objects.count() == 2


def test_no_token_is_401_with_a_bearer_challenge_and_an_error_object(http, db):
    response = http.get("/api/api_credentials", headers=headers(None))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="Portico"'
    assert response.json()["errors"][0]["status"] == "401"


def test_an_expired_token_is_401(http, token, time_machine):
    time_machine.move_to(timezone.now() + timedelta(seconds=7200))

    response = http.get("/api/api_credentials", headers=headers(token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_revoked_token_is_401(http, token, admin_credential, org_admin):
    integration_services.api_credential_set_secret(credential_id=admin_credential[0].pk, changed_by=org_admin)

    response = http.patch(
        f"/api/api_credentials/{admin_credential[0].public_id}",
        headers=headers(token),
        content=patch_body(admin_credential[0], {"name": "x"}),
    )

    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer ")


def test_api_me_keeps_working(http, token):
    assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["organization"]["slug"] == "acme"


# --- Query counts (in process: the live server's queries are not counted in this thread) -----------
def _list_queries(client, django_assert_max_num_queries, token: str, path: str, limit: int) -> None:
    with django_assert_max_num_queries(limit):
        response = client.get(path, headers={"Authorization": f"Bearer {token}", "Accept": JSONAPI})
    assert response.status_code == 200


@pytest.mark.parametrize("extra_roles", [0, 20])
def test_listing_roles_costs_the_same_at_any_page_size(
    client, http, token, organization, extra_roles, django_assert_max_num_queries
):
    for n in range(extra_roles):
        Role.objects.create(organization=organization, name=f"Extra {n}")

    _list_queries(client, django_assert_max_num_queries, token, "/api/roles?page[size]=25&include=organization", 9)


@pytest.mark.parametrize("count", [1, 3])
def test_listing_credentials_with_includes_costs_the_same_at_any_size(
    client, http, token, organization, count, django_assert_max_num_queries
):
    for n in range(count - 1):
        make_api_credential(organization, name=f"more {n}")

    _list_queries(
        client, django_assert_max_num_queries, token, "/api/api_credentials?page[size]=25&include=role,organization", 6
    )


def test_listing_roles_writes_nothing(client, http, token, organization):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/roles", headers={"Authorization": f"Bearer {token}", "Accept": JSONAPI})

    assert response.status_code == 200
    assert [role["attributes"]["name"] for role in response.json()["data"]] == ["Admin", "Read-only"]
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert writes == []
