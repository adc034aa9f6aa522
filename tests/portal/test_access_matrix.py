"""Who may open what: every URL of the project, for every role, on the own organization's objects
and on another organization's, by GET and by POST (and PATCH and DELETE on the REST API).

RULES is the design written out by hand, not read from the views: a changed decorator, a selector
that stops answering 404 for other organizations, or a new URL without a rule fails here. The Django
admin is one family with one rule (ADMIN_FAMILY). The cast and objects are built once per module
(tests/portal/conftest.py, access_world); every request runs in a savepoint that is rolled back, so
a POST that deletes or decides leaves the next request the same world.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from approvals.models import Decision
from credentials.connections.models import ConnectionRequest, Tenant
from credentials.integration.models import ApiCredential
from credentials.keys.models import ApiKey, RuntimeTarget
from portal.context_processors import nav_items_for
from tests.factories import client_secret_json

pytestmark = pytest.mark.django_db

# --- The answers ------------------------------------------------------------------------------------
LOGIN = "login"  # 302 to the login page, with ?next= the page asked for
ADMIN_LOGIN = "admin-login"  # 302 to the Django admin's login page
REDIRECT = "redirect"  # 302 anywhere else: the action is done (or refused with a message), the page moves on

# The columns of every row, in this order. The two bearer columns send an access token of the own
# organization's connection API credentials (Admin role, Read-only role) and no session.
COLUMNS = (
    "anonymous",
    "consumer",
    "org_admin",
    "tenant_admin",
    "hub_admin",
    "approver",
    "bearer_admin",
    "bearer_read_only",
)
Row = tuple[int | str, ...]
NOT_ALLOWED: Row = (405,) * 8  # require_GET / require_POST answer before anyone is asked who they are


@dataclass(frozen=True)
class Rule:
    """The designed answers of one URL: `own` on the signed-in user's organization's object (or
    the URL without ids), `other` on another organization's object of the same kind (`target`,
    a key of AccessWorld.own and .other). Each maps a method to one answer per column."""

    own: dict[str, Row]
    target: str | None = None
    other: dict[str, Row] = field(default_factory=dict)


#   anonymous  consumer   org_admin  tenant     hub_admin  approver   bearer     bearer_ro
RULES: dict[str, Rule] = {
    # --- the shell ---
    "home": Rule({"GET": (LOGIN, 200, 200, 200, 200, 200, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "login": Rule(
        {
            "GET": (200, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT, 200, 200),
            "POST": (200, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT, 200, 200),
        }
    ),
    "logout": Rule({"GET": NOT_ALLOWED, "POST": (REDIRECT,) * 8}),
    # Single sign-on (portal/sso/) is off in the tests' settings: both answer 404 to everyone.
    "oidc_authentication_init": Rule({"GET": (404,) * 8, "POST": NOT_ALLOWED}),
    "oidc_authentication_callback": Rule({"GET": (404,) * 8, "POST": NOT_ALLOWED}),
    "user-preferences": Rule({"GET": (LOGIN, 200, 200, 200, 200, 200, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    # --- User Preferences > Second factor (hub admins and approvers) and "Confirm it's you" ---
    "second_factor:enrol-start": Rule(
        {"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, REDIRECT, LOGIN, LOGIN)}
    ),
    "second_factor:enrol": Rule(
        {
            "GET": (LOGIN, 403, 403, 403, REDIRECT, REDIRECT, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, REDIRECT, REDIRECT, LOGIN, LOGIN),
        }
    ),
    "second_factor:recovery-codes": Rule(
        {"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, REDIRECT, LOGIN, LOGIN)}
    ),
    "second_factor:remove": Rule({"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, 200, 200, LOGIN, LOGIN)}),
    "second_factor:confirm": Rule(
        {
            "GET": (LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT, LOGIN, LOGIN),
            "POST": (LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT, LOGIN, LOGIN),
        }
    ),
    "manage": Rule({"GET": (LOGIN, 403, 403, 200, 403, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "admin-center": Rule({"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "email-outbox": Rule({"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "audit-log": Rule({"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "healthz": Rule({"GET": (200,) * 8, "POST": (200,) * 8}),  # any method: a load balancer's probe
    # --- Manage > Establish API Portal Connectivity (tenant admins, their organization's requests) ---
    "credentials:connectivity": Rule({"GET": (LOGIN, 403, 403, 200, 403, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "credentials:tenant-register": Rule({"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 200, 403, 403, LOGIN, LOGIN)}),
    "credentials:connection-request-submit": Rule(
        {"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 200, 403, 403, LOGIN, LOGIN)}
    ),
    "credentials:connection-request-edit": Rule(
        target="submitted_request",
        own={
            "GET": (LOGIN, 403, 403, 200, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 200, 403, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 403, 404, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 404, 403, 403, LOGIN, LOGIN),
        },
    ),
    # --- Admin Center > API Management Connections (hub admins: every organization's) ---
    "credentials:connections-approved": Rule(
        {"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}
    ),
    "credentials:connection-reestablish": Rule(
        target="approved_request",
        own={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
    ),
    "approvals:connections-pending": Rule({"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "approvals:connection-request-decide": Rule(
        target="submitted_request",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, 403, LOGIN, LOGIN)},
    ),
    # --- The API catalog (every signed-in role browses it; only consumers ask for keys) ---
    "credentials:api-catalog": Rule({"GET": (LOGIN, 200, 200, 200, 200, 200, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "credentials:api-key-request": Rule(
        target="catalog_api",  # the catalog is every provider's: another organization's API too
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, 200, 403, 403, 403, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 200, 403, 403, 403, 403, LOGIN, LOGIN)},
    ),
    # --- User Preferences > My API Keys (consumers, their own keys) ---
    "credentials:my-api-keys": Rule({"GET": (LOGIN, 200, 403, 403, 403, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "credentials:api-key-renew": Rule(
        target="api_key",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, REDIRECT, 403, 403, 403, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 404, 403, 403, 403, 403, LOGIN, LOGIN)},
    ),
    "credentials:api-key-withdraw": Rule(
        target="api_key",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, REDIRECT, 403, 403, 403, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 404, 403, 403, 403, 403, LOGIN, LOGIN)},
    ),
    "credentials:api-key-rotate": Rule(
        target="api_key",
        own={
            "GET": (LOGIN, 200, 403, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 200, 403, 403, 403, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 404, 403, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 404, 403, 403, 403, 403, LOGIN, LOGIN),
        },
    ),
    "credentials:api-key-revoke": Rule(
        target="api_key",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, REDIRECT, 403, 403, 403, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 404, 403, 403, 403, 403, LOGIN, LOGIN)},
    ),
    # --- Admin Center > APIs and Runtime targets (hub admins: every provider's, every gateway) ---
    "credentials:api-list": Rule({"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "credentials:api-create": Rule(
        {
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        }
    ),
    "credentials:api-edit": Rule(
        target="api",
        own={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
    ),
    "credentials:api-keys": Rule(
        target="api",
        own={"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED},
        other={"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED},
    ),
    "credentials:api-key-expiry": Rule(
        target="api_and_key",
        own={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
    ),
    "credentials:runtime-target-list": Rule(
        {"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}
    ),
    "credentials:runtime-target-create": Rule(
        {
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        }
    ),
    "credentials:runtime-target-edit": Rule(
        target="runtime_target",
        own={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN),
        },
    ),
    "credentials:runtime-target-regenerate": Rule(
        target="runtime_target",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, 403, LOGIN, LOGIN)},
    ),
    "credentials:runtime-target-retry-failed": Rule(
        target="runtime_target",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, 403, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, REDIRECT, 403, LOGIN, LOGIN)},
    ),
    "credentials:runtime-target-credentials": Rule(
        target="runtime_target",
        own={"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED},
        other={"GET": (LOGIN, 403, 403, 403, 200, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED},
    ),
    # --- Account > Integration > Connection API Credentials (organization admins, their account's) ---
    "credentials:account": Rule({"GET": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "credentials:api-credential-list": Rule(
        {"GET": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN), "POST": NOT_ALLOWED}
    ),
    "credentials:api-credential-add": Rule(
        {
            "GET": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN),
        }
    ),
    "credentials:api-credential-add-done": Rule(
        {"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN)}
    ),
    "credentials:api-credential-edit": Rule(
        target="api_credential",
        own={
            "GET": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 404, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 404, 403, 403, 403, LOGIN, LOGIN),
        },
    ),
    "credentials:api-credential-delete": Rule(
        target="api_credential",
        own={
            "GET": (LOGIN, 403, 200, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, REDIRECT, 403, 403, 403, LOGIN, LOGIN),
        },
        other={
            "GET": (LOGIN, 403, 404, 403, 403, 403, LOGIN, LOGIN),
            "POST": (LOGIN, 403, 404, 403, 403, 403, LOGIN, LOGIN),
        },
    ),
    # --- Approvals (approvers: the approvals they are named on, never anyone else's) ---
    "approvals:inbox": Rule({"GET": (LOGIN, 403, 403, 403, 403, 200, LOGIN, LOGIN), "POST": NOT_ALLOWED}),
    "approvals:decide": Rule(
        target="approval",
        own={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, 403, REDIRECT, LOGIN, LOGIN)},
        other={"GET": NOT_ALLOWED, "POST": (LOGIN, 403, 403, 403, 403, 404, LOGIN, LOGIN)},
    ),
    # --- Machines: the token endpoint and the gateway's question (no session, no CSRF) ---
    "oauth-token": Rule({"GET": (405,) * 8, "POST": (401,) * 8}),  # the grant without client credentials
    "gateway-verify": Rule({"GET": (401,) * 8, "POST": (401,) * 8}),  # only a gateway's own token
    # --- The REST API: a bearer token of the own organization; a session is nobody there ---
    "api-me": Rule({"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": NOT_ALLOWED}),
    "jsonapi-credential-list": Rule(
        {
            "GET": (401, 401, 401, 401, 401, 401, 200, 200),
            "POST": (401, 401, 401, 401, 401, 401, 201, 403),
        }
    ),
    "jsonapi-credential-detail": Rule(
        target="api_credential",
        own={
            "GET": (401, 401, 401, 401, 401, 401, 200, 200),
            "POST": (401, 401, 401, 401, 401, 401, 405, 403),
            "PATCH": (401, 401, 401, 401, 401, 401, 200, 403),
            "DELETE": (401, 401, 401, 401, 401, 401, 204, 403),
        },
        other={
            "GET": (401, 401, 401, 401, 401, 401, 404, 404),
            "POST": (401, 401, 401, 401, 401, 401, 405, 403),
            "PATCH": (401, 401, 401, 401, 401, 401, 404, 403),  # the scope is checked before the id
            "DELETE": (401, 401, 401, 401, 401, 401, 404, 403),
        },
    ),
    "jsonapi-credential-relationships": Rule(
        target="api_credential_relationship",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    "jsonapi-credential-role": Rule(
        target="api_credential",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    "jsonapi-credential-organization": Rule(
        target="api_credential",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    "jsonapi-role-list": Rule(
        {"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)}
    ),
    "jsonapi-role-detail": Rule(
        target="role",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    "jsonapi-role-relationships": Rule(
        target="role_relationship",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    "jsonapi-role-organization": Rule(
        target="role",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    "jsonapi-organization-list": Rule(
        {"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)}
    ),
    "jsonapi-organization-detail": Rule(
        target="organization",
        own={"GET": (401, 401, 401, 401, 401, 401, 200, 200), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
        other={"GET": (401, 401, 401, 401, 401, 401, 404, 404), "POST": (401, 401, 401, 401, 401, 401, 405, 403)},
    ),
    # The API's documentation is public: it holds no data.
    "jsonapi-openapi": Rule({"GET": (200,) * 8, "POST": NOT_ALLOWED}),
    "jsonapi-docs": Rule({"GET": (200,) * 8, "POST": NOT_ALLOWED}),
}

# The Django admin, one family: every URL under /django-admin/ sends whoever is not staff (every role
# of Portico) to the admin's login page, by GET and by POST. Its own login page answers, and its
# logout sends a non-staff user to the admin's index (which sends them to the login page).
ADMIN_PREFIX = "django-admin/"
# No role of Portico is staff (test_no_role_of_portico_is_django_admin_staff), so the family is
# asked of three columns only: nobody, the most trusted role, a token.
ADMIN_COLUMNS = ("anonymous", "hub_admin", "bearer_admin")
ADMIN_FAMILY: Row = (ADMIN_LOGIN,) * 3
ADMIN_EXCEPTIONS: dict[str, dict[str, Row]] = {
    "admin:login": {"GET": (200,) * 3, "POST": (200,) * 3},
    "admin:logout": {"GET": (REDIRECT,) * 3, "POST": (REDIRECT,) * 3},
}


# --- The URLs of the project ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    key: str  # the namespaced URL name, or the route itself when the pattern has none
    route: str
    name: str | None
    params: tuple[str, ...]


PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def project_routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> list[Route]:
    """Every URL pattern of the project, walked from the root resolver through every include."""
    routes = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern).lstrip("^")
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            routes += project_routes(pattern, route, inner or namespace)
        else:
            assert isinstance(pattern, URLPattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            params = tuple(a or b for a, b in PARAM.findall(route))
            routes.append(Route(key=name or route, route=route, name=name, params=params))
    return routes


def is_admin(route: Route) -> bool:
    return route.route.startswith(ADMIN_PREFIX)


def route_by_key() -> dict[str, Route]:
    return {route.key: route for route in project_routes()}


def admin_kwargs(world) -> dict[str, object]:
    """Values for the admin's URL parameters: a real user and content type, a page that is not there."""
    from django.contrib.contenttypes.models import ContentType

    user = world.users["consumer"]
    return {
        "object_id": user.pk,
        "id": user.pk,
        "content_type_id": ContentType.objects.get_for_model(user).pk,
        "app_label": "portal",
        "url": "no-such-page/",
    }


