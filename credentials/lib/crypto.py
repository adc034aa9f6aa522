"""The two kinds of secret (docs/architecture.md, "Secrets"): keys Portico verifies and secrets it uses.

Secrets Portico *uses* (a tenant's client secret, certificate and key) are encrypted:
portal/encryption.py, in the lowest layer, so that every app's models can keep one.

Secrets Portico only *verifies* (API keys, client secrets) are generated here in a format a secret
scanner recognises: ``prt_<kind>_<lookup>_<secret><checksum>``. The public part
``prt_<kind>_<lookup>`` is stored in clear and indexed; the whole secret is kept only as an
HMAC-SHA256 under a key derived from PORTICO_HASH_KEY for its kind (HKDF-SHA256), and compared in
constant time. Digests stored before the keys were derived (HMAC under the raw PORTICO_HASH_KEY)
still verify. The checksum (CRC32, base62) lets a malformed or mistyped key be refused without
touching the database.
"""

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LOOKUP_LENGTH = 8
SECRET_LENGTH = 32  # 32 base62 characters: about 190 bits of randomness
CHECKSUM_LENGTH = 6
KIND_PATTERN = re.compile(r"^[a-z]{2,6}$")


# --- Secrets Portico verifies: generated keys and keyed hashes ----------------------------------
class MalformedSecret(ValueError):
    """The presented value is not a Portico secret of the expected kind (shape or checksum)."""


@dataclass(frozen=True)
class GeneratedSecret:
    """A new secret: `value` is shown once and never stored; `prefix` and `digest` are stored."""

    value: str
    prefix: str
    digest: str

    def __repr__(self) -> str:  # never print the value by accident
        return f"GeneratedSecret(prefix={self.prefix!r})"


def _base62(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, remainder = divmod(number, 62)
        chars.append(BASE62[remainder])
    return "".join(reversed(chars))


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def random_base62(length: int) -> str:
    """Random base62 characters from the OS's CSPRNG: opaque public ids, client IDs."""
    return _random_base62(length)


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def _secret_regex(kind: str) -> re.Pattern[str]:
    return re.compile(
        rf"^(prt_{kind}_[0-9A-Za-z]{{{LOOKUP_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
    )


_KIND_OF_VALUE = re.compile(r"^prt_([a-z]{2,6})_")


@cache
def _purpose_key(pepper: str, purpose: str) -> bytes:
    # Cached per (pepper, purpose): HKDF costs more than the HMAC it keys, and /gateway/verify
    # answers in about a millisecond. The pepper is part of the key so a changed setting is seen.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"portico:hash:{purpose}".encode()).derive(
        pepper.encode()
    )


def _purpose_of(value: str, purpose: str | None) -> str:
    if purpose is not None:
        if not KIND_PATTERN.match(purpose):
            raise ValueError("A hashing purpose is a kind of secret: 2 to 6 lower-case letters.")
        return purpose
    match = _KIND_OF_VALUE.match(value)
    if match is None:
        raise ValueError(
            "This secret names no kind (prt_<kind>_...): pass the purpose it is hashed for, "
            'e.g. purpose="cs" for a typed client secret.'
        )
    return match.group(1)


def _hmac_hex(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@sensitive_variables("value")
def hash_secret(value: str, purpose: str | None = None) -> str:
    """The keyed hash stored for a verified secret, hex: HMAC-SHA256 under the key derived from
    PORTICO_HASH_KEY for its purpose (HKDF-SHA256, info ``portico:hash:<purpose>``).

    The purpose is the secret's kind, read from ``prt_<kind>_...``; a value without one (a typed
    client secret) must name it (``purpose="cs"``). One key per kind: a digest made for one kind
    never verifies as another, even for the same characters.
    """
    return _hmac_hex(_purpose_key(settings.PORTICO_HASH_KEY, _purpose_of(value, purpose)), value)


@sensitive_variables("value")
def legacy_hash_secret(value: str) -> str:
    """The digest the previous release stored: HMAC-SHA256 under the raw PORTICO_HASH_KEY. Rows
    made then keep it (re-hashing needs the secret, which Portico does not keep); only checked."""
    return _hmac_hex(settings.PORTICO_HASH_KEY.encode(), value)


@sensitive_variables("value")
def secret_digests(value: str, purpose: str | None = None) -> tuple[str, str]:
    """Every digest a stored row of this secret may hold, the current one first: for lookups by
    digest (a reused secret) that must also find rows stored by the previous release."""
    return hash_secret(value, purpose), legacy_hash_secret(value)


@sensitive_variables("value")
def verify_secret(value: str, digest: str, purpose: str | None = None) -> bool:
    """Whether `value` hashes to `digest` (see hash_secret for the purpose), compared in constant
    time; a digest stored by the previous release (raw PORTICO_HASH_KEY) verifies too. A value
    that names no kind, verified without a purpose, is no secret of Portico's: False."""
    if purpose is None and not _KIND_OF_VALUE.match(value):
        return False
    if hmac.compare_digest(hash_secret(value, purpose), digest):
        return True
    # Only after the current digest failed: the one HMAC of a valid new secret is the gateway's hot path.
    return hmac.compare_digest(legacy_hash_secret(value), digest)


def generate_secret(kind: str) -> GeneratedSecret:
    """A fresh secret of `kind` (e.g. "key" for API keys, "cs" for client secrets)."""
    if not KIND_PATTERN.match(kind):
        raise ValueError("A secret kind is 2 to 6 lower-case letters.")
    prefix = f"prt_{kind}_{_random_base62(LOOKUP_LENGTH)}"
    body = f"{prefix}_{_random_base62(SECRET_LENGTH)}"
    value = body + _checksum(body)
    return GeneratedSecret(value=value, prefix=prefix, digest=hash_secret(value))


def secret_prefix(value: str, kind: str) -> str:
    """The public prefix of a presented secret, after checking its shape and checksum.

    Raises MalformedSecret for anything that is not a well-formed secret of this kind, so a
    truncated, mistyped or tampered value is refused before any database lookup.
    """
    match = _secret_regex(kind).match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise MalformedSecret(f"This is not a Portico {kind} secret: its format is wrong.")
    prefix, random_part, checksum = match.groups()
    if not hmac.compare_digest(_checksum(f"{prefix}_{random_part}"), checksum):
        raise MalformedSecret(f"This is not a Portico {kind} secret: its checksum does not match.")
    return prefix
