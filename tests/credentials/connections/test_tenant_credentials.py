import json
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from credentials.connections.pasted import (
    CERTIFICATE,
    CLIENT_SECRET,
    MAX_PASTE_CHARS,
    CredentialsError,
    TenantCredentials,
    parse_tenant_credentials,
)
from tests.credentials.connections.certs import key_to_pem, make_ca, make_cert, make_key_and_cert, make_key_pem

SECRET = "s3cr3t-Value+/with=padding="
CLIENT_ID = "sb-apiaccess12345678!b1234|api-portal-xsuaa!b5678"


def client_secret_paste(**changes) -> dict:
    data = {
        "url": "https://acme-apiportal.cfapps.eu10.hana.ondemand.com",
        "tokenUrl": "https://acme.authentication.eu10.hana.ondemand.com/oauth/token",
        "clientId": CLIENT_ID,
        "clientSecret": SECRET,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def certificate_paste(pair, **changes) -> dict:
    data = {
        "url": "https://acme-apiportal.cfapps.eu10.hana.ondemand.com",
        "tokenurl": "https://acme.authentication.eu10.hana.ondemand.com/oauth/token",
        "certurl": "https://acme.authentication.cert.eu10.hana.ondemand.com",
        "certificate": pair.cert_pem,
        "key": pair.key_pem,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def errors_of(data_or_text) -> list[tuple[str, str]]:
    text = data_or_text if isinstance(data_or_text, str) else json.dumps(data_or_text)
    with pytest.raises(CredentialsError) as caught:
        parse_tenant_credentials(text)
    return caught.value.errors


@pytest.fixture(scope="module")
def client_pair():
    return make_key_and_cert("sb-acme-cert", organization="Acme")


# --- The two shapes --------------------------------------------------------------------------------
def test_parse_accepts_the_client_secret_shape_of_the_documents():
    credentials = parse_tenant_credentials(json.dumps(client_secret_paste()))

    assert credentials.kind == CLIENT_SECRET
    assert credentials.url == "https://acme-apiportal.cfapps.eu10.hana.ondemand.com"
    assert credentials.token_url == "https://acme.authentication.eu10.hana.ondemand.com/oauth/token"
    assert credentials.client_id == CLIENT_ID
    assert credentials.client_secret == SECRET
    assert (credentials.cert_url, credentials.certificate_pem, credentials.private_key_pem) == ("", "", "")
    assert credentials.certificate_subject == ""
    assert credentials.certificate_not_after is None


def test_parse_accepts_the_certificate_shape_of_the_documents(client_pair):
    credentials = parse_tenant_credentials(json.dumps(certificate_paste(client_pair)))

    assert credentials.kind == CERTIFICATE
    assert credentials.token_url == "https://acme.authentication.eu10.hana.ondemand.com/oauth/token"
    assert credentials.cert_url == "https://acme.authentication.cert.eu10.hana.ondemand.com"
    assert credentials.certificate_pem == client_pair.cert_pem
    assert credentials.private_key_pem == client_pair.key_pem
    assert credentials.client_id == ""
    assert credentials.client_secret == ""
    assert credentials.certificate_subject == "O=Acme,CN=sb-acme-cert"
    assert credentials.certificate_not_after.tzinfo == UTC
    assert credentials.certificate_not_after > datetime.now(UTC) + timedelta(days=360)


def test_parse_keeps_the_optional_clientid_of_the_certificate_shape(client_pair):
    credentials = parse_tenant_credentials(json.dumps(certificate_paste(client_pair, clientid=" sb-acme!b1 ")))

    assert credentials.client_id == "sb-acme!b1"
    assert credentials.to_storage()["clientid"] == "sb-acme!b1"


@pytest.mark.parametrize("spelling", ["tokenUrl", "tokenurl", "TOKENURL"])
def test_parse_accepts_any_spelling_of_tokenurl_in_the_client_secret_shape(spelling):
    data = client_secret_paste(tokenUrl=None) | {spelling: "https://acme.example.com/oauth/token"}

    assert parse_tenant_credentials(json.dumps(data)).token_url == "https://acme.example.com/oauth/token"


@pytest.mark.parametrize("spelling", ["tokenUrl", "tokenurl"])
def test_parse_accepts_any_spelling_of_tokenurl_in_the_certificate_shape(client_pair, spelling):
    data = certificate_paste(client_pair, tokenurl=None) | {spelling: "https://acme.example.com/oauth/token"}

    assert parse_tenant_credentials(json.dumps(data)).token_url == "https://acme.example.com/oauth/token"


def test_parse_matches_every_key_name_case_insensitively():
    data = {
        "URL": "https://a.example.com",
        "TokenURL": "https://b.example.com/t",
        "clientid": "id",
        "CLIENTSECRET": "x",
    }

    credentials = parse_tenant_credentials(json.dumps(data))

    assert (credentials.url, credentials.token_url, credentials.client_id, credentials.client_secret) == (
        "https://a.example.com",
        "https://b.example.com/t",
        "id",
        "x",
    )


def test_parse_treats_a_paste_with_only_a_key_as_the_certificate_shape(client_pair):
    errors = errors_of({"key": client_pair.key_pem})

    assert [name for name, _ in errors] == ["url", "tokenurl", "certurl", "certificate"]


def test_parse_ignores_unknown_keys_and_does_not_store_them(client_pair):
    data = client_secret_paste(identityzone="acme", uaa={"clientsecret": "other"}, **{"sburl": "https://x"})

    credentials = parse_tenant_credentials(json.dumps(data))

    assert set(credentials.to_storage()) == {"url", "tokenUrl", "clientId", "clientSecret"}
    assert "other" not in json.dumps(credentials.to_storage())


def test_parse_strips_whitespace_around_values():
    data = client_secret_paste(url="  https://acme.example.com \n", clientId="\tid ", clientSecret=" secret  ")

    credentials = parse_tenant_credentials(json.dumps(data))

    assert (credentials.url, credentials.client_id, credentials.client_secret) == (
        "https://acme.example.com",
        "id",
        "secret",
    )


# --- Whole-paste problems --------------------------------------------------------------------------
def test_parse_refuses_text_that_is_not_json_naming_line_and_column():
    text = '{\n  "url": "https://a.example.com",\n  "tokenUrl": "https://b.example.com"\n  "clientId": "x"\n}'

    assert errors_of(text) == [
        ("credentials", "The credentials are not valid JSON (line 4, column 3): Expecting ',' delimiter")
    ]


def test_parse_does_not_chain_the_json_error_that_holds_the_whole_paste():
    with pytest.raises(CredentialsError) as caught:
        parse_tenant_credentials('{"clientSecret": "' + SECRET + '",}')

    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("text", ["", "   \n "])
def test_parse_refuses_an_empty_paste(text):
    [(name, message)] = errors_of(text)

    assert name == "credentials"
    assert message.startswith("Paste the credentials")


@pytest.mark.parametrize(
    ("text", "described"),
    [("[1, 2]", "a list"), ('"https://a.example.com"', "a string"), ("42", "a number"), ("null", "null")],
)
def test_parse_refuses_json_that_is_not_an_object(text, described):
    assert errors_of(text) == [("credentials", f"The credentials must be a JSON object ({{...}}), not {described}.")]


def test_parse_refuses_a_paste_over_the_size_limit():
    text = json.dumps(client_secret_paste(padding="x" * MAX_PASTE_CHARS))

    [(name, message)] = errors_of(text)

    assert name == "credentials"
    assert message == f"The credentials are too long ({len(text):,} characters; at most 65,536)."


def test_parse_accepts_a_paste_exactly_at_the_size_limit():
    text = json.dumps(client_secret_paste())
    text += " " * (MAX_PASTE_CHARS - len(text))

    assert parse_tenant_credentials(text).client_secret == SECRET


def test_parse_refuses_json_nested_too_deeply():
    [(name, message)] = errors_of("[" * 30000 + "]" * 30000)

    assert name == "credentials"
    assert "nested too deeply" in message


# --- Field problems --------------------------------------------------------------------------------
def test_parse_reports_every_missing_field_of_the_client_secret_shape():
    assert errors_of({}) == [
        ("url", 'The "url" field is missing.'),
        ("tokenUrl", 'The "tokenUrl" field is missing.'),
        ("clientId", 'The "clientId" field is missing.'),
        ("clientSecret", 'The "clientSecret" field is missing.'),
    ]


@pytest.mark.parametrize(
    ("value", "described"), [(12345, "a number"), (["x"], "a list"), (None, "null"), (True, "true or false")]
)
def test_parse_refuses_a_value_that_is_not_a_string(value, described):
    data = client_secret_paste()
    data["clientSecret"] = value

    assert errors_of(data) == [("clientSecret", f'The "clientSecret" field must be a string, not {described}.')]


@pytest.mark.parametrize("value", ["", "   "])
def test_parse_refuses_an_empty_value(value):
    assert errors_of(client_secret_paste(clientId=value)) == [("clientId", 'The "clientId" field is empty.')]


def test_parse_refuses_two_keys_that_differ_only_in_case():
    data = client_secret_paste() | {"tokenurl": "https://other.example.com/oauth/token"}

    assert errors_of(data) == [
        ("tokenUrl", 'The credentials contain "tokenUrl" more than once ("tokenUrl", "tokenurl"); keep one.')
    ]


def test_parse_refuses_a_key_repeated_exactly():
    text = '{"url": "https://a.example.com", "url": "https://b.example.com", "tokenUrl": "https://c.example.com",'
    text += ' "clientId": "id", "clientSecret": "x"}'

    assert errors_of(text) == [("url", 'The credentials contain "url" more than once ("url", "url"); keep one.')]


@pytest.mark.parametrize("value", ["id\nX-Injected: 1", "id\x00", "id\x7f"])
def test_parse_refuses_control_characters_in_the_client_id(value):
    assert errors_of(client_secret_paste(clientId=value)) == [
        ("clientId", 'The "clientId" field contains a line break or another control character.')
    ]


def test_parse_reports_all_problems_at_once(client_pair):
    data = certificate_paste(client_pair, url="http://acme.example.com", certurl=7, key="not a key")

    assert [name for name, _ in errors_of(data)] == ["url", "certurl", "key"]


# --- URLs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://acme.example.com", 'The "url" field must start with https://.'),
        ("ftp://acme.example.com", 'The "url" field must start with https://.'),
        (
            "acme.example.com/oauth/token",
            'The "url" field must be a full URL with a host, such as https://host.example.com.',
        ),
        ("https://", 'The "url" field must be a full URL with a host, such as https://host.example.com.'),
        ("https://:443/path", 'The "url" field must be a full URL with a host, such as https://host.example.com.'),
        ("https://admin:hunter2@acme.example.com", 'The "url" field must not contain a user name or password.'),
        ("https://token@acme.example.com", 'The "url" field must not contain a user name or password.'),
        ("https://acme.example.com:99999", 'The "url" field is not a valid https:// URL (https is required).'),
        ("https://[::1", 'The "url" field is not a valid https:// URL (https is required).'),
        ("https://acme example.com", 'The "url" field must be a URL without spaces or line breaks.'),
    ],
)
def test_parse_refuses_a_bad_url(value, message):
    assert errors_of(client_secret_paste(url=value)) == [("url", message)]


