"""Connection API credentials on PostgreSQL: two organization admins adding at the same moment
still leave the account with at most three, and the one refused is told why; tokens work."""

import threading
from urllib.parse import urlencode

import pytest
from django.db import connection

from credentials.integration import services as integration_services
from credentials.integration.models import ApiCredential
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import UserFactory, make_api_credential


def add_at_once(organization, admins) -> list[str]:
    barrier = threading.Barrier(len(admins), timeout=10)
    outcomes: list[str] = []

    def add(admin) -> None:
        try:
            barrier.wait()
            integration_services.api_credential_create(
                organization=organization, name=f"by {admin.username}", created_by=admin
            )
            outcomes.append("added")
        except integration_services.ApiCredentialLimitReached as exc:
            outcomes.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_admins_adding_the_third_and_fourth_at_once_get_one_each(organization, org_admin):
    make_api_credential(organization, name="first")
    make_api_credential(organization, name="second")
    other_admin = UserFactory(organization=organization, roles=(Role.ORG_ADMIN,))

    outcomes = add_at_once(organization, [org_admin, other_admin])

    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["added", "refused"]
    assert any("already has 3 connection API credentials" in outcome for outcome in outcomes)
    assert ApiCredential.objects.filter(organization=organization).count() == 3
    assert AuditEvent.objects.filter(action="api_credential.create").count() == 3


@pytest.mark.django_db(transaction=True)
def test_six_admins_at_once_on_an_empty_account_make_exactly_three(organization):
    admins = [UserFactory(organization=organization, roles=(Role.ORG_ADMIN,)) for _ in range(6)]

    outcomes = add_at_once(organization, admins)

    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["added"] * 3 + ["refused"] * 3
    assert ApiCredential.objects.filter(organization=organization).count() == 3


@pytest.mark.django_db(transaction=True)
def test_tokens_are_issued_and_checked_on_postgresql(organization, client):
    """A signed token is issued and accepted on PostgreSQL (its credential's facts read there)."""
    credential, secret = make_api_credential(organization)

    response = client.post(
        "/oauth/token",
        urlencode({"grant_type": "client_credentials", "client_id": credential.client_id, "client_secret": secret}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    me = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    assert me.json()["api_credential"]["client_id"] == credential.client_id
