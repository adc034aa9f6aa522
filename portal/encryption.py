"""Encryption of the secrets Portico *uses* (a tenant's client secret, certificate and key, a
runtime target's signing secret, a second factor's TOTP key): MultiFernet under keys from
PORTICO_ENCRYPTION_KEYS, newest first; older keys still decrypt and
`manage.py rotate_encryption_keys` re-encrypts under the newest.

The lowest layer (portal) holds it, so that every app's models can keep such a secret in an
EncryptedTextField (portal/fields.py). Secrets Portico only *verifies* are hashed instead:
credentials/lib/crypto.py.
"""

import base64
from collections.abc import Callable
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


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


@cache
def _rotation_fernets(keys: tuple[str, ...]) -> tuple[Fernet, tuple[Fernet, ...]]:
    _multifernet(keys)  # refuses a wrong configuration with ImproperlyConfigured, as encrypt() does
    newest, *older = (key.strip().encode() for key in keys)
    # The newest key may be listed again among the older ones (same bytes, other spelling): a token
    # it opens is already under the newest key, so it must not count as an older key's.
    newest_bytes = base64.urlsafe_b64decode(newest)
    older = [key for key in older if base64.urlsafe_b64decode(key) != newest_bytes]
    return Fernet(newest), tuple(Fernet(key) for key in dict.fromkeys(older))


def rotation_keys() -> tuple[str, ...]:
    """The configured keys, newest first, for reencrypt_many(); refuses a wrong configuration with
    ImproperlyConfigured, as encrypt() does."""
    keys = _configured_keys()
    _rotation_fernets(keys)
    return keys


def reencryptor(keys: tuple[str, ...] | None = None) -> Callable[[str], str | None]:
    """For key rotation: a function that re-encrypts a ciphertext under the newest key, or returns
    None when it already is under it; it raises DecryptionError if no configured key opens it.

    The configuration (or `keys`, newest first) is read, and refused with ImproperlyConfigured,
    once, here. A token is decrypted only by the key that opens it and encrypted once by the
    newest: the older keys are tried first, newest of them first, because a rotation meets mostly
    those; the newest key only checks the signature of what no older key opens. (MultiFernet.rotate
    tries every key in order, newest first, and re-encrypts even what is under the newest key.)
    """
    newest, older = _rotation_fernets(_configured_keys() if keys is None else keys)

    def reencrypt(ciphertext: str) -> str | None:
        token = ciphertext.encode()
        for fernet in older:
            try:
                plaintext = fernet.decrypt(token)
            except (InvalidToken, ValueError, TypeError):
                continue
            return newest.encrypt(plaintext).decode()
        try:
            newest.extract_timestamp(token)  # checks the signature, decrypts nothing
        except (InvalidToken, ValueError, TypeError) as exc:
            raise DecryptionError("A stored secret could not be decrypted for rotation.") from exc
        return None

    return reencrypt


def reencrypt_many(keys: tuple[str, ...], ciphertexts: list[str]) -> tuple[list[str | None], int | None]:
    """reencryptor(keys) over a batch, for a process of its own (it reads no settings): the new
    tokens (None where a token is under the newest key already), and the position of the first
    token no key opens (None if every one opened), where it stopped."""
    reencrypt = reencryptor(keys)
    done: list[str | None] = []
    for ciphertext in ciphertexts:
        try:
            done.append(reencrypt(ciphertext))
        except DecryptionError:
            return done, len(done)
    return done, None


def encrypted_with_newest_key(ciphertext: str) -> bool:
    keys = _configured_keys()
    _multifernet(keys)  # refuses a wrong configuration with ImproperlyConfigured, as encrypt() does
    newest = Fernet(keys[0].strip().encode())
    try:
        newest.decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True
