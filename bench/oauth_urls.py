"""Portico's URLs plus what bench/oauth_token.py compares them with: two bare views and
django-oauth-toolkit's token endpoint (/o/token/)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
@require_POST
def bare_token(request: HttpRequest) -> HttpResponse:
    """The limit of POST /oauth/token: reads the same form body and answers JSON, behind the whole
    middleware stack."""
    request.POST.get("grant_type")
    return HttpResponse(
        b'{"access_token": "x", "token_type": "Bearer", "expires_in": 7200, "scope": "read write"}',
        content_type="application/json",
    )


@require_GET
def bare_read(request: HttpRequest) -> HttpResponse:
    """The limit of GET /api/api_credentials/<id>: answers a fixed JSON:API document, behind the
    whole middleware stack."""
    return HttpResponse(
        b'{"data": {"type": "api_credentials", "id": "x", "attributes": {"name": "bench"}}}',
        content_type="application/vnd.api+json",
    )


urlpatterns = [
    *portal_urlpatterns,
    path("bench/oauth-bare", bare_token),
    path("bench/api-bare", bare_read),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
