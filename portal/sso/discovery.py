"""The provider's metadata (OpenID Connect Discovery) and signing keys, fetched lazily and cached.

Only the operator-configured issuer is ever asked: its `/.well-known/openid-configuration` names
the endpoints, and the document must name that same issuer (OpenID Connect Discovery 1.0, 4.3),
or a document served elsewhere could point Portico's users at another provider. Nothing a user
sends chooses a URL. Every endpoint must pass the issuer's own rule (https, or http on loopback
with DEBUG on).
"""

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from portal.sso.config import url_problem

# The metadata rarely changes; keys rotate, so an unknown key ID fetches the keys again (at most
# once a minute, so a stream of forged key IDs cannot turn Portico into a load on the provider).
METADATA_TTL_SECONDS = 3600
JWKS_TTL_SECONDS = 600
JWKS_REFETCH_MIN_SECONDS = 60


class DiscoveryError(Exception):
    """The provider's metadata or keys could not be fetched or are not acceptable."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    id_token_signing_alg_values_supported: tuple[str, ...]


_lock = threading.Lock()
_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_jwks: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def clear_cache() -> None:
    with _lock:
        _metadata.clear()
        _jwks.clear()


def _get_json(url: str) -> Any:
    try:
        response = requests.get(
            url,
            timeout=settings.OIDC_TIMEOUT,
            verify=settings.OIDC_VERIFY_SSL,
            # A redirect would be a URL the operator did not configure.
            allow_redirects=False,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as error:
        raise DiscoveryError(f"{url} did not answer: {type(error).__name__}") from error
    if response.status_code != 200:
        raise DiscoveryError(f"{url} answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as error:
        raise DiscoveryError(f"{url} did not answer JSON") from error


def _checked_url(document: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise DiscoveryError(f"the discovery document names no {name}")
    problem = url_problem(value, debug=settings.DEBUG)
    if problem:
        raise DiscoveryError(f"its {name} {value!r} is refused: {problem}")
    return value


def provider_metadata() -> ProviderMetadata:
    """The configured issuer's metadata, from its discovery document (cached for an hour)."""
    issuer = settings.PORTICO_OIDC_ISSUER
    problem = url_problem(issuer, debug=settings.DEBUG)
    if problem:
        raise DiscoveryError(f"PORTICO_OIDC_ISSUER is refused: {problem}")
    now = time.monotonic()
    with _lock:
        cached = _metadata.get(issuer)
    if cached and now - cached[0] < METADATA_TTL_SECONDS:
        return cached[1]
    document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    if document.get("issuer") != issuer:
        raise DiscoveryError(f"the discovery document names the issuer {document.get('issuer')!r}, not {issuer!r}")
    algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata = ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=str(_checked_url(document, "authorization_endpoint", required=True)),
        token_endpoint=str(_checked_url(document, "token_endpoint", required=True)),
        jwks_uri=str(_checked_url(document, "jwks_uri", required=True)),
        userinfo_endpoint=_checked_url(document, "userinfo_endpoint", required=False),
        end_session_endpoint=_checked_url(document, "end_session_endpoint", required=False),
        id_token_signing_alg_values_supported=tuple(str(a) for a in algorithms),
    )
    with _lock:
        _metadata[issuer] = (now, metadata)
    return metadata


def signing_keys(metadata: ProviderMetadata, *, refresh: bool = False) -> list[dict[str, Any]]:
    """The provider's public keys (JWKS). refresh: fetch again unless fetched within the last minute."""
    now = time.monotonic()
    with _lock:
        cached = _jwks.get(metadata.jwks_uri)
    if cached:
        age = now - cached[0]
        if age < JWKS_TTL_SECONDS and (not refresh or age < JWKS_REFETCH_MIN_SECONDS):
            return cached[1]
    document = _get_json(metadata.jwks_uri)
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise DiscoveryError("the provider's JWKS has no keys")
    keys = [key for key in keys if isinstance(key, dict)]
    with _lock:
        _jwks[metadata.jwks_uri] = (now, keys)
    return keys
