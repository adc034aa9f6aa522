"""The JSON credentials an API Management tenant pastes (the README's scenarios S1, S2): parse and check them.

SAP's documents give two shapes:

- client secret: ``{"url", "tokenUrl", "clientId", "clientSecret"}``
- certificate:   ``{"url", "tokenurl", "certurl", "certificate", "key"}`` (a "clientid" may come too)

Key names match case-insensitively, because people retype them and SAP spells ``tokenUrl``
differently in the two shapes. Other keys (a whole service key carries many) are ignored and not
kept. Every problem found is reported at once, each under the key the documents use, and no
message repeats a pasted value: a value may be a secret.

What is refused at paste time is what would fail later: values longer than their columns (PostgreSQL
raises), characters no column or header holds (NUL, lone surrogates; client IDs and secrets are
printable ASCII, RFC 6749's VSCHAR), URLs that are not ASCII (a homoglyph host is written xn--...),
and URLs whose host is a private or local address the outbound guard would refuse
(credentials.lib.outbound, unless PORTICO_OUTBOUND_ALLOW_PRIVATE). That last check reads literal
addresses and "localhost" only, without DNS: a host name is resolved and checked by the guard on
every call, and resolving here would hang a page on a slow resolver, for a name that "Save without
testing" says may not resolve from the hub yet.
"""

import ipaddress
import json
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from credentials.lib import outbound

MAX_PASTE_CHARS = 64 * 1024

CLIENT_SECRET = "client_secret"  # noqa: S105 -- the name of a kind, not a secret
CERTIFICATE = "certificate"

# Field names as the documents spell them, per shape.
CLIENT_SECRET_FIELDS = ("url", "tokenUrl", "clientId", "clientSecret")
CERTIFICATE_FIELDS = ("url", "tokenurl", "certurl", "certificate", "key")
CERTIFICATE_OPTIONAL_FIELDS = ("clientid",)
URL_FIELDS = frozenset({"url", "tokenurl", "certurl"})  # lower-cased
PLAIN_TEXT_FIELDS = frozenset({"clientid", "clientsecret"})  # lower-cased; sent in an HTTP header

# Letters, digits, hyphens (and underscores, which some DNS names carry) between dots.
HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")

# The clear columns of ConnectionRequest that hold these values (tests hold the numbers equal).
MAX_URL_CHARS = 500
MAX_CLIENT_ID_CHARS = 300
MAX_SUBJECT_CHARS = 500


class CredentialsError(ValueError):
    """The pasted credentials are unusable; `errors` lists every problem as (field, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__(self.errors)  # args hold the list, so the error pickles and unpickles whole

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors)


@dataclass(frozen=True)
class TenantCredentials:
    """Checked credentials of one tenant. repr() leaves out the secret, the key and the long PEM."""

    kind: str
    url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    cert_url: str
    certificate_pem: str = field(repr=False)
    private_key_pem: str = field(repr=False)
    certificate_subject: str
    certificate_not_after: datetime | None

    def to_storage(self) -> dict:
        """Everything needed to rebuild these credentials, under the documents' key names."""
        if self.kind == CLIENT_SECRET:
            return {
                "url": self.url,
                "tokenUrl": self.token_url,
                "clientId": self.client_id,
                "clientSecret": self.client_secret,
            }
        data = {
            "url": self.url,
            "tokenurl": self.token_url,
            "certurl": self.cert_url,
            "certificate": self.certificate_pem,
            "key": self.private_key_pem,
        }
        if self.client_id:
            data["clientid"] = self.client_id
        return data

    @classmethod
    @sensitive_variables()
    def from_storage(cls, data: dict) -> "TenantCredentials":
        """Rebuild stored credentials without the paste-time checks (URL policy, expiry), which
        may have changed since they were stored; raises CredentialsError if fields are missing."""
        kind, values, errors = _read_fields(data, list(data))
        certificate = None
        if kind == CERTIFICATE and "certificate" in values:
            certificate, problem = _load_certificate(values["certificate"])
            if problem:
                errors.append(("certificate", problem))
        if errors:
            raise CredentialsError(errors)
        return _build(kind, values, certificate)


class _JsonObject(dict):
    """A decoded JSON object that also remembers its keys in order, repeated keys included
    (a plain dict keeps only the last of two "url" keys and hides the mistake)."""

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        self.keys_seen = [key for key, _ in pairs]


