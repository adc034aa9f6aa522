"""Two organization admins add connection API credentials at the same moment, on PostgreSQL: the
account still ends with at most three, and the one refused is told why."""

import threading

import pytest
from django.db import connection

from credentials import services
from credentials.models import ApiCredential
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import UserFactory, make_api_credential


def add_at_once(organization, admins) -> list[str]:
    barrier = threading.Barrier(len(admins), timeout=10)
    outcomes: list[str] = []

    def add(admin) -> None:
        try:
            barrier.wait()
            services.api_credential_create(organization=organization, name=f"by {admin.username}", created_by=admin)
            outcomes.append("added")
        except services.ApiCredentialLimitReached as exc:
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
