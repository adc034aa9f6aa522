from django.urls import path

from credentials.keys import admin_views, views

# The API catalog and User Preferences > My API Keys (consumers).
urlpatterns = [
    path("apis/", views.api_catalog, name="api-catalog"),
    path("apis/<slug:slug>/keys/", views.api_key_request, name="api-key-request"),
    path("preferences/api-keys/", views.my_api_keys, name="my-api-keys"),
    path("preferences/api-keys/<int:pk>/renew/", views.api_key_renew, name="api-key-renew"),
    path("preferences/api-keys/<int:pk>/withdraw-renewal/", views.api_key_withdraw_renewal, name="api-key-withdraw"),
    path("preferences/api-keys/<int:pk>/rotate/", views.api_key_rotate, name="api-key-rotate"),
    path("preferences/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
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
        "admin-center/targets/<int:pk>/retry-failed/",
        admin_views.runtime_target_retry_failed,
        name="runtime-target-retry-failed",
    ),
    path(
        "admin-center/targets/<int:pk>/credentials/",
        admin_views.runtime_target_credentials,
        name="runtime-target-credentials",
    ),
]
