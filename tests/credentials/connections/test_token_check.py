"""check_token against real token endpoints on loopback: plain http (pytest-httpserver's `httpserver`)
and https servers with a test CA, one of them requiring client certificates (mutual TLS)."""

import base64
import json
import logging
import socket
import ssl
import stat
import threading
import time
from types import SimpleNamespace

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer
from werkzeug import Response

from credentials.connections import token_check
from credentials.connections.pasted import TenantCredentials, parse_tenant_credentials
from credentials.connections.token_check import TokenCheckResult, check_token
from credentials.lib import outbound
from tests.credentials.connections.certs import make_ca, make_cert

SECRET = "s3cr3t+VALUE/with=padding"
CLIENT_ID = "sb-apiaccess12345678!b1234|api-portal-xsuaa!b5678"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.the-access-token.signature"
TOKEN_ANSWER = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 43199}


def secret_credentials(token_url: str, *, client_id: str = CLIENT_ID, secret: str = SECRET):
    # Parsed as if private addresses were allowed: the parser refuses a literal private address at
    # paste time, and these tests are about the outbound guard that check_token meets at call time.
    with override_settings(PORTICO_OUTBOUND_ALLOW_PRIVATE=True):
        return parse_tenant_credentials(
            json.dumps(
                {
                    "url": "https://acme-apiportal.cfapps.eu10.hana.ondemand.com",
                    "tokenUrl": token_url,
                    "clientId": client_id,
                    "clientSecret": secret,
                }
            )
        )


def certificate_credentials(cert_url: str, pair, *, client_id: str | None = None):
    data = {
        "url": "https://acme-apiportal.cfapps.eu10.hana.ondemand.com",
        "tokenurl": "https://acme.authentication.eu10.hana.ondemand.com/oauth/token",
        "certurl": cert_url,
        "certificate": pair.cert_pem,
        "key": pair.key_pem,
    }
    if client_id:
        data["clientid"] = client_id
    return parse_tenant_credentials(json.dumps(data))


def checked(credentials, caplog) -> TokenCheckResult:
    """check_token, asserting that no secret, key or token reaches the message or the logs."""
    with caplog.at_level(logging.DEBUG):
        result = check_token(credentials)
    basic = base64.b64encode(f"{credentials.client_id}:{SECRET}".encode()).decode()
    for text in (result.message, caplog.text):
        assert SECRET not in text
        assert basic not in text
        assert TOKEN not in text
        if credentials.private_key_pem:
            assert credentials.private_key_pem.splitlines()[1] not in text
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Test PKI and https servers ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca("Portico Test CA")
    other_ca = make_ca("Another Test CA")
    # DNS name only, no IP address: a check that verified the certificate against the address it
    # connects to, rather than the host name, would fail.
    server = make_cert(ca, "localhost", san_dns=["localhost"], usage="server")
    paths = {}
    for name, text in {"ca": ca.cert_pem, "server": server.cert_pem, "server-key": server.key_pem}.items():
        paths[name] = directory / f"{name}.pem"
        paths[name].write_text(text)
    return SimpleNamespace(
        ca=ca,
        other_ca=other_ca,
        ca_path=str(paths["ca"]),
        server_cert_path=str(paths["server"]),
        server_key_path=str(paths["server-key"]),
        client=make_cert(ca, "sb-acme-mtls", organization="Acme", usage="client"),
    )


def start_https_server(pki, *, client_ca_pem: str | None = None) -> HTTPServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert_path, pki.server_key_path)
    if client_ca_pem:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca_pem)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    return server


@pytest.fixture(scope="module")
def https_servers(pki):
    servers = SimpleNamespace(
        tls=start_https_server(pki),
        mtls=start_https_server(pki, client_ca_pem=pki.ca.cert_pem),
        mtls_other_ca=start_https_server(pki, client_ca_pem=pki.other_ca.cert_pem),
    )
    yield servers
    for server in vars(servers).values():
        server.clear()
        server.stop()


