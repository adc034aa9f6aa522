from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

# The project's URLconf is the composition root: the one module of the shell that names the apps' views.
from credentials.expiry import views as expiry_views
from credentials.gateway import views as gateway_views
from credentials.integration import oauth
from portal import views
from portal.sso import views as sso_views


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", views.home, name="home"),
    # Django's log-on and log-off, with single sign-on (portal/sso/) beside the passwords.
    path("accounts/login/", sso_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", sso_views.LogoutView.as_view(), name="logout"),
    path("oidc/", include("portal.sso.urls")),
    path("preferences/", views.user_preferences, name="user-preferences"),
    # The second factor (User Preferences > Second factor, and "Confirm it's you").
    path("", include("portal.second_factor.urls")),
    # The dashboard shows what expires soon, which is the credentials app's to know.
    path("admin-center/", expiry_views.admin_dashboard, name="admin-center"),
    path("admin-center/emails/", views.email_outbox, name="email-outbox"),
    path("admin-center/audit/", views.audit_log, name="audit-log"),
    path("manage/", views.manage, name="manage"),
    path("", include("credentials.urls")),
    path("", include("approvals.urls")),
    path("django-admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Portico's REST API: the client credentials grant, and what a bearer token stands for.
    path("oauth/token", oauth.token, name="oauth-token"),
    path("api/me", oauth.api_me, name="api-me"),
    # The JSON:API provisioning API (credentials/integration/jsonapi/), its OpenAPI document and docs.
    path("api/", include("credentials.integration.jsonapi.urls")),
    # Answered by credentials.gateway.views.GatewayVerifyMiddleware before this route is reached.
    path(gateway_views.VERIFY_PATH.lstrip("/"), gateway_views.verify, name="gateway-verify"),
]
