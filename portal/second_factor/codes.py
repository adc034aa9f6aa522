"""Recovery codes: their format, how typed input is read, and the keyed hash they are stored as.

Portico only verifies them, so they are kept as an HMAC-SHA256 (under a key derived from
PORTICO_HASH_KEY for this purpose), never in clear: django-otp's StaticToken would store the
plaintext, so its `token` column holds the digest instead (base64url, cut to its 16 characters).
"""

import base64
import hashlib
import hmac
import secrets

# No 0/o, 1/l/i: easy to copy from paper. 10 characters of 31: about 49 bits each code.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 10
CODE_COUNT = 10
DIGEST_LENGTH = 16  # StaticToken.token is a CharField(max_length=16): 96 bits of the HMAC
_PURPOSE = b"portico second factor recovery code"


def new_code() -> str:
    """A fresh recovery code, shown as two groups of five: `abcde-fghjk`."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(typed: str) -> str:
    """What the user typed, without spaces or hyphens, in lower case."""
    return "".join(typed.split()).replace("-", "").lower()


def looks_like_recovery_code(typed: str) -> bool:
    value = normalise(typed)
    return len(value) == CODE_LENGTH and all(char in ALPHABET for char in value)


def digest(code: str, *, pepper: str) -> str:
    """The stored form of a recovery code: HMAC-SHA256 under a purpose key derived from the pepper."""
    key = hmac.new(pepper.encode(), _PURPOSE, hashlib.sha256).digest()
    mac = hmac.new(key, normalise(code).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:DIGEST_LENGTH]
