"""Ask a tenant's token endpoint for a token before Portico stores its credentials (S1, S2).

Client-secret credentials: POST tokenUrl, grant_type=client_credentials, HTTP Basic clientId:clientSecret.
Certificate credentials: the same grant over mutual TLS, at certurl + /oauth/token.

The URL is the tenant's to choose, so the call goes through credentials.lib.outbound like every
call to a user-given address. Redirects are followed by hand, only within the same scheme, host
and port.

No message, exception or log line carries the client secret, the private key or the token; logs
name the host and the HTTP status only.
"""

import base64
import json
import logging
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from credentials.connections.pasted import CERTIFICATE, TenantCredentials
from credentials.lib import outbound
from credentials.lib.outbound import DEFAULT_PORTS, AddressRefused, Answer, HostNotFound, caused_by, ssl_error

logger = logging.getLogger(__name__)


MAX_REDIRECTS = 3


MAX_DESCRIPTION_CHARS = 200


MIN_SCRUBBED_CHARS = 8


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


# RFC 6749 5.2: an OAuth "error" code is printable ASCII without '"' and '\'.
OAUTH_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}")


# TLS alerts a server sends when it does not accept the client certificate.
CLIENT_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN")


@dataclass(frozen=True)
class TokenCheckResult:
    ok: bool
    message: str  # safe to show on a page: never contains a secret
    status_code: int | None = None


