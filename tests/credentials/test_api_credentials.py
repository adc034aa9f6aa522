"""Account > Integration > Connection API Credentials (S4): the services, the pages, the command."""

import html
import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from credentials import crypto, services
from credentials.integration.demo import DEMO_CLIENT_SECRET, seed_api_credential
from credentials.models import AccessToken, ApiCredential, ClientIdIsImmutable, Role
from portal.models import AuditEvent
from portal.roles import Role as PortalRole
from tests.factories import OrganizationFactory, UserFactory, make_api_credential

LIST = "/account/integration/connection-api-credentials/"
ADD = LIST + "add/"
DONE = LIST + "add/done/"
HTMX = {"HTTP_HX_REQUEST": "true"}
GOOD_SECRET = "Sup3r-Long_client.secret~0123456789abcXYZ"
SHOWN_SECRET = re.compile(r'id="shown-client-secret" value="([^"]+)"')
SHOWN_CLIENT_ID = re.compile(r'id="shown-client-id" value="([^"]+)"')


def edit_url(credential: ApiCredential) -> str:
    return f"{LIST}{credential.public_id}/edit/"


def delete_url(credential: ApiCredential) -> str:
    return f"{LIST}{credential.public_id}/delete/"


def text(response) -> str:
    return html.unescape(response.content.decode())


def admin_role(organization) -> Role:
    return services.role_ensure_defaults(organization=organization)[0]


def read_only_role(organization) -> Role:
    return services.role_ensure_defaults(organization=organization)[1]


def add_token(credential: ApiCredential) -> AccessToken:
    secret = crypto.generate_secret("at")
    return services.access_token_store(
        credential=credential, prefix=secret.prefix, digest=secret.digest, scopes="read", expires_in=60
    )


@pytest.fixture
def admin_client(client, org_admin):
    client.force_login(org_admin)
    return client


