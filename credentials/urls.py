from django.urls import path

from credentials import admin_views, api_credential_views, views

app_name = "credentials"

urlpatterns = [
    path("manage/connectivity/", views.connectivity, name="connectivity"),
    path("manage/connectivity/tenants/", views.tenant_register, name="tenant-register"),
    path("manage/connectivity/requests/<int:pk>/edit/", views.connection_request_edit, name="connection-request-edit"),
    path("apis/", views.api_catalog, name="api-catalog"),
    path("preferences/api-keys/", views.my_api_keys, name="my-api-keys"),
    path("preferences/api-keys/<int:pk>/rotate/", views.api_key_rotate, name="api-key-rotate"),
    path("admin-center/connections/pending/", views.connections_pending, name="connections-pending"),
    path("admin-center/connections/approved/", views.connections_approved, name="connections-approved"),
    path(
        "admin-center/connections/<int:pk>/reestablish/",
        views.connection_reestablish,
        name="connection-reestablish",
    ),
]

# Admin Center > APIs (consumption settings, the keys of one API) and > Runtime targets.
urlpatterns += [
    path("admin-center/apis/", admin_views.api_list, name="api-list"),
    path("admin-center/apis/new/", admin_views.api_create, name="api-create"),
    path("admin-center/apis/<int:pk>/edit/", admin_views.api_edit, name="api-edit"),
    path("admin-center/apis/<int:pk>/keys/", admin_views.api_keys, name="api-keys"),
    path("admin-center/apis/<int:pk>/keys/<int:key_pk>/expiry/", admin_views.api_key_expiry, name="api-key-expiry"),
    path("admin-center/targets/", admin_views.runtime_target_list, name="runtime-target-list"),
    path("admin-center/targets/new/", admin_views.runtime_target_create, name="runtime-target-create"),
    path("admin-center/targets/<int:pk>/edit/", admin_views.runtime_target_edit, name="runtime-target-edit"),
    path(
        "admin-center/targets/<int:pk>/regenerate/",
        admin_views.runtime_target_regenerate,
        name="runtime-target-regenerate",
    ),
    path(
        "admin-center/targets/<int:pk>/credentials/",
        admin_views.runtime_target_credentials,
        name="runtime-target-credentials",
    ),
]

# Account > Integration > Connection API Credentials (organization admins).
urlpatterns += [
    path("account/", api_credential_views.account, name="account"),
    path(
        "account/integration/connection-api-credentials/",
        api_credential_views.api_credential_list,
        name="api-credential-list",
    ),
    path(
        "account/integration/connection-api-credentials/add/",
        api_credential_views.api_credential_add,
        name="api-credential-add",
    ),
    path(
        "account/integration/connection-api-credentials/add/done/",
        api_credential_views.api_credential_add_done,
        name="api-credential-add-done",
    ),
    path(
        "account/integration/connection-api-credentials/<str:public_id>/edit/",
        api_credential_views.api_credential_edit,
        name="api-credential-edit",
    ),
    path(
        "account/integration/connection-api-credentials/<str:public_id>/delete/",
        api_credential_views.api_credential_delete,
        name="api-credential-delete",
    ),
]
