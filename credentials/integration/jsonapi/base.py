"""Portico's JSON:API provisioning API (/api/...), compatible with Commerce Layer's clients: what
every resource shares (errors, bearer authentication and scopes, document parsing, pagination,
filters and sort). The resources are in jsonapi/views.py.

djangorestframework-jsonapi parses and renders the format (resource objects, `include`, sparse
fieldsets, pagination links, error objects, 409 on a wrong `type` or `id`). This module adds
what Portico needs around it: bearer authentication from credentials.integration.oauth, the organization
scope (another organization's id answers 404), read and write scopes of the token's role, the
strict checks of a write document (unknown or read-only attributes: 422 with a pointer), the
Commerce Layer filters (`filter[q][name_cont]=...`) and `meta.record_count`/`meta.page_count`.

Every write goes through credentials.integration.services, as the Connection API Credentials page does, so
the page and the API show the same rows and every change is audited.
"""

import re
from http import HTTPStatus
from typing import Any, cast

from django.db.models import QuerySet
from django.http import Http404
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_json_api import exceptions as jsonapi_exceptions
from rest_framework_json_api import parsers, renderers
from rest_framework_json_api.pagination import JsonApiPageNumberPagination

from credentials.integration import oauth
from credentials.integration.jsonapi import documents
from portal.models import Organization

MEDIA_TYPE = "application/vnd.api+json"


# A write document is a few hundred bytes; metadata is capped at 10 kB. Django only limits form bodies.
MAX_BODY_BYTES = 64 * 1024


# --- Errors ---------------------------------------------------------------------------------------
def error_object(status_code: int, code: str, detail: str, pointer: str | None = None, **source: str) -> dict:
    error: dict[str, str | dict[str, str]] = {
        "status": str(status_code),
        "code": code,
        "title": HTTPStatus(status_code).phrase,
        "detail": detail,
    }
    if pointer is not None:
        source["pointer"] = pointer
    if source:
        error["source"] = source
    return error


class JsonApiErrors(exceptions.APIException):
    """One or more error objects, all of the same status."""

    def __init__(self, status_code: int, errors: list[dict]) -> None:
        self.status_code = status_code
        super().__init__(detail=errors)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """djangorestframework-jsonapi's error objects, each with status, code and title (and the
    RFC 6750 challenge on 401, which DRF adds from the authentication class)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("No such resource, or not one of your organization.")
    response = jsonapi_exceptions.exception_handler(exc, context)
    if response is None:
        return None
    default_code = getattr(exc, "default_code", "error")
    # The library points every error at /data; only errors about the document should.
    points_at_document = isinstance(exc, JsonApiErrors | exceptions.ValidationError | exceptions.ParseError)
    # JSON:API 1.1's source.header: the header that was refused.
    header = {exceptions.UnsupportedMediaType: "Content-Type", exceptions.NotAcceptable: "Accept"}.get(type(exc))
    for error in response.data if isinstance(response.data, list) else []:
        if header:
            error["source"] = {**(error.get("source") or {}), "header": header}
        error["status"] = str(error.get("status") or response.status_code)
        error.setdefault("code", default_code)
        error["code"] = str(error["code"])
        error.setdefault("title", HTTPStatus(int(error["status"])).phrase)
        error["detail"] = str(error.get("detail", ""))
        source = error.get("source") or {}
        if source.get("parameter") or (not points_at_document and source.get("pointer") == "/data"):
            source.pop("pointer", None)
        if not any(source.get(member) for member in ("pointer", "parameter", "header")):
            error.pop("source", None)
    return response


# --- Authentication and authorization ---------------------------------------------------------------
class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token from POST /oauth/token>` (credentials.integration.oauth.authenticate_bearer).
    request.auth is the BearerAuth: its organization scopes every query. request.user is the
    credential's facts (no query: they are at most a second old)."""

    def authenticate(self, request: Request) -> tuple[Any, oauth.BearerAuth] | None:
        if oauth._bearer_value(request._request) is None:
            return None  # NotAuthenticated: 401 with the plain challenge
        authenticated = oauth.authenticate_bearer(request._request)
        if authenticated is None:
            raise exceptions.AuthenticationFailed(
                "The access token is invalid, expired or revoked. Get a new one from POST /oauth/token."
            )
        credential, token = authenticated
        return credential, oauth.BearerAuth(credential=credential, token=token)

    def authenticate_header(self, request: Request) -> str:
        if oauth._bearer_value(request._request) is None:
            return f'Bearer realm="{oauth.REALM}"'
        return f'Bearer realm="{oauth.REALM}", error="invalid_token"'


