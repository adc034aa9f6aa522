"""The bad input corpus (tests/data/bad_input/<surface>.json): input each surface of Portico must
refuse, and how one case is sent and judged. The tests on SQLite (test_bad_input_*.py beside the
code's other tests) and on PostgreSQL (tests/integration/test_bad_input_corpus.py) run the same
cases through these functions.

A case is a JSON object with an "id", what to send, and what the refusal looks like. Values that
JSON cannot spell plainly are written as:

- ``{"$repeat": "[", "times": 10000}``: the text repeated (deep nesting, huge values);
- ``{"$join": ["a", {"$repeat": ...}, "b"]}``: the parts joined;
- ``"$NAME"`` anywhere inside a string: the value the test gives it (ids of rows it made, a
  token URL, a certificate).

Judged the same way everywhere: a 4xx (or, for pages, the form re-rendered with status 200 and an
error on the named field, as htmx wants), never a 5xx, and every row of the apps' tables the
same before and after (no row added, none changed, no audit event).
"""

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.apps import apps
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import reverse

from credentials.connections.pasted import CredentialsError, parse_tenant_credentials
from credentials.connections.services import connection_request_submit
from credentials.integration import services as integration_services
from portal.roles import Role
from tests.credentials.connections.certs import PemPair, make_key_and_cert
from tests.factories import (
    ApiFactory,
    OrganizationFactory,
    RuntimeTargetFactory,
    TenantFactory,
    UserFactory,
    make_api_credential,
)

CORPUS_DIR = Path(__file__).parent / "bad_input"
JSONAPI = "application/vnd.api+json"
FORM = "application/x-www-form-urlencoded"
_SCHEMA = json.loads((Path(__file__).parents[1] / "jsonapi" / "schema-1.0.json").read_text())
JSONAPI_VALIDATOR = jsonschema.validators.validator_for(_SCHEMA)(_SCHEMA)

SURFACES = (
    "jsonapi_create",
    "jsonapi_update",
    "token",
    "pasted_credentials",
    "connection_forms",
    "tenant_register",
    "api_credential_add",
    "api_create",
    "runtime_target",
)

TOKEN_URL = "https://acme.authentication.example.com/oauth/token"
GOOD_PASTE = {
    "url": "https://acme-apiportal.cfapps.eu10.hana.ondemand.com",
    "tokenUrl": TOKEN_URL,
    "clientId": "sb-apiaccess!b1|api-portal-xsuaa!b2",
    "clientSecret": "s3cr3t-VALUE-123=",
}


# --- The rows every case of a module starts from ----------------------------------------------------------
@contextlib.contextmanager
def module_rows(django_db_blocker: Any) -> Iterator[None]:
    """Rows made once for a module of corpus tests (Django's setUpTestData, for pytest): they are
    made in a transaction that is rolled back when the module ends, and each test's own
    transaction is a savepoint inside it, so a case that did change something is undone too."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


# --- Reading the corpus -----------------------------------------------------------------------------
def load(surface: str) -> list[dict[str, Any]]:
    cases = json.loads((CORPUS_DIR / f"{surface}.json").read_text(encoding="utf-8"))
    ids = [case["id"] for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    assert not duplicates, f"{surface}.json repeats the ids {duplicates}"
    return cases


def case_id(case: dict[str, Any]) -> str:
    return case["id"]


def expand(value: Any, placeholders: dict[str, str]) -> Any:
    """The case's value with $repeat, $join and placeholders written out."""
    if isinstance(value, str):
        for name in sorted(placeholders, key=len, reverse=True):
            value = value.replace(name, placeholders[name])
        return value
    if isinstance(value, list):
        return [expand(item, placeholders) for item in value]
    if isinstance(value, dict):
        if "$repeat" in value:
            return expand(value["$repeat"], placeholders) * value["times"]
        if "$join" in value:
            return "".join(expand(part, placeholders) for part in value["$join"])
        return {key: expand(item, placeholders) for key, item in value.items()}
    return value


# --- Judging -----------------------------------------------------------------------------------------
def _tables() -> list[str]:
    tables = set()
    for model in apps.get_models(include_auto_created=True):  # with the many-to-many tables
        if model._meta.app_label in ("portal", "credentials", "approvals") and model._meta.managed:
            tables.add(model._meta.db_table)
    return sorted(tables)


