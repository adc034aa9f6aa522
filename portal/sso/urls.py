"""/oidc/...: the redirect URI the provider registers is <portal>/oidc/callback/.

The names are mozilla-django-oidc's (its backend reverses "oidc_authentication_callback").
"""

from django.urls import path

from portal.sso import views

urlpatterns = [
    path("authenticate/", views.AuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("callback/", views.callback, name="oidc_authentication_callback"),
]
