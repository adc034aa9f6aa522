"""Access tokens of POST /oauth/token: signed, never stored.

A token says which client it was issued to, under which version of its secret, with which scopes
and until when, and carries an HMAC-SHA256 of all that under a key derived from PORTICO_HASH_KEY
for this purpose only (credentials.lib.crypto.hash_secret, purpose "atsig"):

    prt_at_<lookup>_<client ID>_<secret version>_<expires, Unix seconds>_<scopes: r, w, rw>_<HMAC, hex>

So issuing one writes nothing, and checking one costs an HMAC and the credential's facts
(credentials.integration.credential_facts), which is where revocation lives: a token whose secret
version is not the credential's, whose credential is gone or whose organization is deactivated is
refused; what it may do is what it was given and its credential's role still allows. `lookup` is
8 random characters: the token's public name in logs (with `prt_at_`, its prefix), never the token.
Nothing here is secret but the whole value, which is shown once, in the token response.

Tokens issued by the previous release (prt_at_<lookup>_<secret><checksum>, stored as prefix and
keyed hash in AccessToken) are still read by credentials.integration.oauth until they expire.
"""

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from django.views.decorators.debug import sensitive_variables

from credentials.lib import crypto

KIND = "at"
SIGNATURE_PURPOSE = "atsig"
LOOKUP_LENGTH = 8
MAX_LENGTH = 256  # a header value longer than any token is refused before any work
SCOPE_CODES = {"read": "r", "write": "w"}  # in this order in a token
_SCOPES_OF_CODE = {"r": "read", "w": "write", "rw": "read write"}
_PREFIX_LENGTH = len(f"prt_{KIND}_") + LOOKUP_LENGTH


class UnknownScope(ValueError):
    """A scope a token cannot carry (the roles' scopes are read and write)."""


@dataclass(frozen=True)
class TokenClaims:
    """What an authentic token says. `prefix` is its public name (prt_at_<lookup>)."""

    prefix: str
    client_id: str
    secret_version: int
    scopes: str  # space-separated, as in the token response
    expires_at: datetime

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now


def _signature(body: str) -> str:
    return crypto.hash_secret(body, purpose=SIGNATURE_PURPOSE)


def _scope_code(scopes: list[str]) -> str:
    unknown = set(scopes) - set(SCOPE_CODES)
    if unknown or not scopes:
        raise UnknownScope(f"An access token carries read and/or write, not {sorted(unknown) or 'nothing'}.")
    return "".join(code for scope, code in SCOPE_CODES.items() if scope in scopes)


@sensitive_variables("body")
def issue(*, client_id: str, secret_version: int, scopes: list[str], expires_at: int) -> tuple[str, TokenClaims]:
    """A new token (the value, shown once) and its claims. `expires_at` in Unix seconds."""
    prefix = f"prt_{KIND}_{crypto.random_base62(LOOKUP_LENGTH)}"
    code = _scope_code(scopes)
    body = f"{prefix}_{client_id}_{secret_version}_{expires_at}_{code}"
    claims = TokenClaims(
        prefix=prefix,
        client_id=client_id,
        secret_version=secret_version,
        scopes=_SCOPES_OF_CODE[code],
        expires_at=datetime.fromtimestamp(expires_at, tz=UTC),
    )
    return f"{body}_{_signature(body)}", claims


def _whole(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 12


@sensitive_variables("value", "body")
def read(value: str) -> TokenClaims | None:
    """The claims of a token Portico signed, or None for anything else (whatever its shape, a wrong
    signature, a truncated or altered value). Expiry and revocation are the caller's to judge."""
    # ASCII: a token is, and hmac.compare_digest refuses to compare other strings (a TypeError).
    if not isinstance(value, str) or len(value) > MAX_LENGTH or not value.isascii():
        return None
    if not value.startswith(f"prt_{KIND}_"):
        return None
    body, _, signature = value.rpartition("_")
    # The signature binds the exact body: check it before reading anything in it.
    if not body or not hmac.compare_digest(_signature(body), signature):
        return None
    fields = body.rsplit("_", 3)
    if len(fields) != 4:
        return None
    head, version, expires, code = fields
    prefix, separator, client_id = (
        head[:_PREFIX_LENGTH],
        head[_PREFIX_LENGTH : _PREFIX_LENGTH + 1],
        head[_PREFIX_LENGTH + 1 :],
    )
    if separator != "_" or not client_id or not (_whole(version) and _whole(expires)) or code not in _SCOPES_OF_CODE:
        return None
    return TokenClaims(
        prefix=prefix,
        client_id=client_id,
        secret_version=int(version),
        scopes=_SCOPES_OF_CODE[code],
        expires_at=datetime.fromtimestamp(int(expires), tz=UTC),
    )
