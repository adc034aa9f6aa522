from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("approvals/", views.inbox, name="inbox"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="decide"),
    path("apis/<slug:slug>/keys/", views.api_key_request, name="api-key-request"),
    path("preferences/api-keys/<int:pk>/renew/", views.api_key_renew, name="api-key-renew"),
    path("preferences/api-keys/<int:pk>/withdraw-renewal/", views.api_key_withdraw_renewal, name="api-key-withdraw"),
    path("preferences/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("manage/connectivity/requests/", views.connection_request_submit, name="connection-request-submit"),
    path(
        "admin-center/connections/<int:pk>/decide/", views.connection_request_decide, name="connection-request-decide"
    ),
]