def path_of(route: Route, kwargs: dict[str, object]) -> str:
    if route.name:
        return reverse(route.name, kwargs={param: kwargs[param] for param in route.params})
    path = PARAM.sub(lambda m: quote(str(kwargs[m.group(1) or m.group(2)])), route.route)
    return "/" + path.rstrip("$")


# --- Asking -------------------------------------------------------------------------------------------
JSONAPI = "application/vnd.api+json"


def send(client: Client, method: str, path: str, kwargs: dict[str, object], **extra: object) -> HttpResponse:
    """One request as its caller sends it: a browser's form, a token request, a JSON:API client."""
    if path.startswith("/api/") and path not in (reverse("jsonapi-openapi"), reverse("jsonapi-docs")):
        data: dict[str, object] = {"type": "api_credentials", "attributes": {}}
        if "public_id" in kwargs:
            data["id"] = kwargs["public_id"]
        body = json.dumps({"data": data}) if method in ("POST", "PATCH") else ""
        return client.generic(method, path, body, content_type=JSONAPI, headers={"Accept": JSONAPI}, **extra)
    if path == reverse("oauth-token") and method == "POST":
        return client.post(path, "grant_type=client_credentials", content_type="application/x-www-form-urlencoded")
    if method == "GET":
        return client.get(path, **extra)
    return client.generic(method, path, "", content_type="application/x-www-form-urlencoded", **extra)


