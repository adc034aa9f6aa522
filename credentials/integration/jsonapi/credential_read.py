"""GET /api/api_credentials/<id>, the plain case, answered without DRF's stack.

The API's most frequent call is a client reading one credential. Through DRF and
djangorestframework-jsonapi it cost about ten times a bare Django view, mostly in the ORM's
compiling of a three-table query, the serializer building its fields anew per request and the
renderer's reverse() per link (a profile of the request; docs/benchmarks.md). This answers the
plain request, a GET with no query parameters, no body and the JSON:API media type or none, with
one query of SQL the ORM built once, and the same document and headers as the DRF view
(tests/credentials/integration/test_api_credential_read.py compares the two). Anything else, and
every refusal (no or a bad token, no read scope, another organization's id), is left to the DRF
view, which answers it as before.
"""

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.http import http_date
from rest_framework import renderers

from credentials.integration import oauth
from credentials.integration.models import ApiCredential
from credentials.lib.hot_reads import aware, fetch_one

MEDIA_TYPE = "application/vnd.api+json"


# The headers of the DRF view's answer: its Allow header lists the methods the detail route maps;
# JsonApiView.finalize_response adds django.utils.cache.add_never_cache_headers, whose two headers
# are written here directly (it parses and rebuilds Cache-Control on every call).
ALLOW = "GET, PATCH, DELETE, HEAD, OPTIONS"
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


# The attributes of ApiCredentialSerializer, in its order (client_secret is only in a create's answer).
ATTRIBUTES = (
    "name",
    "kind",
    "confidential",
    "redirect_uri",
    "client_id",
    "scopes",
    "expires_in",
    "mode",
    "custom",
    "created_at",
    "updated_at",
    "reference",
    "reference_origin",
    "metadata",
)
_COLUMNS = ("public_id", *ATTRIBUTES, "organization__slug", "role__public_id")


_JSON = renderers.JSONRenderer()  # and its JSON (the JSON:API renderer's base)


@functools.cache
def _list_path(script_prefix: str) -> str:
    """/api/api_credentials under this script prefix: reverse() once, not on every answer."""
    return reverse("jsonapi-credential-list")


@functools.cache
def _resource_sql() -> str:
    """The SQL of the read, built by the ORM once per process: the credential by its public id,
    in the token's organization, of the kind the API shows (served by the unique index on public_id)."""
    # One filter() each, so the parameters come in this order.
    queryset = (
        ApiCredential.objects.filter(public_id="").filter(organization_id=0).filter(kind=ApiCredential.Kind.CONNECTION)
    )
    sql, params = queryset.order_by().values_list(*_COLUMNS)[:1].query.sql_with_params()
    if list(params) != ["", 0, ApiCredential.Kind.CONNECTION]:
        raise ImproperlyConfigured(f"Unexpected parameters in the API credential read: {params!r}")
    return sql


def _iso_8601(value: datetime) -> str:
    """What DRF's DateTimeField writes (ISO 8601 in the current time zone, "+00:00" as "Z"),
    without its per-call settings lookups. SQLite's naive datetimes are UTC."""
    text = timezone.localtime(aware(value)).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def is_plain(request: HttpRequest) -> bool:
    """A GET this module answers: no query parameters, no body, our media type or none. The DRF
    view answers the rest (include, sparse fieldsets, media type parameters: 406 and 415)."""
    meta: Mapping[str, Any] = request.META
    return (
        request.method == "GET"
        and not meta.get("QUERY_STRING")
        and meta.get("CONTENT_LENGTH", "") in ("", "0")
        and meta.get("CONTENT_TYPE", "") in ("", MEDIA_TYPE)
        and meta.get("HTTP_ACCEPT", "") in ("", MEDIA_TYPE, "*/*")
    )


def document(request: HttpRequest, row: tuple) -> dict[str, Any]:
    """The resource object, as ApiCredentialSerializer and the JSON:API renderer make it."""
    values = dict(zip(_COLUMNS, row, strict=True))
    attributes = {name: values[name] for name in ATTRIBUTES}
    # A plain cursor hands back JSON as text (SQLite).
    for name in ("created_at", "updated_at"):
        attributes[name] = _iso_8601(values[name])
    metadata = values["metadata"]
    attributes["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
    # The detail URL and its relationship links are the list URL's sub-paths (jsonapi/urls.py); a
    # public id is base62, nothing to quote.
    url = request.build_absolute_uri(f"{_list_path(get_script_prefix())}/{values['public_id']}")
    relationships = {
        name: {
            "links": {"self": f"{url}/relationships/{name}", "related": f"{url}/{name}"},
            "data": {"type": kind, "id": values[column]},
        }
        for name, kind, column in (
            ("organization", "organizations", "organization__slug"),
            ("role", "roles", "role__public_id"),
        )
    }
    resource = {
        "type": "api_credentials",
        "id": values["public_id"],
        "attributes": attributes,
        "relationships": relationships,
        "links": {"self": url},
    }
    return {"data": resource}


def answer(request: HttpRequest, public_id: str) -> HttpResponse | None:
    """The answer to a plain GET of an API credential the token may read, or None: the DRF view's."""
    if not is_plain(request) or "\x00" in public_id:
        return None
    authenticated = oauth.authenticate_bearer(request)
    if authenticated is None:
        return None
    bearer = oauth.BearerAuth(*authenticated)
    if not bearer.allows("read"):
        return None
    row = fetch_one(_resource_sql(), [public_id, bearer.organization_id, ApiCredential.Kind.CONNECTION])
    if row is None:
        return None
    response = HttpResponse(_JSON.render(document(request, row)), content_type=MEDIA_TYPE)
    response["Allow"] = ALLOW
    response["Expires"] = http_date()
    response["Cache-Control"] = NEVER_CACHE
    return response