@pytest.fixture
def tls_server(https_servers, settings, pki):
    """An https token endpoint with a certificate from the test CA, which Portico is told to trust."""
    settings.PORTICO_OUTBOUND_CA_BUNDLE = pki.ca_path
    https_servers.tls.clear()
    return https_servers.tls


@pytest.fixture
def mtls_server(https_servers, settings, pki):
    """An https token endpoint that requires a client certificate issued by the test CA."""
    settings.PORTICO_OUTBOUND_CA_BUNDLE = pki.ca_path
    https_servers.mtls.clear()
    return https_servers.mtls


def https_url(server: HTTPServer, path: str = "") -> str:
    return f"https://localhost:{server.port}{path}"


# --- Client secret over http ------------------------------------------------------------------------
def test_check_token_gets_a_token_with_basic_auth_and_the_client_credentials_grant(httpserver, caplog):
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(TOKEN_ANSWER)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert result == TokenCheckResult(
        ok=True, message="The token endpoint issued a token for these credentials.", status_code=200
    )
    [(request, _)] = httpserver.log
    assert request.authorization.type == "basic"
    assert (request.authorization.username, request.authorization.password) == (CLIENT_ID, SECRET)
    assert request.form.to_dict() == {"grant_type": "client_credentials"}
    assert request.headers["Host"] == f"localhost:{httpserver.port}"
    assert "Token check against localhost: HTTP 200" in caplog.text


def test_check_token_reports_refused_credentials_with_the_oauth_error(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "invalid_client", "error_description": f"Bad credentials: {SECRET}"}, status=401
    )

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert not result.ok
    assert result.status_code == 401
    assert result.message == (
        'The token endpoint refused these credentials (HTTP 401: invalid_client). It said: "Bad credentials: [hidden]"'
    )


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(lambda secret: secret.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"), id="quoted"),
        pytest.param(
            lambda secret: "Basic " + base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode(), id="basic-header"
        ),
    ],
)
def test_check_token_removes_an_echoed_secret_in_other_encodings(httpserver, caplog, echo):
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "invalid_client", "error_description": f"got {echo(SECRET)}"}, status=401
    )

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert result.message.endswith('[hidden]"')


def test_check_token_shortens_a_long_error_description(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "invalid_request", "error_description": "x" * 5000}, status=400
    )

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert result.message.startswith("The token endpoint refused these credentials (HTTP 400: invalid_request).")
    assert len(result.message) < 300


