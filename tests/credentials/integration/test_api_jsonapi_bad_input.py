"""Malformed input to the JSON:API provisioning API (/api/...): refused with a 4xx JSON:API error
object that points at the problem, never a 500, and nothing changes.

These pin the defects one by one; the corpus of bad documents (tests/data/bad_input/jsonapi_*.json)
runs in test_bad_input_corpus.py.
"""

import json

import httpx
import pytest

from credentials.integration.models import ApiCredential
from portal.models import AuditEvent
from tests.data import corpus
from tests.data.corpus import JSONAPI

CREATE = {"type": "api_credentials", "attributes": {"name": "Made by a script", "mode": "live", "kind": "connection"}}


@pytest.fixture
def world(organization, other_organization):
    return corpus.api_world(organization, other_organization)


def post(world, body: str | bytes, **environ):
    body = body.encode() if isinstance(body, str) else body
    environ = {
        "CONTENT_TYPE": JSONAPI,
        "HTTP_ACCEPT": JSONAPI,
        "HTTP_AUTHORIZATION": f"Bearer {world.bearer}",
        **environ,
    }
    return world.client.generic("POST", "/api/api_credentials", body, **environ)


def get(world, path: str):
    return world.client.get(path, HTTP_ACCEPT=JSONAPI, HTTP_AUTHORIZATION=f"Bearer {world.bearer}")


def errors_of(response) -> list[tuple[str, str | None]]:
    return [(error["status"], (error.get("source") or {}).get("pointer")) for error in response.json()["errors"]]


# --- The defects, one by one ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("member", "value", "pointer"),
    [
        ("attributes", ["name"], "/data/attributes"),
        ("relationships", "role", "/data/relationships"),
        ("relationships", {"role": "Abc123"}, "/data/relationships/role"),
        ("relationships", {"role": None}, "/data/relationships/role"),
    ],
    ids=["attributes-list", "relationships-string", "role-string", "role-null"],
)
def test_a_member_that_is_not_an_object_is_a_400_with_its_pointer(world, member, value, pointer):
    response = post(world, json.dumps({"data": {**CREATE, member: value}}))

    assert response.status_code == 400, response.content
    assert errors_of(response) == [("400", pointer)]
    assert ApiCredential.objects.count() == 1


def test_deeply_nested_metadata_is_a_400_not_a_recursion_error(world):
    metadata = '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"
    body = '{"data": {"type": "api_credentials", "attributes": {"mode": "live", "metadata": ' + metadata + "}}}"

    response = post(world, body)

    assert response.status_code == 400
    assert errors_of(response) == [("400", "/data/attributes/metadata")]
    assert response.json()["errors"][0]["code"] == "too_deep"


@pytest.mark.parametrize(
    ("escaped", "pointer"),
    [
        (r'"metadata": {"team": "ops\ud800"}', "/data/attributes/metadata/team"),
        (r'"metadata": {"team\u0000": "ops"}', "/data/attributes/metadata"),
        (r'"metadata": {"team": "ops\u0000"}', "/data/attributes/metadata/team"),
        (r'"name": "Billing\ud800"', "/data/attributes/name"),
    ],
    ids=["surrogate-in-metadata", "nul-in-metadata-key", "nul-in-metadata", "surrogate-in-name"],
)
def test_a_lone_surrogate_or_nul_is_refused_and_the_list_still_reads(world, escaped, pointer):
    body = (
        '{"data": {"type": "api_credentials", "attributes": {"mode": "live", "kind": "connection", ' + escaped + "}}}"
    )
    events = AuditEvent.objects.count()

    response = post(world, body)

    assert response.status_code == 422, response.content
    assert errors_of(response) == [("422", pointer)]
    assert ApiCredential.objects.count() == 1 and AuditEvent.objects.count() == events
    assert get(world, "/api/api_credentials").status_code == 200


def test_a_number_too_large_for_json_answers_422_not_500(world):
    body = '{"data": {"type": "api_credentials", "attributes": {"mode": "live", "metadata": {"n": 1e400}}}}'

    response = post(world, body)

    assert response.status_code == 422
    assert errors_of(response) == [("422", "/data/attributes/metadata/n")]


@pytest.mark.parametrize(
    ("name", "code"),
    [(12345, "invalid"), ("Invoice\u202egpj.exe", "invalid_character"), ("\u0430cme", "invalid_character")],
    ids=["number", "bidi-override", "homoglyph"],
)
def test_a_name_that_is_a_number_or_hides_characters_is_refused_not_stored(world, name, code):
    response = post(world, json.dumps({"data": {**CREATE, "attributes": {**CREATE["attributes"], "name": name}}}))

    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert (error["source"]["pointer"], error["code"]) == ("/data/attributes/name", code)
    assert ApiCredential.objects.count() == 1


def test_a_name_is_stored_in_nfc(world):
    decomposed = "Caf\u0065\u0301 sync"  # e + combining acute

    response = post(world, json.dumps({"data": {**CREATE, "attributes": {**CREATE["attributes"], "name": decomposed}}}))

    assert response.status_code == 201
    assert response.json()["data"]["attributes"]["name"] == "Caf\u00e9 sync"


@pytest.mark.parametrize("query", ["page[size]=\u00b2", "page[number]=\u00b2", "page[size]=%D9%A3"])
def test_a_page_number_in_other_digits_is_a_400(world, query):
    response = get(world, f"/api/api_credentials?{query}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"].startswith("page[")


def test_nul_in_a_filter_is_a_400_and_in_an_id_a_404(world):
    assert get(world, "/api/api_credentials?filter[name]=%00").status_code == 400
    assert get(world, "/api/api_credentials?filter[q][reference_cont]=a%00").status_code == 400
    assert get(world, "/api/api_credentials/%00").status_code == 404
    assert get(world, "/api/api_credentials/%00/role").status_code == 404


def test_a_wrong_content_type_names_the_header(world):
    response = post(world, json.dumps({"data": CREATE}), CONTENT_TYPE="application/json")

    assert response.status_code == 415
    assert response.json()["errors"][0]["source"] == {"header": "Content-Type"}


# --- Over real HTTP: what a server hands Django for an empty or a chunked body --------------------------
@pytest.mark.django_db(transaction=True)
def test_an_empty_body_is_a_400_and_a_chunked_one_a_411_and_nothing_is_made(live_server, organization):
    from tests.factories import make_api_credential

    credential, secret = make_api_credential(organization, name="script")
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        issued = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(credential.client_id, secret)
        )
        sent = {"Authorization": f"Bearer {issued.json()['access_token']}", "Content-Type": JSONAPI, "Accept": JSONAPI}

        empty = http.post("/api/api_credentials", headers=sent, content=b"")
        # A generator body: httpx sends it chunked, without Content-Length.
        chunked = http.post(
            "/api/api_credentials", headers=sent, content=(part for part in [json.dumps({"data": CREATE}).encode()])
        )

    assert empty.status_code == 400, empty.text
    assert empty.json()["errors"][0]["source"]["pointer"] == "/data"
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert chunked.status_code == 411, chunked.text
    assert chunked.json()["errors"][0]["source"] == {"pointer": "/data", "header": "Transfer-Encoding"}
    assert ApiCredential.objects.count() == 1