def outcome(response: HttpResponse) -> int | str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith(reverse("login") + "?next="):
            return LOGIN
        if location.startswith(reverse("admin:login") + "?next="):
            return ADMIN_LOGIN
        return REDIRECT
    return response.status_code


def ask(world, column: str, method: str, path: str, kwargs: dict[str, object]) -> int | str:
    """The answer to one request, whose writes are rolled back (its savepoint)."""
    with transaction.atomic():
        try:
            response = send(world.client(column), method, path, kwargs)
        except Exception as exc:  # a 500: the matrix reports it beside the other mismatches
            transaction.set_rollback(True)
            return f"raised {type(exc).__name__}: {exc}"
        transaction.set_rollback(True)
    return outcome(response)


def mismatches(
    world, key: str, table: dict[str, Row], path: str, kwargs: dict[str, object], columns: tuple[str, ...] = COLUMNS
) -> list[str]:
    found = []
    for method, row in table.items():
        assert len(row) == len(columns), f"{key} {method}: one answer per column"
        for column, expected in zip(columns, row, strict=True):
            got = ask(world, column, method, path, kwargs)
            if got != expected:
                found.append(f"{method} {path} as {column}: expected {expected}, got {got}")
    return found


# --- Every URL has a rule ---------------------------------------------------------------------------------
def test_every_url_of_the_project_has_a_rule():
    keys = {route.key for route in project_routes() if not is_admin(route)}

    assert sorted(keys - RULES.keys()) == [], "a URL without a rule: add it to RULES with its designed answers"
    assert sorted(RULES.keys() - keys) == [], "a rule for a URL that is gone"


