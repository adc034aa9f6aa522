"""The JSON:API resources: api_credentials (read and write), roles and organizations (read), their
relationship links, and the OpenAPI document."""

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework_json_api import views

from credentials.integration import services
from credentials.integration.jsonapi import (
    credential_read,
    schema,  # noqa: F401 - registers the bearer scheme with drf-spectacular
)
from credentials.integration.jsonapi.base import (
    ERRORS,
    JsonApiErrors,
    JsonApiView,
    Pagination,
    apply_filters,
    apply_sort,
    error_object,
    filter_parameters,
    include_fields_parameters,
)
from credentials.integration.jsonapi.serializers import (
    ALL_ATTRIBUTES,
    CREATABLE_ATTRIBUTES,
    UPDATABLE_ATTRIBUTES,
    ApiCredentialCreateSerializer,
    ApiCredentialSerializer,
    ApiCredentialUpdateSerializer,
    OrganizationSerializer,
    RoleSerializer,
)
from credentials.integration.models import ApiCredential, Role
from portal.models import Organization

# --- API credentials --------------------------------------------------------------------------------
CREDENTIAL_FILTERS = {"name": "name", "kind": "kind", "mode": "mode", "reference": "reference"}


CREDENTIAL_SORTS = {"name", "created_at", "updated_at", "kind", "mode", "reference", "expires_in"}


def _service_errors(exc: DjangoValidationError) -> JsonApiErrors:
    """The service's ValidationError as error objects: one per message, its code, its field's pointer."""
    errors: list[dict[str, Any]] = []
    for field, field_errors in exc.error_dict.items():
        pointer = "/data/relationships/role/data" if field == "role" else f"/data/attributes/{field}"
        if field == "__all__":
            pointer = "/data"
        for error in field_errors:
            for message in error.messages:
                errors.append(error_object(422, error.code or "invalid", message, pointer))
    return JsonApiErrors(422, errors)


def plain_read_first(detail_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The detail URL of /api/api_credentials: the plain GET of one credential, the API's most
    frequent call, is answered before DRF builds its view (jsonapi/credential_read.py); everything
    else, refusals included, goes to the viewset. Keeps the viewset's attributes (csrf_exempt,
    cls, actions), which Django's CSRF check and the OpenAPI document read."""

    @functools.wraps(detail_view)
    def view(request: HttpRequest, public_id: str) -> HttpResponse:
        answered = credential_read.answer(request, public_id)
        if answered is not None:
            return answered
        return detail_view(request, public_id=public_id)

    return view


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
        responses={
            201: ApiCredentialSerializer(),
            **{c: ERRORS[c] for c in (400, 401, 403, 406, 409, 411, 413, 415, 422)},
        },
    ),
    partial_update=extend_schema(
        summary="Update an API credential",
        request=ApiCredentialUpdateSerializer,
        parameters=include_fields_parameters("api_credentials", ["role", "organization"]),
        responses={
            200: ApiCredentialSerializer(),
            **{c: ERRORS[c] for c in (400, 401, 403, 404, 406, 409, 411, 413, 415, 422)},
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
            organization_id=self.organization_id, kind=ApiCredential.Kind.CONNECTION
        ).select_related("role__organization", "organization")
        if self.action == "list":
            queryset = apply_filters(queryset, self.request, CREDENTIAL_FILTERS)
            queryset = apply_sort(queryset, self.request, CREDENTIAL_SORTS)
        return queryset.order_by(*(queryset.query.order_by or ["created_at"]), "pk")

    def _read_document(self, *, creating: bool) -> dict:
        """The service arguments of a write document, or JsonApiErrors naming every problem."""
        resource = getattr(self.request, "jsonapi_resource", None)
        if resource is None:
            _ = self.request.data  # parses (and may raise 400, 409, 415, 422)
            resource = getattr(self.request, "jsonapi_resource", None)
        if not isinstance(resource, dict):  # no body reached the parser (a write's empty body is refused before)
            raise JsonApiErrors(400, [error_object(400, "empty_document", 'Send a document {"data": {...}}.', "/data")])
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
        role = Role.objects.filter(public_id=data["id"], organization_id=self.organization_id).first()
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
        queryset = Role.objects.filter(organization_id=self.organization_id).select_related("organization")
        if self.action == "list":
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
        return Organization.objects.filter(pk=self.organization_id).order_by("pk")


# --- Relationship links: /api/<type>/<id>/<relationship> and /relationships/<relationship> -------------
class RelatedView(JsonApiView, views.generics.GenericAPIView):
    """GET the resource a to-one relationship points to, or its resource identifier."""

    parent_model: type[ApiCredential] | type[Role] = ApiCredential
    relationships: dict[str, tuple[str, type]] = {}

    def get_parent(self) -> Any:
        return get_object_or_404(
            self.parent_model.objects.filter(organization_id=self.organization_id), public_id=self.kwargs["public_id"]
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