def database_state() -> dict[str, list[tuple]]:
    """Every row of the apps' tables as stored (encrypted columns as their ciphertext), read with
    plain SQL: the tables hold a handful of rows here, and the ORM would triple the cost of a case."""
    state = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")  # noqa: S608 - model tables
            state[table] = cursor.fetchall()
    return state


def assert_unchanged(before: dict[str, list[tuple]]) -> None:
    after = database_state()
    changed = [label for label in before if before[label] != after[label]]
    assert not changed, f"rows changed in {changed}"


def check_jsonapi_refusal(response: Any, case: dict[str, Any]) -> None:
    """A 4xx JSON:API error document: every error with status, title, detail and a source."""
    body = response.content.decode("utf-8", errors="replace")
    assert response.status_code == case["status"], f"{response.status_code}: {body[:500]}"
    assert response["Content-Type"] == JSONAPI, body[:500]
    document = response.json()
    JSONAPI_VALIDATOR.validate(document)
    errors = document["errors"]
    for error in errors:
        assert error["status"] == str(response.status_code), error
        assert error["title"] and error["detail"], error
        assert set(error.get("source") or {}) & {"pointer", "parameter", "header"}, error
    if "pointer" in case:
        pointers = [(error.get("source") or {}).get("pointer") for error in errors]
        assert case["pointer"] in pointers, pointers


def check_form_refusal(response: Any, form_name: str, field_name: str | None) -> None:
    """The page re-rendered (200, as htmx wants) with the form's error beside the field."""
    assert response.status_code == 200, response.status_code
    form = response.context[form_name]
    assert form.errors, "the form was accepted"
    if field_name is not None:
        assert field_name in form.errors, dict(form.errors)


# --- JSON:API and the token endpoint -----------------------------------------------------------------
@dataclass
class ApiWorld:
    """An organization's API client with a bearer token, and the ids the cases point at."""

    client: Client
    bearer: str
    placeholders: dict[str, str] = field(default_factory=dict)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def api_world(organization: Any = None, other_organization: Any = None) -> ApiWorld:
    organization = organization or OrganizationFactory(slug="corpus-api", name="Corpus API")
    other_organization = other_organization or OrganizationFactory(slug="corpus-api-other", name="Corpus other")
    credential, secret = make_api_credential(organization, name="Provisioning script", reference="ERP-1")
    read_only = integration_services.role_ensure_defaults(organization=organization)[1]
    foreign = integration_services.role_ensure_defaults(organization=other_organization)[1]
    client = Client()
    answer = client.post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(credential.client_id, secret),
    )
    assert answer.status_code == 200, answer.content
    placeholders = {
        "$ID": credential.public_id,
        "$ROLE_ID": read_only.public_id,
        "$OTHER_ROLE_ID": foreign.public_id,
        "$CLIENT_ID": credential.client_id,
        "$SECRET": secret,
    }
    return ApiWorld(client=client, bearer=answer.json()["access_token"], placeholders=placeholders)


