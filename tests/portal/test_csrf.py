"""CSRF: every URL of the project refuses a browser's write without the CSRF token, and takes it with
the token as a form field or as the header htmx sends (`hx-headers` on <body>).

The URLs come from the resolver (test_access_matrix.project_routes), minus CSRF_EXEMPT: endpoints
that no session cookie authorizes. An accidental @csrf_exempt on any other view fails here. Who
posts, and what they get once the token is there, is the access matrix's design (RULES).
"""

import json
import re

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from credentials.integration.models import ApiCredential
from tests.portal.test_access_matrix import (
    COLUMNS,
    JSONAPI,
    LOGIN,
    RULES,
    Route,
    admin_kwargs,
    is_admin,
    outcome,
    path_of,
    project_routes,
)

pytestmark = pytest.mark.django_db

# CSRF-exempt by design: each authenticates with something a browser never adds to another site's
# request on its own (a header, the client's credentials), never with the session cookie, which is
# what CSRF abuses. test_a_session_cookie_alone_authorizes_no_write_of_the_api proves the cookie
# gets nowhere there.
CSRF_EXEMPT = {
    "oauth-token": "the client's ID and secret (Basic auth or the body): RFC 6749, no session",
    "gateway-verify": "a runtime target's Authorization: Bearer prt_gw_... token",
    "api-me": "Authorization: Bearer (credentials.integration.oauth.bearer_required)",
    # The JSON:API: djangorestframework views, authenticated by Authorization: Bearer only
    # (BearerTokenAuthentication; no SessionAuthentication, which would enforce CSRF).
    "jsonapi-credential-list": "bearer token",
    "jsonapi-credential-detail": "bearer token",
    "jsonapi-credential-relationships": "bearer token",
    "jsonapi-credential-role": "bearer token",
    "jsonapi-credential-organization": "bearer token",
    "jsonapi-role-list": "bearer token",
    "jsonapi-role-detail": "bearer token",
    "jsonapi-role-relationships": "bearer token",
    "jsonapi-role-organization": "bearer token",
    "jsonapi-organization-list": "bearer token",
    "jsonapi-organization-detail": "bearer token",
    "jsonapi-openapi": "a public read-only document (a DRF view, exempt as all of them)",
    "jsonapi-docs": "a public read-only page (a DRF view, exempt as all of them)",
}

SESSION_COLUMNS = [column for column in COLUMNS if not column.startswith("bearer")]
REFUSED = (403, 404, 405, 401, LOGIN)
BODY_TOKEN = re.compile(r"""<body[^>]*\shx-headers='\{"x-csrftoken": "([^"]+)"\}'""")
FORM_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def protected_routes() -> list[Route]:
    return [route for route in project_routes() if route.key not in CSRF_EXEMPT]


def actor(route: Route) -> str:
    """Who may post there by design: the first session role the matrix lets through (the admin:
    its superuser), or, where nobody may post, the first who may read it."""
    if is_admin(route):
        return "superuser"
    if route.key not in RULES:
        return "anonymous"  # the middleware refuses before the view: anyone shows it
    own = RULES[route.key].own
    for method in ("POST", "GET"):
        for column, answer in zip(COLUMNS, own[method], strict=True):
            if column in SESSION_COLUMNS and answer not in REFUSED:
                return column
    return "anonymous"


def accepts_posts(route: Route) -> bool:
    """Posts are taken there by design (a URL without a rule counts: its test says what is missing)."""
    if is_admin(route):
        return False
    return route.key not in RULES or RULES[route.key].own["POST"][COLUMNS.index(actor(route))] != 405


def kwargs_of(world, route: Route) -> dict[str, object]:
    if is_admin(route):
        return admin_kwargs(world)
    rule = RULES.get(route.key)
    if rule is None:
        return dict.fromkeys(route.params, 1)
    return world.own[rule.target] if rule.target else {}


def browser(world, column: str) -> Client:
    """A browser of the column's user whose requests Django checks for CSRF, as in production."""
    return world.client(column, enforce_csrf_checks=True)


def page_tokens(client: Client, column: str) -> tuple[str, str]:
    """The CSRF token as a page gives it: htmx's header value from <body>, and a form's field."""
    page = client.get(reverse("login") if column == "anonymous" else reverse("home")).content.decode()
    header, field = BODY_TOKEN.search(page), FORM_TOKEN.search(page)
    assert header and field, "the page gives htmx its CSRF header on <body> and its forms the field"
    return header.group(1), field.group(1)


def refused_for_csrf(response: HttpResponse) -> bool:
    return response.status_code == 403 and b"CSRF verification failed" in response.content


def rolled_back(send):
    with transaction.atomic():
        response = send()
        transaction.set_rollback(True)
    return response


# --- The list ------------------------------------------------------------------------------------------
def test_the_exempt_list_names_urls_of_the_project_and_only_machine_endpoints():
    keys = {route.key for route in project_routes()}

    assert CSRF_EXEMPT.keys() <= keys
    assert all(key.startswith(("jsonapi-", "api-", "oauth-", "gateway-")) for key in CSRF_EXEMPT)


