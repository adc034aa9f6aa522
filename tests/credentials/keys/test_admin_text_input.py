"""Names and numbers typed into the Admin Center's API and runtime target forms: names tidied or
refused (credentials.lib.text), descriptions keep their lines, numbers are ASCII digits."""

import pytest
from django.urls import reverse

from credentials.keys.models import Api, RuntimeTarget
from tests.factories import RuntimeTargetFactory


@pytest.fixture
def admin_client(client, hub_admin):
    client.force_login(hub_admin)
    return client


def create_api(client, organization, **fields):
    data = {"name": "Payments", "provider": organization.pk, "key_lifetime_days": "365", "approval_mode": "any"}
    return client.post(reverse("credentials:api-create"), {**data, **fields})


def test_an_api_name_is_stored_nfc_and_its_description_keeps_its_lines(admin_client, organization):
    create_api(admin_client, organization, name=" Cafe\u0301 API ", description="Pays invoices.\r\n\r\nAnd refunds.")

    api = Api.objects.get()
    assert (api.name, api.description) == ("Caf\u00e9 API", "Pays invoices.\r\n\r\nAnd refunds.")


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Payments\u202e"), ("name", "P\u0430yments"), ("description", "Pays\u200b invoices")],
)
def test_an_api_name_or_description_hiding_characters_is_refused(admin_client, organization, field, value):
    response = create_api(admin_client, organization, **{field: value})

    assert response.status_code == 200 and response.context["form"].errors[field]
    assert not Api.objects.exists()


@pytest.mark.parametrize(
    "days", ["\u00b2", "9" * 4301, "\uff13\uff16\uff15"], ids=["superscript", "4301-digits", "fullwidth"]
)
def test_a_key_lifetime_that_is_not_ascii_digits_or_too_long_is_a_form_error_not_a_500(
    admin_client, organization, days
):
    response = create_api(admin_client, organization, key_lifetime_days=days)

    assert response.status_code == 200 and response.context["form"].errors["key_lifetime_days"]
    assert not Api.objects.exists()


def test_a_runtime_target_name_is_nfkc_so_a_fullwidth_twin_is_taken(admin_client):
    RuntimeTargetFactory(name="Gateway Main")

    response = admin_client.post(
        reverse("credentials:runtime-target-create"),
        {"name": "\uff27\uff41\uff54\uff45\uff57\uff41\uff59 Main", "base_url": "https://gw.example.com"},
    )

    assert response.status_code == 200 and response.context["form"].errors["name"]
    assert RuntimeTarget.objects.count() == 1
