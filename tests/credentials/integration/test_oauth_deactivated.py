"""A deactivated organization's API clients get no token, and the tokens they hold stop at once."""

from tests.credentials.integration.test_oauth_token import ask_token, basic, issue, me


def test_a_token_of_a_deactivated_organization_stops_at_once(client, credential, organization):
    token = issue(client, credential)["access_token"]
    assert me(client, token).status_code == 200

    organization.is_active = False
    organization.save()

    assert me(client, token).status_code == 401


def test_a_deactivated_organizations_client_gets_no_token(client, credential, organization):
    organization.is_active = False
    organization.save()
    credential_row, secret = credential

    response = ask_token(client, auth=basic(credential_row.client_id, secret))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