def test_parse_checks_the_token_url_and_the_cert_url_too(client_pair):
    data = certificate_paste(client_pair, tokenurl="http://acme.example.com/oauth/token", certurl="cert.example.com")

    assert [name for name, _ in errors_of(data)] == ["tokenurl", "certurl"]


def test_parse_never_repeats_a_url_password_in_its_messages():
    with pytest.raises(CredentialsError) as caught:
        parse_tenant_credentials(json.dumps(client_secret_paste(tokenUrl=f"https://u:{SECRET}@a.example.com")))

    assert SECRET not in str(caught.value)
    assert all(SECRET not in message for _, message in caught.value.errors)


@pytest.mark.parametrize(
    "url", ["http://localhost:8000/oauth/token", "http://127.0.0.1:8000", "http://127.8.9.10", "http://[::1]:9000/t"]
)
def test_parse_accepts_http_for_loopback_hosts_when_the_setting_allows_it(settings, url):
    settings.PORTICO_ALLOW_HTTP_LOOPBACK = True

    assert parse_tenant_credentials(json.dumps(client_secret_paste(tokenUrl=url))).token_url == url


@pytest.mark.parametrize("url", ["http://localhost:8000/oauth/token", "http://127.0.0.1:8000", "http://[::1]:9000/t"])
def test_parse_refuses_http_for_loopback_hosts_without_the_setting(settings, url):
    settings.PORTICO_ALLOW_HTTP_LOOPBACK = False

    assert errors_of(client_secret_paste(tokenUrl=url)) == [
        ("tokenUrl", 'The "tokenUrl" field must start with https://.')
    ]