def test_check_token_leaves_out_an_error_code_that_is_not_an_oauth_code(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_json({"error": 'bad "code"\n'}, status=401)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert result.message == "The token endpoint refused these credentials (HTTP 401)."


def test_check_token_reports_a_refusal_without_a_json_body(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_data("Forbidden", status=403)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert (result.ok, result.status_code) == (False, 403)
    assert result.message == "The token endpoint refused these credentials (HTTP 403)."


def test_check_token_reports_a_server_error(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_data("<h1>Internal error</h1>", status=500)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert (result.ok, result.status_code) == (False, 500)
    assert result.message == "The token endpoint failed with a server error (HTTP 500); try again later."


def test_check_token_reports_a_token_url_that_was_not_found(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_data("Not Found", status=404)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert (result.ok, result.status_code) == (False, 404)
    assert result.message == "The token endpoint was not found (HTTP 404): check the token URL."


def test_check_token_reports_an_answer_that_is_not_json(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_data("<html>Log on</html>", content_type="text/html")

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert (result.ok, result.status_code) == (False, 200)
    assert result.message == "The token endpoint answered HTTP 200, but not with JSON: is this the OAuth token URL?"


@pytest.mark.parametrize("answer", [{"token_type": "bearer"}, {"access_token": ""}, {"access_token": 42}, [TOKEN]])
def test_check_token_reports_a_json_answer_without_an_access_token(httpserver, caplog, answer):
    httpserver.expect_request("/oauth/token").respond_with_json(answer)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert not result.ok
    assert "HTTP 200" in result.message


def test_check_token_reads_no_more_than_a_bounded_answer(httpserver, caplog):
    big = json.dumps({"access_token": TOKEN, "padding": "x" * (outbound.MAX_BODY_BYTES * 4)})
    httpserver.expect_request("/oauth/token").respond_with_data(big, content_type="application/json")

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert not result.ok
    assert "not with JSON" in result.message


def test_check_token_gives_up_when_the_endpoint_does_not_answer_in_time(httpserver, settings, caplog):
    settings.PORTICO_OUTBOUND_TIMEOUT = 0.5
    release = threading.Event()

    def slow(request):
        release.wait(10)
        return Response(json.dumps(TOKEN_ANSWER), content_type="application/json")

    httpserver.expect_request("/oauth/token").respond_with_handler(slow)

    try:
        result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)
    finally:
        release.set()
        # Let the server finish the request before the next test reuses it.
        deadline = time.monotonic() + 5
        while not httpserver.log and time.monotonic() < deadline:
            time.sleep(0.01)

    assert (result.ok, result.status_code) == (False, None)
    assert result.message == "The token endpoint at localhost did not answer within 0.5 seconds."


def test_check_token_reports_a_refused_connection(caplog):
    port = free_port()

    result = checked(secret_credentials(f"http://127.0.0.1:{port}/oauth/token"), caplog)

    assert not result.ok
    assert result.message == f"Portico could not connect to 127.0.0.1 on port {port}: connection refused."


def test_check_token_reports_a_host_that_does_not_resolve(caplog):
    result = checked(secret_credentials("https://portico-test.invalid/oauth/token"), caplog)

    assert not result.ok
    assert result.message == "The host portico-test.invalid could not be found (DNS lookup failed)."


# --- Redirects --------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_check_token_follows_a_redirect_within_the_same_host(httpserver, caplog, status):
    httpserver.expect_request("/oauth/token").respond_with_data(
        "", status=status, headers={"Location": httpserver.url_for("/v2/oauth/token")}
    )
    httpserver.expect_request("/v2/oauth/token", method="POST").respond_with_json(TOKEN_ANSWER)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert result.ok
    assert [request.path for request, _ in httpserver.log] == ["/oauth/token", "/v2/oauth/token"]
    second, _ = httpserver.log[1]
    assert second.method == "POST"
    assert second.authorization.password == SECRET
    assert second.form["grant_type"] == "client_credentials"


def test_check_token_follows_a_relative_redirect(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_data("", status=308, headers={"Location": "token/"})
    httpserver.expect_request("/oauth/token/").respond_with_json(TOKEN_ANSWER)

    assert checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog).ok


@pytest.mark.parametrize(
    ("location", "named"),
    [
        ("https://collector.example.net/steal", "https://collector.example.net"),
        ("http://127.0.0.1:{port}/oauth/token", "http://127.0.0.1:{port}"),  # another host name, same server
        ("http://localhost:1/oauth/token", "http://localhost:1"),  # another port
        ("https://localhost:{port}/oauth/token", "https://localhost:{port}"),  # another scheme
    ],
)
def test_check_token_refuses_a_redirect_to_another_host(httpserver, caplog, location, named):
    port = httpserver.port
    httpserver.expect_request("/oauth/token").respond_with_data(
        "", status=307, headers={"Location": location.format(port=port)}
    )

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert (result.ok, result.status_code) == (False, 307)
    assert result.message == (
        f"The token endpoint redirected to another host ({named.format(port=port)}); "
        f"Portico follows redirects only within http://localhost:{port}."
    )
    assert len(httpserver.log) == 1


def test_check_token_follows_at_most_three_redirects(httpserver, caplog):
    for hop in range(3):
        httpserver.expect_request(f"/hop{hop}").respond_with_data(
            "", status=307, headers={"Location": f"/hop{hop + 1}"}
        )
    httpserver.expect_request("/hop3").respond_with_json(TOKEN_ANSWER)

    assert checked(secret_credentials(httpserver.url_for("/hop0")), caplog).ok

    httpserver.clear()
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})

    result = checked(secret_credentials(httpserver.url_for("/loop")), caplog)

    assert not result.ok
    assert result.message == "The token endpoint redirected more than 3 times."
    assert len(httpserver.log) == 4


def test_check_token_reports_a_redirect_without_a_location(httpserver, caplog):
    httpserver.expect_request("/oauth/token").respond_with_data("", status=302)

    result = checked(secret_credentials(httpserver.url_for("/oauth/token")), caplog)

    assert result.message == "The token endpoint answered with a redirect (HTTP 302) to no valid address."


# --- Private and local addresses ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:{port}/oauth/token", "127.0.0.1"),
        ("http://localhost:{port}/oauth/token", "127.0.0.1"),  # a name that resolves to loopback
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://10.0.0.8/oauth/token", "10.0.0.8"),
        ("https://192.168.1.20/oauth/token", "192.168.1.20"),
        ("https://100.64.0.1/oauth/token", "100.64.0.1"),
        ("https://0.0.0.0/oauth/token", "0.0.0.0"),  # noqa: S104
        ("https://224.0.0.1/oauth/token", "224.0.0.1"),
        ("https://[::1]:{port}/oauth/token", "::1"),
        ("https://[::ffff:127.0.0.1]/oauth/token", "::ffff:127.0.0.1"),
        ("https://[fe80::1]/oauth/token", "fe80::1"),
    ],
)
def test_check_token_refuses_private_and_local_addresses(httpserver, settings, caplog, url, address):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = False
    httpserver.expect_request("/oauth/token").respond_with_json(TOKEN_ANSWER)

    result = checked(secret_credentials(url.format(port=httpserver.port)), caplog)

    assert (result.ok, result.status_code) == (False, None)
    assert result.message == (
        f"The token URL points to a private or local address ({address}); Portico does not call those."
    )
    assert httpserver.log == []


