"""Connection API Credentials (S4): the services that create, change and delete them, and their tokens."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from credentials.integration import services as integration_services
from credentials.integration.models import AccessToken, ApiCredential, ClientIdIsImmutable, Role
from credentials.lib import crypto
from portal.models import AuditEvent
from tests.credentials.integration.helpers import GOOD_SECRET
from tests.factories import make_api_credential


def admin_role(organization) -> Role:
    return integration_services.role_ensure_defaults(organization=organization)[0]


def read_only_role(organization) -> Role:
    return integration_services.role_ensure_defaults(organization=organization)[1]


def add_stored_token(credential: ApiCredential, *, expires_in: int = 60) -> AccessToken:
    """A token as the previous release stored it (prefix and keyed hash); tokens are signed now."""
    secret = crypto.generate_secret("at")
    return AccessToken.objects.create(
        credential=credential,
        prefix=secret.prefix,
        digest=secret.digest,
        scopes="read",
        secret_version=credential.secret_version,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )


# --- services ------------------------------------------------------------------------------------
def test_create_makes_a_client_id_and_a_generated_secret_kept_only_as_a_keyed_hash(organization, org_admin):
    credential, secret = integration_services.api_credential_create(
        organization=organization, name="Billing sync", created_by=org_admin
    )

    credential.refresh_from_db()
    assert len(credential.client_id) == 32 and len(credential.public_id) == 10
    assert secret.value.startswith("prt_cs_") and not secret.custom and "prt_cs_" not in repr(secret)[30:]
    assert credential.secret_prefix == secret.prefix and credential.custom is False
    assert crypto.verify_secret(secret.value, credential.secret_digest)
    row = ApiCredential.objects.filter(pk=credential.pk).values().get()
    assert not any(secret.value in str(value) for value in row.values())
    assert credential.role.name == "Admin" and credential.scopes == "read write"
    assert credential.expires_in == 7200 and credential.mode == "live" and credential.kind == "connection"
    event = AuditEvent.objects.get(action="api_credential.create")
    assert credential.client_id in event.summary and secret.value not in event.summary
    assert event.actor == org_admin and event.organization == organization


def test_a_new_organization_has_its_default_roles_and_creating_credentials_adds_none(organization):
    assert sorted(Role.objects.filter(organization=organization).values_list("name", "kind")) == [
        ("Admin", "admin"),
        ("Read-only", "read_only"),
    ]

    make_api_credential(organization)
    make_api_credential(organization)

    assert Role.objects.filter(organization=organization).count() == 2
    assert not AuditEvent.objects.filter(action="role.create").exists()


def test_an_organization_made_before_default_roles_gets_them_once_and_audited(organization):
    Role.objects.filter(organization=organization).delete()  # as organizations made before were

    integration_services.role_ensure_defaults(organization=organization)
    integration_services.role_ensure_defaults(organization=organization)

    assert sorted(Role.objects.filter(organization=organization).values_list("name", "kind")) == [
        ("Admin", "admin"),
        ("Read-only", "read_only"),
    ]
    assert AuditEvent.objects.filter(action="role.create").count() == 2


def test_create_with_a_typed_secret_marks_it_custom(organization):
    credential, secret = make_api_credential(organization, client_secret=GOOD_SECRET)

    assert secret == GOOD_SECRET
    assert credential.custom is True and credential.secret_prefix == ""
    assert crypto.verify_secret(GOOD_SECRET, credential.secret_digest, purpose="cs")
    assert GOOD_SECRET not in AuditEvent.objects.get(action="api_credential.create").summary


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("Short-secret-1", "it needs at least 32"),
        ("a" * 20 + "B" * 6 + "1234567 ", "not allowed: space"),
        ("ÄÖÜ-not-ascii-0123456789abcdefghijkl", "not allowed"),
        ("abcdefghijklmnopqrstuvwxyzabcdefgh", "only lower-case letters"),
        ("01234567890123456789012345678901234", "only digits"),
        ("abababababababababababababababAB12", "only 6 different characters"),
        ("x" * 129 + "A1", "at most 128"),
    ],
)
def test_a_typed_secret_must_meet_the_rules(organization, typed, problem):
    with pytest.raises(ValidationError) as raised:
        make_api_credential(organization, client_secret=typed)

    assert problem in " ".join(raised.value.message_dict["client_secret"])
    assert not ApiCredential.objects.exists()
    assert not AuditEvent.objects.filter(action="api_credential.create").exists()


def test_a_typed_secret_may_not_be_reused_within_the_account(organization, other_organization):
    make_api_credential(organization, client_secret=GOOD_SECRET)

    with pytest.raises(ValidationError) as raised:
        make_api_credential(organization, client_secret=GOOD_SECRET)

    assert "Another credential of your account uses this secret" in str(raised.value)
    assert ApiCredential.objects.filter(organization=organization).count() == 1
    # Another account may happen to type the same: it learns nothing about the first.
    make_api_credential(other_organization, client_secret=GOOD_SECRET)


def test_the_fourth_connection_credential_is_refused_and_nothing_changes(organization, org_admin):
    for number in range(3):
        make_api_credential(organization, name=f"App {number}")
    events = AuditEvent.objects.count()

    with pytest.raises(integration_services.ApiCredentialLimitReached) as raised:
        integration_services.api_credential_create(organization=organization, name="One too many", created_by=org_admin)

    assert "already has 3 connection API credentials" in str(raised.value)
    assert ApiCredential.objects.filter(organization=organization).count() == 3
    assert AuditEvent.objects.count() == events


def test_the_limit_counts_each_account_on_its_own(organization, other_organization):
    for _ in range(3):
        make_api_credential(organization)

    make_api_credential(other_organization)

    assert ApiCredential.objects.filter(organization=other_organization).count() == 1


def test_update_records_before_and_after_and_nothing_when_nothing_changes(organization, org_admin):
    credential, _ = make_api_credential(organization, name="Old name")
    client_id = credential.client_id

    integration_services.api_credential_update(
        credential_id=credential.pk, updated_by=org_admin, name="New name", role=read_only_role(organization)
    )
    integration_services.api_credential_update(
        credential_id=credential.pk, updated_by=org_admin, name="New name", role=read_only_role(organization)
    )

    credential.refresh_from_db()
    assert credential.name == "New name" and credential.role.kind == "read_only" and credential.scopes == "read"
    assert credential.client_id == client_id
    events = AuditEvent.objects.filter(action="api_credential.update")
    assert events.count() == 1
    assert "“Old name” → “New name”" in events.get().summary and "role Admin → Read-only" in events.get().summary


def test_update_refuses_a_role_of_another_organization(organization, other_organization, org_admin):
    credential, _ = make_api_credential(organization)

    with pytest.raises(ValidationError) as raised:
        integration_services.api_credential_update(
            credential_id=credential.pk, updated_by=org_admin, role=admin_role(other_organization)
        )

    assert "role" in raised.value.message_dict
    credential.refresh_from_db()
    assert credential.role.organization == organization


@pytest.mark.parametrize(
    ("field", "value"),
    [("expires_in", 10), ("expires_in", 10**6), ("metadata", ["not", "an", "object"]), ("redirect_uri", "nope")],
)
def test_update_refuses_values_out_of_range(organization, org_admin, field, value):
    credential, _ = make_api_credential(organization)

    with pytest.raises(ValidationError) as raised:
        integration_services.api_credential_update(credential_id=credential.pk, updated_by=org_admin, **{field: value})

    assert field in raised.value.message_dict


def test_the_client_id_cannot_be_changed_even_by_saving_the_model(organization):
    credential, _ = make_api_credential(organization)
    loaded = ApiCredential.objects.get(pk=credential.pk)
    loaded.client_id = "my-own-client-id"

    with pytest.raises(ClientIdIsImmutable):
        loaded.save()

    assert ApiCredential.objects.get(pk=credential.pk).client_id == credential.client_id


def test_a_new_secret_kills_the_old_one_and_its_tokens(organization, org_admin):
    credential, old_secret = make_api_credential(organization)
    add_stored_token(credential)

    credential, new_secret = integration_services.api_credential_set_secret(
        credential_id=credential.pk, changed_by=org_admin
    )

    assert credential.secret_version == 2
    assert not crypto.verify_secret(old_secret, credential.secret_digest)
    assert crypto.verify_secret(new_secret.value, credential.secret_digest)
    assert not AccessToken.objects.filter(credential=credential).exists()
    event = AuditEvent.objects.get(action="api_credential.set_secret")
    assert "every access token issued with the old secret revoked" in event.summary
    assert new_secret.value not in event.summary and old_secret not in event.summary


def test_typing_the_current_secret_again_is_refused(organization, org_admin):
    credential, _ = make_api_credential(organization, client_secret=GOOD_SECRET)

    with pytest.raises(ValidationError, match="current secret"):
        integration_services.api_credential_set_secret(
            credential_id=credential.pk, changed_by=org_admin, client_secret=GOOD_SECRET
        )


def test_edit_is_all_or_nothing(organization, org_admin):
    credential, _ = make_api_credential(organization, name="Kept")

    with pytest.raises(ValidationError):
        integration_services.api_credential_edit(
            credential_id=credential.pk,
            edited_by=org_admin,
            name="Changed",
            role=credential.role,
            new_secret=True,
            client_secret="too-short",
        )

    credential.refresh_from_db()
    assert credential.name == "Kept" and credential.secret_version == 1
    assert not AuditEvent.objects.filter(action__in=["api_credential.update", "api_credential.set_secret"]).exists()


def test_delete_removes_the_credential_and_its_tokens_once(organization, org_admin):
    credential, _ = make_api_credential(organization)
    add_stored_token(credential)

    integration_services.api_credential_delete(credential_id=credential.pk, deleted_by=org_admin)
    integration_services.api_credential_delete(credential_id=credential.pk, deleted_by=org_admin)

    assert not ApiCredential.objects.exists() and not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(action="api_credential.delete").count() == 1


def test_purge_deletes_only_expired_stored_tokens(organization):
    credential, _ = make_api_credential(organization)
    live = add_stored_token(credential)
    expired = add_stored_token(credential)
    AccessToken.objects.filter(pk=expired.pk).update(expires_at=live.created_at)

    assert integration_services.access_token_purge_expired() == 1
    assert list(AccessToken.objects.all()) == [live]