class TokenScope(BasePermission):
    """Reads need the read scope, changes the write scope; a read-only role's tokens only read."""

    message = "This access token may not change anything: its credential's role is read-only."

    def has_permission(self, request: Request, view: object) -> bool:
        bearer = request.auth
        if not isinstance(bearer, oauth.BearerAuth):
            raise exceptions.NotAuthenticated(
                "Authenticate with a bearer token from POST /oauth/token: Authorization: Bearer <access_token>."
            )
        return bearer.allows("read" if request.method in SAFE_METHODS else "write")


# --- Parsing and content negotiation -------------------------------------------------------------------
class DocumentParser(parsers.JSONParser):
    """Portico's reading of the document first (jsonapi/documents.py: nesting, characters, numbers,
    member types; then type and id), each refusal a 400, 409 or 422 with its pointer; then the
    library's parse into attributes, keeping the raw resource object for the views' strict checks."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> dict:
        parser_context = parser_context or {}
        try:
            document = documents.read(stream.read() if stream is not None else b"")
            self._check_identity(document, parser_context)
        except documents.DocumentProblem as problem:
            raise JsonApiErrors(
                problem.status, [error_object(problem.status, problem.code, problem.detail, problem.pointer)]
            ) from None
        return self.parse_data(document, parser_context)

    @staticmethod
    def _check_identity(document: Any, parser_context: dict) -> None:
        """The library's type and id checks (409, 400), answered here with their pointer."""
        data = document.get("data") if isinstance(document, dict) else None
        view, request = parser_context.get("view"), parser_context.get("request")
        if not isinstance(data, dict) or request is None or request.method not in ("POST", "PATCH", "PUT"):
            return  # the library says "does not contain primary data" (400, /data)
        resource_name = getattr(view, "resource_name", None)
        if resource_name and data.get("type") != resource_name:
            raise documents.DocumentProblem(
                409, "conflict", f"The resource object's type must be {resource_name}.", "/data/type"
            )
        if request.method in ("PATCH", "PUT"):
            lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "")
            if not data.get("id"):
                raise documents.DocumentProblem(400, "missing_id", "The resource object needs its id.", "/data/id")
            if str(data["id"]) != str(view.kwargs.get(lookup)):  # type: ignore[union-attr]
                raise documents.DocumentProblem(409, "conflict", "The id is not the one in the URL.", "/data/id")

    def parse_data(self, result: Any, parser_context: dict) -> dict:
        parsed = super().parse_data(result, parser_context)
        parser_context["request"].jsonapi_resource = result["data"]
        return parsed


def _whole_number(value: str) -> bool:
    """ASCII digits only: str.isdigit() is also true of "²", which int() refuses (a 500 before)."""
    return value.isascii() and value.isdigit()


def _media_type_parameters(value: str) -> tuple[str, set[str]]:
    base, *params = value.split(";")
    return base.strip().lower(), {param.split("=")[0].strip().lower() for param in params if param.strip()}


def _missing_body(request: Request) -> JsonApiErrors:
    """A write without a body: 411 when it came chunked (Django reads a body only by its
    Content-Length, so a chunked one arrives empty), else 400. Either way nothing is changed."""
    if request.META.get("HTTP_TRANSFER_ENCODING", "").strip():
        return JsonApiErrors(
            411,
            [
                error_object(
                    411,
                    "length_required",
                    "Send the document with a Content-Length header; a chunked body is not read.",
                    "/data",
                    header="Transfer-Encoding",
                )
            ],
        )
    return JsonApiErrors(
        400, [error_object(400, "empty_document", 'The body is empty: send a document {"data": {...}}.', "/data")]
    )


class ApiRequest(Request):
    """The request the API's views handle, once BearerTokenAuthentication and TokenScope let it in
    (a type only: DRF builds the request)."""

    auth: oauth.BearerAuth
    jsonapi_resource: dict[str, Any]  # the resource object of a write document, kept by DocumentParser


