"""Portico's JSON:API provisioning API (/api/...), compatible with Commerce Layer's clients.

djangorestframework-jsonapi parses and renders the format (resource objects, `include`, sparse
fieldsets, pagination links, error objects, 409 on a wrong `type` or `id`). This module adds
what Portico needs around it: bearer authentication from credentials.oauth, the organization
scope (another organization's id answers 404), read and write scopes of the token's role, the
strict checks of a write document (unknown or read-only attributes: 422 with a pointer), the
Commerce Layer filters (`filter[q][name_cont]=...`) and `meta.record_count`/`meta.page_count`.

Every write goes through credentials.services, as the Connection API Credentials page does, so
the page and the API show the same rows and every change is audited.
"""

import re
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework_json_api import exceptions as jsonapi_exceptions
from rest_framework_json_api import parsers, renderers, views
from rest_framework_json_api.pagination import JsonApiPageNumberPagination

from credentials import api_schema, oauth, services  # noqa: F401 - api_schema registers the bearer scheme
from credentials.api_serializers import (
    ALL_ATTRIBUTES,
    CREATABLE_ATTRIBUTES,
    UPDATABLE_ATTRIBUTES,
    ApiCredentialCreateSerializer,
    ApiCredentialSerializer,
    ApiCredentialUpdateSerializer,
    OrganizationSerializer,
    RoleSerializer,
)
from credentials.models import ApiCredential, Role
from portal.models import Organization

MEDIA_TYPE = "application/vnd.api+json"
# A write document is a few hundred bytes; metadata is capped at 10 kB. Django only limits form bodies.
MAX_BODY_BYTES = 64 * 1024


# --- Errors ---------------------------------------------------------------------------------------
def error_object(status_code: int, code: str, detail: str, pointer: str | None = None, **source: str) -> dict:
    error = {"status": str(status_code), "code": code, "title": HTTPStatus(status_code).phrase, "detail": detail}
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
    for error in response.data if isinstance(response.data, list) else []:
        error["status"] = str(error.get("status") or response.status_code)
        error.setdefault("code", default_code)
        error["code"] = str(error["code"])
        error.setdefault("title", HTTPStatus(int(error["status"])).phrase)
        error["detail"] = str(error.get("detail", ""))
        source = error.get("source") or {}
        if source.get("parameter") or (not points_at_document and source.get("pointer") == "/data"):
            source.pop("pointer", None)
        if not source.get("pointer") and not source.get("parameter"):
            error.pop("source", None)
    return response


