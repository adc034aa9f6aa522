"""The secrets-leak drill: every scenario that makes or handles a secret, walked through the web with
everything Portico writes captured, then every secret looked for everywhere (goal: 0 found).

Captured: every log record at DEBUG (SQL with its parameters included: force_debug_cursor), every
email sent and every outbox row, every answer (status, headers, cookies, body) of every request,
every call Portico made to the token endpoints and the runtime target, Celery task arguments,
command output, and at the end the database: dumpdata of every app, every text and JSON column of
every table as stored, and every session decoded. The figures go to test-results/secrets_leak.json.

A secret may appear in exactly one answer: the one that shows it once, with Cache-Control: no-store
(and a tenant's client secret in the Basic header of the token request to its own endpoint).
tests/secrets_drill.py has the search; test_the_drill_finds_what_it_looks_for checks it is not blind.
"""

import base64
import json
import logging
import os
import random
import ssl
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest
from celery.signals import task_prerun
from django.core.management import call_command
from django.db import connection
from pytest_httpserver import HTTPServer
from werkzeug import Response

from approvals.models import ApprovalRequest
from credentials.connections.models import ConnectionRequest, Tenant
from credentials.gateway import services as gateway
from credentials.integration import access_tokens
from credentials.integration.models import ApiCredential, Role
from credentials.keys import admin_services
from credentials.keys.models import Api, ApiKey, RuntimeTarget
from credentials.lib import crypto
from portal.models import Organization, User
from portal.roles import Role as PortalRole
from tests import secrets_drill
from tests.credentials.connections.certs import make_ca, make_cert
from tests.factories import OrganizationFactory, UserFactory
from tests.secrets_drill import Drill, DrillClient

pytestmark = pytest.mark.django_db(transaction=True)

RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "secrets_leak.json"
JSONAPI = "application/vnd.api+json"
FORM = "application/x-www-form-urlencoded"
HTMX = {"HX-Request": "true"}
ALPHABET = string.ascii_letters + string.digits
GENERATED = {
    "key": "API key",
    "cs": "client secret (generated)",
    "at": "access token",
    "gw": "gateway verify token",
}
TYPED = "client secret (typed)"
# Loggers the settings hold above DEBUG on purpose, because they would log secrets (oauthlib logs
# issued tokens at DEBUG): the drill keeps them as configured, as LOG_LEVEL=DEBUG would.
PINNED_LOGGERS = {"oauthlib"}