# --- services ------------------------------------------------------------------------------------
def test_create_makes_a_client_id_and_a_generated_secret_kept_only_as_a_keyed_hash(organization, org_admin):
    credential, secret = services.api_credential_create(
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


def test_create_gives_the_organization_its_default_roles_once(organization):
    make_api_credential(organization)
    make_api_credential(organization)

    assert sorted(Role.objects.filter(organization=organization).values_list("name", "kind")) == [
        ("Admin", "admin"),
        ("Read-only", "read_only"),
    ]
    assert AuditEvent.objects.filter(action="role.create").count() == 2


def test_create_with_a_typed_secret_marks_it_custom(organization):
    credential, secret = make_api_credential(organization, client_secret=GOOD_SECRET)

    assert secret == GOOD_SECRET
    assert credential.custom is True and credential.secret_prefix == ""
    assert crypto.verify_secret(GOOD_SECRET, credential.secret_digest)
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

    with pytest.raises(services.ApiCredentialLimitReached) as raised:
        services.api_credential_create(organization=organization, name="One too many", created_by=org_admin)

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

    services.api_credential_update(
        credential_id=credential.pk, updated_by=org_admin, name="New name", role=read_only_role(organization)
    )
    services.api_credential_update(
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
        services.api_credential_update(
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
        services.api_credential_update(credential_id=credential.pk, updated_by=org_admin, **{field: value})

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
    add_token(credential)

    credential, new_secret = services.api_credential_set_secret(credential_id=credential.pk, changed_by=org_admin)

    assert credential.secret_version == 2
    assert not crypto.verify_secret(old_secret, credential.secret_digest)
    assert crypto.verify_secret(new_secret.value, credential.secret_digest)
    assert not AccessToken.objects.filter(credential=credential).exists()
    event = AuditEvent.objects.get(action="api_credential.set_secret")
    assert "1 access token revoked" in event.summary
    assert new_secret.value not in event.summary and old_secret not in event.summary


def test_typing_the_current_secret_again_is_refused(organization, org_admin):
    credential, _ = make_api_credential(organization, client_secret=GOOD_SECRET)

    with pytest.raises(ValidationError, match="current secret"):
        services.api_credential_set_secret(credential_id=credential.pk, changed_by=org_admin, client_secret=GOOD_SECRET)


def test_edit_is_all_or_nothing(organization, org_admin):
    credential, _ = make_api_credential(organization, name="Kept")

    with pytest.raises(ValidationError):
        services.api_credential_edit(
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
    add_token(credential)

    services.api_credential_delete(credential_id=credential.pk, deleted_by=org_admin)
    services.api_credential_delete(credential_id=credential.pk, deleted_by=org_admin)

    assert not ApiCredential.objects.exists() and not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(action="api_credential.delete").count() == 1


def test_purge_deletes_only_expired_tokens(organization):
    credential, _ = make_api_credential(organization)
    live = add_token(credential)
    expired = add_token(credential)
    AccessToken.objects.filter(pk=expired.pk).update(expires_at=live.created_at)

    assert services.access_token_purge_expired() == 1
    assert list(AccessToken.objects.all()) == [live]


# --- who may open the pages ----------------------------------------------------------------------
@pytest.mark.parametrize("path", [LIST, ADD, "/account/"])
def test_pages_refuse_users_without_the_organization_admin_role(client, consumer, path):
    client.force_login(consumer)

    assert client.get(path).status_code == 403


def test_anonymous_users_are_sent_to_log_on(client, db):
    response = client.get(LIST)

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_another_accounts_credentials_answer_404(client, organization, other_organization):
    theirs, _ = make_api_credential(other_organization)
    client.force_login(UserFactory(organization=organization, roles=(PortalRole.ORG_ADMIN,)))

    assert client.get(edit_url(theirs)).status_code == 404
    assert client.post(edit_url(theirs), {"name": "mine now"}).status_code == 404
    assert client.post(delete_url(theirs)).status_code == 404
    assert ApiCredential.objects.filter(pk=theirs.pk).exists()


def test_the_header_offers_account_to_organization_admins_only(client, org_admin, consumer):
    client.force_login(org_admin)
    assert 'href="/account/"' in client.get("/").content.decode()
    client.force_login(consumer)
    assert 'href="/account/"' not in client.get("/").content.decode()


# --- the pages -----------------------------------------------------------------------------------
def test_account_page_leads_to_connection_api_credentials(admin_client):
    page = text(admin_client.get("/account/"))

    assert "Integration" in page and f'href="{LIST}"' in page and "Connection API Credentials" in page


def test_list_shows_the_accounts_credentials_without_secrets(admin_client, organization, other_organization):
    mine, secret = make_api_credential(organization, name="Billing sync")
    custom, _ = make_api_credential(organization, client_secret=GOOD_SECRET)
    theirs, _ = make_api_credential(other_organization, name="Not yours")

    page = text(admin_client.get(LIST))

    assert mine.client_id in page and "Billing sync" in page and custom.client_id in page
    assert "Generated" in page and "Custom" in page and "2 of 3 in use" in page
    assert theirs.client_id not in page and "Not yours" not in page
    assert secret not in page and GOOD_SECRET not in page


def test_the_list_costs_the_same_queries_for_one_and_three(admin_client, organization, django_assert_max_num_queries):
    make_api_credential(organization)
    with django_assert_max_num_queries(8) as one:
        admin_client.get(LIST)
    make_api_credential(organization)
    make_api_credential(organization)
    with django_assert_max_num_queries(len(one.captured_queries)):
        admin_client.get(LIST)


def test_the_list_region_is_sent_alone_to_htmx(admin_client):
    response = admin_client.get(LIST, **HTMX)

    assert response.content.decode().lstrip().startswith('<div id="credential-area"')
    assert response["Vary"] == "HX-Request" or "HX-Request" in response["Vary"]


def test_add_secret_walks_the_wizard_in_a_dialog(admin_client, organization, org_admin):
    step_one = admin_client.get(ADD, **HTMX)
    assert "<dialog" in step_one.content.decode() and "Short Description" in text(step_one)
    admin = Role.objects.get(organization=organization, name="Admin")

    step_two = admin_client.post(ADD, {"name": "Billing sync", "role": admin.public_id}, **HTMX)
    assert "Client Secret" in text(step_two) and 'value="Billing sync"' in text(step_two)
    assert not ApiCredential.objects.exists()

    done = admin_client.post(DONE, {"name": "Billing sync", "role": admin.public_id, "client_secret": ""}, **HTMX)

    credential = ApiCredential.objects.get()
    shown = SHOWN_SECRET.search(done.content.decode()).group(1)
    assert crypto.verify_secret(shown, credential.secret_digest)
    assert SHOWN_CLIENT_ID.search(done.content.decode()).group(1) == credential.client_id
    assert "no-store" in done["Cache-Control"]
    assert "only time" in text(done) and 'id="credential-area" hx-swap-oob="true"' in done.content.decode()
    assert credential.name == "Billing sync" and credential.created_by == org_admin
    # Shown once: the list never shows it again.
    assert shown not in admin_client.get(LIST).content.decode()


def test_add_secret_without_htmx_is_a_page_and_ends_on_a_page_that_is_not_stored(admin_client, organization):
    assert "<dialog" not in admin_client.get(ADD).content.decode()
    admin = Role.objects.get(organization=organization, name="Admin")

    done = admin_client.post(DONE, {"name": "", "role": admin.public_id, "client_secret": GOOD_SECRET})

    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    assert "Your new connection API credentials" in text(done)
    assert SHOWN_SECRET.search(done.content.decode()).group(1) == GOOD_SECRET
    assert ApiCredential.objects.get().custom is True


def test_back_from_step_two_keeps_the_short_description(admin_client, organization):
    admin_client.get(ADD)
    admin = Role.objects.get(organization=organization, name="Admin")

    back = admin_client.post(ADD, {"name": "Billing sync", "role": admin.public_id, "back": "1"}, **HTMX)

    assert "Next" in text(back) and 'value="Billing sync"' in text(back)


def test_a_typed_secret_that_breaks_the_rules_is_explained_and_nothing_is_made(admin_client, organization):
    admin_client.get(ADD)
    admin = Role.objects.get(organization=organization, name="Admin")

    response = admin_client.post(DONE, {"name": "x", "role": admin.public_id, "client_secret": "abc def"}, **HTMX)

    page = text(response)
    assert response.status_code == 200
    assert "it needs at least 32" in page and "not allowed: space" in page
    assert not ApiCredential.objects.exists()


def test_a_reused_secret_is_explained_beside_the_field(admin_client, organization):
    make_api_credential(organization, client_secret=GOOD_SECRET)
    admin = Role.objects.get(organization=organization, name="Admin")

    response = admin_client.post(DONE, {"name": "x", "role": admin.public_id, "client_secret": GOOD_SECRET}, **HTMX)

    assert "Another credential of your account uses this secret" in text(response)
    assert ApiCredential.objects.count() == 1


def test_add_secret_at_the_limit_says_why_at_once_and_at_done(admin_client, organization):
    for _ in range(3):
        make_api_credential(organization)
    admin = Role.objects.get(organization=organization, name="Admin")

    opened = admin_client.get(ADD, **HTMX)
    done = admin_client.post(DONE, {"name": "4th", "role": admin.public_id, "client_secret": ""}, **HTMX)

    for response in (opened, done):
        assert "already has 3 connection API credentials" in text(response)
    assert ApiCredential.objects.count() == 3


def test_edit_dialog_shows_the_client_id_as_text_not_as_a_field(admin_client, organization):
    credential, _ = make_api_credential(organization, name="Billing sync")

    page = admin_client.get(edit_url(credential), **HTMX).content.decode()

    assert credential.client_id in page and "cannot be changed" in page
    assert 'name="client_id"' not in page and "<dialog" in page


def test_edit_changes_the_description_and_closes_the_dialog(admin_client, organization):
    credential, secret = make_api_credential(organization, name="Old")

    response = admin_client.post(
        edit_url(credential),
        {"name": "New", "role": credential.role.public_id, "secret_action": "keep", "client_secret": ""},
        **HTMX,
    )

    assert response["HX-Retarget"] == "#dialog-slot"
    assert f'id="credential-{credential.public_id}" hx-swap-oob="true"' in response.content.decode()
    credential.refresh_from_db()
    assert credential.name == "New" and crypto.verify_secret(secret, credential.secret_digest)


def test_edit_without_htmx_redirects_to_the_list(admin_client, organization):
    credential, _ = make_api_credential(organization, name="Old")

    response = admin_client.post(
        edit_url(credential), {"name": "New", "role": credential.role.public_id, "secret_action": "keep"}
    )

    assert response.status_code == 302 and response.url == LIST


def test_a_forged_post_that_changes_the_client_id_is_refused(admin_client, organization):
    credential, _ = make_api_credential(organization, name="Old")
    client_id = credential.client_id

    response = admin_client.post(
        edit_url(credential),
        {"name": "New", "role": credential.role.public_id, "secret_action": "keep", "client_id": "attacker-chosen"},
        **HTMX,
    )

    assert response.status_code == 400 and "client ID cannot be changed" in response.content.decode()
    credential.refresh_from_db()
    assert credential.client_id == client_id and credential.name == "Old"
    assert not AuditEvent.objects.filter(action="api_credential.update").exists()


def test_edit_generates_a_new_secret_and_shows_it_once(admin_client, organization):
    credential, old = make_api_credential(organization)

    response = admin_client.post(
        edit_url(credential), {"name": "", "role": credential.role.public_id, "secret_action": "generate"}, **HTMX
    )

    shown = SHOWN_SECRET.search(response.content.decode()).group(1)
    credential.refresh_from_db()
    assert "no-store" in response["Cache-Control"]
    assert crypto.verify_secret(shown, credential.secret_digest) and shown != old
    assert "previous secret no longer works" in text(response)


def test_edit_with_a_typed_secret_sets_it(admin_client, organization):
    credential, _ = make_api_credential(organization)

    admin_client.post(
        edit_url(credential),
        {"name": "", "role": credential.role.public_id, "secret_action": "type", "client_secret": GOOD_SECRET},
        **HTMX,
    )

    credential.refresh_from_db()
    assert credential.custom and crypto.verify_secret(GOOD_SECRET, credential.secret_digest)


def test_a_secret_typed_while_keep_is_chosen_is_taken_as_meant(admin_client, organization):
    credential, _ = make_api_credential(organization)

    admin_client.post(
        edit_url(credential),
        {"name": "", "role": credential.role.public_id, "secret_action": "keep", "client_secret": GOOD_SECRET},
        **HTMX,
    )

    credential.refresh_from_db()
    assert credential.custom and crypto.verify_secret(GOOD_SECRET, credential.secret_digest)


def test_edit_explains_a_bad_typed_secret_and_changes_nothing(admin_client, organization):
    credential, secret = make_api_credential(organization, name="Old")

    response = admin_client.post(
        edit_url(credential),
        {"name": "New", "role": credential.role.public_id, "secret_action": "type", "client_secret": "a" * 40},
        **HTMX,
    )

    assert response.status_code == 200 and "only lower-case letters" in text(response)
    credential.refresh_from_db()
    assert credential.name == "Old" and crypto.verify_secret(secret, credential.secret_digest)


def test_delete_asks_first_then_deletes_in_place(admin_client, organization):
    credential, _ = make_api_credential(organization, name="Doomed")

    confirm = admin_client.get(delete_url(credential), **HTMX)
    assert "Delete Connection API Credentials?" in text(confirm) and "cannot be undone" in text(confirm)
    assert ApiCredential.objects.exists()

    response = admin_client.post(delete_url(credential), **HTMX)

    assert response["HX-Retarget"] == "#dialog-slot"
    assert 'id="credential-area" hx-swap-oob="true"' in response.content.decode()
    assert "You've deleted the connection API credentials “Doomed”" in text(response)
    assert not ApiCredential.objects.exists()


def test_delete_without_htmx_redirects_and_get_is_only_a_question(admin_client, organization):
    credential, _ = make_api_credential(organization)

    assert admin_client.get(delete_url(credential)).status_code == 200
    assert ApiCredential.objects.exists()
    response = admin_client.post(delete_url(credential))

    assert response.status_code == 302 and response.url == LIST
    assert not ApiCredential.objects.exists()


@pytest.mark.parametrize("method", ["put", "delete"])
def test_wrong_methods_answer_405(admin_client, organization, method):
    credential, _ = make_api_credential(organization)

    assert getattr(admin_client, method)(edit_url(credential)).status_code == 405
    assert getattr(admin_client, method)(DONE).status_code == 405


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
    assert crypto.verify_secret(DEMO_CLIENT_SECRET, first.secret_digest)


def test_seed_demo_prints_the_demo_credential_beside_the_logins(db, settings):
    settings.DEBUG = True
    out = io.StringIO()

    call_command("seed_demo", stdout=out)

    printed = out.getvalue()
    credential = ApiCredential.objects.get(organization=OrganizationFactory(slug="acme"))
    assert "Demo logins" in printed and credential.client_id in printed and DEMO_CLIENT_SECRET in printed
