"""Portico's URLs plus the two views the benchmark compares /gateway/verify with."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey

from portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    """The limit: a Django view that does nothing, behind the project's whole middleware stack."""
    return HttpResponse(b'{"valid": true}', content_type="application/json")


class LibraryVerify(APIView):
    """What a Django team would write instead: a DRF view protected by HasAPIKey.

    No authentication classes (nothing to authenticate but the key): the library's cheapest setup.
    """

    authentication_classes: list = []
    permission_classes = [HasAPIKey]

    def post(self, request: Request) -> Response:
        return Response({"valid": True})


urlpatterns = [
    *portal_urlpatterns,
    path("bench/bare", bare),
    path("bench/library", LibraryVerify.as_view()),
]
