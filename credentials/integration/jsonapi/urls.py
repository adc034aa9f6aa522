"""URLs of the JSON:API provisioning API, under /api/ (see credentials/integration/jsonapi/)."""

from django.urls import path
from drf_spectacular.views import SpectacularSwaggerView

from credentials.integration.jsonapi import views as api

credentials_list = api.ApiCredentialViewSet.as_view({"get": "list", "post": "create"})
credentials_detail = api.plain_read_first(
    api.ApiCredentialViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
)

urlpatterns = [
    path("api_credentials", credentials_list, name="jsonapi-credential-list"),
    path("api_credentials/<str:public_id>", credentials_detail, name="jsonapi-credential-detail"),
    path(
        "api_credentials/<str:public_id>/relationships/<str:related_field>",
        api.ApiCredentialRelatedView.as_view(),
        {"identifiers_only": True},
        name="jsonapi-credential-relationships",
    ),
    path(
        "api_credentials/<str:public_id>/role",
        api.ApiCredentialRelatedView.as_view(),
        {"related_field": "role"},
        name="jsonapi-credential-role",
    ),
    path(
        "api_credentials/<str:public_id>/organization",
        api.ApiCredentialRelatedView.as_view(),
        {"related_field": "organization"},
        name="jsonapi-credential-organization",
    ),
    path("roles", api.RoleViewSet.as_view({"get": "list"}), name="jsonapi-role-list"),
    path("roles/<str:public_id>", api.RoleViewSet.as_view({"get": "retrieve"}), name="jsonapi-role-detail"),
    path(
        "roles/<str:public_id>/relationships/<str:related_field>",
        api.RoleRelatedView.as_view(),
        {"identifiers_only": True},
        name="jsonapi-role-relationships",
    ),
    path(
        "roles/<str:public_id>/organization",
        api.RoleRelatedView.as_view(),
        {"related_field": "organization"},
        name="jsonapi-role-organization",
    ),
    path("organizations", api.OrganizationViewSet.as_view({"get": "list"}), name="jsonapi-organization-list"),
    path(
        "organizations/<str:public_id>",
        api.OrganizationViewSet.as_view({"get": "retrieve"}),
        name="jsonapi-organization-detail",
    ),
    path("openapi.json", api.OpenApiDocumentView.as_view(), name="jsonapi-openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="jsonapi-openapi"), name="jsonapi-docs"),
]