@sensitive_variables()
def parse_tenant_credentials(text: str) -> TenantCredentials:
    """Parse a pasted JSON document; raise CredentialsError listing every problem found."""
    obj = _load_json(text)
    kind, values, errors = _read_fields(obj, obj.keys_seen)

    for name, value in values.items():
        problem = _character_problem(name, value)
        if problem is None and name.lower() in URL_FIELDS:
            problem = _url_problem(name, value)
        elif problem is None and name.lower() in PLAIN_TEXT_FIELDS:
            problem = _plain_text_problem(name, value)
        if problem:
            errors.append((name, problem))
    unreadable = {name for name, _ in errors}

    certificate = None
    if kind == CERTIFICATE:
        if "certificate" in values and "certificate" not in unreadable:
            certificate, problem = _load_certificate(values["certificate"])
            if problem:
                errors.append(("certificate", problem))
            elif certificate is not None and certificate.not_valid_after_utc <= datetime.now(UTC):
                expired = certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M")
                errors.append(("certificate", f"The certificate expired on {expired} UTC."))
            elif certificate is not None and len(certificate.subject.rfc4514_string()) > MAX_SUBJECT_CHARS:
                errors.append(
                    ("certificate", f"The certificate's subject is longer than {MAX_SUBJECT_CHARS} characters.")
                )
        if "key" in values and "key" not in unreadable:
            private_key, problem = _load_private_key(values["key"])
            if problem:
                errors.append(("key", problem))
            elif private_key is not None and certificate is not None and not _same_public_key(private_key, certificate):
                errors.append(("key", "The private key does not belong to the certificate."))

    if errors:
        order = CLIENT_SECRET_FIELDS if kind == CLIENT_SECRET else CERTIFICATE_FIELDS + CERTIFICATE_OPTIONAL_FIELDS
        raise CredentialsError(sorted(errors, key=lambda error: order.index(error[0])))  # stable: keeps a field's order
    return _build(kind, values, certificate)


def _load_json(text: str) -> _JsonObject:
    if not isinstance(text, str) or not text.strip():
        raise CredentialsError([("credentials", 'Paste the credentials: a JSON object such as {"url": ...}.')])
    if len(text) > MAX_PASTE_CHARS:
        raise CredentialsError(
            [
                (
                    "credentials",
                    f"The credentials are too long ({len(text):,} characters; at most {MAX_PASTE_CHARS:,}).",
                )
            ]
        )
    problem = None
    try:
        obj = json.loads(text, object_pairs_hook=_JsonObject)
    except json.JSONDecodeError as exc:
        problem = f"The credentials are not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
    except ValueError:  # a number of more digits than Python reads (4,300): not a JSONDecodeError
        problem = "The credentials are not valid JSON as Portico reads it: a number in them is too long."
    except RecursionError:
        problem = "The credentials are not valid JSON: they are nested too deeply."
    # Raised outside the except block so the traceback does not carry the decode error, whose
    # `doc` attribute holds the whole paste, secret included.
    if problem:
        raise CredentialsError([("credentials", problem)])
    if not isinstance(obj, _JsonObject):
        raise CredentialsError(
            [("credentials", f"The credentials must be a JSON object ({{...}}), not {_json_type(obj)}.")]
        )
    return obj


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _read_fields(obj: dict, keys_seen: list[str]) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """The shape, the stripped values by documented name, and the problems of presence and type."""
    spellings: dict[str, list[str]] = {}
    for key in keys_seen:
        spellings.setdefault(key.lower(), []).append(key)
    required: tuple[str, ...]
    optional: tuple[str, ...]
    if "certificate" in spellings or "key" in spellings:
        kind, required, optional = CERTIFICATE, CERTIFICATE_FIELDS, CERTIFICATE_OPTIONAL_FIELDS
    else:
        kind, required, optional = CLIENT_SECRET, CLIENT_SECRET_FIELDS, ()

    values: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for name in required + optional:
        keys = spellings.get(name.lower(), [])
        if len(keys) > 1:
            given = ", ".join(f'"{key}"' for key in keys)
            errors.append((name, f'The credentials contain "{name}" more than once ({given}); keep one.'))
            continue
        if not keys:
            if name in required:
                errors.append((name, f'The "{name}" field is missing.'))
            continue
        raw = obj[keys[0]]
        if not isinstance(raw, str):
            errors.append((name, f'The "{name}" field must be a string, not {_json_type(raw)}.'))
            continue
        value = raw.strip()
        if value:
            values[name] = value
        elif name in required:
            errors.append((name, f'The "{name}" field is empty.'))
    return kind, values, errors


def _character_problem(name: str, value: str) -> str | None:
    """A lone surrogate ("\\ud800" in the JSON decodes to one): no column, header or PEM holds it,
    and encoding it for any of them fails. NUL and other controls are the next checks' to name."""
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f'The "{name}" field contains an invalid character (U+{ord(char):04X}, a lone surrogate).'
    return None


def _plain_text_problem(name: str, value: str) -> str | None:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return f'The "{name}" field contains a line break or another control character.'
    if not value.isascii():
        return f'The "{name}" field must be plain ASCII text (letters, digits and punctuation), as OAuth requires.'
    if name.lower() == "clientid" and len(value) > MAX_CLIENT_ID_CHARS:
        return f'The "{name}" field is longer than {MAX_CLIENT_ID_CHARS} characters.'
    return None


