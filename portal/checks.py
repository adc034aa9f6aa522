"""Deployment checks of Portico's own settings, run by `manage.py check --deploy` (registered in
PortalConfig.ready()): keys that would make the keyed hashes or the encryption guessable, and
settings of the previous release that now mean something else."""

import re
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from portal.sso.config import configuration_problems

HASH_KEY_MIN_LENGTH = 32
HASH_KEY_MIN_DISTINCT = 10
# Published in this repository (test settings, tests, docs): anyone can read them.
KNOWN_HASH_KEYS = frozenset(
    {
        "test-hash-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "another-pepper-0123456789abcdefghijklmnopqrstuvwxyz",
    }
)
KNOWN_FERNET_KEYS = frozenset(
    {
        "LT9ZRd7Mo1ip_WG8n8BgwfXJ4JmLMvdbk5v1mlRrQC0=",
        "Yv1LSeZVgA4BW-TQtvXbyzSnsv8gwgL7d-VNrQdrcOg=",
    }
)
# A value somebody meant to replace: compared with letters and digits only, in lower case.
PLACEHOLDER_WORDS = ("changeme", "replaceme", "notforproduction", "insecure", "yourhashkey", "example")
GENERATE_HASH_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
GENERATE_FERNET_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


def hash_key_problem(value: object, secret_key: object = None) -> str | None:
    """Why this PORTICO_HASH_KEY is too weak to key the hashes of every verified secret, or None."""
    if not isinstance(value, str) or not value:
        return "it is empty"
    if len(value) < HASH_KEY_MIN_LENGTH:
        return f"it has {len(value)} characters; it needs at least {HASH_KEY_MIN_LENGTH} random ones"
    if len(set(value)) < HASH_KEY_MIN_DISTINCT:
        return f"it has only {len(set(value))} different characters: it is not random"
    plain = re.sub(r"[^a-z0-9]", "", value.lower())
    if value in KNOWN_HASH_KEYS or any(word in plain for word in PLACEHOLDER_WORDS):
        return "it is a well-known or placeholder value"
    if value == secret_key:
        return "it is SECRET_KEY: the two must be separate, so rotating sessions never invalidates keys"
    return None


def encryption_keys_problem(keys: object) -> str | None:
    """Why PORTICO_ENCRYPTION_KEYS cannot encrypt tenant credentials safely, or None."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Sequence):
        return "it must be a list of Fernet keys, newest first"
    if not keys:
        return "it names no key"
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(str(key).strip().encode())
        except (ValueError, TypeError):
            return f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes)"
        if str(key).strip() in KNOWN_FERNET_KEYS:
            return f"key {position} is a well-known value (it is published in this repository)"
    return None


@register(Tags.security, deploy=True)
def check_secret_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """portico.E001 (PORTICO_HASH_KEY), portico.E002 (PORTICO_ENCRYPTION_KEYS); not with DEBUG on."""
    if settings.DEBUG:
        return []
    messages: list[CheckMessage] = []
    problem = hash_key_problem(getattr(settings, "PORTICO_HASH_KEY", None), getattr(settings, "SECRET_KEY", None))
    if problem:
        messages.append(
            Error(
                f"PORTICO_HASH_KEY is too weak: {problem}.",
                hint=f"Set it to 32 or more random characters, e.g. {GENERATE_HASH_KEY}. Changing it "
                "invalidates every API key, client secret, gateway token and access token issued under it.",
                id="portico.E001",
            )
        )
    problem = encryption_keys_problem(getattr(settings, "PORTICO_ENCRYPTION_KEYS", None))
    if problem:
        messages.append(
            Error(
                f"PORTICO_ENCRYPTION_KEYS: {problem}.",
                hint=f"Generate a key with {GENERATE_FERNET_KEY}; to replace one, put the new key first and run "
                "`manage.py rotate_encryption_keys`.",
                id="portico.E002",
            )
        )
    return messages


@register(Tags.security, deploy=True)
def check_forwarded_for(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """portico.W001: the previous release's PORTICO_TRUST_X_FORWARDED_FOR is still set."""
    if not getattr(settings, "PORTICO_TRUST_X_FORWARDED_FOR", False):
        return []
    return [
        Warning(
            "PORTICO_TRUST_X_FORWARDED_FOR is replaced by PORTICO_TRUSTED_PROXY_COUNT: it is read as "
            f"PORTICO_TRUSTED_PROXY_COUNT={settings.PORTICO_TRUSTED_PROXY_COUNT}, and the client's address is the "
            "X-Forwarded-For entry that many hops from the right, no longer the leftmost (which the client writes).",
            hint="Set PORTICO_TRUSTED_PROXY_COUNT to the number of proxies in front of Portico and remove "
            "PORTICO_TRUST_X_FORWARDED_FOR.",
            id="portico.W001",
        )
    ]


@register(Tags.security)
def check_single_sign_on(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """portico.E003-E006: single sign-on (PORTICO_OIDC_*, PORTICO_LOCAL_LOGIN) cannot work as configured.

    Run at every start, not only with --deploy: a wrong issuer or group mapping refuses every sign-in.
    """
    return [
        Error(problem, hint=hint, id=check_id)
        for check_id, problem, hint in configuration_problems(debug=settings.DEBUG)
    ]
