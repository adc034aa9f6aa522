from django.urls import path

from credentials.integration import views

# Account > Integration > Connection API Credentials (organization admins).
urlpatterns = [
    path("account/", views.account, name="account"),
    path("account/integration/connection-api-credentials/", views.api_credential_list, name="api-credential-list"),
    path(
        "account/integration/connection-api-credentials/add/",
        views.api_credential_add,
        name="api-credential-add",
    ),
    path(
        "account/integration/connection-api-credentials/add/done/",
        views.api_credential_add_done,
        name="api-credential-add-done",
    ),
    path(
        "account/integration/connection-api-credentials/<str:public_id>/edit/",
        views.api_credential_edit,
        name="api-credential-edit",
    ),
    path(
        "account/integration/connection-api-credentials/<str:public_id>/delete/",
        views.api_credential_delete,
        name="api-credential-delete",
    ),
]
