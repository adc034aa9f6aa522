"""Every call Portico makes to a URL someone typed (a tenant's token URL, a gateway's base and
health URLs) goes through this module: the URL rule and the address policy live here only.

The URL rule: https, or http only to a loopback host when PORTICO_ALLOW_HTTP_LOOPBACK is on (tests
and demos). The address policy: the host is resolved once, every address is checked (no loopback,
private, link-local... unless PORTICO_OUTBOUND_ALLOW_PRIVATE), and Portico connects to a checked
address itself, keeping the host name for TLS verification (SNI) and the Host header. Letting httpx
resolve the name again would leave a gap between check and connect that a DNS answer changing in
between (rebinding) could use. The client follows no redirect and reads no proxy from the
environment: either would connect to an address nobody checked.
"""

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx
from django.conf import settings

MAX_BODY_BYTES = 64 * 1024  # a token answer is a few kilobytes; read no more than this


DEFAULT_PORTS = {"http": 80, "https": 443}


_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: httpx.Headers
    body: bytes


class HostNotFound(Exception):
    """The host name could not be resolved."""


class AddressRefused(Exception):
    """The host resolves to a private or local address, which Portico does not call."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.address = address


def send_to_checked_host(
    client: httpx.Client,
    method: str,
    url: httpx.URL,
    *,
    headers: dict[str, str],
    max_body_bytes: int = MAX_BODY_BYTES,
    **request: Any,
) -> Answer:
    """Send one request to a user-given URL under the outbound address policy (this module's docstring):
    the host is resolved once, every address checked, and Portico connects to a checked address
    itself, keeping the host name for the Host header and SNI. Addresses are tried in turn while
    the connection fails, like socket.create_connection. Reads at most max_body_bytes of the answer.

    Raises HostNotFound, AddressRefused, or the httpx error of the last address tried. `client`
    must not follow redirects or read proxies from the environment (follow_redirects=False,
    trust_env=False): either would connect to an address nobody checked.
    """
    host = url.raw_host.decode("ascii")
    port = url.port or DEFAULT_PORTS[url.scheme]
    headers = {**headers, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    addresses = resolve_checked(host, port)
    for position, address in enumerate(addresses, start=1):
        try:
            with client.stream(
                method, url.copy_with(host=address), headers=headers, extensions=extensions, **request
            ) as response:
                return Answer(response.status_code, response.headers, _read_at_most(response, max_body_bytes))
        except httpx.ConnectError as exc:
            # A TLS failure is the server's answer and the same at every address: no point going on.
            if ssl_error(exc) is not None or position == len(addresses):
                raise
    raise httpx.ConnectError(f"{host} has no address")  # getaddrinfo never answers an empty list


def resolve_checked(host: str, port: int) -> list[str]:
    """The host's addresses; AddressRefused if any is not a public one (unless
    PORTICO_OUTBOUND_ALLOW_PRIVATE), HostNotFound if it has none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HostNotFound(host) from None
    # The host of an AF_INET or AF_INET6 socket address, the families answered here, is a str.
    addresses = list(dict.fromkeys(cast(str, info[4][0]) for info in infos))
    if not settings.PORTICO_OUTBOUND_ALLOW_PRIVATE:
        for address in addresses:
            if is_internal(address):
                raise AddressRefused(address)
    return addresses


def is_internal(address: str) -> bool:
    """Whether an address is one Portico does not call: loopback, private, link-local, reserved..."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global  # also shared address space (100.64.0.0/10) and the like
    )


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def caused_by(exc: BaseException, kind: type[_E]) -> _E | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def ssl_error(exc: BaseException) -> ssl.SSLError | None:
    return caused_by(exc, ssl.SSLError)


def is_loopback(host: str) -> bool:
    """Whether the host is this machine: "localhost" or a loopback address (no DNS lookup)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# What a field says of a value that is not a URL at all (Django's own "Enter a valid URL." does not
# say which scheme the rule wants).
HTTPS_URL_INVALID = "Enter a valid https:// URL (https is required)."


def scheme_allowed(scheme: str, host: str) -> bool:
    """The URL rule: https, or http to a loopback host when PORTICO_ALLOW_HTTP_LOOPBACK is on."""
    scheme = scheme.lower()
    if scheme == "https":
        return True
    return scheme == "http" and bool(settings.PORTICO_ALLOW_HTTP_LOOPBACK) and is_loopback(host)


@contextlib.contextmanager
def client(context: ssl.SSLContext) -> Iterator[httpx.Client]:
    """The one HTTP client of outbound calls: no redirects, no proxy or .netrc from the environment
    (trust_env=False), the configured timeout. Send with send_to_checked_host."""
    timeout = settings.PORTICO_OUTBOUND_TIMEOUT
    with httpx.Client(verify=context, timeout=timeout, follow_redirects=False, trust_env=False) as http:
        yield http
