"""The OpenAPI document of /api/ and schemathesis against the live server with it: every
operation, generated requests, no server error and no answer that breaks the document; and
requests that break the document on purpose (schemathesis's negative mode: wrong types, missing
and extra members, bodies and parameters the schema refuses), none of which may be a 5xx."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_api_credential

pytestmark = pytest.mark.django_db(transaction=True)

OPERATIONS = {
    ("GET", "/api/api_credentials"),
    ("POST", "/api/api_credentials"),
    ("GET", "/api/api_credentials/{public_id}"),
    ("PATCH", "/api/api_credentials/{public_id}"),
    ("DELETE", "/api/api_credentials/{public_id}"),
    ("GET", "/api/roles"),
    ("GET", "/api/roles/{public_id}"),
    ("GET", "/api/organizations"),
    ("GET", "/api/organizations/{public_id}"),
}


@pytest.fixture
def api_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")


@pytest.fixture
def bearer(live_server, organization):
    credential, secret = make_api_credential(organization, name="schemathesis")
    response = httpx.post(
        f"{live_server.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(credential.client_id, secret)
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_the_document_describes_every_operation_with_its_errors(live_server, db):
    document = httpx.get(f"{live_server.url}/api/openapi.json", headers={"Accept": "application/vnd.api+json"})

    assert document.status_code == 200 and document.headers["content-type"].startswith("application/vnd.oai.openapi")
    paths = document.json()["paths"]
    found = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert found == OPERATIONS
    patch = paths["/api/api_credentials/{public_id}"]["patch"]
    assert {"200", "400", "401", "403", "404", "409", "415", "422"} <= set(patch["responses"])
    assert "requestBody" in patch and patch["security"] == [{"bearerAuth": []}]


def test_docs_are_served_without_a_cdn(client, db):
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert "cdn." not in response.content.decode()


@pytest.fixture
def known_ids(organization):
    """Ids that exist, so that generated requests also reach the success paths, not only 404."""
    from credentials.integration import services as integration_services

    target, _ = make_api_credential(organization, name="target")
    roles = integration_services.role_ensure_defaults(organization=organization)
    return {"api_credentials": target.public_id, "roles": roles[1].public_id, "organizations": organization.slug}


def _aim(case, ids, path, aim):
    if not aim or "{public_id}" not in path:
        return case
    public_id = ids[path.split("/")[2]]
    case.path_parameters = {**(case.path_parameters or {}), "public_id": public_id}
    if isinstance(case.body, dict) and isinstance(case.body.get("data"), dict):
        case.body["data"]["id"] = public_id
    return case


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_schemathesis_finds_no_server_error_and_no_answer_breaking_the_document(
    live_server, bearer, known_ids, method, path
):
    # schemathesis's own pytest plugin (from_fixture) breaks on pytest 9's subtests, so each
    # operation is one test here, driven by its Hypothesis strategy.
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")
    operation = loaded[path][method]

    @given(case=operation.as_strategy(), aim=st.booleans())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case, aim):
        case = _aim(case, known_ids, path, aim)
        case.call_and_validate(
            base_url=live_server.url,
            headers=bearer,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )

    call()


# DELETE has nothing to break: no body, no query, one free-text path parameter (and the headers fixed).
NEGATIVE_OPERATIONS = OPERATIONS - {("DELETE", "/api/api_credentials/{public_id}")}


@pytest.mark.parametrize(("method", "path"), sorted(NEGATIVE_OPERATIONS))
def test_schemathesis_invalid_requests_find_no_server_error(live_server, bearer, known_ids, method, path):
    # Negative mode: every request breaks the schema somewhere (a body of the wrong shape, a
    # parameter of the wrong type...). Each must be refused with a 4xx; only not_a_server_error
    # is checked, since a refusal is the right answer even where the document lists no status.
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")
    operation = loaded[path][method]

    # The bearer header is fixed: left to the generator, most requests would stop at 401.
    strategy = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, headers=bearer)

    @given(case=strategy, aim=st.booleans())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case, aim):
        case = _aim(case, known_ids, path, aim)
        case.call_and_validate(base_url=live_server.url, headers=bearer, checks=[not_a_server_error])

    call()
