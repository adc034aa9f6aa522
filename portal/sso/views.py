"""The log-on page, single sign-on's start and callback, and the log-out that ends the provider's session.

No session-refresh middleware: mozilla-django-oidc's would answer htmx requests with a redirect
to the provider. A Portico session lasts as Django's does; the provider's groups are read again at
every sign-in.
"""

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import OIDCAuthenticationRequestView  # type: ignore[import-untyped]

from portal import audit
from portal.sso.backend import BACKEND_PATH, PorticoOIDCBackend, SignInFailed, callback_url
from portal.sso.config import local_login_enabled, provider_host, sso_enabled
from portal.sso.discovery import DiscoveryError, provider_metadata
from portal.sso.services import SignInRefused

logger = logging.getLogger(__name__)

# The message of a refused or failed single sign-on, shown once on the log-on page.
REFUSAL_SESSION_KEY = "portico_sso_refusal"
ID_TOKEN_SESSION_KEY = "oidc_id_token"  # noqa: S105 - a session key, not a secret


def _back_to_login(request: HttpRequest, message: str) -> HttpResponse:
    request.session[REFUSAL_SESSION_KEY] = message
    return redirect("login")


def _failed(request: HttpRequest, reason: str) -> HttpResponse:
    host = provider_host()
    logger.warning("Single sign-on at %s failed: %s", host, reason)
    with transaction.atomic():
        audit.record(action="sso.sign_in_failed", summary=f"Single sign-on at {host} failed: {reason}"[:500])
    return _back_to_login(
        request, f"Single sign-on with {host} did not work. Try again; if it fails again, tell your administrator."
    )


class LoginView(auth_views.LoginView):
    """Django's log-on page, with the single sign-on button when an issuer is set; with
    PORTICO_LOCAL_LOGIN=false it has no password fields and refuses a posted password."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            site_name=settings.SITE_NAME,
            local_login=local_login_enabled(),
            sso_enabled=sso_enabled(),
            sso_provider_host=provider_host() if sso_enabled() else "",
            sso_refusal=self.request.session.pop(REFUSAL_SESSION_KEY, ""),
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not local_login_enabled():
            context = self.get_context_data(form=self.get_form_class()(request))
            context["local_login_refused"] = True
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's authorization endpoint with state, nonce and a PKCE challenge."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's __init__: it reads the endpoint from settings, Portico from discovery.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.PORTICO_OIDC_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata().authorization_endpoint
        except DiscoveryError as error:
            return _failed(request, f"the provider's metadata: {error}")
        return super().get(request)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        # Applied after the library's own parameters: the registered redirect URI, from SITE_URL,
        # replaces the one it builds from the request's Host header.
        return {**super().get_extra_params(request), "redirect_uri": callback_url()}


@never_cache
@require_GET  # the provider's answer is a redirect of the browser (response_mode=query)
@sensitive_variables("entry")
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: checks the state, lets the backend verify and sign in, or says why not."""
    if not sso_enabled():
        raise Http404("Single sign-on is not configured.")
    states = request.session.get("oidc_states", {})
    state = request.GET.get("state", "")
    # Each state is used once, whatever the answer (a replayed answer finds none).
    entry = states.pop(state, None) if isinstance(states, dict) else None
    request.session.modified = True
    if request.GET.get("error"):
        if request.GET["error"] == "access_denied":
            return _back_to_login(request, f"Single sign-on with {provider_host()} was cancelled.")
        return _failed(request, f"the provider answered {request.GET['error'][:60]!r}")
    if entry is None or not request.GET.get("code"):
        return _failed(request, "the answer names no sign-in started in this browser (state)")
    # RFC 9207: a provider that names itself in the answer must be the configured one (mix-up attacks).
    if "iss" in request.GET and request.GET["iss"] != settings.PORTICO_OIDC_ISSUER:
        return _failed(request, "the answer names another issuer")
    backend = PorticoOIDCBackend()
    try:
        user = backend.authenticate(request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier"))
    except SignInRefused as refusal:
        return _back_to_login(request, str(refusal))
    except SignInFailed as error:
        return _failed(request, str(error))
    if user is None:
        return _failed(request, "the provider's answer carried no code")
    next_url = request.session.get("oidc_login_next")
    auth.login(request, user, backend=BACKEND_PATH)
    request.session[ID_TOKEN_SESSION_KEY] = backend.id_token
    return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def _provider_logout_url(request: HttpRequest) -> str | None:
    id_token = request.session.get(ID_TOKEN_SESSION_KEY)
    if not id_token or not sso_enabled():
        return None
    try:
        endpoint = provider_metadata().end_session_endpoint
    except DiscoveryError as error:
        logger.warning("Single sign-on: no provider log-out, %s", error)
        return None
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": settings.SITE_URL + reverse("login"),
            "client_id": settings.PORTICO_OIDC_CLIENT_ID,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


class LogoutView(auth_views.LogoutView):
    """Django's log-out (POST); after a single sign-on it also ends the provider's session
    (RP-Initiated Logout: end_session_endpoint with id_token_hint and post_logout_redirect_uri)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        provider_logout = _provider_logout_url(request)
        response = super().post(request, *args, **kwargs)
        if provider_logout:
            return HttpResponseRedirect(provider_logout)
        return response
