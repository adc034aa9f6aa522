from django.urls import path

from credentials.connections import views

# Manage > Establish API Portal Connectivity, and Admin Center > API Management Connections.
urlpatterns = [
    path("manage/connectivity/", views.connectivity, name="connectivity"),
    path("manage/connectivity/tenants/", views.tenant_register, name="tenant-register"),
    path("manage/connectivity/requests/", views.connection_request_submit, name="connection-request-submit"),
    path("manage/connectivity/requests/<int:pk>/edit/", views.connection_request_edit, name="connection-request-edit"),
    path("admin-center/connections/approved/", views.connections_approved, name="connections-approved"),
    path(
        "admin-center/connections/<int:pk>/reestablish/",
        views.connection_reestablish,
        name="connection-reestablish",
    ),
]