@pytest.mark.parametrize("url", ["http://10.0.0.1", "http://localhost.example.com", "http://192.168.1.1:8000"])
def test_parse_refuses_http_for_other_hosts_even_with_the_setting(settings, url):
    settings.PORTICO_ALLOW_HTTP_LOOPBACK = True

    assert errors_of(client_secret_paste(tokenUrl=url)) == [
        ("tokenUrl", 'The "tokenUrl" field must start with https://.')
    ]


# --- Certificate and key ---------------------------------------------------------------------------
def test_parse_refuses_a_certificate_that_is_not_pem(client_pair):
    assert errors_of(certificate_paste(client_pair, certificate="xxxxxxxxxxxxxxxxxxx")) == [
        (
            "certificate",
            'The "certificate" field is not a PEM X.509 certificate '
            "(it should start with -----BEGIN CERTIFICATE-----).",
        )
    ]


def test_parse_refuses_a_certificate_block_with_broken_content(client_pair):
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

    assert [name for name, _ in errors_of(certificate_paste(client_pair, certificate=broken))] == ["certificate"]


def test_parse_refuses_a_key_that_is_not_pem(client_pair):
    assert errors_of(certificate_paste(client_pair, key="xxxxxxxxxxxxxx")) == [
        ("key", 'The "key" field is not a PEM private key (it should start with -----BEGIN PRIVATE KEY-----).')
    ]


