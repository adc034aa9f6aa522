"""Account > Integration > Connection API Credentials (S4): who may open the pages, and the pages."""

import html
import re

import pytest

from credentials.integration.models import ApiCredential, Role
from credentials.lib import crypto
from portal.models import AuditEvent
from portal.roles import Role as PortalRole
from tests.credentials.integration.helpers import GOOD_SECRET
from tests.factories import UserFactory, make_api_credential

LIST = "/account/integration/connection-api-credentials/"
ADD = LIST + "add/"
DONE = LIST + "add/done/"
HTMX = {"HTTP_HX_REQUEST": "true"}
SHOWN_SECRET = re.compile(r'id="shown-client-secret" value="([^"]+)"')
SHOWN_CLIENT_ID = re.compile(r'id="shown-client-id" value="([^"]+)"')


def edit_url(credential: ApiCredential) -> str:
    return f"{LIST}{credential.public_id}/edit/"


def delete_url(credential: ApiCredential) -> str:
    return f"{LIST}{credential.public_id}/delete/"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def admin_client(client, org_admin):
    client.force_login(org_admin)
    return client


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
    assert credential.custom and crypto.verify_secret(GOOD_SECRET, credential.secret_digest, purpose="cs")


def test_a_secret_typed_while_keep_is_chosen_is_taken_as_meant(admin_client, organization):
    credential, _ = make_api_credential(organization)

    admin_client.post(
        edit_url(credential),
        {"name": "", "role": credential.role.public_id, "secret_action": "keep", "client_secret": GOOD_SECRET},
        **HTMX,
    )

    credential.refresh_from_db()
    assert credential.custom and crypto.verify_secret(GOOD_SECRET, credential.secret_digest, purpose="cs")


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


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


@pytest.mark.parametrize("path", [LIST, ADD, "/account/"])
def test_opening_the_pages_and_the_add_dialog_writes_nothing(admin_client, organization, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Role.objects.filter(organization=organization).delete()  # not even for an account without its roles
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(path, headers={"HX-Request": "true"} if path == ADD else {})

    assert response.status_code == 200
    assert _writes(queries.captured_queries) == []