# --- Servers on loopback ------------------------------------------------------------------------
class TokenEndpoint:
    """A tenant's OAuth token endpoint: issues a token (a secret too) for the client secrets it
    accepts; refuses the others and echoes the secret it got in its error, as careless servers do."""

    def __init__(self, drill: Drill) -> None:
        self.drill = drill
        self.accepted: set[str] = set()
        self.issued = 0
        self.mutual_tls = 0  # token requests over mutual TLS

    def _token(self) -> Response:
        self.issued += 1
        token = self.drill.add_secret(
            f"access token #{self.issued} issued by a tenant's token endpoint",
            f"upstream-{self.issued}-" + base64.urlsafe_b64encode(os.urandom(30)).decode(),
            kind="access token (of a tenant's endpoint)",
        )
        body = {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        return Response(json.dumps(body), content_type="application/json")

    def __call__(self, request) -> Response:
        auth = request.authorization
        secret = auth.password if auth else request.form.get("client_secret", "")
        if request.environ.get("wsgi.url_scheme") == "https":
            self.mutual_tls += 1
            return self._token()
        if secret in self.accepted:
            return self._token()
        error = {"error": "invalid_client", "error_description": f"Bad client secret {secret} for {auth.username}"}
        return Response(json.dumps(error), status=401, content_type="application/json")


@pytest.fixture
def pki(tmp_path):
    ca = make_ca("Drill CA")
    server = make_cert(ca, "localhost", san_dns=["localhost"], usage="server")
    paths = SimpleNamespace(ca=tmp_path / "ca.pem", cert=tmp_path / "server.pem", key=tmp_path / "server-key.pem")
    paths.ca.write_text(ca.cert_pem)
    paths.cert.write_text(server.cert_pem)
    paths.key.write_text(server.key_pem)
    return SimpleNamespace(ca=ca, paths=paths)


@pytest.fixture
def mtls_server(pki, settings):
    """A certificate credentials' token endpoint: https, requires a client certificate of the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.paths.cert, pki.paths.key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pki.ca.cert_pem)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    settings.PORTICO_OUTBOUND_CA_BUNDLE = str(pki.paths.ca)
    yield server
    server.clear()
    server.stop()


# --- Capture ------------------------------------------------------------------------------------
@pytest.fixture
def capture(caplog, monkeypatch, request):
    """Every logger at DEBUG (but the pinned ones), SQL logged with its parameters, every generated
    secret and task recorded."""
    drill = Drill()
    caplog.set_level(logging.DEBUG)
    # The log pytest prints under a failure keeps to INFO and above: the leaks stay readable.
    report = getattr(request.config.pluginmanager.get_plugin("logging-plugin"), "report_handler", None)
    report_level = report.level if report is not None else None
    if report is not None:
        report.setLevel(logging.INFO)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level > logging.DEBUG and name not in PINNED_LOGGERS:
            caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    # Records of loggers that do not propagate to the root would escape caplog's handler.
    lonely = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in lonely:
        logger.addHandler(caplog.handler)
    # The project's console handler (settings.LOGGING) writes here, as it would to a server's log.
    console = [handler for handler in logging.root.handlers if type(handler) is logging.StreamHandler]
    streams = [handler.setStream(drill.console) for handler in console]
    connection.force_debug_cursor = True

    generate = crypto.generate_secret

    def recorded_generate(kind: str) -> crypto.GeneratedSecret:
        secret = generate(kind)
        drill.add_secret(f"{GENERATED[kind]} {secret.prefix}", secret.value, kind=GENERATED[kind], public=secret.prefix)
        return secret

    monkeypatch.setattr(crypto, "generate_secret", recorded_generate)
    issue_token = access_tokens.issue

    def recorded_issue(**claims_of_token: Any) -> tuple[str, access_tokens.TokenClaims]:
        value, claims = issue_token(**claims_of_token)
        # A signed token's claims (its client ID among them) are public; its signature is the secret.
        drill.add_secret(
            f"access token {claims.prefix}", value, kind="access token", public=value.rpartition("_")[0] + "_"
        )
        return value, claims

    monkeypatch.setattr(access_tokens, "issue", recorded_issue)
    new_credentials = admin_services._new_target_credentials

    def recorded_target_credentials(target):
        credentials = new_credentials(target)
        drill.add_secret(
            f"signing secret of runtime target {target.name}",
            credentials.signing_secret,
            kind="runtime target signing secret",
        )
        return credentials

    monkeypatch.setattr(admin_services, "_new_target_credentials", recorded_target_credentials)

    tasks: list[str] = []

    def record_task(sender=None, task_id=None, task=None, args=None, kwargs=None, **extra):
        tasks.append(f"{task.name} args={args!r} kwargs={kwargs!r}")

    task_prerun.connect(record_task, weak=False)
    gateway.reset_state()
    drill.tasks = tasks
    drill.logger_levels = {
        name: logging.getLevelName(logger.getEffectiveLevel())
        for name, logger in sorted(logging.root.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and logger.getEffectiveLevel() > logging.DEBUG
    }
    yield drill
    task_prerun.disconnect(record_task)
    connection.force_debug_cursor = False
    for logger in lonely:
        logger.removeHandler(caplog.handler)
    for handler, stream in zip(console, streams, strict=True):
        handler.setStream(stream)
    if report is not None:
        report.setLevel(report_level)
    gateway.reset_state()


# --- The walk -------------------------------------------------------------------------------------
@dataclass
class Scene:
    """What the scenarios share: the drill, the servers, the people logged on (one client each)."""

    drill: Drill
    rng: random.Random
    endpoint: TokenEndpoint
    httpserver: HTTPServer
    pki: SimpleNamespace
    token_url: str
    cert_url: str
    organization: Organization
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, DrillClient] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    facts: SimpleNamespace = field(default_factory=SimpleNamespace)

    def typed(self, label: str, kind: str, length: int = 40) -> str:
        """A value a person types (random, seeded), in the alphabet the secret rules allow."""
        value = "".join(self.rng.choice(ALPHABET) for _ in range(length)) + "~9x"
        return self.drill.add_secret(label, value, kind=kind)


ROLES = {
    "consumer": (PortalRole.CONSUMER,),
    "org-admin": (PortalRole.ORG_ADMIN,),
    "tenant-admin": (PortalRole.API_PORTAL_ADMINISTRATOR, PortalRole.API_PORTAL_REGISTRATION),
    "hub-admin": (PortalRole.HUB_ADMIN,),
    "approver": (PortalRole.APPROVER,),
}
CLIENT_ID = "sb-apiaccess!b1|api-portal-xsuaa!b2"


def people(scene: Scene, caplog) -> None:
    """One user per role, each logged on through the log-on page; and a wrong password first."""
    passwords = {}
    for username, roles in ROLES.items():
        passwords[username] = scene.typed(f"password of {username}", "password", 24)
        # factory_boy logs the password it sets at DEBUG: that is the tests' own setup, not Portico.
        with caplog.at_level(logging.INFO, logger="factory"):
            scene.users[username] = UserFactory(
                username=username, organization=scene.organization, roles=roles, password=passwords[username]
            )
    wrong = scene.typed("a wrong password typed at log-on", "password", 24)
    refused = scene.drill.client().post("/accounts/login/", {"username": "consumer", "password": wrong})
    assert refused.status_code == 200 and "correct username and password" in refused.content.decode()
    for username, password in passwords.items():
        client = scene.drill.client()
        response = client.post("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 302, f"{username} could not log on"
        scene.clients[username] = client


def credentials_paste(token_url: str, secret: str) -> str:
    document = {"url": "https://acme-dev.example.com", "tokenUrl": token_url, "clientId": CLIENT_ID}
    return json.dumps({**document, "clientSecret": secret})


def certificate_paste(scene: Scene, label: str) -> str:
    pair = make_cert(scene.pki.ca, f"sb-acme-{label}", organization="Acme", usage="client")
    scene.drill.add_private_key(f"private key PEM ({label})", pair.key_pem)
    document = {"url": "https://acme-cert.example.com", "tokenurl": scene.token_url, "certurl": scene.cert_url}
    return json.dumps({**document, "certificate": pair.cert_pem, "key": pair.key_pem, "clientid": "sb-acme-cert!b7"})


def tenant_secret(scene: Scene, label: str, *, accepted: bool = True) -> str:
    secret = scene.typed(label, "tenant client secret")
    for client_id in (CLIENT_ID, quote_plus(CLIENT_ID)):
        scene.drill.add_basic_form(secret, client_id)
    if accepted:
        scene.endpoint.accepted.add(secret)
    return secret


def s1_connection_requests(scene: Scene) -> None:
    """S1: register tenants, submit connection requests with pasted credentials (client secret and
    certificate, each tested against its token endpoint), one refused, and Edit Credentials."""
    tenant_admin = scene.clients["tenant-admin"]
    tenant_admin.get("/manage/connectivity/")
    for alias in ("acme-dev", "acme-cert"):
        tenant_admin.post("/manage/connectivity/tenants/", {"alias": alias, "url": f"https://{alias}.example.com"})
    dev, cert = Tenant.objects.get(alias="acme-dev"), Tenant.objects.get(alias="acme-cert")
    submit = "/manage/connectivity/requests/"

    # Failed attempt: the token endpoint refuses the secret, and echoes it in its error.
    refused = tenant_secret(scene, "a tenant client secret its endpoint refuses", accepted=False)
    response = tenant_admin.post(submit, {"tenant": dev.pk, "credentials": credentials_paste(scene.token_url, refused)})
    assert "The connection test failed" in response.content.decode()
    assert not ConnectionRequest.objects.exists()

    secret = tenant_secret(scene, "tenant client secret (submitted)")
    paste = credentials_paste(scene.token_url, secret)
    response = tenant_admin.post(submit, {"tenant": dev.pk, "credentials": paste}, follow=True)
    assert "is submitted" in response.content.decode()
    paste = certificate_paste(scene, "submitted")
    response = tenant_admin.post(submit, {"tenant": cert.pk, "credentials": paste}, follow=True)
    assert "is submitted" in response.content.decode()
    assert scene.endpoint.mutual_tls, "the certificate credentials were not tested over mutual TLS"
    scene.facts.dev = ConnectionRequest.objects.get(tenant=dev)
    scene.facts.cert = ConnectionRequest.objects.get(tenant=cert)

    edit = f"/manage/connectivity/requests/{scene.facts.dev.pk}/edit/"
    tenant_admin.get(edit, headers=HTMX)
    tenant_admin.get(edit)
    paste = credentials_paste(scene.token_url, tenant_secret(scene, "tenant client secret (edited)"))
    response = tenant_admin.post(edit, {"credentials": paste}, headers=HTMX)
    assert "updated the API Portal access credentials" in response.content.decode()
    edit = f"/manage/connectivity/requests/{scene.facts.cert.pk}/edit/"
    response = tenant_admin.post(edit, {"credentials": certificate_paste(scene, "edited")}, follow=True)
    assert "updated the API Portal access credentials" in response.content.decode()


def s2_reestablish(scene: Scene) -> None:
    """A hub admin approves both requests, then S2: Re-establish Connection with fresh credentials.
    Then the health check fetches tokens with what is stored, and finds one refused."""
    hub_admin = scene.clients["hub-admin"]
    hub_admin.get("/admin-center/connections/pending/")
    for connection_request in (scene.facts.dev, scene.facts.cert):
        connection_request.refresh_from_db()
        response = hub_admin.post(
            f"/admin-center/connections/{connection_request.pk}/decide/",
            {"reviewed": connection_request.review_version, "verdict": "approve"},
            headers=HTMX,
        )
        assert "is approved" in response.content.decode()
    hub_admin.get("/admin-center/connections/approved/")
    last_secret = tenant_secret(scene, "tenant client secret (re-established)")
    for connection_request, paste in (
        (scene.facts.dev, credentials_paste(scene.token_url, last_secret)),
        (scene.facts.cert, certificate_paste(scene, "re-established")),
    ):
        url = f"/admin-center/connections/{connection_request.pk}/reestablish/"
        hub_admin.get(url)
        response = hub_admin.post(url, {"credentials": paste}, follow=True)
        assert "tenant access credentials successfully" in response.content.decode()

    scene.commands["check_connections (healthy)"] = run_command("check_connections")
    scene.endpoint.accepted.discard(last_secret)  # now the endpoint refuses it, echoing it
    scene.commands["check_connections (one refused)"] = run_command("check_connections")
    scene.facts.dev.refresh_from_db()
    assert scene.facts.dev.health == ConnectionRequest.Health.FAILING


def runtime_target(scene: Scene) -> None:
    """Admin Center: a runtime target, its signing secret and verify token shown once, regenerated;
    and two APIs it enforces."""
    hub_admin = scene.clients["hub-admin"]
    hub_admin.get("/admin-center/targets/new/")
    urls = {"base_url": scene.httpserver.url_for("/gw"), "health_url": scene.httpserver.url_for("/gw/health")}
    response = hub_admin.post("/admin-center/targets/new/", {"name": "Mediator", **urls}, follow=True)
    target = RuntimeTarget.objects.get(name="Mediator")
    scene.facts.first_verify_token = shown_target_credentials(scene.drill, response)
    again = hub_admin.get(f"/admin-center/targets/{target.pk}/credentials/")
    assert "no longer available" in again.content.decode()
    response = hub_admin.post(f"/admin-center/targets/{target.pk}/regenerate/", follow=True)
    scene.facts.verify_token = shown_target_credentials(scene.drill, response)
    scene.facts.target = target

    for name, slug, days, approval in (("Weather", "weather", 5, False), ("Payments", "payments", 7, True)):
        data = {
            "name": f"{name} API",
            "slug": slug,
            "provider": scene.organization.pk,
            "key_lifetime_days": str(days),
            "approval_mode": "any",
            "runtime_target": target.pk,
        }
        if approval:
            data |= {"renewal_requires_approval": "on", "approvers": [scene.users["approver"].pk]}
        response = hub_admin.post("/admin-center/apis/new/", data, follow=True)
        assert "is created" in response.content.decode()


def s3_api_keys(scene: Scene) -> None:
    """S3: a key requested (shown once, deployed to the target as hashes), verified at the gateway
    (valid, wrong secret, replaced gateway token), renewed, rotated with grace, a key that needs
    approval approved, the first key revoked and refused; then the reminders."""
    consumer, drill = scene.clients["consumer"], scene.drill
    ask = gateway_asker(drill, scene.facts.verify_token)
    consumer.get("/apis/")
    response = consumer.post("/apis/weather/keys/")
    first = shown_key(drill, response)
    key = ApiKey.objects.get(api__slug="weather")
    assert ask(first).status_code == 200
    assert ask(first, in_headers=True).status_code == 200
    assert ask(wrong_secret_for(drill, key.prefix)).status_code == 403
    assert ask(first, token=scene.facts.first_verify_token).status_code == 401

    consumer.get("/preferences/api-keys/")
    response = consumer.post(f"/preferences/api-keys/{key.pk}/renew/", headers=HTMX)
    assert "is renewed" in response.content.decode()
    scene.facts.rotate = f"/preferences/api-keys/{key.pk}/rotate/"
    consumer.get(scene.facts.rotate)
    rotated = shown_key(drill, consumer.post(scene.facts.rotate, {"grace": "86400"}))
    assert ask(first).status_code == 200  # in its grace period
    assert ask(rotated).status_code == 200

    shown_key(drill, consumer.post("/apis/payments/keys/"))
    approval = ApprovalRequest.objects.get(api_key__api__slug="payments")
    approver = scene.clients["approver"]
    approver.get("/approvals/")
    response = approver.post(
        f"/approvals/{approval.pk}/decide/",
        {"reviewed": approval.api_key.review_version, "verdict": "approve"},
        headers=HTMX,
    )
    assert response.status_code == 200

    response = consumer.post(f"/preferences/api-keys/{key.pk}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    gateway.reset_state()  # this process's snapshot may keep a verdict for up to a second
    refused = ask(rotated)
    assert refused.status_code == 403 and refused.json()["reason"] == "revoked"
    scene.commands["send_reminders"] = run_command("send_reminders")
    deployments = [request for request, _ in scene.httpserver.log if request.path == "/gw/access-keys"]
    assert len(deployments) >= 4, "the keys' deployments did not reach the runtime target"


def s4_api_credentials(scene: Scene) -> None:
    """S4: Add Secret (generated, then typed), a typed secret reused (refused), Edit with a new
    generated and a new typed secret, Delete."""
    org_admin, drill = scene.clients["org-admin"], scene.drill
    role = Role.objects.get(organization=scene.organization, kind=Role.Kind.ADMIN).public_id
    org_admin.get("/account/")
    org_admin.get("/account/integration/connection-api-credentials/")
    add = "/account/integration/connection-api-credentials/add/"
    org_admin.get(add, headers=HTMX)
    org_admin.post(add, {"name": "CI provisioning", "role": role}, headers=HTMX)
    response = org_admin.post(
        add + "done/", {"name": "CI provisioning", "role": role, "client_secret": ""}, headers=HTMX
    )
    shown_client_secret(drill, response)
    generated = ApiCredential.objects.get(name="CI provisioning")

    typed = scene.typed("a client secret typed on Add Secret", TYPED)
    response = org_admin.post(add + "done/", {"name": "Typed one", "role": role, "client_secret": typed})
    drill.shown_once(response, typed)
    typed_credential = ApiCredential.objects.get(name="Typed one")
    # Failed attempt: the same secret typed again for another credential.
    org_admin.post(add + "done/", {"name": "Reused", "role": role, "client_secret": typed}, headers=HTMX)
    assert not ApiCredential.objects.filter(name="Reused").exists(), "a reused typed secret was accepted"

    scene.facts.edit = f"/account/integration/connection-api-credentials/{generated.public_id}/edit/"
    org_admin.get(scene.facts.edit, headers=HTMX)
    data = {"name": "CI provisioning", "role": role, "secret_action": "generate"}
    scene.facts.client_secret = shown_client_secret(drill, org_admin.post(scene.facts.edit, data, headers=HTMX))
    scene.facts.client_id = generated.client_id
    retyped = scene.typed("a client secret typed on Edit", TYPED)
    data = {"name": "Typed one", "role": role, "secret_action": "type", "client_secret": retyped}
    response = org_admin.post(
        f"/account/integration/connection-api-credentials/{typed_credential.public_id}/edit/", data
    )
    drill.shown_once(response, retyped)
    delete = f"/account/integration/connection-api-credentials/{typed_credential.public_id}/delete/"
    org_admin.get(delete, headers=HTMX)
    org_admin.post(delete, headers=HTMX)


def s5_oauth_and_jsonapi(scene: Scene) -> None:
    """S5: tokens with HTTP Basic and with the form body, wrong secrets refused, /api/me and the
    JSON:API read with the bearer token, a PATCH, a PATCH that tries to set a secret (refused), a
    create that answers its secret once, its token, its delete."""
    drill, api = scene.drill, scene.drill.client()
    client_id, secret = scene.facts.client_id, scene.facts.client_secret
    drill.add_basic_form(secret, client_id)
    token = shown_token(drill, token_request(api, {"Authorization": basic(client_id, secret)}))
    form_token = shown_token(drill, token_request(api, client_id=client_id, client_secret=secret))
    wrong = scene.typed("a wrong client secret at /oauth/token", TYPED)
    drill.add_basic_form(wrong, client_id)
    assert token_request(api, {"Authorization": basic(client_id, wrong)}).status_code == 401
    assert token_request(api, client_id=client_id, client_secret=wrong).status_code == 401

    bearer = {"Authorization": f"Bearer {token}", "Accept": JSONAPI}
    assert api.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = api.get("/api/api_credentials", headers={"Authorization": f"Bearer {form_token}", "Accept": JSONAPI})
    public_id = listed.json()["data"][0]["id"]
    url = f"/api/api_credentials/{public_id}"
    document = {"data": {"type": "api_credentials", "id": public_id, "attributes": {"reference": "ERP-42"}}}
    assert api.patch(url, document, content_type=JSONAPI, headers=bearer).status_code == 200
    document["data"]["attributes"] = {"client_secret": scene.typed("a client secret sent to the JSON:API", TYPED)}
    assert api.patch(url, document, content_type=JSONAPI, headers=bearer).status_code == 422

    created = {"data": {"type": "api_credentials", "attributes": {"name": "Created by API"}}}
    response = api.post("/api/api_credentials", created, content_type=JSONAPI, headers=bearer)
    assert response.status_code == 201, response.content
    made = response.json()["data"]
    made_secret = made["attributes"]["client_secret"]
    drill.shown_once(response, made_secret)
    made_token = shown_token(
        drill, token_request(api, {"Authorization": basic(made["attributes"]["client_id"], made_secret)})
    )
    assert api.get("/api/me", headers={"Authorization": f"Bearer {made_token}"}).status_code == 200
    assert api.delete(f"/api/api_credentials/{made['id']}", headers=bearer).status_code == 204
    assert api.get("/api/me", headers={"Authorization": f"Bearer {made_token}"}).status_code == 401


def every_page(scene: Scene) -> None:
    """Every page again, as each role sees it now; then the encryption keys rotated."""
    hub_pages = [
        "/admin-center/",
        "/admin-center/connections/pending/",
        "/admin-center/connections/approved/",
        f"/admin-center/connections/{scene.facts.dev.pk}/reestablish/",
        "/admin-center/targets/",
        f"/admin-center/targets/{scene.facts.target.pk}/edit/",
        "/admin-center/apis/",
        *(f"/admin-center/apis/{pk}/keys/" for pk in Api.objects.order_by("pk").values_list("pk", flat=True)),
        "/admin-center/emails/",
        "/admin-center/audit/",
    ]
    for username, pages in {
        "tenant-admin": ["/", "/manage/", "/manage/connectivity/", "/preferences/"],
        "hub-admin": hub_pages,
        "consumer": ["/apis/", "/preferences/api-keys/", scene.facts.rotate],
        "org-admin": ["/account/", "/account/integration/connection-api-credentials/", scene.facts.edit],
        "approver": ["/approvals/"],
    }.items():
        for page in pages:
            assert scene.clients[username].get(page).status_code == 200, page
    scene.commands["rotate_encryption_keys"] = run_command("rotate_encryption_keys")


def walk(drill: Drill, *, httpserver, mtls_server, pki, caplog) -> Scene:
    endpoint = TokenEndpoint(drill)
    httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_request("/gw/access-keys", method="POST").respond_with_json({"applied": True})
    httpserver.expect_request("/gw/health").respond_with_json({"status": "up"})
    mtls_server.expect_request("/oauth/token", method="POST").respond_with_handler(endpoint)
    scene = Scene(
        drill=drill,
        rng=random.Random(20250301),
        endpoint=endpoint,
        httpserver=httpserver,
        pki=pki,
        token_url=httpserver.url_for("/oauth/token"),
        cert_url=f"https://localhost:{mtls_server.port}",
        organization=OrganizationFactory(slug="acme", name="Acme Corporation"),
    )
    people(scene, caplog)
    s1_connection_requests(scene)
    s2_reestablish(scene)
    runtime_target(scene)
    s3_api_keys(scene)
    s4_api_credentials(scene)
    s5_oauth_and_jsonapi(scene)
    every_page(scene)
    return scene


def token_request(client, headers: dict | None = None, **fields: str):
    """POST /oauth/token as an OAuth client sends it: a form body."""
    body = urlencode({"grant_type": "client_credentials", **fields})
    return client.post("/oauth/token", body, content_type=FORM, headers=headers)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def wrong_secret_for(drill: Drill, prefix: str) -> str:
    """A well-formed key (its checksum right) with a real key's prefix and another secret."""
    body = f"{prefix}_{crypto.random_base62(crypto.SECRET_LENGTH)}"
    value = body + crypto._checksum(body)
    return drill.add_secret("a wrong API key presented at the gateway", value, kind="API key (wrong)", public=prefix)


def gateway_asker(drill: Drill, verify_token: str):
    """Ask /gateway/verify about a key as the runtime target does (its token in Authorization)."""
    gateway_client = drill.client()

    def ask(key: str, api: str = "weather", *, token: str = verify_token, in_headers: bool = False):
        headers = {"Authorization": f"Bearer {token}"}
        if in_headers:
            headers |= {"X-Portico-Key": key, "X-Portico-Api": api}
            return gateway_client.get("/gateway/verify", headers=headers)
        return gateway_client.post(
            "/gateway/verify", {"key": key, "api": api}, content_type="application/json", headers=headers
        )

    return ask


def newest(drill: Drill, kind: str) -> str:
    values = [value for value in drill.secrets if value.startswith(f"prt_{kind}_")]
    assert values, f"no prt_{kind} secret was generated"
    return values[-1]


def shown_key(drill: Drill, response) -> str:
    value = newest(drill, "key")
    drill.shown_once(response, value)
    return value


def shown_client_secret(drill: Drill, response) -> str:
    value = newest(drill, "cs")
    drill.shown_once(response, value)
    return value


def shown_token(drill: Drill, response) -> str:
    assert response.status_code == 200, response.content
    value = response.json()["access_token"]
    assert value == newest(drill, "at")
    drill.shown_once(response, value)
    return value


def shown_target_credentials(drill: Drill, response) -> str:
    signing = [value for value, secret in drill.secrets.items() if secret.kind == "runtime target signing secret"][-1]
    token = newest(drill, "gw")
    drill.shown_once(response, signing, token)
    return token


def run_command(name: str, *args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


# --- The drill --------------------------------------------------------------------------------------
def test_no_secret_leaks_from_any_scenario(capture, caplog, httpserver, mtls_server, pki, mailoutbox):
    drill = capture
    started = time.monotonic()

    walked = walk(drill, httpserver=httpserver, mtls_server=mtls_server, pki=pki, caplog=caplog)
    walked_seconds = time.monotonic() - started

    # What the walk logged; the reads of the collection below are not part of it.
    records = list(caplog.records)
    console = drill.console.getvalue()
    connection.force_debug_cursor = False
    drill.add_log_records(records)
    drill.add(secrets_drill.CONSOLE, "the console handler of settings.LOGGING", console)
    drill.add_emails(mailoutbox)
    drill.add_outbox_rows()
    rows = drill.add_database(connection)
    drill.add_cache()
    drill.add_outbound("token endpoint and runtime target (http)", httpserver.log)
    drill.add_outbound("token endpoint (mutual TLS)", mtls_server.log)
    for number, task in enumerate(drill.tasks):
        drill.add(secrets_drill.TASKS, f"task {number}", task)
    for name, output in walked.commands.items():
        drill.add(secrets_drill.COMMANDS, name, output)

    # The deployments told the runtime target prefixes and keyed hashes of the keys, nothing more.
    deployed = [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == "/gw/access-keys"]
    assert deployed and all(
        set(secret) == {"prefix", "hash", "valid_until"} for body in deployed for secret in body["secrets"]
    )

    # A tenant's client secret goes to its own token endpoint in the Basic header: that is its use.
    tenant_secrets = {value for value, secret in drill.secrets.items() if secret.kind == "tenant client secret"}
    allowed_outbound = {
        stack.where: tenant_secrets
        for stack in drill.haystacks
        if stack.place == secrets_drill.OUTBOUND and stack.where.endswith("Authorization header")
    }
    findings = drill.findings(allowed_outbound=allowed_outbound)
    leaks = [finding for finding in findings if not finding.allowed]
    shown = [finding for finding in findings if finding.allowed and finding.place == secrets_drill.RESPONSES]
    sent = [finding for finding in findings if finding.allowed and finding.place == secrets_drill.OUTBOUND]

    places, size, per_kind = drill.searched()
    figures = {
        "drill": "secrets-leak",
        "secrets": len(drill.secrets),
        "secrets_by_kind": drill.kinds(),
        "places_searched": places,
        "places_by_kind": dict(sorted(per_kind.items())),
        "bytes_searched": size,
        "requests": len(drill.responses),
        "log_records": len(records),
        "console_log_bytes": len(console.encode()),
        "emails": len(mailoutbox),
        "tables": len(rows),
        "table_rows": sum(rows.values()),
        "shown_once": len(shown),
        "sent_to_own_token_endpoint": len(sent),
        "leaks": len(leaks),
        "leaks_by_place": dict(Counter(leak.place for leak in leaks)),
        "partial_leaks": sum(1 for leak in leaks if not leak.whole),
        "loggers_above_debug": drill.logger_levels,
        "walk_seconds": round(walked_seconds, 1),
        "seconds": round(time.monotonic() - started, 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, sort_keys=True) + "\n")
    print(json.dumps(figures, sort_keys=True))  # noqa: T201 - the figures for the lead's docs

    # Every secret meant to be shown once was found there, and the tenants' secrets where they were
    # sent: a drill that missed those would be blind.
    assert len(shown) == sum(len(values) for values in drill._shown.values())
    assert sent, "no tenant client secret was seen going to its token endpoint"
    if leaks:
        pytest.fail(f"{len(leaks)} leak(s):\n" + "\n".join(leak.describe() for leak in leaks), pytrace=False)


def test_the_drill_finds_what_it_looks_for(db, caplog, mailoutbox):
    """The search is not blind: a key planted whole in a log line and a page, 16 characters of it
    in an email and (HTML-escaped) in a row, a private key's number with its PEM's lines broken in a
    log line, are all found; a secret shown once without no-store is flagged; the public prefix
    alone is no finding."""
    from django.core import mail

    from portal.models import AuditEvent

    drill = Drill()
    secret = crypto.generate_secret("key")
    drill.add_secret("planted key", secret.value, public=secret.prefix)
    pem = make_cert(None, "planted").key_pem
    drill.add_private_key("planted private key", pem)
    piece = secret.value[len(secret.prefix) + 5 : len(secret.prefix) + 5 + secrets_drill.MIN_LEAK_CHARS]
    with caplog.at_level(logging.INFO):
        logging.getLogger("planted").info("Issued %s", secret.value)
        logging.getLogger("planted").info("Loaded %r", {"key": pem})  # its line breaks written as \\n
    mail.send_mail("Your key", f"It is {piece}.", "portico@example.com", ["someone@example.com"])
    escaped = f"&#x{ord(piece[0]):x};{piece[1:]}"
    AuditEvent.objects.create(action="planted", summary=f"html-escaped: {escaped}")
    response = drill.client().get("/healthz")
    drill.responses[response.drill_index].text += secret.value  # as if the page had shown it
    drill.shown_once(response, secret.value)  # ... once, but without Cache-Control: no-store
    prefix_only = drill.client().get("/healthz")
    drill.responses[prefix_only.drill_index].text += f"Your key {secret.prefix}_… is revoked."

    drill.add_log_records(caplog.records)
    drill.add_emails(mailoutbox)
    drill.add_database(connection)
    findings = drill.findings()
    found = {(finding.secret.label, finding.place, finding.whole) for finding in findings}

    assert found == {
        ("planted key", secrets_drill.LOGS, True),
        ("planted private key", secrets_drill.LOGS, True),
        ("planted key", secrets_drill.EMAILS, False),
        ("planted key", secrets_drill.RAW_DB, False),
        ("planted key", secrets_drill.DUMPDATA, False),
        ("planted key", secrets_drill.RESPONSES, True),
    }
    [shown] = [finding for finding in findings if finding.place == secrets_drill.RESPONSES]
    assert shown.where.startswith(f"#{response.drill_index} ")  # not the page with the prefix only
    assert not shown.allowed and "no-store" in shown.problem
