"""Test certificates made on the fly with `cryptography`: a CA, certificates it signs, self-signed pairs.

Plain functions returning PEM strings (in a `PemPair`), for any test that needs a certificate:

    ca = make_ca()
    server = make_cert(ca, "localhost", san_dns=["localhost"], usage="server")
    client = make_cert(ca, "sb-portico-client", usage="client")
    expired = make_key_and_cert("old", not_after=datetime.now(UTC) - timedelta(days=1))
"""

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa", "ed25519"]


class PemPair(NamedTuple):
    cert_pem: str
    key_pem: str


def make_private_key(key_type: KeyType = "ec"):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(private_key, *, password: bytes | None = None, traditional: bool = False) -> str:
    """PKCS#8 by default; `traditional` gives the "BEGIN RSA/EC PRIVATE KEY" form."""
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_format = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return private_key.private_bytes(serialization.Encoding.PEM, key_format, encryption).decode()


def make_key_pem(key_type: KeyType = "ec", *, password: bytes | None = None, traditional: bool = False) -> str:
    return key_to_pem(make_private_key(key_type), password=password, traditional=traditional)


def _name(cn: str, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _validity(not_before: datetime | None, not_after: datetime | None) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    not_after = not_after or now + timedelta(days=365)
    not_before = not_before or min(now - timedelta(days=1), not_after - timedelta(days=1))
    return not_before, not_after


def make_ca(
    cn: str = "Portico Test CA",
    *,
    organization: str | None = "Portico Tests",
    key_type: KeyType = "ec",
    not_after: datetime | None = None,
) -> PemPair:
    """A self-signed CA certificate fit to sign the certificates below."""
    private_key = make_private_key(key_type)
    not_before, not_after = _validity(None, not_after)
    name = _name(cn, organization)
    public_key = private_key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, _hash_for(private_key))
    )
    return PemPair(certificate.public_bytes(serialization.Encoding.PEM).decode(), key_to_pem(private_key))


def make_cert(
    ca: PemPair | None,
    cn: str,
    *,
    san_dns: Iterable[str] = (),
    san_ips: Iterable[str] = (),
    organization: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key_type: KeyType = "ec",
    usage: Literal["server", "client"] | None = None,
) -> PemPair:
    """A leaf certificate and its new key, signed by `ca` (self-signed when `ca` is None)."""
    private_key = make_private_key(key_type)
    public_key = private_key.public_key()
    subject = _name(cn, organization)
    if ca is None:
        issuer_name, signing_key, issuer_public_key = subject, private_key, public_key
    else:
        ca_certificate = x509.load_pem_x509_certificate(ca.cert_pem.encode())
        issuer_name = ca_certificate.subject
        signing_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
        issuer_public_key = ca_certificate.public_key()
    not_before, not_after = _validity(not_before, not_after)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False)
    )
    names = [x509.DNSName(name) for name in san_dns] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in san_ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if usage:
        oid = ExtendedKeyUsageOID.SERVER_AUTH if usage == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([oid]), critical=False)
    certificate = builder.sign(signing_key, _hash_for(signing_key))
    return PemPair(certificate.public_bytes(serialization.Encoding.PEM).decode(), key_to_pem(private_key))


def make_key_and_cert(
    cn: str = "sb-portico-test",
    *,
    organization: str | None = "Portico Tests",
    not_after: datetime | None = None,
    key_type: KeyType = "ec",
) -> PemPair:
    """A self-signed client certificate and its key, like the pair in an SAP certificate service key."""
    return make_cert(None, cn, organization=organization, not_after=not_after, key_type=key_type, usage="client")


def _hash_for(private_key):
    return None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
