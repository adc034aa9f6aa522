"""The field rules of API credentials (credentials.integration.services) for text and metadata,
whoever calls, and Add Secret's form: names tidied (NFC, stripped) or refused with the reason,
references refused rather than changed, metadata held to what jsonb and every answer can carry.
Markup in a name is text: stored as typed, shown escaped."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from credentials.integration import services as integration_services
from credentials.integration.models import ApiCredential
from portal.models import AuditEvent
from tests.factories import make_api_credential


def refused_fields(**fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        integration_services.api_credential_create(**fields)
    return raised.value.message_dict


def test_a_name_is_stored_nfc_and_stripped(organization):
    credential, _ = integration_services.api_credential_create(organization=organization, name="  Cafe\u0301 sync ")

    assert credential.name == "Caf\u00e9 sync"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Invoice\u202egpj.exe"),
        ("name", "Billing\u200bsync"),
        ("name", "\u0430cme"),
        ("name", "Billing\x00"),
        ("name", 12345),
        ("reference", "ERP\u202e42"),
        ("reference", "ERP\n42"),
        ("reference_origin", "erp\x07"),
        ("reference", 42),
    ],
)
def test_text_fields_refuse_hidden_characters_and_other_types_and_nothing_is_stored(organization, field, value):
    events = AuditEvent.objects.count()

    assert field in refused_fields(organization=organization, **{field: value})
    assert not ApiCredential.objects.exists() and AuditEvent.objects.count() == events


def test_a_reference_is_kept_exactly_as_sent(organization):
    credential, _ = integration_services.api_credential_create(organization=organization, reference=" \u0430cme-42 ")

    assert credential.reference == " \u0430cme-42 "  # clients look it up by what they sent


def test_update_refuses_a_hidden_character_and_changes_nothing(organization, org_admin):
    credential, _ = make_api_credential(organization, name="Billing")

    with pytest.raises(ValidationError) as raised:
        integration_services.api_credential_update(
            credential_id=credential.pk, updated_by=org_admin, name="Bill\u202eing"
        )

    assert "name" in raised.value.message_dict
    credential.refresh_from_db()
    assert credential.name == "Billing"


def _deep(levels: int) -> dict:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return {"a": value}


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"a": "x\x00"}, "invalid"),
        ({"a\x00": 1}, "invalid"),
        ({"a": "\ud800"}, "invalid"),
        ({"a": float("inf")}, "invalid"),
        ({"a": float("nan")}, "invalid"),
        ({"a": {1, 2}}, "invalid"),
        ({1: "a"}, "invalid"),
        (_deep(17), "too_deep"),
        (_deep(100_000), "too_deep"),
        ({"a": 10**5000}, "too_big"),
        ({"a": "x" * 20_000}, "too_big"),
    ],
    ids=[
        "nul",
        "nul-key",
        "surrogate",
        "infinity",
        "nan",
        "set",
        "int-key",
        "17-deep",
        "100000-deep",
        "huge-int",
        "big",
    ],
)
def test_metadata_that_jsonb_or_an_answer_cannot_hold_is_refused(organization, metadata, code):
    with pytest.raises(ValidationError) as raised:
        integration_services.api_credential_create(organization=organization, metadata=metadata)

    [error] = raised.value.error_dict["metadata"]
    assert error.code == code
    assert not ApiCredential.objects.exists()


def test_metadata_16_levels_deep_is_kept(organization):
    credential, _ = integration_services.api_credential_create(organization=organization, metadata=_deep(16))

    credential.refresh_from_db()
    assert credential.metadata == _deep(16)


def test_add_secret_step_one_shows_a_hidden_character_beside_the_name(client, org_admin):
    client.force_login(org_admin)
    role = integration_services.role_ensure_defaults(organization=org_admin.organization)[0]

    response = client.post(reverse("credentials:api-credential-add"), {"name": "Bill\u202eing", "role": role.public_id})

    assert response.status_code == 200
    assert response.context["step"] == 1
    assert response.context["form"].errors["name"][0].startswith("It contains an invisible character (U+202E")


def test_markup_in_a_name_is_stored_as_typed_and_shown_escaped(client, org_admin):
    client.force_login(org_admin)
    role = integration_services.role_ensure_defaults(organization=org_admin.organization)[0]
    name = "<script>alert(1)</script>{{ 7|add:42 }}"

    response = client.post(reverse("credentials:api-credential-add-done"), {"name": name, "role": role.public_id})

    assert response.status_code == 200
    assert ApiCredential.objects.get().name == name
    page = client.get(reverse("credentials:api-credential-list")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7|add:42 }}" in page
    assert "<script>alert(1)" not in page
    assert "&lt;/script&gt;49" not in page  # the {{ }} was not evaluated (the page has times with 49 in them)