def test_check_token_refuses_a_public_name_that_resolves_to_a_private_address(settings, monkeypatch, caplog):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = False
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "tenant.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    result = checked(secret_credentials("https://tenant.example.com/oauth/token"), caplog)

    assert (
        result.message == "The token URL points to a private or local address (10.1.2.3); Portico does not call those."
    )


def test_check_token_connects_to_the_address_it_checked_keeping_the_host_name(httpserver, monkeypatch, caplog):
    # The name is resolved once, by the check; the connection goes to that address, and the
    # server still sees the name it was asked for.
    resolved = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        resolved.append(host)
        if host == "tenant.example.test":
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    httpserver.expect_request("/oauth/token").respond_with_json(TOKEN_ANSWER)

    # from_storage: pasted, an http:// URL is refused for any host but a loopback one.
    stored = secret_credentials(httpserver.url_for("/oauth/token")).to_storage()
    stored["tokenUrl"] = f"http://tenant.example.test:{httpserver.port}/oauth/token"

    result = checked(TenantCredentials.from_storage(stored), caplog)

    assert result.ok
    assert resolved.count("tenant.example.test") == 1
    [(request, _)] = httpserver.log
    assert request.headers["Host"] == f"tenant.example.test:{httpserver.port}"


# --- TLS ---------------------------------------------------------------------------------------------
def test_check_token_verifies_the_endpoint_against_the_configured_ca_bundle(tls_server, caplog):
    tls_server.expect_request("/oauth/token", method="POST").respond_with_json(TOKEN_ANSWER)

    result = checked(secret_credentials(https_url(tls_server, "/oauth/token")), caplog)

    assert result.ok
    [(request, _)] = tls_server.log
    assert request.authorization.password == SECRET
    assert request.headers["Host"] == f"localhost:{tls_server.port}"