def test_the_walk_finds_the_namespaced_includes_the_api_and_the_admin():
    keys = {route.key for route in project_routes()}

    assert {"credentials:api-catalog", "approvals:decide", "jsonapi-credential-detail", "gateway-verify"} <= keys
    assert {"admin:index", "admin:portal_user_change"} <= keys


def test_every_rule_with_ids_names_its_objects_and_answers_for_another_organization(access_world):
    routes = route_by_key()
    for key, rule in RULES.items():
        params = routes[key].params
        assert bool(params) == (rule.target is not None), f"{key}: a target exactly when the URL has ids"
        assert {"GET", "POST"} <= rule.own.keys(), key
        if rule.target:
            assert rule.other.keys() == rule.own.keys(), key
            assert set(params) <= access_world.own[rule.target].keys(), key
    assert access_world.columns == set(COLUMNS)


# --- The matrix -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(RULES))
def test_each_role_gets_the_designed_answer(access_world, key):
    rule = RULES[key]
    route = route_by_key()[key]
    found = []
    for side, table in (("own", rule.own), ("other", rule.other)):
        if not table:
            continue
        kwargs = getattr(access_world, side)[rule.target] if rule.target else {}
        found += mismatches(access_world, key, table, path_of(route, kwargs), kwargs)

    assert found == []


