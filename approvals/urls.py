from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("approvals/", views.inbox, name="inbox"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="decide"),
    path("admin-center/connections/pending/", views.connections_pending, name="connections-pending"),
    path(
        "admin-center/connections/<int:pk>/decide/", views.connection_request_decide, name="connection-request-decide"
    ),
]