class JsonApiView:
    """What every view of the API shares (a mixin ahead of the library's view classes)."""

    request: ApiRequest

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [TokenScope]
    parser_classes = [DocumentParser]
    renderer_classes = [renderers.JSONRenderer]
    lookup_field = "public_id"

    def get_exception_handler(self) -> Any:
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # JSON:API 1.1: 415 for our media type with parameters other than ext and profile, and for
        # a body of any other type. Commerce Layer clients send the header on GET and DELETE too.
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type:
            base, params = _media_type_parameters(content_type)
            if base == MEDIA_TYPE and params - {"ext", "profile"}:
                raise exceptions.UnsupportedMediaType(content_type)
            if base != MEDIA_TYPE and request.method in ("POST", "PATCH", "PUT"):
                raise exceptions.UnsupportedMediaType(content_type)
        elif request.method in ("POST", "PATCH", "PUT"):
            raise exceptions.UnsupportedMediaType("(none)")
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not _whole_number(length) or int(length) > MAX_BODY_BYTES:
            raise JsonApiErrors(
                413,
                [
                    error_object(
                        413, "too_large", f"A request body is at most {MAX_BODY_BYTES} bytes.", header="Content-Length"
                    )
                ],
            )

        accept = request.META.get("HTTP_ACCEPT", "")
        if accept:
            ranges = [_media_type_parameters(item) for item in accept.split(",")]
            ours = [params - {"q"} for base, params in ranges if base == MEDIA_TYPE]
            if ours and all(ours) and not any(base in ("*/*", "application/*") for base, _ in ranges):
                raise exceptions.NotAcceptable("Every application/vnd.api+json in Accept has media type parameters.")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # a mixin: the library's view class has it

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)  # type: ignore[misc]  # a mixin: the library's view class has it
        # Authenticated and allowed: now a lookup that no id can match is a 404 without a query
        # (PostgreSQL refuses NUL in a text comparison), and a write needs a body.
        if any("\x00" in str(value) for value in self.kwargs.values()):  # type: ignore[attr-defined]
            raise exceptions.NotFound("No such resource, or not one of your organization.")
        if request.method in ("POST", "PATCH", "PUT") and int(request.META.get("CONTENT_LENGTH") or 0) == 0:
            raise _missing_body(request)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # No DRF metadata document (it is not JSON:API): the Allow header says what there is.
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]  # as above
        add_never_cache_headers(response)
        return response

    @property
    def organization(self) -> Organization:
        """The token's organization's row (one query, on first use: the writes need it)."""
        return self.request.auth.organization

    @property
    def organization_id(self) -> int:
        """The token's organization (no query): every read is scoped by it."""
        return self.request.auth.organization_id


# --- Lists: pagination, filters, sort -----------------------------------------------------------------
class Pagination(JsonApiPageNumberPagination):
    """`page[number]` and `page[size]` (Commerce Layer: 10 by default, at most 25); every list
    carries meta.record_count and meta.page_count."""

    page_size = 10
    max_page_size = 25

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (_whole_number(raw) and 1 <= int(raw) <= self.max_page_size):
            raise JsonApiErrors(
                400,
                [
                    error_object(
                        400,
                        "invalid_page_size",
                        f"page[size] is a whole number from 1 to {self.max_page_size}.",
                        parameter="page[size]",
                    )
                ],
            )
        return super().get_page_size(request)

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: object = None) -> list | None:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (_whole_number(raw) and int(raw) >= 1):
            raise JsonApiErrors(
                400,
                [
                    error_object(
                        400, "invalid_page_number", "page[number] is a whole number from 1.", parameter="page[number]"
                    )
                ],
            )
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: list) -> Response:
        response = super().get_paginated_response(data)
        # JSON:API lets an unavailable page link be omitted or null; omitted, because the official
        # 1.0 schema's link definition refuses null beside its pagination definition.
        links = response.data.get("links")
        if isinstance(links, dict):
            response.data["links"] = {name: url for name, url in links.items() if url is not None}
        response.data["meta"] = {
            "record_count": self.page.paginator.count,
            "page_count": self.page.paginator.num_pages,
        }
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return schema