def _url_problem(name: str, value: str) -> str | None:
    if any(char.isspace() or ord(char) < 32 for char in value):
        return f'The "{name}" field must be a URL without spaces or line breaks.'
    if len(value) > MAX_URL_CHARS:
        return f'The "{name}" field is longer than {MAX_URL_CHARS} characters.'
    if not value.isascii():
        return (
            f'The "{name}" field must be plain ASCII: write an international host name in its xn-- form '
            "and percent-encode other characters."
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError:
        return f'The "{name}" field is not a valid https:// URL (https is required).'
    if not parts.scheme or not parts.netloc:
        return f'The "{name}" field must be a full URL with a host, such as https://host.example.com.'
    if "@" in parts.netloc:
        return f'The "{name}" field must not contain a user name or password.'
    if not host:
        return f'The "{name}" field must be a full URL with a host, such as https://host.example.com.'
    if not HOST_NAME.match(host) and not _is_address(host):
        return f'The "{name}" field has a host with characters no host name has.'
    if not outbound.scheme_allowed(parts.scheme, host):
        return f'The "{name}" field must start with https://.'
    address = _internal_address(host)
    if address is not None:
        return f'The "{name}" field points to a private or local address ({address}); Portico does not call those.'
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _internal_address(host: str) -> str | None:
    """The host when it is written as an address the outbound guard refuses (or "localhost"), read
    without DNS; None for host names and public addresses, and always when
    PORTICO_OUTBOUND_ALLOW_PRIVATE is on (tests, labs)."""
    if settings.PORTICO_OUTBOUND_ALLOW_PRIVATE:
        return None
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: loopback, whatever DNS says
        return host
    try:
        ipaddress.ip_address(name)
        address = name  # shown as typed
    except ValueError:
        # The resolver also reads the old IPv4 spellings (2130706433, 0x7f.1, 127.1) as addresses;
        # inet_aton reads them the same way, and never asks DNS.
        try:
            address = socket.inet_ntoa(socket.inet_aton(name))
        except OSError:
            return None
    return address if outbound.is_internal(address) else None


def _pem(value: str) -> str:
    # A PEM pasted from a JSON service key arrives with real line breaks (JSON decoded "\n"), but
    # one copied out of an escaped string still holds the two characters "\" "n".
    return value.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\r\n", "\n").strip() + "\n"


def _load_certificate(value: str) -> tuple[x509.Certificate | None, str | None]:
    """The first certificate of a PEM certificate or chain, or a message saying why not."""
    try:
        chain = x509.load_pem_x509_certificates(_pem(value).encode())
    except ValueError:
        chain = []
    if not chain:
        return None, (
            'The "certificate" field is not a PEM X.509 certificate (it should start with -----BEGIN CERTIFICATE-----).'
        )
    return chain[0], None


def _load_private_key(value: str) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None, str | None]:
    problem = None
    try:
        private_key = serialization.load_pem_private_key(_pem(value).encode(), password=None)
    except TypeError:  # cryptography's way of saying "this key needs a password"
        problem = "The private key is protected by a passphrase; paste the unencrypted key."
    except (ValueError, UnsupportedAlgorithm):
        problem = 'The "key" field is not a PEM private key (it should start with -----BEGIN PRIVATE KEY-----).'
    if problem:
        return None, problem
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return None, "The private key must be an RSA or EC key."
    return private_key, None


def _same_public_key(
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> bool:
    def spki(public_key) -> bytes:
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    try:
        return spki(private_key.public_key()) == spki(certificate.public_key())
    except (ValueError, UnsupportedAlgorithm):  # the certificate's key is of a type we cannot read
        return False


def _build(kind: str, values: dict[str, str], certificate: x509.Certificate | None) -> TenantCredentials:
    if kind == CLIENT_SECRET:
        return TenantCredentials(
            kind=CLIENT_SECRET,
            url=values["url"],
            token_url=values["tokenUrl"],
            client_id=values["clientId"],
            client_secret=values["clientSecret"],
            cert_url="",
            certificate_pem="",
            private_key_pem="",
            certificate_subject="",
            certificate_not_after=None,
        )
    return TenantCredentials(
        kind=CERTIFICATE,
        url=values["url"],
        token_url=values["tokenurl"],
        client_id=values.get("clientid", ""),
        client_secret="",
        cert_url=values["certurl"],
        certificate_pem=_pem(values["certificate"]),
        private_key_pem=_pem(values["key"]),
        certificate_subject=certificate.subject.rfc4514_string() if certificate else "",
        certificate_not_after=certificate.not_valid_after_utc if certificate else None,
    )
