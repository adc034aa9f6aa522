"""The two kinds of secret (docs/architecture.md, "Secrets"): keys Portico verifies and secrets it uses.

Secrets Portico *uses* (a tenant's client secret, certificate and key) are encrypted with
MultiFernet under keys from PORTICO_ENCRYPTION_KEYS, newest first; older keys still decrypt and
`manage.py rotate_encryption_keys` re-encrypts under the newest.

Secrets Portico only *verifies* (API keys, client secrets) are generated here in a format a secret
scanner recognises: ``prt_<kind>_<lookup>_<secret><checksum>``. The public part
``prt_<kind>_<lookup>`` is stored in clear and indexed; the whole secret is kept only as an
HMAC-SHA256 under PORTICO_HASH_KEY and compared in constant time. The checksum (CRC32, base62)
lets a malformed or mistyped key be refused without touching the database.
"""

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LOOKUP_LENGTH = 8
SECRET_LENGTH = 32  # 32 base62 characters: about 190 bits of randomness
CHECKSUM_LENGTH = 6
KIND_PATTERN = re.compile(r"^[a-z]{2,6}$")


# --- Secrets Portico uses: encryption -----------------------------------------------------------
class DecryptionError(Exception):
    """A stored ciphertext could not be decrypted with any configured key (wrong key or tampered)."""


@cache
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("PORTICO_ENCRYPTION_KEYS must name at least one Fernet key.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.strip().encode()))
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"PORTICO_ENCRYPTION_KEYS: key {position} is not a valid Fernet key (32 url-safe base64-encoded bytes)."
            ) from exc
    return MultiFernet(fernets)


def _configured_keys() -> tuple[str, ...]:
    keys = settings.PORTICO_ENCRYPTION_KEYS
    # A single string would be read as one key per character: refuse it with the real reason.
    if isinstance(keys, str | bytes):
        raise ImproperlyConfigured(
            "PORTICO_ENCRYPTION_KEYS must be a list of Fernet keys, newest first, not a single string."
        )
    return tuple(keys)


def _fernet() -> MultiFernet:
    return _multifernet(_configured_keys())


def encrypt(plaintext: str) -> str:
    """Encrypt under the newest key."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Decrypt with any configured key; raise DecryptionError, never return the ciphertext."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError, TypeError) as exc:
        raise DecryptionError(
            "A stored secret could not be decrypted: it was encrypted with a key that is no longer "
            "configured, or it was altered."
        ) from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the newest key (MultiFernet.rotate); DecryptionError if unreadable."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except (InvalidToken, ValueError, TypeError) as exc:
        raise DecryptionError("A stored secret could not be decrypted for rotation.") from exc


def encrypted_with_newest_key(ciphertext: str) -> bool:
    keys = _configured_keys()
    _multifernet(keys)  # refuses a wrong configuration with ImproperlyConfigured, as encrypt() does
    newest = Fernet(keys[0].strip().encode())
    try:
        newest.decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


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


def hash_secret(value: str) -> str:
    """The keyed hash stored for a verified secret: HMAC-SHA256 under PORTICO_HASH_KEY, hex."""
    return hmac.new(settings.PORTICO_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def verify_secret(value: str, digest: str) -> bool:
    """Whether `value` hashes to `digest`, compared in constant time."""
    return hmac.compare_digest(hash_secret(value), digest)


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
