from django.urls import path

from credentials import views

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
