"""`/gateway/verify`: a runtime target (gateway) asks whether a presented API key is valid for an
API. The request, the answers and their costs are described in docs/gateway.md."""

import json
import logging
import math
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from credentials.gateway.services import authenticated_target, verify_key
from credentials.gateway.snapshot import wall_clock

logger = logging.getLogger(__name__)


VERIFY_PATH = "/gateway/verify"


# --- HTTP --------------------------------------------------------------------------------------
def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpResponse:
    # Answers are about secrets and change within a second: no intermediary may keep them, except
    # the gateway's own verify cache when X-Accel-Expires allows it (see _edge_expiry); nginx's
    # verify location ignores Cache-Control. "0": nginx keeps nothing, whatever it is configured with.
    headers = {"Cache-Control": "no-store", "X-Accel-Expires": "0", **(headers or {})}
    return HttpResponse(json.dumps(payload), content_type="application/json", status=status, headers=headers)


def _edge_expiry(secret_expires_at: datetime | None) -> str:
    """X-Accel-Expires of a valid answer: how long nginx's verify cache may keep it.

    "@<epoch second>" lets nginx keep it while its clock reads that second (nginx counts whole
    seconds): here the current one, so never for a second or longer, whatever the moment of the
    answer. "0" (not kept) when the presented secret stops working before that second ends, as
    Portico judges expiry and a rotated secret's grace to the second. Refusals are never kept
    (deploy/nginx/README.md says why).
    """
    second = math.floor(wall_clock())
    if secret_expires_at is not None and secret_expires_at.timestamp() < second + 1:
        return "0"
    return f"@{second}"


class BadRequest(ValueError):
    pass


def _key_and_api(request: HttpRequest) -> tuple[str | None, str | None]:
    key = request.META.get("HTTP_X_PORTICO_KEY")
    api = request.META.get("HTTP_X_PORTICO_API")
    if (key is None or api is None) and request.method == "POST":
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body or b"{}")
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadRequest("The body is not valid JSON.") from exc
            if not isinstance(data, dict):
                raise BadRequest("The body must be a JSON object.")
        else:
            data = request.POST
        if key is None:
            key = data.get("key")
        if api is None:
            api = data.get("api")
    return (key if isinstance(key, str) else None), (api if isinstance(api, str) else None)


@csrf_exempt  # a machine endpoint authenticated by a bearer token, never by a cookie
@sensitive_post_parameters("key")
@sensitive_variables("key")
def verify(request: HttpRequest) -> HttpResponse:
    """Answer a gateway's question about a presented key (see the module's docstring)."""
    if request.method not in ("GET", "POST"):
        return _json(405, {"error": "Use POST (or GET with headers)."}, {"Allow": "GET, POST"})
    target = authenticated_target(request.META.get("HTTP_AUTHORIZATION", ""))
    if target is None:
        return _json(
            401,
            {"error": "Authenticate as a runtime target: Authorization: Bearer prt_gw_..."},
            {"WWW-Authenticate": 'Bearer realm="portico-gateway"'},
        )
    try:
        key, api = _key_and_api(request)
    except BadRequest as exc:
        return _json(400, {"error": str(exc)})
    except Exception:  # RequestDataTooBig, a broken multipart body: the gateway sent nonsense
        logger.info("Unreadable /gateway/verify body", exc_info=True)
        return _json(400, {"error": "The body could not be read."})
    if not api:
        return _json(400, {"error": "Name the API: X-Portico-Api header or `api` in the body."})
    api = api.strip()
    verdict = verify_key(value=key or "", api_slug=api, target=target)  # no key: malformed
    if not verdict.valid:
        response = _json(403, {"valid": False, "reason": verdict.reason}, {"X-Portico-Reason": str(verdict.reason)})
        # A refused key is an answer, not an error of Portico: without this, Django logs a WARNING
        # for each one (django.utils.log.log_response), and anyone with bad keys could flood the log.
        response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag, not in its stubs
        return response
    facts = verdict.facts
    assert facts is not None  # noqa: S101 - a valid verdict always carries its facts
    return _json(
        200,
        {
            "valid": True,
            "api": api,
            "consumer": facts.consumer,
            "key_id": facts.key_id,
            "expires_at": verdict.expires_at.isoformat() if verdict.expires_at else None,
            "remaining_seconds": verdict.remaining_seconds,
            "rotated": facts.valid_until is not None,
        },
        {"X-Portico-Consumer": facts.consumer, "X-Accel-Expires": _edge_expiry(verdict.expires_at)},
    )


class GatewayVerifyMiddleware:
    """Answers /gateway/verify before any other middleware runs.

    First in settings.MIDDLEWARE on purpose: a gateway asks on every API call, so the answer skips
    what only people's requests need: sessions (a query per request once a cookie is sent),
    messages, authentication, CSRF (a bearer token, not a cookie, authenticates), clickjacking
    headers, htmx and audit context. It also skips SecurityMiddleware's HTTPS redirect: the
    gateway often reaches Portico over a private network; a redirect would not protect the token
    it already sent, and nginx's auth_request treats a 301 as an error.
    The same view is routed in portal/urls.py too (for reverse(), and in case this middleware is
    left out: it then works, only slower).
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == VERIFY_PATH:
            return verify(request)
        return self.get_response(request)
