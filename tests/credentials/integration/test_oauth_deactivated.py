"""A deactivated organization's API clients get no token, and the tokens they hold stop within a
second on every process (each keeps a credential's facts that long: credential_facts)."""

from datetime import timedelta

from django.utils import timezone

from credentials.integration import credential_facts
from tests.credentials.integration.test_oauth_token import ask_token, basic, issue, me


def test_a_token_of_a_deactivated_organization_stops_within_a_second(client, credential, organization, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    token = issue(client, credential)["access_token"]
    assert me(client, token).status_code == 200

    organization.is_active = False
    organization.save()
    time_machine.shift(timedelta(seconds=credential_facts.CACHE_SECONDS))

    assert me(client, token).status_code == 401


def test_a_deactivated_organizations_client_gets_no_token_once_its_facts_are_a_second_old(
    client, credential, organization, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    credential_row, secret = credential
    assert ask_token(client, auth=basic(credential_row.client_id, secret)).status_code == 200

    organization.is_active = False
    organization.save()
    time_machine.shift(timedelta(seconds=credential_facts.CACHE_SECONDS))

    assert ask_token(client, auth=basic(credential_row.client_id, secret)).status_code == 401


def test_a_deactivated_organizations_client_gets_no_token(client, credential, organization):
    organization.is_active = False
    organization.save()
    credential_row, secret = credential

    response = ask_token(client, auth=basic(credential_row.client_id, secret))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