def test_parse_refuses_a_key_protected_by_a_passphrase(client_pair):
    encrypted = make_key_pem(password=b"correct horse")

    assert errors_of(certificate_paste(client_pair, key=encrypted)) == [
        ("key", "The private key is protected by a passphrase; paste the unencrypted key.")
    ]


def test_parse_refuses_a_key_that_is_neither_rsa_nor_ec():
    pair = make_key_and_cert("ed", key_type="ed25519")

    assert errors_of(certificate_paste(pair)) == [("key", "The private key must be an RSA or EC key.")]


def test_parse_refuses_a_key_that_does_not_belong_to_the_certificate(client_pair):
    assert errors_of(certificate_paste(client_pair, key=make_key_pem())) == [
        ("key", "The private key does not belong to the certificate.")
    ]


def test_parse_accepts_an_rsa_pair_in_the_traditional_key_format():
    pair = make_key_and_cert("sb-rsa", key_type="rsa")
    key = serialization.load_pem_private_key(pair.key_pem.encode(), password=None)
    traditional = key_to_pem(key, traditional=True)
    assert traditional.startswith("-----BEGIN RSA PRIVATE KEY-----")

    credentials = parse_tenant_credentials(json.dumps(certificate_paste(pair, key=traditional)))

    assert credentials.certificate_subject == "O=Portico Tests,CN=sb-rsa"


def test_parse_accepts_a_chain_and_describes_its_first_certificate():
    ca = make_ca("Acme Issuing CA")
    leaf = make_cert(ca, "sb-acme-leaf", organization="Acme", usage="client")
    chain = leaf.cert_pem + ca.cert_pem

    credentials = parse_tenant_credentials(json.dumps(certificate_paste(leaf, certificate=chain)))

    assert credentials.certificate_subject == "O=Acme,CN=sb-acme-leaf"
    assert credentials.certificate_pem == chain  # the whole chain is kept, to present it in mutual TLS


def test_parse_refuses_a_chain_whose_first_certificate_is_not_the_keys():
    ca = make_ca("Acme Issuing CA")
    leaf = make_cert(ca, "sb-acme-leaf", usage="client")

    errors = errors_of(certificate_paste(leaf, certificate=ca.cert_pem + leaf.cert_pem))

    assert errors == [("key", "The private key does not belong to the certificate.")]


def test_parse_accepts_pem_whose_line_breaks_arrive_as_literal_backslash_n(client_pair):
    data = certificate_paste(
        client_pair,
        certificate=client_pair.cert_pem.replace("\n", "\\n"),
        key=client_pair.key_pem.replace("\n", "\\r\\n"),
    )

    credentials = parse_tenant_credentials(json.dumps(data))

    assert credentials.certificate_pem == client_pair.cert_pem
    assert credentials.private_key_pem == client_pair.key_pem