# --- Authentication and authorization ---------------------------------------------------------------
class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token from POST /oauth/token>` (credentials.oauth.authenticate_bearer).
    request.auth is the BearerAuth: its organization scopes every query."""

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
    """The library's parser (type and id checks: 409), keeping the raw resource object for the
    strict attribute checks of the views."""

    def parse_data(self, result: Any, parser_context: dict) -> dict:
        parsed = super().parse_data(result, parser_context)
        data = result["data"]
        for member in ("attributes", "relationships"):
            if member in data and data[member] is not None and not isinstance(data[member], dict):
                raise JsonApiErrors(
                    400,
                    [error_object(400, "invalid_document", f"{member} must be an object.", f"/data/{member}")],
                )
        parser_context["request"].jsonapi_resource = data
        return parsed


def _media_type_parameters(value: str) -> tuple[str, set[str]]:
    base, *params = value.split(";")
    return base.strip().lower(), {param.split("=")[0].strip().lower() for param in params if param.strip()}


class JsonApiView:
    """What every view of the API shares (a mixin ahead of the library's view classes)."""

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
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise JsonApiErrors(
                413, [error_object(413, "too_large", f"A request body is at most {MAX_BODY_BYTES} bytes.")]
            )
        accept = request.META.get("HTTP_ACCEPT", "")
        if accept:
            ranges = [_media_type_parameters(item) for item in accept.split(",")]
            ours = [params - {"q"} for base, params in ranges if base == MEDIA_TYPE]
            if ours and all(ours) and not any(base in ("*/*", "application/*") for base, _ in ranges):
                raise exceptions.NotAcceptable("Every application/vnd.api+json in Accept has media type parameters.")
        super().initial(request, *args, **kwargs)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # No DRF metadata document (it is not JSON:API): the Allow header says what there is.
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization


# --- Lists: pagination, filters, sort -----------------------------------------------------------------
class Pagination(JsonApiPageNumberPagination):
    """`page[number]` and `page[size]` (Commerce Layer: 10 by default, at most 25); every list
    carries meta.record_count and meta.page_count."""

    page_size = 10
    max_page_size = 25

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
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
        if raw is not None and not (raw.isdigit() and int(raw) >= 1):
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
        column = filterable[attribute]
        if predicate == "not_eq":
            queryset = queryset.exclude(**{column: value})
        elif predicate == "in":
            queryset = queryset.filter(**{f"{column}__in": [item for item in value.split(",") if item]})
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
    code: OpenApiResponse(description=HTTPStatus(code).phrase) for code in (400, 401, 403, 404, 406, 409, 413, 415, 422)
}


# --- API credentials --------------------------------------------------------------------------------
CREDENTIAL_FILTERS = {"name": "name", "kind": "kind", "mode": "mode", "reference": "reference"}
CREDENTIAL_SORTS = {"name", "created_at", "updated_at", "kind", "mode", "reference", "expires_in"}


def _service_errors(exc: DjangoValidationError) -> JsonApiErrors:
    errors = []
    for field, messages in exc.message_dict.items():
        pointer = "/data/relationships/role/data" if field == "role" else f"/data/attributes/{field}"
        if field == "__all__":
            pointer = "/data"
        errors.extend(error_object(422, "invalid", message, pointer) for message in messages)
    return JsonApiErrors(422, errors)


@extend_schema_view(
    list=extend_schema(
        summary="List API credentials",
        parameters=filter_parameters(CREDENTIAL_FILTERS, CREDENTIAL_SORTS)
        + include_fields_parameters("api_credentials", ["role", "organization"]),
        responses={200: ApiCredentialSerializer(many=True), **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 415)}},
    ),
    retrieve=extend_schema(
        summary="Retrieve an API credential",
        parameters=include_fields_parameters("api_credentials", ["role", "organization"]),
        responses={200: ApiCredentialSerializer(), **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 415)}},
    ),
    create=extend_schema(
        summary="Create an API credential (the answer carries client_secret, once)",
        request=ApiCredentialCreateSerializer,
        responses={201: ApiCredentialSerializer(), **{c: ERRORS[c] for c in (400, 401, 403, 406, 409, 413, 415, 422)}},
    ),
    partial_update=extend_schema(
        summary="Update an API credential",
        request=ApiCredentialUpdateSerializer,
        parameters=include_fields_parameters("api_credentials", ["role", "organization"]),
        responses={
            200: ApiCredentialSerializer(),
            **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 409, 413, 415, 422)},
        },
    ),
    destroy=extend_schema(
        summary="Delete an API credential",
        responses={204: None, **{c: ERRORS[c] for c in (401, 403, 404, 406, 415)}},
    ),
)
class ApiCredentialViewSet(JsonApiView, views.ModelViewSet):
    """/api/api_credentials: the organization's connection API credentials."""

    serializer_class = ApiCredentialSerializer
    resource_name = "api_credentials"
    pagination_class = Pagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ApiCredential]:
        # One query whatever the page size: role and organization (for include) are joined.
        queryset = ApiCredential.objects.filter(
            organization=self.organization, kind=ApiCredential.Kind.CONNECTION
        ).select_related("role__organization", "organization")
        if self.action == "list":
            queryset = apply_filters(queryset, self.request, CREDENTIAL_FILTERS)
            queryset = apply_sort(queryset, self.request, CREDENTIAL_SORTS)
        return queryset.order_by(*(queryset.query.order_by or ["created_at"]), "pk")

    def _read_document(self, *, creating: bool) -> dict:
        """The service arguments of a write document, or JsonApiErrors naming every problem."""
        resource = getattr(self.request, "jsonapi_resource", None)
        if resource is None:
            _ = self.request.data  # parses (and may raise 400, 409, 415)
            resource = self.request.jsonapi_resource
        if creating and "id" in resource:
            raise JsonApiErrors(
                403, [error_object(403, "client_id_unsupported", "Portico makes the ids itself.", "/data/id")]
            )
        allowed = CREATABLE_ATTRIBUTES if creating else UPDATABLE_ATTRIBUTES
        attributes = resource.get("attributes") or {}
        relationships = resource.get("relationships") or {}
        errors = []
        for name in attributes:
            if name not in allowed:
                code, detail = (
                    ("read_only_attribute", f"{name} is read-only.")
                    if name in ALL_ATTRIBUTES
                    else ("unknown_attribute", f"api_credentials has no attribute {name}.")
                )
                errors.append(error_object(422, code, detail, f"/data/attributes/{name}"))
        for name in relationships:
            if name != "role":
                code = "read_only_relationship" if name == "organization" else "unknown_relationship"
                errors.append(error_object(422, code, f"{name} cannot be set.", f"/data/relationships/{name}"))
        write_serializer = ApiCredentialCreateSerializer if creating else ApiCredentialUpdateSerializer
        write = write_serializer(data={k: v for k, v in attributes.items() if k in allowed}, partial=True)
        values: dict[str, Any] = {}
        if write.is_valid():
            values.update(write.validated_data)
        else:
            for field, messages in write.errors.items():
                errors.extend(
                    error_object(422, getattr(m, "code", "invalid"), str(m), f"/data/attributes/{field}")
                    for m in messages
                )
        if "role" in relationships:
            role, role_errors = self._read_role(relationships["role"])
            errors.extend(role_errors)
            values["role"] = role
        if errors:
            raise JsonApiErrors(422 if all(e["status"] == "422" for e in errors) else int(errors[0]["status"]), errors)
        return values

    def _read_role(self, relationship: object) -> tuple[Role | None, list[dict]]:
        pointer = "/data/relationships/role/data"
        if not isinstance(relationship, dict) or "data" not in relationship:
            return None, [error_object(422, "invalid", 'Send the role as {"data": {...}}.', "/data/relationships/role")]
        data = relationship["data"]
        if data is None:
            # Unsetting the role leaves the least: the organization's read-only role.
            roles = services.role_ensure_defaults(organization=self.organization)
            return next(role for role in roles if role.kind == Role.Kind.READ_ONLY), []
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None, [error_object(422, "invalid", 'A role is {"type": "roles", "id": "..."}.', pointer)]
        if data.get("type") != "roles":
            return None, [
                error_object(409, "conflict", "The role relationship takes a resource of type roles.", pointer)
            ]
        role = Role.objects.filter(public_id=data["id"], organization=self.organization).first()
        if role is None:
            return None, [error_object(422, "invalid", "Choose a role of your organization.", pointer)]
        return role, []

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        values = self._read_document(creating=True)
        values.pop("kind", None)  # only "connection" passes the serializer
        try:
            credential, secret = services.api_credential_create(
                organization=self.organization, via_client_id=self.request.auth.credential.client_id, **values
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        except services.ApiCredentialLimitReached as exc:
            raise JsonApiErrors(
                422,
                [
                    error_object(
                        422,
                        "limit_reached",
                        f"An account has at most {ApiCredential.MAX_CONNECTION_CREDENTIALS} connection API "
                        "credentials. Delete one first.",
                        "/data",
                    )
                ],
            ) from exc
        context = {**self.get_serializer_context(), "client_secret": secret.value}
        serializer = ApiCredentialSerializer(self._fresh(credential.pk), context=context)
        location = reverse("jsonapi-credential-detail", kwargs={"public_id": credential.public_id}, request=request)
        return Response(serializer.data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        values = self._read_document(creating=False)
        try:
            services.api_credential_update(
                credential_id=credential.pk,
                updated_by=None,
                via_client_id=self.request.auth.credential.client_id,
                **values,
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        return Response(self.get_serializer(self._fresh(credential.pk)).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        services.api_credential_delete(
            credential_id=credential.pk, deleted_by=None, via_client_id=self.request.auth.credential.client_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, pk: int) -> ApiCredential:
        return ApiCredential.objects.select_related("role__organization", "organization").get(pk=pk)


# --- Roles and organizations (read-only) -------------------------------------------------------------
ROLE_FILTERS = {"name": "name", "kind": "kind"}
ROLE_SORTS = {"name", "kind", "created_at", "updated_at"}


@extend_schema_view(
    list=extend_schema(
        summary="List roles",
        parameters=filter_parameters(ROLE_FILTERS, ROLE_SORTS) + include_fields_parameters("roles", ["organization"]),
        responses={200: RoleSerializer(many=True), **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 415)}},
    ),
    retrieve=extend_schema(
        summary="Retrieve a role",
        parameters=include_fields_parameters("roles", ["organization"]),
        responses={200: RoleSerializer(), **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 415)}},
    ),
)
class RoleViewSet(JsonApiView, views.ReadOnlyModelViewSet):
    """/api/roles: what an API credential's role relationship points to."""

    serializer_class = RoleSerializer
    resource_name = "roles"
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet[Role]:
        queryset = Role.objects.filter(organization=self.organization).select_related("organization")
        if self.action == "list":
            services.role_ensure_defaults(organization=self.organization)
            queryset = apply_sort(apply_filters(queryset, self.request, ROLE_FILTERS), self.request, ROLE_SORTS)
        return queryset.order_by(*(queryset.query.order_by or ["kind", "name"]), "pk")


@extend_schema_view(
    list=extend_schema(
        summary="List organizations (the token's own)",
        parameters=[OpenApiParameter("fields[organizations]", str), OpenApiParameter("page[number]", int)]
        + [OpenApiParameter("page[size]", int)],
        responses={200: OrganizationSerializer(many=True), **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 415)}},
    ),
    retrieve=extend_schema(
        summary="Retrieve an organization",
        parameters=[OpenApiParameter("fields[organizations]", str)],
        responses={200: OrganizationSerializer(), **{c: ERRORS[c] for c in (401, 403, 404, 406, 415)}},
    ),
)
class OrganizationViewSet(JsonApiView, views.ReadOnlyModelViewSet):
    """/api/organizations: the token's own organization, identified by its slug."""

    serializer_class = OrganizationSerializer
    resource_name = "organizations"
    pagination_class = Pagination
    lookup_field = "slug"
    lookup_url_kwarg = "public_id"

    def get_queryset(self) -> QuerySet[Organization]:
        return Organization.objects.filter(pk=self.organization.pk).order_by("pk")


# --- Relationship links: /api/<type>/<id>/<relationship> and /relationships/<relationship> -------------
class RelatedView(JsonApiView, views.generics.GenericAPIView):
    """GET the resource a to-one relationship points to, or its resource identifier."""

    parent_model: type = ApiCredential
    relationships: dict[str, tuple[str, type]] = {}

    def get_parent(self) -> Any:
        return get_object_or_404(
            self.parent_model.objects.filter(organization=self.organization), public_id=self.kwargs["public_id"]
        )

    def get(self, request: Request, public_id: str, related_field: str, identifiers_only: bool = False) -> Response:
        if related_field not in self.relationships:
            raise exceptions.NotFound("No such relationship.")
        resource_name, serializer_class = self.relationships[related_field]
        related = getattr(self.get_parent(), related_field)
        self.resource_name = resource_name
        if identifiers_only:
            identifier = related.slug if isinstance(related, Organization) else related.public_id
            return Response({"type": resource_name, "id": identifier})
        self.serializer_class = serializer_class
        return Response(serializer_class(related, context=self.get_serializer_context()).data)


@extend_schema(exclude=True)
class ApiCredentialRelatedView(RelatedView):
    parent_model = ApiCredential
    relationships = {"role": ("roles", RoleSerializer), "organization": ("organizations", OrganizationSerializer)}


@extend_schema(exclude=True)
class RoleRelatedView(RelatedView):
    parent_model = Role
    relationships = {"organization": ("organizations", OrganizationSerializer)}


class OpenApiDocumentView(SpectacularJSONAPIView):
    """GET /api/openapi.json: the OpenAPI 3 document, generated from the views and serializers.
    JSON whatever the Accept header says (clients of the API send application/vnd.api+json)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type