def test_the_django_admin_answers_its_family_rule_to_every_role(access_world):
    kwargs = admin_kwargs(access_world)
    found = []
    admin_routes = [route for route in project_routes() if is_admin(route)]
    assert len(admin_routes) > 20  # the walk went into the admin's includes
    for route in admin_routes:
        table = ADMIN_EXCEPTIONS.get(route.key, {"GET": ADMIN_FAMILY, "POST": ADMIN_FAMILY})
        found += mismatches(access_world, route.key, table, path_of(route, kwargs), kwargs, ADMIN_COLUMNS)

    assert found == []


def test_no_role_of_portico_is_django_admin_staff(access_world):
    assert [column for column, user in access_world.users.items() if user.is_staff or user.is_superuser] == []


def test_the_django_admin_opens_for_staff(access_world):
    client = access_world.client("superuser")

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:portal_user_changelist")).status_code == 200


def test_static_files_are_served_to_anyone_and_only_read(access_world):
    assert Client().get("/static/css/portal.css").status_code == 200
    assert access_world.client("consumer").get("/static/css/portal.css").status_code == 200
    # WhiteNoise answers before the URLconf (and the CSRF check): files are only read.
    assert Client(enforce_csrf_checks=True).post("/static/css/portal.css").status_code == 405


# --- The API catalog: every signed-in role browses it; only consumers ask for keys -------------------
SIGNED_IN = ("consumer", "org_admin", "tenant_admin", "hub_admin", "approver")