def test_parse_refuses_an_expired_certificate_saying_when_it_expired():
    not_after = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
    pair = make_key_and_cert("old", not_after=not_after)

    assert errors_of(certificate_paste(pair)) == [("certificate", "The certificate expired on 2024-01-31 12:00 UTC.")]


def test_parse_still_checks_the_key_of_an_expired_certificate():
    pair = make_key_and_cert("old", not_after=datetime.now(UTC) - timedelta(days=1))

    errors = errors_of(certificate_paste(pair, key=make_key_pem()))

    assert [name for name, _ in errors] == ["certificate", "key"]


def test_credentials_error_messages_never_contain_the_key(client_pair):
    other = make_key_and_cert("other")

    with pytest.raises(CredentialsError) as caught:
        parse_tenant_credentials(json.dumps(certificate_paste(client_pair, key=other.key_pem)))

    assert other.key_pem.splitlines()[1] not in str(caught.value)


# --- Storage and display ---------------------------------------------------------------------------
def test_to_storage_uses_the_documents_key_names_for_the_client_secret_shape():
    credentials = parse_tenant_credentials(json.dumps(client_secret_paste(tokenurl=None)))

    assert credentials.to_storage() == client_secret_paste()


def test_to_storage_uses_the_documents_key_names_for_the_certificate_shape(client_pair):
    data = certificate_paste(client_pair, tokenurl=None) | {"TokenUrl": "https://acme.example.com/oauth/token"}

    stored = parse_tenant_credentials(json.dumps(data)).to_storage()

    assert stored == certificate_paste(client_pair, tokenurl="https://acme.example.com/oauth/token")


@pytest.mark.parametrize("shape", ["client_secret", "certificate"])
def test_stored_credentials_come_back_equal(client_pair, shape):
    data = client_secret_paste() if shape == "client_secret" else certificate_paste(client_pair, clientid="sb-x")
    credentials = parse_tenant_credentials(json.dumps(data))

    stored = json.loads(json.dumps(credentials.to_storage()))

    assert TenantCredentials.from_storage(stored) == credentials
    assert parse_tenant_credentials(json.dumps(stored)) == credentials


def test_from_storage_reads_credentials_whose_certificate_has_since_expired():
    pair = make_key_and_cert("old", not_after=datetime(2024, 1, 31, tzinfo=UTC))

    credentials = TenantCredentials.from_storage(certificate_paste(pair))

    assert credentials.certificate_not_after == datetime(2024, 1, 31, tzinfo=UTC)
    assert credentials.certificate_subject == "O=Portico Tests,CN=old"


def test_from_storage_refuses_data_with_missing_fields():
    with pytest.raises(CredentialsError) as caught:
        TenantCredentials.from_storage({"url": "https://a.example.com", "clientSecret": SECRET})

    assert [name for name, _ in caught.value.errors] == ["tokenUrl", "clientId"]
    assert SECRET not in str(caught.value)


def test_repr_and_str_hide_the_client_secret():
    credentials = parse_tenant_credentials(json.dumps(client_secret_paste()))

    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)
    assert CLIENT_ID in repr(credentials)


def test_repr_and_str_hide_the_private_key(client_pair):
    credentials = parse_tenant_credentials(json.dumps(certificate_paste(client_pair)))
    key_body = client_pair.key_pem.splitlines()[1]

    assert key_body not in repr(credentials)
    assert key_body not in str(credentials)
    assert "PRIVATE KEY" not in repr(credentials)
    assert "CN=sb-acme-cert" in repr(credentials)


def test_credentials_error_lists_its_problems_and_survives_pickling():
    with pytest.raises(CredentialsError) as caught:
        parse_tenant_credentials(json.dumps(client_secret_paste(clientId=None, url="http://a.example.com")))

    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 -- our own object

    assert (
        copy.errors
        == caught.value.errors
        == [
            ("url", 'The "url" field must start with https://.'),
            ("clientId", 'The "clientId" field is missing.'),
        ]
    )
    assert str(copy) == 'url: The "url" field must start with https://.; clientId: The "clientId" field is missing.'
