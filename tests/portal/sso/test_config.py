"""The single sign-on settings: which issuers are trusted, the group mapping, the start-up check."""

import json
import subprocess
import sys

import pytest
from django.core.checks import run_checks

from portal.sso import discovery
from portal.sso.config import GroupRolesError, parse_group_roles, url_problem
from tests.portal.test_settings import BASE_DIR, production_env


@pytest.mark.parametrize(
    ("url", "debug"),
    [
        ("https://login.example.com", False),
        ("https://login.example.com/realms/acme/", False),
        ("http://127.0.0.1:9000", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000", True),
    ],
)
def test_https_issuers_and_http_on_loopback_with_debug_are_accepted(url, debug):
    assert url_problem(url, debug=debug) is None


@pytest.mark.parametrize(
    ("url", "debug"),
    [
        ("http://login.example.com", True),
        ("http://127.0.0.1:9000", False),
        ("http://localhost:9000", False),
        ("http://10.0.0.5", True),
        ("ftp://login.example.com", False),
        ("login.example.com", False),
        ("https://user:pass@login.example.com", False),
        ("https://login.example.com?next=x", False),
    ],
)
def test_http_issuers_elsewhere_and_other_urls_are_refused(url, debug):
    assert url_problem(url, debug=debug)


def test_the_group_mapping_reads_groups_and_roles():
    assert parse_group_roles(" portal-hub-admins=Hub admin, portal-consumers=Consumer,ops=Consumer,ops=Approver ") == {
        "portal-hub-admins": {"Hub admin"},
        "portal-consumers": {"Consumer"},
        "ops": {"Consumer", "Approver"},
    }
    assert parse_group_roles("") == {}


def test_a_malformed_group_mapping_names_every_unknown_role_and_bad_entry():
    with pytest.raises(GroupRolesError) as error:
        parse_group_roles("admins=Hub Admin,users=Consumer,lonely,=Consumer,ops=Boss")

    message = str(error.value)
    assert "'Hub Admin'" in message and "'Boss'" in message
    assert "'lonely'" in message and "'=Consumer'" in message
    assert "'Consumer'" not in message.split("(roles:")[0]


def test_the_start_up_check_refuses_an_http_issuer_a_bad_mapping_and_a_missing_client(settings):
    settings.DEBUG = False
    settings.PORTICO_OIDC_ISSUER = "http://login.example.com"
    settings.PORTICO_OIDC_CLIENT_ID = ""
    settings.PORTICO_OIDC_CLIENT_SECRET = ""
    settings.PORTICO_OIDC_GROUP_ROLES = "admins=Hub Admin"

    errors = {message.id: message.msg for message in run_checks() if message.id.startswith("portico.E00")}

    assert "http://" in errors["portico.E003"]
    assert "'Hub Admin'" in errors["portico.E004"]
    assert "PORTICO_OIDC_CLIENT_ID and PORTICO_OIDC_CLIENT_SECRET" in errors["portico.E005"]


def test_the_start_up_check_accepts_a_complete_configuration_and_refuses_no_way_to_sign_in(settings):
    settings.PORTICO_OIDC_ISSUER = "https://login.example.com"
    settings.PORTICO_OIDC_CLIENT_ID = "portico"
    settings.PORTICO_OIDC_CLIENT_SECRET = "s3cret-value"  # noqa: S105
    settings.PORTICO_OIDC_GROUP_ROLES = "admins=Hub admin"
    assert not [m for m in run_checks() if m.id.startswith("portico.E00")]

    settings.PORTICO_OIDC_ISSUER = ""
    settings.PORTICO_LOCAL_LOGIN = False
    assert [m.id for m in run_checks() if m.id.startswith("portico.E00")] == ["portico.E006"]


def settings_of(env: dict[str, str], expression: str) -> object:
    code = f"import json, django; django.setup(); from django.conf import settings; print(json.dumps({expression}))"
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def test_the_environment_switches_the_backends_and_lets_the_log_out_reach_the_provider():
    sso = production_env(
        PORTICO_OIDC_ISSUER="https://login.example.com/realms/acme",
        PORTICO_OIDC_CLIENT_ID="portico",
        PORTICO_OIDC_CLIENT_SECRET="s3cret-value",
        PORTICO_LOCAL_LOGIN="false",
    )
    expression = "[settings.AUTHENTICATION_BACKENDS, settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action']]"

    assert settings_of(sso, expression) == [
        ["axes.backends.AxesStandaloneBackend", "portal.sso.backend.PorticoOIDCBackend"],
        ["'self'", "https://login.example.com"],
    ]
    assert settings_of(production_env(), expression) == [
        ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"],
        ["'self'"],
    ]


def test_a_discovery_document_naming_another_issuer_is_refused(httpserver, settings):
    issuer = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": "https://evil.example", "authorization_endpoint": "https://evil.example/auth"}
    )
    settings.DEBUG = True
    settings.PORTICO_OIDC_ISSUER = issuer
    discovery.clear_cache()

    with pytest.raises(discovery.DiscoveryError, match="names the issuer 'https://evil.example'"):
        discovery.provider_metadata()


def test_a_discovery_document_with_an_http_endpoint_elsewhere_is_refused(httpserver, settings):
    issuer = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/auth",
            "token_endpoint": "http://tokens.example.com/token",
            "jwks_uri": f"{issuer}/jwks",
        }
    )
    settings.DEBUG = True
    settings.PORTICO_OIDC_ISSUER = issuer
    discovery.clear_cache()

    with pytest.raises(discovery.DiscoveryError, match="token_endpoint"):
        discovery.provider_metadata()


def test_an_http_issuer_on_loopback_is_not_asked_without_debug(httpserver, settings):
    settings.DEBUG = False
    settings.PORTICO_OIDC_ISSUER = httpserver.url_for("").rstrip("/")
    discovery.clear_cache()

    with pytest.raises(discovery.DiscoveryError, match="DEBUG"):
        discovery.provider_metadata()
    assert httpserver.log == []
