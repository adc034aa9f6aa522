"""OAuth 2.0 for Portico's REST API: the token endpoint and bearer authentication.

POST /oauth/token is the client credentials grant (RFC 6749 section 4.4). oauthlib's
BackendApplicationServer parses the request and writes the answers and errors of sections 5.1 and
5.2; PorticoRequestValidator backs it with the credential's facts (credential_facts: at most a
second old in each process): the client secret is checked against its keyed hash in constant time,
and the token is signed, not stored (access_tokens). A token dies when it expires, when its
credential's secret changes (secret_version), when the credential is deleted or its organization
deactivated: within a second on every process, at once in the one that made the change. What it
may do is what it was given and its credential's role still allows.

Repeated failures are rate-limited per client address and per client ID at that address in
Django's cache (see FailureLimiter), never per client ID alone, which would let anyone lock a
client out: the default local-memory cache counts per process, so with several processes set
CACHE_URL to a shared cache (Redis) for one count.

Views of the REST API authenticate with `authenticate_bearer()` or `@bearer_required`.
"""

import base64
import binascii
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, wraps
from typing import Any, cast
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2 import BackendApplicationServer, RequestValidator
from oauthlib.oauth2.rfc6749 import errors

from credentials.integration import access_tokens, credential_facts, services
from credentials.integration.access_tokens import TokenClaims
from credentials.integration.credential_facts import CredentialFacts
from credentials.integration.models import AccessToken
from credentials.lib import crypto
from portal.audit import client_ip
from portal.models import Organization

log = logging.getLogger(__name__)

TOKEN_KIND = "at"  # noqa: S105 - a kind, not a secret: tokens look like prt_at_<lookup>_<secret><checksum>
GRANT_TYPE = "client_credentials"
REALM = "Portico"
BASIC_CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
# Spent on an unknown client ID so that it costs what a wrong secret costs.
_UNKNOWN_CLIENT_DIGEST = "0" * 64


class _ClientAuth:
    """How the client presented its credentials, read without judging them yet."""

    __slots__ = ("client_id", "client_secret", "method", "problem")

    def __init__(self, client_id: str | None, client_secret: str | None, method: str, problem: str = "") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.method = method  # "basic", "body" or "none"
        self.problem = problem  # set when the request mixes methods or the header is malformed


@sensitive_variables("secret", "decoded", "body_secret")
def _read_client_auth(authorization: str, body_client_id: str | None, body_secret: str | None) -> _ClientAuth:
    """RFC 6749 section 2.3.1: HTTP Basic (client ID and secret form-encoded, then base64) or
    client_id and client_secret in the form body; never both."""
    if authorization:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return _ClientAuth(None, None, "basic", "invalid_client:Use HTTP Basic to authenticate the client.")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _ClientAuth(None, None, "basic", "invalid_client:The Basic credentials are not valid base64.")
        raw_id, colon, secret = decoded.partition(":")
        if not colon:
            return _ClientAuth(None, None, "basic", "invalid_client:The Basic credentials have no client secret.")
        client_id, secret = unquote_plus(raw_id), unquote_plus(secret)
        if body_secret is not None:
            return _ClientAuth(
                client_id,
                None,
                "basic",
                "invalid_request:Use one client authentication method, HTTP Basic or client_id and "
                "client_secret in the body, not both.",
            )
        if body_client_id is not None and body_client_id != client_id:
            return _ClientAuth(
                client_id, None, "basic", "invalid_request:The client_id in the body differs from the Basic one."
            )
        return _ClientAuth(client_id, secret, "basic")
    if body_client_id or body_secret:
        return _ClientAuth(body_client_id, body_secret, "body")
    return _ClientAuth(None, None, "none")


def _raise_problem(problem: str, request: OAuthRequest) -> None:
    code, _, description = problem.partition(":")
    if code == "invalid_request":
        raise errors.InvalidRequestError(description=description, request=request)
    raise errors.InvalidClientError(description=description, request=request)