FILTER_PARAMETER = re.compile(r"^filter\[(?:q\]\[)?([a-z_]+)\]$")


PREDICATES = ("not_eq", "eq", "cont", "start", "end", "in")


LOOKUPS = {"eq": "exact", "cont": "icontains", "start": "istartswith", "end": "iendswith", "in": "in"}


def apply_filters(queryset: QuerySet, request: Request, filterable: dict[str, str]) -> QuerySet:
    """`filter[name]=x` (equal) and Commerce Layer's Ransack style `filter[q][name_cont]=x`
    (eq, not_eq, cont, start, end, in with commas); an unknown filter is a 400."""
    for parameter, value in request.query_params.items():
        if not parameter.startswith("filter["):
            continue
        match = FILTER_PARAMETER.match(parameter)
        key = match.group(1) if match else ""
        attribute, predicate = key, "eq"
        for candidate in PREDICATES:
            if key.endswith(f"_{candidate}") and key[: -len(candidate) - 1] in filterable:
                attribute, predicate = key[: -len(candidate) - 1], candidate
                break
        if attribute not in filterable:
            raise JsonApiErrors(
                400,
                [
                    error_object(
                        400,
                        "invalid_filter",
                        f"Filter on one of {', '.join(filterable)}, e.g. filter[q][name_cont]=app.",
                        parameter=parameter,
                    )
                ],
            )
        if "\x00" in cast(str, value):
            raise JsonApiErrors(
                400,
                [
                    error_object(
                        400, "invalid_filter", "A filter value cannot contain NUL (U+0000).", parameter=parameter
                    )
                ],
            )
        column = filterable[attribute]
        if predicate == "not_eq":
            queryset = queryset.exclude(**{column: value})
        elif predicate == "in":
            items = cast(str, value).split(",")  # a query parameter's last value: QueryDict has no empty lists
            queryset = queryset.filter(**{f"{column}__in": [item for item in items if item]})
        else:
            queryset = queryset.filter(**{f"{column}__{LOOKUPS[predicate]}": value})
    return queryset


def apply_sort(queryset: QuerySet, request: Request, sortable: set[str]) -> QuerySet:
    raw = request.query_params.get("sort")
    if not raw:
        return queryset
    ordering = []
    for item in raw.split(","):
        field = item.strip().lstrip("-")
        if field not in sortable:
            raise JsonApiErrors(
                400,
                [error_object(400, "invalid_sort", f"Sort by one of {', '.join(sorted(sortable))}.", parameter="sort")],
            )
        ordering.append(item.strip())
    return queryset.order_by(*ordering, "pk")


def filter_parameters(filterable: dict[str, str], sortable: set[str]) -> list[OpenApiParameter]:
    """The list parameters, for the OpenAPI document."""
    parameters = [
        OpenApiParameter("page[number]", int, description="Page number, from 1."),
        OpenApiParameter("page[size]", int, description="Resources a page, 1 to 25 (default 10)."),
        OpenApiParameter(
            "sort", str, description=f"Comma-separated, `-` for descending: {', '.join(sorted(sortable))}."
        ),
    ]
    for attribute in filterable:
        parameters.append(OpenApiParameter(f"filter[{attribute}]", str, description=f"{attribute} equals."))
        for predicate in PREDICATES:
            parameters.append(
                OpenApiParameter(f"filter[q][{attribute}_{predicate}]", str, description=f"Ransack {predicate}.")
            )
    return parameters


def include_fields_parameters(resource: str, includes: list[str]) -> list[OpenApiParameter]:
    parameters = [OpenApiParameter(f"fields[{resource}]", str, description="Sparse fieldset: attributes to return.")]
    if includes:
        parameters.append(OpenApiParameter("include", str, description=f"Comma-separated: {', '.join(includes)}."))
    for included in includes:
        plural = "organizations" if included == "organization" else "roles"
        parameters.append(OpenApiParameter(f"fields[{plural}]", str, description="Sparse fieldset of included."))
    return parameters


ERRORS = {
    code: OpenApiResponse(description=HTTPStatus(code).phrase)
    for code in (400, 401, 403, 404, 406, 409, 411, 413, 415, 422)
}