def send_jsonapi(world: ApiWorld, case: dict[str, Any], *, method: str, path: str) -> Any:
    if "document" in case:
        body = json.dumps(expand(case["document"], world.placeholders)).encode()
    else:
        body = expand(case["body"], world.placeholders).encode("utf-8", errors="surrogatepass")
    environ = {"CONTENT_TYPE": case.get("content_type", JSONAPI), "HTTP_ACCEPT": JSONAPI}
    environ["HTTP_AUTHORIZATION"] = f"Bearer {world.bearer}"
    for name, value in case.get("headers", {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return world.client.generic(method, expand(path, world.placeholders), body, **environ)


def run_jsonapi_case(world: ApiWorld, case: dict[str, Any], *, update: bool) -> None:
    before = database_state()
    if update:
        response = send_jsonapi(world, case, method="PATCH", path=case.get("path", "/api/api_credentials/$ID"))
    else:
        response = send_jsonapi(world, case, method="POST", path=case.get("path", "/api/api_credentials"))
    check_jsonapi_refusal(response, case)
    assert_unchanged(before)


def run_token_case(world: ApiWorld, case: dict[str, Any]) -> None:
    """POST /oauth/token answers the RFC 6749 error (JSON with `error`), issues and changes nothing."""
    before = database_state()
    environ = {}
    authorization = case.get("authorization")
    if isinstance(authorization, dict) and "basic" in authorization:
        client_id, secret = expand(authorization["basic"], world.placeholders)
        authorization = basic(client_id, secret)
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = expand(authorization, world.placeholders)
    body = expand(case.get("body", ""), world.placeholders)
    response = world.client.generic(
        case.get("method", "POST"),
        "/oauth/token" + expand(case.get("query", ""), world.placeholders),
        body.encode("utf-8", errors="surrogatepass"),
        content_type=case.get("content_type", FORM),
        **environ,
    )
    statuses = case["status"] if isinstance(case["status"], list) else [case["status"]]
    assert response.status_code in statuses, f"{response.status_code}: {response.content[:300]!r}"
    assert "access_token" not in response.json()
    assert response.json()["error"]
    assert_unchanged(before)


# --- Pasted credentials and the connectivity pages -----------------------------------------------------
def long_subject_pair() -> PemPair:
    """A client certificate whose subject is longer than ConnectionRequest.certificate_subject."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "sb-portico-long")]
        + [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"unit-{n}-" + "u" * 50) for n in range(10)]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return PemPair(certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


def paste_placeholders() -> dict[str, str]:
    """Placeholders of the pastes; the PEMs are JSON-escaped, ready to go between quotes."""
    good, long_subject = make_key_and_cert(), long_subject_pair()

    def quoted(pem: str) -> str:
        return json.dumps(pem)[1:-1]

    return {
        "$TOKEN_URL": TOKEN_URL,
        "$CERT": quoted(good.cert_pem),
        "$KEY": quoted(good.key_pem),
        "$LONG_SUBJECT_CERT": quoted(long_subject.cert_pem),
        "$LONG_SUBJECT_KEY": quoted(long_subject.key_pem),
    }


def paste_text(case: dict[str, Any], placeholders: dict[str, str]) -> str:
    if "document" in case:
        # Placeholders go in after dumping, so "$CERT" lands as JSON-escaped PEM text.
        return expand(json.dumps(case["document"]), placeholders)
    return expand(case["paste"], placeholders)


@dataclass
class ConnectionWorld:
    """A tenant admin signed in, a tenant free to submit, and a submitted request to edit."""

    client: Client
    free_tenant: Any
    submitted: Any
    placeholders: dict[str, str]


def connection_world() -> ConnectionWorld:
    organization = OrganizationFactory(slug="corpus-connections", name="Corpus connections")
    tenant_admin = UserFactory(
        username="corpus-tenant-admin",
        organization=organization,
        roles=(Role.API_PORTAL_ADMINISTRATOR, Role.API_PORTAL_REGISTRATION),
    )
    elsewhere = OrganizationFactory(slug="corpus-connections-other", name="Corpus elsewhere")
    foreign = TenantFactory(organization=elsewhere, alias="globex-dev", registered_by=tenant_admin)
    busy = TenantFactory(organization=organization, alias="acme-dev", registered_by=tenant_admin)
    free = TenantFactory(organization=organization, alias="acme-prod", registered_by=tenant_admin)
    submitted = connection_request_submit(
        tenant=busy,
        credentials=parse_tenant_credentials(json.dumps(GOOD_PASTE)),
        generated_at=datetime.now(UTC),
        submitted_by=tenant_admin,
        skip_test=True,
    )
    client = Client()
    client.force_login(tenant_admin)
    placeholders = {
        **paste_placeholders(),
        "$TENANT": str(free.pk),
        "$BUSY_TENANT": str(busy.pk),
        "$OTHER_TENANT": str(foreign.pk),
    }
    return ConnectionWorld(client=client, free_tenant=free, submitted=submitted, placeholders=placeholders)


def run_paste_case(world: ConnectionWorld, case: dict[str, Any]) -> None:
    """parse_tenant_credentials refuses the paste with CredentialsError naming the field."""
    with override_settings(**case.get("settings", {})):
        try:
            parse_tenant_credentials(paste_text(case, world.placeholders))
        except CredentialsError as exc:
            assert case["field"] in [name for name, _ in exc.errors], exc.errors
        else:
            raise AssertionError("the paste was accepted")


def run_paste_on_page(world: ConnectionWorld, case: dict[str, Any], *, page: str) -> None:
    """A pasted credentials case through New connection request ("submit") or Edit Credentials
    ("edit"), saved without the connection test, so only the paste checks stand in the way."""
    data = {"credentials": paste_text(case, world.placeholders), "skip_test": "on"}
    with override_settings(**case.get("settings", {})):
        run_connection_form(world, {"id": case["id"], "data": data, "field": "credentials"}, page=page)


def run_connection_form(world: ConnectionWorld, case: dict[str, Any], *, page: str) -> None:
    data = {"credentials": json.dumps(GOOD_PASTE), "generated_on": "", "skip_test": "on"}
    if page == "submit":
        data["tenant"] = "$TENANT"
        url, form_name = reverse("credentials:connection-request-submit"), "submit_form"
    else:
        url, form_name = reverse("credentials:connection-request-edit", args=[world.submitted.pk]), "form"
    data.update(case.get("data", {}))
    data = {key: value for key, value in expand(data, world.placeholders).items() if value is not None}
    before = database_state()
    response = world.client.post(url, data)
    check_form_refusal(response, form_name, case.get("field"))
    assert_unchanged(before)


def run_tenant_case(world: ConnectionWorld, case: dict[str, Any]) -> None:
    page = PageWorld(world.client, world.placeholders)
    before = database_state()
    response = _post_form(
        page,
        reverse("credentials:tenant-register"),
        case,
        {"alias": "acme-test", "url": "https://acme-test.example.com"},
    )
    check_form_refusal(response, "tenant_form", case.get("field"))
    assert_unchanged(before)


# --- Account > Integration (Add Secret) and the Admin Center (APIs, runtime targets) --------------------
def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@dataclass
class PageWorld:
    """A signed-in client of a page's role, and the ids the cases point at."""

    client: Client
    placeholders: dict[str, str]


def add_secret_world() -> PageWorld:
    organization = OrganizationFactory(slug="corpus-accounts", name="Corpus accounts")
    elsewhere = OrganizationFactory(slug="corpus-accounts-other", name="Corpus accounts elsewhere")
    org_admin = UserFactory(username="corpus-org-admin", organization=organization, roles=(Role.ORG_ADMIN,))
    make_api_credential(organization, name="Existing")
    admin = integration_services.role_ensure_defaults(organization=organization)[0]
    foreign = integration_services.role_ensure_defaults(organization=elsewhere)[0]
    return PageWorld(signed_in(org_admin), {"$ROLE_ID": admin.public_id, "$OTHER_ROLE_ID": foreign.public_id})


def admin_world() -> PageWorld:
    organization = OrganizationFactory(slug="corpus-admin", name="Corpus admin")
    hub_admin = UserFactory(username="corpus-hub-admin", organization=organization, roles=(Role.HUB_ADMIN,))
    target = RuntimeTargetFactory(name="Gateway Main")
    ApiFactory(name="Orders", slug="orders", provider=organization)
    return PageWorld(signed_in(hub_admin), {"$PROVIDER": str(organization.pk), "$TARGET": str(target.pk)})


def _post_form(world: PageWorld, url: str, case: dict[str, Any], defaults: dict[str, str]) -> Any:
    if "body" in case:  # a raw form body: bytes a browser would not send
        return world.client.post(url, expand(case["body"], world.placeholders), content_type=FORM)
    data = expand({**defaults, **case.get("data", {})}, world.placeholders)
    return world.client.post(url, {key: value for key, value in data.items() if value is not None})


def run_add_secret_case(world: PageWorld, case: dict[str, Any]) -> None:
    """Add Secret's first step (Short Description, role) or its Done (with a typed secret)."""
    done = case.get("step") == "done"
    url = reverse("credentials:api-credential-add-done" if done else "credentials:api-credential-add")
    before = database_state()
    response = _post_form(world, url, case, {"name": "Billing sync", "role": "$ROLE_ID"})
    check_form_refusal(response, "form", case.get("field"))
    assert_unchanged(before)


ADMIN_FORMS = {
    "api_create": (
        "credentials:api-create",
        {
            "name": "Payments",
            "slug": "",
            "description": "",
            "provider": "$PROVIDER",
            "key_lifetime_days": "365",
            "approval_mode": "any",
        },
    ),
    "runtime_target": (
        "credentials:runtime-target-create",
        {"name": "Gateway EU", "base_url": "https://gateway.example.com", "health_url": ""},
    ),
}


def run_admin_form_case(world: PageWorld, case: dict[str, Any], *, surface: str) -> None:
    url_name, defaults = ADMIN_FORMS[surface]
    before = database_state()
    response = _post_form(world, reverse(url_name), case, defaults)
    check_form_refusal(response, "form", case.get("field"))
    assert_unchanged(before)