def test_check_token_reports_a_certificate_it_cannot_verify(tls_server, settings, caplog):
    settings.PORTICO_OUTBOUND_CA_BUNDLE = None  # the system's CAs do not know the test CA
    tls_server.expect_request("/oauth/token").respond_with_json(TOKEN_ANSWER)

    result = checked(secret_credentials(https_url(tls_server, "/oauth/token")), caplog)

    assert (result.ok, result.status_code) == (False, None)
    assert result.message.startswith("Portico could not verify the TLS certificate of localhost: ")
    assert "issuer certificate" in result.message or "self-signed" in result.message
    assert tls_server.log == []


def test_check_token_verifies_the_certificate_against_the_host_name(tls_server, caplog):
    tls_server.expect_request("/oauth/token").respond_with_json(TOKEN_ANSWER)

    # The server's certificate names "localhost", not 127.0.0.1.
    result = checked(secret_credentials(f"https://127.0.0.1:{tls_server.port}/oauth/token"), caplog)

    assert not result.ok
    assert result.message.startswith("Portico could not verify the TLS certificate of 127.0.0.1: ")
    assert "127.0.0.1" in result.message
    assert tls_server.log == []


# --- Certificate credentials (mutual TLS) ---------------------------------------------------------------
def test_check_token_gets_a_token_over_mutual_tls_at_certurl_oauth_token(mtls_server, pki, caplog):
    mtls_server.expect_request("/oauth/token", method="POST").respond_with_json(TOKEN_ANSWER)

    result = checked(certificate_credentials(https_url(mtls_server), pki.client, client_id="sb-acme!b1"), caplog)

    assert result == TokenCheckResult(
        ok=True, message="The token endpoint issued a token for these credentials.", status_code=200
    )
    [(request, _)] = mtls_server.log
    assert request.form.to_dict() == {"grant_type": "client_credentials", "client_id": "sb-acme!b1"}
    assert request.authorization is None


def test_check_token_uses_a_certurl_that_already_ends_with_oauth_token_as_is(mtls_server, pki, caplog):
    mtls_server.expect_request("/tenant/oauth/token", method="POST").respond_with_json(TOKEN_ANSWER)

    result = checked(certificate_credentials(https_url(mtls_server, "/tenant/oauth/token"), pki.client), caplog)

    assert result.ok
    [(request, _)] = mtls_server.log
    assert request.form.to_dict() == {"grant_type": "client_credentials"}


def test_check_token_reports_a_client_certificate_the_endpoint_does_not_accept(https_servers, pki, settings, caplog):
    settings.PORTICO_OUTBOUND_CA_BUNDLE = pki.ca_path
    server = https_servers.mtls_other_ca  # trusts only client certificates from another CA
    server.clear()
    server.expect_request("/oauth/token").respond_with_json(TOKEN_ANSWER)

    result = checked(certificate_credentials(https_url(server), pki.client), caplog)

    assert (result.ok, result.status_code) == (False, None)
    assert "client certificate" in result.message
    assert "localhost" in result.message
    assert server.log == []


def test_check_token_writes_the_client_key_to_private_files_it_removes(mtls_server, pki, monkeypatch, caplog):
    written = []
    write_private = token_check._write_private

    def recording_write_private(path, text):
        result = write_private(path, text)
        written.append((path, stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)))
        return result

    monkeypatch.setattr(token_check, "_write_private", recording_write_private)
    mtls_server.expect_request("/oauth/token").respond_with_json(TOKEN_ANSWER)

    assert checked(certificate_credentials(https_url(mtls_server), pki.client), caplog).ok

    assert [mode for _, mode, _ in written] == [0o600, 0o600]
    assert {directory_mode for _, _, directory_mode in written} == {0o700}
    assert not any(path.exists() or path.parent.exists() for path, _, _ in written)
