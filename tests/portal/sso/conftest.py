"""A small OpenID Provider on loopback (pytest-httpserver): discovery, JWKS, token and userinfo
endpoints, ID tokens signed with an RSA key made here. The tests choose what it answers."""

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Request, Response

from portal.roles import ensure_role_groups
from portal.sso import discovery

CLIENT_ID = "portico-test-client"
CLIENT_SECRET = "client-secret-0f9e8d7c6b5a4-0123456789abcdef"  # noqa: S105 - a test value the tests look for in logs
KID = "test-key-1"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeProvider:
    issuer: str
    key: rsa.RSAPrivateKey
    # What the next sign-in's userinfo says (and the ID token's subject).
    account: dict[str, Any] = field(default_factory=dict)
    # Changes to the next ID token's claims or header, e.g. {"aud": "another-client"}.
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    id_token_headers: dict[str, Any] = field(default_factory=dict)
    signing_key: rsa.RSAPrivateKey | None = None
    # The nonce and PKCE challenge of the last authorization request Portico sent the browser to.
    nonce: str = ""
    code_challenge: str = ""
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    issued_id_tokens: list[str] = field(default_factory=list)

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.account["sub"],
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.id_token_claims,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        headers = {"kid": KID, **self.id_token_headers}
        token = jwt.encode(claims, self.signing_key or self.key, algorithm="RS256", headers=headers)
        self.issued_id_tokens.append(token)
        return token

    def authorize(self, client, path: str = "/oidc/authenticate/") -> dict[str, str]:
        """Starts a sign-in as a browser would; returns the authorization request's parameters."""
        response = client.get(path)
        assert response.status_code == 302, response
        location = urlsplit(response["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == f"{self.issuer}/auth"
        params = {k: v[0] for k, v in parse_qs(location.query).items()}
        self.nonce = params.get("nonce", "")
        self.code_challenge = params.get("code_challenge", "")
        return params

    def sign_in(self, client, **account: Any):
        """A whole sign-in: to the provider and back with a code; the callback's response."""
        if account:
            self.account = {"sub": account.get("preferred_username", "someone"), **account}
        params = self.authorize(client)
        return client.get("/oidc/callback/", {"code": "the-code", "state": params["state"]})


def _token_endpoint(provider: FakeProvider):
    def handle(request: Request) -> Response:
        form = dict(request.form.items())
        provider.token_requests.append({"form": form, "authorization": request.headers.get("Authorization", "")})
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        expected_auth = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if challenge != provider.code_challenge or request.headers.get("Authorization") != expected_auth:
            return Response(json.dumps({"error": "invalid_grant"}), status=400, content_type="application/json")
        body = {
            "access_token": "access-token-4d3c2b1a",
            "token_type": "Bearer",
            "id_token": provider.id_token(provider.nonce),
        }
        return Response(json.dumps(body), content_type="application/json")

    return handle


def _userinfo_endpoint(provider: FakeProvider):
    def handle(request: Request) -> Response:
        if request.headers.get("Authorization") != "Bearer access-token-4d3c2b1a":
            return Response("", status=401)
        return Response(json.dumps(provider.account), content_type="application/json")

    return handle


@pytest.fixture
def provider(httpserver, settings, db) -> Iterator[FakeProvider]:
    """The provider, and Portico configured to trust it (DEBUG on: its issuer is http on loopback)."""
    issuer = httpserver.url_for("").rstrip("/")
    fake = FakeProvider(issuer=issuer, key=rsa_key())
    public_jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(fake.key.public_key())), "kid": KID, "use": "sig"}
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/auth",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/me",
            "jwks_uri": f"{issuer}/jwks",
            "end_session_endpoint": f"{issuer}/session/end",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
    )
    httpserver.expect_request("/jwks").respond_with_json({"keys": [public_jwk]})
    httpserver.expect_request("/token", method="POST").respond_with_handler(_token_endpoint(fake))
    httpserver.expect_request("/me").respond_with_handler(_userinfo_endpoint(fake))
    settings.DEBUG = True
    settings.PORTICO_OIDC_ISSUER = issuer
    settings.PORTICO_OIDC_CLIENT_ID = CLIENT_ID
    settings.PORTICO_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.PORTICO_OIDC_GROUP_ROLES = "portal-hub-admins=Hub admin,portal-consumers=Consumer"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "portal.sso.backend.PorticoOIDCBackend"]
    settings.SITE_URL = "http://testserver"
    ensure_role_groups()
    discovery.clear_cache()
    yield fake
    discovery.clear_cache()