class _Failure(Exception):
    """The check failed: `message` is for the page, `reason` a short word for the log."""

    def __init__(self, message: str, *, reason: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status_code = status_code


@sensitive_variables()
def check_token(credentials: TenantCredentials) -> TokenCheckResult:
    """Request a token with these credentials; say whether one was issued, or why not. Sends one
    POST (more only for same-host redirects); stores nothing."""
    form = {"grant_type": "client_credentials"}
    auth = None
    if credentials.kind == CERTIFICATE:
        if credentials.client_id:
            form["client_id"] = credentials.client_id
    else:
        auth = httpx.BasicAuth(credentials.client_id, credentials.client_secret)
    secrets = _secret_forms(credentials)
    host = ""
    try:
        url = _token_url(credentials)
        host = url.host
        answer = _post(url, form, auth, _ssl_context(credentials))
        result = _judge(answer, secrets)
    except _Failure as failure:
        logger.warning("Token check against %s failed: %s", host, failure.reason)
        message = failure.message
        if failure.reason == "closed" and credentials.kind == CERTIFICATE:
            message += " It may not accept the client certificate."
        return TokenCheckResult(ok=False, message=_scrub(message, secrets), status_code=failure.status_code)
    logger.info("Token check against %s: HTTP %s, token issued", host, answer.status_code)
    return result


def _token_url(credentials: TenantCredentials) -> httpx.URL:
    try:
        if credentials.kind != CERTIFICATE:
            return httpx.URL(credentials.token_url)
        url = httpx.URL(credentials.cert_url)
    except httpx.InvalidURL:
        raise _Failure("The token URL is not a valid URL.", reason="invalid-url") from None
    # SAP documents certurl as the host only; the mutual-TLS token endpoint is its /oauth/token.
    if url.path.rstrip("/").endswith("/oauth/token"):
        return url
    return url.copy_with(path=url.path.rstrip("/") + "/oauth/token")


def _ssl_context(credentials: TenantCredentials) -> ssl.SSLContext:
    """Verification against PORTICO_OUTBOUND_CA_BUNDLE, or the system's CAs; plus the client
    certificate for certificate credentials."""
    context = ssl.create_default_context(cafile=settings.PORTICO_OUTBOUND_CA_BUNDLE or None)
    if credentials.kind == CERTIFICATE:
        # ssl loads a client certificate from files only: write them readable by this user alone,
        # load them, and delete them at once (the context keeps them in memory).
        with tempfile.TemporaryDirectory(prefix="portico-mtls-") as directory:
            certificate_path = _write_private(Path(directory, "certificate.pem"), credentials.certificate_pem)
            key_path = _write_private(Path(directory, "key.pem"), credentials.private_key_pem)
            problem = None
            try:
                context.load_cert_chain(certificate_path, key_path)
            except ssl.SSLError:
                problem = "Portico could not load the client certificate and key for mutual TLS."
            if problem:
                raise _Failure(problem, reason="client-certificate")
    return context


def _write_private(path: Path, text: str) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return path


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


def _show_origin(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}" + (f":{url.port}" if url.port else "")


def _post(url: httpx.URL, form: dict[str, str], auth: httpx.Auth | None, context: ssl.SSLContext) -> Answer:
    """POST the form, following up to MAX_REDIRECTS redirects within the same origin."""
    with outbound.client(context) as client:
        for _ in range(MAX_REDIRECTS + 1):
            answer = _send(client, url, form, auth)
            if answer.status_code not in REDIRECT_STATUSES:
                return answer
            location = answer.headers.get("location", "")
            try:
                target = url.join(location) if location else None
            except httpx.InvalidURL:
                target = None
            if target is None:
                raise _Failure(
                    f"The token endpoint answered with a redirect (HTTP {answer.status_code}) to no valid address.",
                    reason="redirect",
                    status_code=answer.status_code,
                )
            if _origin(target) != _origin(url):
                raise _Failure(
                    f"The token endpoint redirected to another host ({_show_origin(target)}); "
                    f"Portico follows redirects only within {_show_origin(url)}.",
                    reason="redirect-elsewhere",
                    status_code=answer.status_code,
                )
            # The same POST again, whatever the redirect code: only a POST gets a token, and the
            # credentials go nowhere new (same scheme, host and port).
            url = target
    raise _Failure(
        f"The token endpoint redirected more than {MAX_REDIRECTS} times.",
        reason="redirect-loop",
        status_code=answer.status_code,
    )


def _send(client: httpx.Client, url: httpx.URL, form: dict[str, str], auth: httpx.Auth | None) -> Answer:
    port = url.port or DEFAULT_PORTS[url.scheme]
    timeout = settings.PORTICO_OUTBOUND_TIMEOUT
    headers = {"Accept": "application/json", "User-Agent": "Portico token check"}
    try:
        return outbound.send_to_checked_host(client, "POST", url, headers=headers, data=form, auth=auth)
    except HostNotFound:
        raise _Failure(f"The host {url.host} could not be found (DNS lookup failed).", reason="dns") from None
    except AddressRefused as refused:
        raise _Failure(
            f"The token URL points to a private or local address ({refused.address}); Portico does not call those.",
            reason="private-address",
        ) from None
    except httpx.TimeoutException:
        raise _Failure(
            f"The token endpoint at {url.host} did not answer within {timeout:g} seconds.", reason="timeout"
        ) from None
    except httpx.ConnectError as exc:
        tls_error = ssl_error(exc)
        if tls_error is not None:
            raise _tls_failure(url.host, tls_error) from None
        unreachable = "connection refused" if caused_by(exc, ConnectionRefusedError) else "no route to it"
        raise _Failure(
            f"Portico could not connect to {url.host} on port {port}: {unreachable}.", reason="connect"
        ) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        tls_error = ssl_error(exc)
        if tls_error is not None:
            raise _tls_failure(url.host, tls_error) from None
        raise _Failure(
            f"The token endpoint at {url.host} closed the connection without a complete answer.", reason="closed"
        ) from None
    except httpx.HTTPError as exc:
        raise _Failure(
            f"The token endpoint at {url.host} sent an answer Portico could not read.", reason=type(exc).__name__
        ) from None


def _tls_failure(host: str, error: ssl.SSLError) -> _Failure:
    if isinstance(error, ssl.SSLCertVerificationError):
        return _Failure(
            f"Portico could not verify the TLS certificate of {host}: {str(error.verify_message).rstrip('.')}.",
            reason="tls-verify",
        )
    reason = error.reason or type(error).__name__
    if any(alert in reason for alert in CLIENT_CERTIFICATE_ALERTS):
        return _Failure(
            f"The token endpoint at {host} did not accept the client certificate ({reason}); "
            "it may trust only certificates from another certificate authority.",
            reason="tls-client-certificate",
        )
    return _Failure(f"The TLS connection to {host} failed ({reason}).", reason="tls")


def _judge(answer: Answer, secrets: list[str]) -> TokenCheckResult:
    """A successful result for a token; otherwise raise _Failure saying what the endpoint answered."""
    status = answer.status_code
    data = _json_object(answer.body)
    if 200 <= status < 300:
        if data is None:
            raise _Failure(
                f"The token endpoint answered HTTP {status}, but not with JSON: is this the OAuth token URL?",
                reason="not-json",
                status_code=status,
            )
        token = data.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise _Failure(
                f"The token endpoint answered HTTP {status} without an access token.",
                reason="no-token",
                status_code=status,
            )
        return TokenCheckResult(
            ok=True, message="The token endpoint issued a token for these credentials.", status_code=status
        )
    code, description = _oauth_error(data, secrets)
    detail = f"HTTP {status}: {code}" if code else f"HTTP {status}"
    said = f' It said: "{description}"' if description else ""
    if status in (400, 401, 403):
        message = f"The token endpoint refused these credentials ({detail}).{said}"
    elif status == 404:
        message = f"The token endpoint was not found ({detail}): check the token URL."
    elif 400 <= status < 500:
        message = f"The token endpoint refused the request ({detail}).{said}"
    elif 500 <= status < 600:
        message = f"The token endpoint failed with a server error ({detail}); try again later."
    else:
        message = f"The token endpoint gave an unexpected answer ({detail})."
    raise _Failure(message, reason=f"http-{status}", status_code=status)


def _json_object(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _oauth_error(data: dict | None, secrets: list[str]) -> tuple[str, str]:
    """The OAuth error code and a short description, as the endpoint sent them, secrets removed."""
    if not data:
        return "", ""
    code = data.get("error")
    code = _scrub(code, secrets) if isinstance(code, str) and OAUTH_ERROR_CODE.fullmatch(code) else ""
    description = data.get("error_description")
    if not isinstance(description, str):
        return code, ""
    # Remove secrets before shortening, so no cut can leave part of one behind.
    description = " ".join(_scrub(description, secrets).split())
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 1] + "…"
    return code, description


def _secret_forms(credentials: TenantCredentials) -> list[str]:
    """The secret as an endpoint might echo it: raw, URL-encoded, or inside the Basic header; and
    the lines of the private key. Forms shorter than MIN_SCRUBBED_CHARS are left alone: replacing
    every "a" of a message would garble it and hide nothing worth hiding."""
    forms = []
    if credentials.client_secret:
        secret = credentials.client_secret
        basic = base64.b64encode(f"{credentials.client_id}:{secret}".encode()).decode()
        forms += [secret, quote(secret, safe=""), quote_plus(secret), basic]
    if credentials.private_key_pem:
        forms += [line for line in credentials.private_key_pem.splitlines() if "-----" not in line]
    # Longest first, so a longer form is removed whole before a shorter one inside it.
    return sorted({form for form in forms if len(form) >= MIN_SCRUBBED_CHARS}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[hidden]")
    return text
