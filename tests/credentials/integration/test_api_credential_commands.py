"""Connection API Credentials (S4): the create_api_credential command and the demo credential."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from credentials.integration.demo import DEMO_CLIENT_SECRET, seed_api_credential
from credentials.integration.models import ApiCredential
from credentials.lib import crypto
from portal.models import AuditEvent
from tests.credentials.integration.helpers import GOOD_SECRET
from tests.factories import OrganizationFactory, make_api_credential


# --- the command line and the demo ---------------------------------------------------------------
def test_create_api_credential_prints_the_client_id_and_secret_as_json(organization):
    out = io.StringIO()

    call_command("create_api_credential", organization="acme", name="CI", role="Read-only", stdout=out)

    printed = json.loads(out.getvalue())
    credential = ApiCredential.objects.get(client_id=printed["client_id"])
    assert crypto.verify_secret(printed["client_secret"], credential.secret_digest)
    assert printed["id"] == credential.public_id and printed["role"] == "Read-only" and credential.name == "CI"
    assert printed["token_url"].endswith("/oauth/token")
    assert printed["client_secret"] not in AuditEvent.objects.get(action="api_credential.create").summary


def test_create_api_credential_accepts_a_role_kind_and_a_typed_secret(organization, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD_SECRET + "\n"))
    out = io.StringIO()

    call_command("create_api_credential", "--client-secret-stdin", organization="acme", role="read_only", stdout=out)

    printed = json.loads(out.getvalue())
    assert printed["client_secret"] == GOOD_SECRET and printed["role"] == "Read-only"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"organization": "nope"}, "No organization"),
        ({"organization": "acme", "role": "Superuser"}, "has no role"),
        ({"organization": "acme", "expires_in": 5}, "expires_in"),
    ],
)
def test_create_api_credential_refuses_with_the_reason(organization, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_credential", **arguments, stdout=io.StringIO())
    assert not ApiCredential.objects.exists()


def test_create_api_credential_refuses_the_fourth(organization):
    for _ in range(3):
        make_api_credential(organization)

    with pytest.raises(CommandError, match="already has 3"):
        call_command("create_api_credential", organization="acme", stdout=io.StringIO())


def test_the_demo_credential_is_made_once_and_its_secret_works(organization):
    first = seed_api_credential(organization)
    second = seed_api_credential(organization)

    assert first == second and ApiCredential.objects.count() == 1
    assert crypto.verify_secret(DEMO_CLIENT_SECRET, first.secret_digest, purpose="cs")


def test_seed_demo_prints_the_demo_credential_beside_the_logins(db, settings):
    settings.DEBUG = True
    out = io.StringIO()

    call_command("seed_demo", stdout=out)

    printed = out.getvalue()
    credential = ApiCredential.objects.get(organization=OrganizationFactory(slug="acme"))
    assert "Demo logins" in printed and credential.client_id in printed and DEMO_CLIENT_SECRET in printed
