"""Pasted tenant credentials that used to crash the parser or be stored when they must not: a
5,000-digit number, lone surrogates, values longer than their columns, and token URLs on
addresses the outbound guard refuses (checked at paste time, without DNS, per the settings).

The corpus of bad pastes (tests/data/bad_input/pasted_credentials.json) runs in
test_bad_input_corpus.py.
"""

import json
import socket

import pytest
from django.urls import reverse

from credentials.connections import pasted
from credentials.connections.models import ConnectionRequest
from credentials.connections.pasted import CredentialsError, TenantCredentials, parse_tenant_credentials
from credentials.connections.services import ConnectionRequestError, connection_request_submit
from portal.models import AuditEvent
from tests.data.corpus import GOOD_PASTE, long_subject_pair


def paste(**changes) -> str:
    return json.dumps({**GOOD_PASTE, **changes})


def errors_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(CredentialsError) as raised:
        parse_tenant_credentials(text)
    return raised.value.errors


def test_a_number_of_5000_digits_is_refused_not_a_value_error():
    text = paste()[:-1] + ', "n": ' + "1" * 5000 + "}"

    assert errors_of(text) == [
        ("credentials", "The credentials are not valid JSON as Portico reads it: a number in them is too long.")
    ]


@pytest.mark.parametrize("field", ["url", "tokenUrl", "clientId", "clientSecret"])
def test_a_lone_surrogate_is_refused_in_any_field(field):
    text = paste(**{field: "PLACEHOLDER"}).replace("PLACEHOLDER", "x\\ud800")

    assert errors_of(text) == [
        (field, f'The "{field}" field contains an invalid character (U+D800, a lone surrogate).')
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("clientId", "i" * 301, 'The "clientId" field is longer than 300 characters.'),
        ("url", "https://a.example.com/" + "p" * 480, 'The "url" field is longer than 500 characters.'),
        ("tokenUrl", "https://a.example.com/" + "t" * 480, 'The "tokenUrl" field is longer than 500 characters.'),
    ],
)
def test_values_longer_than_their_columns_are_refused(field, value, message):
    assert errors_of(paste(**{field: value})) == [(field, message)]


def test_a_certificate_whose_subject_is_longer_than_its_column_is_refused():
    pair = long_subject_pair()
    data = {**GOOD_PASTE, "certurl": "https://acme.cert.example.com", "certificate": pair.cert_pem, "key": pair.key_pem}
    data["tokenurl"] = data.pop("tokenUrl")
    del data["clientSecret"], data["clientId"]

    assert errors_of(json.dumps(data)) == [("certificate", "The certificate's subject is longer than 500 characters.")]


def test_the_length_limits_are_the_columns_of_connection_request():
    field = ConnectionRequest._meta.get_field
    assert field("client_id").max_length == pasted.MAX_CLIENT_ID_CHARS
    assert field("certificate_subject").max_length == pasted.MAX_SUBJECT_CHARS
    assert {field(name).max_length for name in ("api_url", "token_url", "cert_url")} == {pasted.MAX_URL_CHARS}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "sb-\u0430piaccess",
            'The "clientId" field must be plain ASCII text (letters, digits and punctuation), as OAuth requires.',
        ),
        (
            "sb-api\u202eaccess",
            'The "clientId" field must be plain ASCII text (letters, digits and punctuation), as OAuth requires.',
        ),
        ("sb-x\r\nX-Injected: 1", 'The "clientId" field contains a line break or another control character.'),
    ],
    ids=["homoglyph", "bidi", "crlf"],
)
def test_a_client_id_is_printable_ascii(value, message):
    assert errors_of(paste(clientId=value)) == [("clientId", message)]


@pytest.mark.parametrize(
    "url",
    ["https://\u0430cme.example.com/oauth/token", "https://{{7*7}}.example.com/t", "https://a.example.com'OR'1'='1/t"],
    ids=["homoglyph-host", "template-host", "sql-host"],
)
def test_a_token_url_with_a_host_no_dns_name_has_is_refused(url):
    [(field, _message)] = errors_of(paste(tokenUrl=url))

    assert field == "tokenUrl"


# --- Addresses the outbound guard refuses, at paste time ---------------------------------------------------
@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("tenant.localhost", "tenant.localhost"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.0.0.8", "10.0.0.8"),
        ("192.168.1.20", "192.168.1.20"),
        ("169.254.169.254", "169.254.169.254"),
        ("[fe80::1]", "fe80::1"),
        ("100.64.0.1", "100.64.0.1"),
        ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - an address refused, not bound
    ],
)
def test_a_token_url_on_a_private_or_local_address_is_refused_at_paste_time(settings, host, shown):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = False

    assert errors_of(paste(tokenUrl=f"https://{host}/oauth/token")) == [
        (
            "tokenUrl",
            f'The "tokenUrl" field points to a private or local address ({shown}); Portico does not call those.',
        )
    ]


def test_private_addresses_are_accepted_when_the_setting_allows_them(settings):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = True

    assert parse_tenant_credentials(paste(tokenUrl="https://10.0.0.8/oauth/token")).token_url.startswith("https://10.")


def test_http_to_loopback_follows_both_settings(settings):
    settings.PORTICO_ALLOW_HTTP_LOOPBACK, settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = True, False
    url = "http://127.0.0.1:8000/oauth/token"

    assert errors_of(paste(tokenUrl=url))[0][1].startswith('The "tokenUrl" field points to a private or local address')
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = True
    assert parse_tenant_credentials(paste(tokenUrl=url)).token_url == url


def test_host_names_are_not_resolved_at_paste_time(settings, monkeypatch):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = False

    def no_dns(*args, **kwargs):
        raise AssertionError("the parser asked DNS")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)

    assert parse_tenant_credentials(paste(tokenUrl="https://tenant.example.com/oauth/token")).token_url


def test_save_without_testing_refuses_a_loopback_token_url_and_stores_nothing(settings, client, tenant_admin, tenant):
    settings.PORTICO_OUTBOUND_ALLOW_PRIVATE = False
    client.force_login(tenant_admin)
    events = AuditEvent.objects.count()

    response = client.post(
        reverse("credentials:connection-request-submit"),
        {"tenant": tenant.pk, "credentials": paste(tokenUrl="https://127.0.0.1/oauth/token"), "skip_test": "on"},
    )

    assert response.status_code == 200
    assert response.context["submit_form"].errors["credentials"] == [
        'The "tokenUrl" field points to a private or local address (127.0.0.1); Portico does not call those.'
    ]
    assert not ConnectionRequest.objects.exists() and AuditEvent.objects.count() == events


# --- Where the credentials are stored ----------------------------------------------------------------------
def test_the_service_refuses_credentials_that_do_not_fit_their_columns(tenant, tenant_admin):
    good = parse_tenant_credentials(paste())
    too_long = TenantCredentials(**{**good.__dict__, "client_id": "i" * 301})  # made without the parser

    with pytest.raises(ConnectionRequestError, match="the client ID is longer than 300 characters"):
        connection_request_submit(
            tenant=tenant,
            credentials=too_long,
            generated_at=tenant.created_at,
            submitted_by=tenant_admin,
            skip_test=True,
        )

    assert not ConnectionRequest.objects.exists()
