"""The authentication backend of single sign-on: mozilla-django-oidc's, fed by discovery.

The library exchanges the code (with the PKCE verifier) at the token endpoint and fetches the
userinfo; Portico adds what it leaves out: the endpoints from the issuer's discovery document
rather than settings, the ID token's issuer, audience, expiry (with leeway) and nonce checks
(portal.sso.tokens), the userinfo's subject checked against the ID token's, and users matched by
issuer and subject with roles from their groups (portal.sso.services).
"""

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend  # type: ignore[import-untyped]

from portal.models import User
from portal.sso.config import group_roles, provider_host
from portal.sso.discovery import DiscoveryError, ProviderMetadata, provider_metadata
from portal.sso.services import VerifiedClaims, sso_sign_in
from portal.sso.tokens import IdTokenRefused, verify_id_token

logger = logging.getLogger(__name__)

BACKEND_PATH = "portal.sso.backend.PorticoOIDCBackend"


class SignInFailed(Exception):
    """The provider's answer could not be had or verified. The message is for the log and the audit
    log (it names the check that failed, never a token); the person sees a general one."""


def callback_url() -> str:
    """The redirect URI registered with the provider: from SITE_URL, never from the request's Host."""
    return settings.SITE_URL + reverse("oidc_authentication_callback")


class PorticoOIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's __init__: it reads the endpoints from settings, Portico from discovery
        # when a sign-in needs them (a backend is made for every authenticate() and permission check).
        self.UserModel = User
        self.OIDC_RP_CLIENT_ID = settings.PORTICO_OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.PORTICO_OIDC_CLIENT_SECRET
        self.id_token: str | None = None
        self.metadata: ProviderMetadata | None = None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        """Only the callback view signs in here (it passes the nonce and the PKCE verifier of the
        state it found in the session); any other authenticate() call, a password log-on with
        ?code=&state= in its URL among them, gets None."""
        if request is None or "nonce" not in kwargs or "code_verifier" not in kwargs or "password" in kwargs:
            return None
        try:
            self.metadata = provider_metadata()
        except DiscoveryError as error:
            raise SignInFailed(f"the provider's metadata: {error}") from error
        self.OIDC_OP_TOKEN_ENDPOINT = self.metadata.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.metadata.userinfo_endpoint
        try:
            return super().authenticate(request, nonce=kwargs["nonce"], code_verifier=kwargs["code_verifier"])
        except requests.RequestException as error:
            # The library's token error carries the provider's answer: log only its status.
            status = error.response.status_code if error.response is not None else "no answer"
            raise SignInFailed(f"the token or userinfo request failed ({status})") from error

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        # The library builds the redirect URI from the request's Host; it must be the registered one.
        payload["redirect_uri"] = callback_url()
        token_info = super().get_token(payload)
        if not isinstance(token_info, dict):
            raise SignInFailed("the token endpoint did not answer a JSON object")
        return token_info

    def verify_token(self, token: Any, **kwargs: Any) -> dict[str, Any]:
        assert self.metadata is not None  # noqa: S101 - set by authenticate()
        try:
            return verify_id_token(
                token, metadata=self.metadata, client_id=self.OIDC_RP_CLIENT_ID, nonce=kwargs.get("nonce")
            )
        except IdTokenRefused as error:
            raise SignInFailed(str(error)) from error
        except DiscoveryError as error:
            raise SignInFailed(f"the provider's keys: {error}") from error

    def store_tokens(self, access_token: Any, id_token: Any) -> None:
        # Kept for the callback view, which stores the ID token (the logout's id_token_hint) after
        # auth.login(): a login that switches users empties the session. The access token is not kept.
        self.id_token = id_token

    def get_userinfo(self, access_token: Any, id_token: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims, with those of the userinfo endpoint (groups often come only from there)."""
        if not self.OIDC_OP_USER_ENDPOINT:
            return payload
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload["sub"]:
            # OpenID Connect Core 5.3.4: a userinfo answer about another subject must not be used.
            raise SignInFailed("the userinfo answer is about another subject")
        return {**userinfo, **{k: payload[k] for k in ("iss", "sub", "aud")}}

    def get_or_create_user(self, access_token: Any, id_token: Any, payload: dict[str, Any]) -> User:
        assert self.metadata is not None  # noqa: S101 - set by authenticate()
        claims = self.get_userinfo(access_token, id_token, payload)
        verified = VerifiedClaims.from_claims(
            claims, issuer=self.metadata.issuer, organization_claim=settings.PORTICO_OIDC_ORGANIZATION_CLAIM
        )
        logger.info("Single sign-on of %s at %s", verified.subject, provider_host(verified.issuer))
        return sso_sign_in(claims=verified, mapping=group_roles())

    def get_user(self, user_id: Any) -> User | None:
        # As ModelBackend: a deactivated user's session ends at the next request.
        return ModelBackend.get_user(self, user_id)
