"""The API portal alias of Register tenant: an identifier picked from lists, tidied with NFKC (a
fullwidth twin of an alias is that alias) and refused when it hides characters."""

import pytest
from django.urls import reverse

from credentials.connections.models import Tenant


@pytest.fixture
def signed_in(client, tenant_admin):
    client.force_login(tenant_admin)
    return client


def register(client, alias: str):
    return client.post(reverse("credentials:tenant-register"), {"alias": alias, "url": "https://acme-qa.example.com"})


def test_a_fullwidth_alias_is_stored_in_plain_letters(signed_in):
    register(signed_in, " \uff41\uff43\uff4d\uff45-qa ")

    assert Tenant.objects.get().alias == "acme-qa"


def test_a_fullwidth_twin_of_an_alias_is_refused_as_taken(signed_in, tenant):
    response = register(signed_in, "\uff41\uff43\uff4d\uff45-dev")

    assert response.context["tenant_form"].errors["alias"] == [
        "Your organization already has a tenant called acme-dev."
    ]
    assert Tenant.objects.count() == 1


@pytest.mark.parametrize("alias", ["acme\u202eved", "\u0430cme-qa", "acme\u200b-qa", "acme\tqa"])
def test_an_alias_that_hides_characters_is_refused(signed_in, alias):
    response = register(signed_in, alias)

    assert response.status_code == 200 and response.context["tenant_form"].errors["alias"]
    assert not Tenant.objects.exists()