@pytest.mark.parametrize("column", SIGNED_IN)
def test_every_signed_in_role_finds_apis_in_the_navigation(access_world, column):
    user = access_world.users[column]
    page = access_world.client(column).get(reverse("home")).content.decode()

    assert "APIs" in [item.label for item in nav_items_for(user)]
    assert f'<a href="{reverse("credentials:api-catalog")}"' in page


@pytest.mark.parametrize("column", SIGNED_IN)
def test_the_catalog_offers_request_api_key_to_consumers_only(access_world, column):
    api = access_world.objects.own.catalog_api
    page = access_world.client(column).get(reverse("credentials:api-catalog")).content.decode()
    request_url = reverse("credentials:api-key-request", args=[api.slug])

    assert api.name in page
    assert (request_url in page) is (column == "consumer")
    assert ("Request API key" in page) is (column == "consumer")
    assert (reverse("credentials:my-api-keys") in page) is (column == "consumer")


# --- Writes cannot change fields the user may not change ----------------------------------------------
def snapshot(instance) -> dict[str, object]:
    """The row as the database holds it now (a fresh read: the world's instances stay as built)."""
    fresh = type(instance)._base_manager.get(pk=instance.pk)
    return {f.attname: getattr(fresh, f.attname) for f in type(instance)._meta.concrete_fields}