class PorticoRequestValidator(RequestValidator):
    """oauthlib's questions, answered from the credential's facts (request.client)."""

    def client_authentication_required(self, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        return True  # confidential clients only: the client credentials grant allows no other

    @sensitive_variables("auth")
    def authenticate_client(self, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        auth = _read_client_auth(request.headers.get("Authorization", ""), request.client_id, request.client_secret)
        if auth.problem:
            _raise_problem(auth.problem, request)
        if not auth.client_id or not auth.client_secret:
            raise errors.InvalidClientError(
                description="Client authentication is required: HTTP Basic with the client ID and secret, "
                "or client_id and client_secret in the form body.",
                request=request,
            )
        credential = None
        # A client ID longer than the column, or with a NUL (PostgreSQL text cannot hold one), is no
        # client's: answered as unknown without asking the database.
        if len(auth.client_id) <= 64 and "\x00" not in auth.client_id:
            # The credential's facts, its scopes and lifetime among them; a client of a deactivated
            # organization answers as an unknown one.
            credential = credential_facts.facts_for(auth.client_id)
            if credential is not None and not credential.organization_active:
                credential = None
        digest = credential.secret_digest if credential is not None else _UNKNOWN_CLIENT_DIGEST
        # Always hash and compare, so an unknown client ID answers as slowly as a wrong secret.
        # Hashed as a client secret whatever it looks like: a typed one has no prt_cs_ prefix.
        verified = crypto.verify_secret(auth.client_secret, digest, purpose=services.CLIENT_SECRET_KIND)
        if not verified or credential is None or not credential.confidential:
            raise errors.InvalidClientError(
                description="Client authentication failed: unknown client ID or wrong client secret.",
                request=request,
            )
        request.client = credential
        request.client_id = credential.client_id
        return True

    def authenticate_client_id(self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any) -> bool:
        return False  # no public clients

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: CredentialFacts, request: OAuthRequest, *args: Any, **kwargs: Any
    ) -> bool:
        return grant_type == GRANT_TYPE and client.confidential

    def get_default_scopes(self, client_id: str, request: OAuthRequest, *args: Any, **kwargs: Any) -> list[str]:
        return request.client.scope_list

    def validate_scopes(
        self,
        client_id: str,
        scopes: list[str],
        client: CredentialFacts,
        request: OAuthRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        # A client may ask for less than its role allows (a read-only token of an admin client).
        return set(scopes) <= set(client.scope_list)

    def save_bearer_token(self, token: dict, request: OAuthRequest, *args: Any, **kwargs: Any) -> None:
        # Nothing to store: the token is signed (access_tokens). Only the credential's last use.
        _note_use(request.client, timezone.now())


@sensitive_variables("value")
def _generate_token(request: OAuthRequest) -> str:
    client: CredentialFacts = request.client
    value, _claims = access_tokens.issue(
        client_id=client.client_id,
        secret_version=client.secret_version,
        scopes=request.scopes,
        # Whole seconds, rounded down: a token expires at most a second before its expires_in says.
        expires_at=int(time.time()) + client.expires_in,
    )
    return value


def _token_lifetime(request: OAuthRequest) -> int:
    return request.client.expires_in


server = BackendApplicationServer(
    PorticoRequestValidator(), token_generator=_generate_token, token_expires_in=_token_lifetime
)


# --- Rate limit of failures ------------------------------------------------------------------------
class FailureLimiter:
    """Failed token requests are counted per client address and per (client ID, address) pair in
    fixed windows. A request is refused (429) when its own address has failed
    PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT times this window, or its client ID has failed
    PORTICO_OAUTH_FAILURE_LIMIT times from this address. So guessing stays bounded per address
    however many client IDs it tries, and nobody can lock a client out by failing with its ID (which
    is not a secret) from elsewhere: its owner's address is not theirs to exhaust. Counters live in
    Django's cache."""

    def __init__(self, prefix: str = "oauth-token-failures") -> None:
        self.prefix = prefix

    @property
    def window(self) -> int:
        return settings.PORTICO_OAUTH_FAILURE_WINDOW

    def _counters(self, ip: str | None, client_id: str | None) -> tuple[dict[str, int], float]:
        """{cache key: limit} of the counters this request touches, and the seconds left in the window."""
        now = time.time()
        start = int(now // self.window) * self.window
        # An address Portico could not read still counts, all such requests together.
        address = ip or "-"
        counters = {self._key("ip", address, start): settings.PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT}
        if client_id:
            counters[self._key("client-ip", f"{client_id}\0{address}", start)] = settings.PORTICO_OAUTH_FAILURE_LIMIT
        return counters, start + self.window - now

    def _key(self, kind: str, value: str, start: int) -> str:
        # Hashed: a client ID is whatever the caller sent, and cache keys must be short and plain.
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return f"{self.prefix}:{kind}:{digest}:{start}"

    def retry_after(self, *, ip: str | None, client_id: str | None) -> int | None:
        """Seconds until this address (or this client ID from this address) may try again, or None
        when it may now."""
        counters, remaining = self._counters(ip, client_id)
        counts = cache.get_many(list(counters))
        if any(counts.get(key, 0) >= limit for key, limit in counters.items()):
            return max(1, math.ceil(remaining))
        return None

    def record_failure(self, *, ip: str | None, client_id: str | None) -> None:
        """Count one failure of the address, and of the client ID at that address when given."""
        counters, _ = self._counters(ip, client_id)
        for key in counters:
            cache.add(key, 0, timeout=self.window * 2)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=self.window * 2)


limiter = FailureLimiter()


def _error_response(error: str, description: str, status: int, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@csrf_exempt
@sensitive_post_parameters("client_secret")
@sensitive_variables("body", "auth")
def token(request: HttpRequest) -> HttpResponse:
    """POST /oauth/token: the client credentials grant. JSON answers per RFC 6749 5.1 and 5.2."""
    if request.method != "POST":
        return _error_response("invalid_request", "The token endpoint accepts POST only.", 405, {"Allow": "POST"})
    ip = client_ip(request)
    content_type = request.content_type or ""
    body = request.body.decode("utf-8", errors="replace")
    # Only to count failures per client: the header or body as sent, judged later by the validator.
    body_params = request.POST if content_type == "application/x-www-form-urlencoded" else {}
    auth = _read_client_auth(
        request.headers.get("Authorization", ""), body_params.get("client_id"), body_params.get("client_secret")
    )
    retry_after = limiter.retry_after(ip=ip, client_id=auth.client_id)
    if retry_after is not None:
        log.warning("Token request refused: too many failures (address %s, client %r)", ip, auth.client_id)
        return _error_response(
            "temporarily_unavailable",
            f"Too many failed token requests from this address. Try again in {retry_after} s.",
            429,
            {"Retry-After": str(retry_after)},
        )
    response: HttpResponse
    if content_type != "application/x-www-form-urlencoded":
        status = 400
        response = _error_response(
            "invalid_request",
            "Send the token request as application/x-www-form-urlencoded (RFC 6749 section 4.4.2).",
            status,
        )
    else:
        headers = {"Content-Type": content_type}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        try:
            headers, payload, status = server.create_token_response(
                request.build_absolute_uri(), http_method="POST", body=body, headers=headers
            )
        except errors.OAuth2Error as exc:  # refused before a grant type handles it (query parameters)
            headers, payload, status = exc.headers, exc.json, exc.status_code
        response = HttpResponse(payload, status=status, content_type="application/json")
        for name, value in {"Cache-Control": "no-store", "Pragma": "no-cache", **headers}.items():
            if name.lower() != "content-type":
                response[name] = value
        if status == 401:
            # RFC 6749 section 5.2: the challenge names the scheme the client may authenticate with.
            response["WWW-Authenticate"] = BASIC_CHALLENGE
    if status >= 400:
        # Per client ID only when the client failed to authenticate: that is what guessing looks like.
        limiter.record_failure(ip=ip, client_id=auth.client_id if status == 401 else None)
        if status == 401:
            log.warning("Token request from %s: client authentication failed (client %r)", ip, auth.client_id)
    return response


# --- Bearer authentication for the REST API --------------------------------------------------------
def _note_use(facts: CredentialFacts, now: datetime) -> None:
    """Set the credential's last_used_at, at most one write a minute per credential and process."""
    if facts.last_used_at is not None and now - facts.last_used_at < services.LAST_USED_RESOLUTION:
        return
    services.api_credential_mark_used(credential_id=facts.credential_id, now=now)
    credential_facts.note_used(facts.client_id, facts, now)


@dataclass(frozen=True)
class BearerAuth:
    """The credential (its facts, at most a second old) and the token a request authenticated with."""

    credential: CredentialFacts
    token: TokenClaims

    @property
    def organization_id(self) -> int:
        return self.credential.organization_id

    @cached_property
    def organization(self) -> Organization:
        """The organization's row, read on first use (writes need it; reads filter by organization_id)."""
        return Organization.objects.get(pk=self.credential.organization_id)

    def allows(self, scope: str) -> bool:
        """Whether the token may do `scope` ("read", "write") now: it was given that scope and the
        credential's role still grants it."""
        return scope in self.token.scope_list and scope in self.credential.role_scopes


class BearerRequest(HttpRequest):
    """The request a view wrapped in bearer_required gets (a type only: Django builds the request)."""

    bearer: BearerAuth


def _bearer_value(request: HttpRequest) -> str | None:
    # META, not request.headers: that builds a mapping of every header on first use, on every
    # bearer-authenticated request.
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@sensitive_variables("value")
def _previous_release_claims(value: str) -> TokenClaims | None:
    """A token of the previous release (prt_at_<lookup>_<secret><checksum>), stored as prefix and
    keyed hash: read from its row until it expires (24 hours at most after the upgrade)."""
    try:
        prefix = crypto.secret_prefix(value, TOKEN_KIND)
    except crypto.MalformedSecret:
        return None
    row = (
        AccessToken.objects.filter(prefix=prefix)
        .values_list("digest", "credential__client_id", "secret_version", "scopes", "expires_at")
        .first()
    )
    if row is None or not crypto.verify_secret(value, row[0], purpose=TOKEN_KIND):
        return None
    return TokenClaims(prefix=prefix, client_id=row[1], secret_version=row[2], scopes=row[3], expires_at=row[4])


@sensitive_variables("value")
def authenticate_bearer(request: HttpRequest) -> tuple[CredentialFacts, TokenClaims] | None:
    """The credential's facts and the token's claims of a request's `Authorization: Bearer` token,
    or None when it is missing, malformed, not signed by Portico, expired, or revoked: issued under
    another secret version than the credential's, of a credential deleted or of a deactivated
    organization. No query when the credential's facts were read less than a second ago."""
    value = _bearer_value(request)
    if value is None:
        return None
    claims = access_tokens.read(value) or _previous_release_claims(value)
    if claims is None:
        return None
    now = timezone.now()
    if claims.is_expired(now):
        return None
    facts = credential_facts.facts_for(claims.client_id)
    if facts is None or facts.secret_version != claims.secret_version:
        return None  # deleted, or its secret changed since the token was issued
    if not facts.organization_active:
        return None  # its organization was deactivated: every token stops
    _note_use(facts, now)
    return facts, claims


def bearer_challenge(request: HttpRequest) -> JsonResponse:
    """401 with the RFC 6750 challenge: no error code when no token was sent, invalid_token otherwise."""
    if _bearer_value(request) is None:
        return _error_response(
            "invalid_request",
            "Authenticate with a bearer token from POST /oauth/token: Authorization: Bearer <access_token>.",
            401,
            {"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    description = "The access token is invalid, expired or revoked. Get a new one from POST /oauth/token."
    return _error_response(
        "invalid_token",
        description,
        401,
        {"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'},
    )


def insufficient_scope(scope: str) -> JsonResponse:
    """403 for a valid token that may not do this (a read-only token that tries to write)."""
    return _error_response(
        "insufficient_scope",
        f"This access token does not have the {scope} scope: its credential's role does not allow it.",
        403,
        {"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'},
    )


def bearer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For REST API views: 401 without a valid bearer token, else `request.bearer` (BearerAuth).
    CSRF does not apply: the token is in a header no other site can make a browser send."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        authenticated = authenticate_bearer(request)
        if authenticated is None:
            return bearer_challenge(request)
        cast(BearerRequest, request).bearer = BearerAuth(*authenticated)
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)


@require_GET
@never_cache
@bearer_required
def api_me(request: BearerRequest) -> JsonResponse:
    """GET /api/me: which organization and role the bearer token stands for."""
    bearer: BearerAuth = request.bearer
    credential, token = bearer.credential, bearer.token
    return JsonResponse(
        {
            "organization": {"slug": credential.organization_slug, "name": credential.organization_name},
            "role": {"id": credential.role_public_id, "name": credential.role_name, "kind": credential.role_kind},
            "api_credential": {
                "id": credential.public_id,
                "client_id": credential.client_id,
                "name": credential.name,
                "mode": credential.mode,
            },
            "scope": token.scopes,
            "expires_at": token.expires_at.isoformat(),
            "expires_in": max(0, int((token.expires_at - timezone.now()).total_seconds())),
        }
    )
