from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("manage/connectivity/requests/", views.connection_request_submit, name="connection-request-submit"),
    path(
        "admin-center/connections/<int:pk>/decide/", views.connection_request_decide, name="connection-request-decide"
    ),
]