def changed(before: dict[str, object], after: dict[str, object]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


class FormReader(HTMLParser):
    """The fields of the forms of a page, as a browser would send them (inputs and textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attributes.get("action", ""), {}))
            return
        sent = attributes.get("type") not in ("checkbox", "radio") or "checked" in attributes
        if tag in ("input", "textarea") and self.forms and attributes.get("name") and sent:
            self.forms[-1][1][attributes["name"]] = attributes.get("value", "")


def page_form(client: Client, page: str, action: str) -> dict[str, str]:
    """The first form of the page that posts to `action`, with what the page filled in."""
    reader = FormReader()
    reader.feed(client.get(page).content.decode())
    return next(dict(fields) for url, fields in reader.forms if url == action)


def forged(world, **extra: object) -> dict[str, object]:
    """Fields no form of Portico offers, pointing at the other organization and its people."""
    other = world.objects.other
    return {
        "id": 999999,
        "organization": other.organization.pk,
        "organization_id": other.organization.pk,
        "created_by": world.objects.outsider.pk,
        "registered_by": world.objects.outsider.pk,
        **extra,
    }


def test_editing_an_api_credential_changes_only_its_description(access_world):
    credential = access_world.objects.own.read_only_credential[0]
    before = snapshot(credential)
    url = reverse("credentials:api-credential-edit", args=[credential.public_id])
    data = {"name": "Renamed", "role": credential.role.public_id, "secret_action": "keep"}
    data |= forged(
        access_world,
        public_id="forged-public-id",
        mode=ApiCredential.Mode.TEST,
        reference="FORGED",
        scopes="read write",
        secret_digest="0" * 64,
        secret_version=99,
        expires_in=1,
        last_used_at="2020-01-01T00:00",
    )

    response = access_world.client("org_admin").post(url, data)

    assert response.status_code == 302
    assert changed(before, snapshot(credential)) == {"name", "updated_at"}


def test_editing_an_api_credential_refuses_another_organizations_role(access_world):
    credential = access_world.objects.own.read_only_credential[0]
    before = snapshot(credential)
    url = reverse("credentials:api-credential-edit", args=[credential.public_id])
    data = {"name": "Renamed", "role": access_world.objects.other.admin_role.public_id, "secret_action": "keep"}

    response = access_world.client("org_admin").post(url, data)

    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert snapshot(credential) == before


def test_adding_an_api_credential_ignores_a_forged_owner_client_id_and_mode(access_world):
    own = access_world.objects.own
    existing = set(ApiCredential.objects.values_list("pk", flat=True))
    data = {"name": "New app", "role": own.admin_role.public_id, "client_secret": ""}
    data |= forged(access_world, client_id="attacker-chosen", mode=ApiCredential.Mode.TEST, reference="FORGED")

    response = access_world.client("org_admin").post(reverse("credentials:api-credential-add-done"), data)

    assert response.status_code == 200
    credential = ApiCredential.objects.exclude(pk__in=existing).get()
    assert credential.organization == own.organization
    assert credential.created_by == access_world.users["org_admin"]
    assert credential.client_id != "attacker-chosen"
    assert (credential.mode, credential.reference) == (ApiCredential.Mode.LIVE, "")
    assert credential.scopes == own.admin_role.scopes


def test_registering_a_tenant_ignores_a_forged_organization_and_registrant(access_world):
    data = {"alias": "acme-qa", "url": "https://acme-qa.example.com"} | forged(access_world)

    response = access_world.client("tenant_admin").post(reverse("credentials:tenant-register"), data)

    assert response.status_code == 302
    tenant = Tenant.objects.get(alias="acme-qa")
    assert tenant.organization == access_world.objects.own.organization
    assert tenant.registered_by == access_world.users["tenant_admin"]


def test_submitting_a_connection_request_refuses_another_organizations_tenant(access_world):
    other_tenant = access_world.objects.other.requests.submitted.tenant
    count = ConnectionRequest.objects.count()
    data = {
        "tenant": other_tenant.pk,
        "credentials": client_secret_json("https://globex.authentication.example.com/oauth/token"),
        "skip_test": "on",
    }

    response = access_world.client("tenant_admin").post(reverse("credentials:connection-request-submit"), data)

    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert ConnectionRequest.objects.count() == count


def test_editing_credentials_cannot_decide_or_move_the_request(access_world):
    request = access_world.objects.own.requests.submitted
    before = snapshot(request)
    data = {
        "credentials": client_secret_json("https://acme.authentication.example.com/oauth/token", client_id="new-id"),
        "skip_test": "on",
    } | forged(
        access_world,
        status=ConnectionRequest.Status.APPROVED,
        tenant=access_world.objects.other.requests.submitted.tenant_id,
        decided_by=access_world.users["hub_admin"].pk,
        decided_at="2020-01-01T00:00",
        submitted_by=access_world.objects.outsider.pk,
        expires_at="2099-01-01T00:00",
    )

    response = access_world.client("tenant_admin").post(
        reverse("credentials:connection-request-edit", args=[request.pk]), data
    )

    assert response.status_code == 302
    # What Edit Credentials changes: the credentials, the facts read from them and their health
    # (untested again), nothing else.
    credential_facts = {
        "health",
        "health_checked_at",
        "health_message",
        "credentials",
        "credential_kind",
        "api_url",
        "token_url",
        "cert_url",
        "client_id",
        "certificate_subject",
        "certificate_not_after",
        "generated_at",
        "expires_at",
        "credentials_updated_at",
        "updated_at",
    }
    after = snapshot(request)
    assert changed(before, after) - credential_facts == set()
    assert after["client_id"] == "new-id" and after["expires_at"].year < 2099


def test_rotating_a_key_cannot_move_it_to_another_consumer_api_or_state(access_world):
    key = access_world.objects.own.api_key
    before = snapshot(key)
    data = {"grace": "0"} | forged(
        access_world,
        consumer=access_world.objects.outsider.pk,
        api=access_world.objects.other.api.pk,
        status=ApiKey.Status.REVOKED,
        expires_at="2099-01-01T00:00",
    )

    response = access_world.client("consumer").post(reverse("credentials:api-key-rotate", args=[key.pk]), data)

    assert response.status_code == 200
    assert changed(before, snapshot(key)) <= {"prefix", "updated_at", "deployment_state"}
    assert snapshot(key)["prefix"] != before["prefix"]


def test_changing_a_keys_expiry_changes_only_its_expiry(access_world):
    key = access_world.objects.own.api_key
    before = snapshot(key)
    new_expiry = timezone.localtime(timezone.now() + timedelta(days=200)).replace(second=0, microsecond=0)
    prefix = f"key-{key.pk}-"
    data = {f"{prefix}expires_at": f"{new_expiry:%Y-%m-%dT%H:%M}"} | forged(
        access_world,
        status=ApiKey.Status.REVOKED,
        consumer=access_world.objects.outsider.pk,
        **{f"{prefix}status": ApiKey.Status.REVOKED, f"{prefix}consumer": access_world.objects.outsider.pk},
    )

    response = access_world.client("hub_admin").post(
        reverse("credentials:api-key-expiry", args=[key.api_id, key.pk]), data
    )

    assert response.status_code == 302
    after = snapshot(key)
    assert changed(before, after) <= {"expires_at", "updated_at", "deployment_state"}
    assert after["expires_at"] == new_expiry


def test_editing_a_runtime_target_cannot_set_its_secrets_or_health(access_world):
    target = access_world.objects.own.runtime_target
    before = snapshot(target)
    data = {"name": "acme gateway renamed", "base_url": target.base_url, "health_url": ""} | forged(
        access_world,
        verify_token_prefix="prt_gw_FORGED01",
        verify_token_digest="0" * 64,
        signing_secret="attacker-chosen-signing-secret",
        health=RuntimeTarget.Health.UP,
        health_message="forged",
    )

    response = access_world.client("hub_admin").post(reverse("credentials:runtime-target-edit", args=[target.pk]), data)

    assert response.status_code == 302
    assert changed(before, snapshot(target)) == {"name"}


def test_deciding_an_approval_is_recorded_as_the_approver_whatever_the_post_says(access_world):
    approval = access_world.objects.own.approval
    client = access_world.client("approver")
    url = reverse("approvals:decide", args=[approval.pk])
    data = page_form(client, reverse("approvals:inbox"), url) | forged(
        access_world,
        approver=access_world.objects.outsider.pk,
        requested_by=access_world.users["approver"].pk,
        api_key=access_world.objects.other.api_key.pk,
    )
    assert data["verdict"] == "approve"
    requested_by = approval.requested_by_id

    response = client.post(url, data)

    assert response.status_code == 302
    decision = Decision.objects.get(approval_request=approval)
    assert decision.approver == access_world.users["approver"]
    assert snapshot(approval)["requested_by_id"] == requested_by
    assert ApiKey.objects.get(pk=access_world.objects.other.api_key.pk).status == ApiKey.Status.ACTIVE


def test_deciding_a_connection_request_is_recorded_as_the_hub_admin_whatever_the_post_says(access_world):
    request = access_world.objects.other.requests.submitted
    client = access_world.client("hub_admin")
    url = reverse("approvals:connection-request-decide", args=[request.pk])
    data = page_form(client, reverse("approvals:connections-pending"), url) | forged(
        access_world,
        decided_by=access_world.objects.outsider.pk,
        submitted_by=access_world.objects.outsider.pk,
        tenant=access_world.objects.own.requests.submitted.tenant_id,
    )

    response = client.post(url, data)

    assert response.status_code == 302
    decided = ConnectionRequest.objects.get(pk=request.pk)
    assert decided.status == ConnectionRequest.Status.APPROVED
    assert decided.decided_by == access_world.users["hub_admin"]
    assert decided.tenant.organization == access_world.objects.other.organization
