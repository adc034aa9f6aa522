"""Portico's URLs plus the bare view bench/oauth_token.py compares POST /oauth/token with."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    """The limit: a view that reads the form body and answers JSON, behind the whole middleware stack."""
    request.POST.get("grant_type")
    return HttpResponse(b'{"access_token": "x", "token_type": "Bearer"}', content_type="application/json")


urlpatterns = [*portal_urlpatterns, path("bench/oauth-bare", bare)]
