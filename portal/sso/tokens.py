"""The ID token's checks (OpenID Connect Core 1.0, 3.1.3.7), with PyJWT.

mozilla-django-oidc checks neither the issuer nor the audience of an ID token by default
(mozilla-django-oidc#340) and allows no clock skew (#579); Portico checks all of them here.
"""

import hmac
from typing import Any

import jwt

from portal.sso.config import CLOCK_SKEW_LEEWAY_SECONDS
from portal.sso.discovery import ProviderMetadata, signing_keys

# Public-key signatures only: HS256 would make the client secret a signing key, "none" no signature.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class IdTokenRefused(Exception):
    """The ID token is not one Portico may accept; the message says which check failed, never the token."""


def _matching_key(keys: list[dict[str, Any]], kid: str | None, alg: str) -> dict[str, Any] | None:
    for key in keys:
        if kid is not None and key.get("kid") != kid:
            continue
        if key.get("use", "sig") != "sig" or key.get("alg", alg) != alg:
            continue
        return key
    return None


def verify_id_token(token: object, *, metadata: ProviderMetadata, client_id: str, nonce: str | None) -> dict[str, Any]:
    """The ID token's claims, once its signature (a key of the provider's JWKS), issuer, audience,
    authorized party, expiry and issue time (each with CLOCK_SKEW_LEEWAY_SECONDS) and nonce are checked.

    Raises IdTokenRefused.
    """
    if not isinstance(token, str) or not token:
        raise IdTokenRefused("the token response carried no ID token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise IdTokenRefused("the ID token is not a JWT") from error
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS or alg not in metadata.id_token_signing_alg_values_supported:
        raise IdTokenRefused(f"the ID token's algorithm {alg!r} is not accepted")
    kid = header.get("kid")
    key = _matching_key(signing_keys(metadata), kid, alg)
    if key is None:
        # The provider may have rotated its keys since they were fetched.
        key = _matching_key(signing_keys(metadata, refresh=True), kid, alg)
    if key is None:
        raise IdTokenRefused("no key of the provider's JWKS matches the ID token")
    try:
        public_key = jwt.PyJWK(key, algorithm=alg)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=public_key,
            algorithms=[alg],
            audience=client_id,
            issuer=metadata.issuer,
            leeway=CLOCK_SKEW_LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.InvalidAudienceError as error:
        raise IdTokenRefused("the ID token is for another client (audience)") from error
    except jwt.InvalidIssuerError as error:
        raise IdTokenRefused("the ID token is from another issuer") from error
    except jwt.ExpiredSignatureError as error:
        raise IdTokenRefused("the ID token has expired") from error
    except jwt.ImmatureSignatureError as error:
        raise IdTokenRefused("the ID token is issued in the future") from error
    except jwt.InvalidSignatureError as error:
        raise IdTokenRefused("the ID token's signature is wrong") from error
    except jwt.PyJWTError as error:
        raise IdTokenRefused(f"the ID token is refused ({type(error).__name__})") from error
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdTokenRefused("the ID token is for another client (authorized party)")
    if nonce is None or not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise IdTokenRefused("the ID token's nonce is not the one of this sign-in")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise IdTokenRefused("the ID token names no subject")
    return claims