def test_every_state_changing_page_is_in_the_protected_list():
    posted_to = {route.key for route in protected_routes() if accepts_posts(route)}

    # Not the list itself (that is the resolver's): a sample a reviewer can check by eye.
    assert {
        "logout",
        "login",
        "credentials:api-key-revoke",
        "credentials:api-credential-edit",
        "credentials:runtime-target-regenerate",
        "approvals:decide",
        "approvals:connection-request-decide",
    } <= posted_to


# --- Without the token: refused ---------------------------------------------------------------------------
@pytest.mark.parametrize("route", protected_routes(), ids=lambda route: route.key)
def test_a_write_without_the_csrf_token_is_refused(access_world, route):
    column = actor(route)
    path = path_of(route, kwargs_of(access_world, route))
    answers = {}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = rolled_back(lambda m=method: browser(access_world, column).generic(m, path, ""))
        answers[method] = "refused" if refused_for_csrf(response) else response.status_code

    assert answers == dict.fromkeys(answers, "refused"), f"{path} as {column}"


def test_a_wrong_csrf_token_is_refused(access_world):
    client = browser(access_world, "consumer")
    page_tokens(client, "consumer")
    path = reverse("credentials:api-key-revoke", kwargs=access_world.own["api_key"])

    response = rolled_back(lambda: client.post(path, headers={"X-CSRFToken": "x" * 64}))

    assert refused_for_csrf(response)


# --- With the token: the designed answer ---------------------------------------------------------------
@pytest.mark.parametrize(
    "route", [route for route in protected_routes() if accepts_posts(route)], ids=lambda route: route.key
)
def test_a_write_with_the_csrf_token_gets_the_designed_answer(access_world, route):
    assert route.key in RULES, f"{route.key} has no rule in test_access_matrix.RULES: who may post there?"
    column = actor(route)
    path = path_of(route, kwargs_of(access_world, route))
    expected = RULES[route.key].own["POST"][COLUMNS.index(column)]

    def as_form() -> HttpResponse:
        client = browser(access_world, column)
        _, field = page_tokens(client, column)
        return client.post(path, {"csrfmiddlewaretoken": field})

    def as_htmx_header(**headers: str) -> HttpResponse:
        client = browser(access_world, column)
        header, _ = page_tokens(client, column)
        return client.post(path, headers={"X-CSRFToken": header, **headers})

    assert outcome(rolled_back(as_form)) == expected
    assert outcome(rolled_back(as_htmx_header)) == expected
    htmx = rolled_back(lambda: as_htmx_header(**{"HX-Request": "true"}))
    assert htmx.status_code != 403, htmx.content[:300]


def test_the_django_admin_takes_a_post_with_the_token(access_world):
    client = browser(access_world, "superuser")
    page = client.get(reverse("admin:portal_organization_add")).content.decode()
    token = FORM_TOKEN.search(page).group(1)

    add = reverse("admin:portal_organization_add")
    organization = {"name": "Initech", "slug": "initech"}

    without = rolled_back(lambda: client.post(add, organization))
    with_token = rolled_back(lambda: client.post(add, {**organization, "csrfmiddlewaretoken": token}))

    assert refused_for_csrf(without)
    assert with_token.status_code == 302


# --- The exempt endpoints: a session cookie alone authorizes nothing ---------------------------------------
def test_a_session_cookie_alone_authorizes_no_write_of_the_api(access_world):
    """A signed-in org admin (who may manage credentials on the page) gets 401 from the API: the
    browser's cookie is not a credential there, so a cross-site form cannot use it."""
    credential = access_world.objects.own.read_only_credential[0]
    count, before = ApiCredential.objects.count(), ApiCredential.objects.filter(pk=credential.pk).values().get()
    client = browser(access_world, "org_admin")
    header, _ = page_tokens(client, "org_admin")
    detail = reverse("jsonapi-credential-detail", args=[credential.public_id])
    document = {"data": {"type": "api_credentials", "attributes": {"name": "cross-site"}}}
    patch = {"data": {"type": "api_credentials", "id": credential.public_id, "attributes": {"name": "cross-site"}}}

    listing = reverse("jsonapi-credential-list")

    answers = [
        client.post(listing, json.dumps(document), content_type=JSONAPI),
        # Even with the page's CSRF token: the session is not whom the API serves.
        client.post(listing, json.dumps(document), content_type=JSONAPI, headers={"X-CSRFToken": header}),
        client.patch(detail, json.dumps(patch), content_type=JSONAPI),
        client.delete(detail),
        client.post(listing, {"data": "x"}),  # a plain cross-site form: refused for its media type first
    ]

    assert [response.status_code for response in answers] == [401, 401, 401, 401, 415]
    assert ApiCredential.objects.count() == count
    assert ApiCredential.objects.filter(pk=credential.pk).values().get() == before


def test_a_session_cookie_alone_gets_no_token_and_asks_the_gateway_nothing(access_world):
    client = browser(access_world, "org_admin")

    token = client.post(
        reverse("oauth-token"), "grant_type=client_credentials", content_type="application/x-www-form-urlencoded"
    )
    verify = client.post(reverse("gateway-verify"), {"key": "prt_key_x", "api": "acme-weather"})

    assert token.status_code == 401 and "access_token" not in token.json()
    assert verify.status_code == 401
