"""Issue 13, part 3: after a refused paste or a failed connection test the browser keeps what the user
pasted. htmx gets the error regions and the "Save without testing the connection" choice only (swapped
out of band), never the credentials box nor the paste; without htmx the page asks to paste again.

Edit Credentials (S1, a dialog), Re-establish Connection (S2, a page) and New connection request."""

import html
import json
from html.parser import HTMLParser

import pytest

from credentials.connections.models import ConnectionRequest
from portal.models import AuditEvent
from tests.factories import TenantFactory, client_secret_json

SECRET = "pasted-SECRET-never-echoed-789="
HTMX = {"HX-Request": "true", "HX-Target": "dialog-slot"}
SUBMIT = "/manage/connectivity/requests/"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
MALFORMED = '{"url": "https://acme.example.com", "clientSecret": "' + SECRET + '", '


@pytest.fixture
def refusing_token_endpoint(httpserver) -> str:
    """A token endpoint that says no, beside the one that accepted the request's first credentials
    (the `submitted` request was made with the same test server's /oauth/token)."""
    httpserver.expect_request("/refusing/oauth/token", method="POST").respond_with_json(
        {"error": "invalid_client", "error_description": "Bad credentials"}, status=401
    )
    return httpserver.url_for("/refusing/oauth/token")


def edit_url(request: ConnectionRequest) -> str:
    return f"/manage/connectivity/requests/{request.pk}/edit/"


def reestablish_url(request: ConnectionRequest) -> str:
    return f"/admin-center/connections/{request.pk}/reestablish/"


class Elements(HTMLParser):
    """Every element of an answer that has an id: its tag and attributes, and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._open: list[str] = []
        self.text: dict[str, str] = {}
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        attributes["tag"] = tag
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.by_id[attributes["id"]] = attributes
            self.text[attributes["id"]] = ""
        if tag not in VOID:  # void elements have no end tag: nothing to close
            self._open.append(attributes.get("id", ""))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self._open:
            if element_id:
                self.text[element_id] += data


def assert_only_the_error_regions(response, *, prefix: str, secret: str = SECRET) -> Elements:
    """The htmx answer to a refused paste: 200, no main swap, out-of-band regions, no box, no paste."""
    page = response.content.decode()
    assert response.status_code == 200  # htmx does not swap 4xx answers
    assert response["HX-Reswap"] == "none"  # nothing replaces the dialog or the form...
    assert "paste-refused" in response["HX-Trigger-After-Settle"]  # ...and the page marks the fields
    assert "HX-Request" in response["Vary"]
    assert secret not in page
    assert "<textarea" not in page
    assert "<form" not in page
    elements = Elements(page)
    for region in (f"{prefix}credentials-form-errors", f"{prefix}credentials-errors", f"{prefix}skip_test-choice"):
        assert elements.by_id[region].get("hx-swap-oob") == "true"
    # Announced and linked to its field, the role on a wrapping div (never on the list itself).
    errors = elements.by_id[f"{prefix}credentials-errors"]
    assert (errors["tag"], errors.get("role"), errors["data-errors-for"]) == ("div", "alert", f"{prefix}credentials")
    assert not [tag for tag, attributes in elements.tags if tag == "ul" and "role" in attributes]
    return elements


# --- Edit Credentials (S1) ------------------------------------------------------------------------
def test_a_malformed_paste_in_the_dialog_answers_only_the_errors_without_the_paste(client, tenant_admin, submitted):
    client.force_login(tenant_admin)
    before = submitted.tenant_credentials()

    response = client.post(edit_url(submitted), {"credentials": MALFORMED}, headers=HTMX)

    elements = assert_only_the_error_regions(response, prefix="edit_")
    assert "The credentials are not valid JSON" in elements.text["edit_credentials-errors"]
    assert "hidden" in elements.by_id["edit_skip_test-choice"]  # no test ran: nothing to skip
    assert "edit_skip_test" not in elements.by_id
    submitted.refresh_from_db()
    assert submitted.tenant_credentials() == before
    assert not AuditEvent.objects.filter(action="connection_request.edit_credentials").exists()


def test_a_failed_connection_test_in_the_dialog_offers_to_save_without_testing_without_the_paste(
    client, tenant_admin, submitted, refusing_token_endpoint
):
    client.force_login(tenant_admin)
    before = submitted.tenant_credentials()

    response = client.post(
        edit_url(submitted), {"credentials": client_secret_json(refusing_token_endpoint, secret=SECRET)}, headers=HTMX
    )

    elements = assert_only_the_error_regions(response, prefix="edit_")
    assert "The connection test failed" in elements.text["edit_credentials-errors"]
    assert "hidden" not in elements.by_id["edit_skip_test-choice"]
    assert "Save without testing the connection" in elements.text["edit_skip_test-choice"]
    checkbox = elements.by_id["edit_skip_test"]
    assert (checkbox["type"], checkbox["name"]) == ("checkbox", "skip_test")
    assert "checked" not in checkbox  # saving untested stays the user's explicit choice
    submitted.refresh_from_db()
    assert submitted.tenant_credentials() == before


def test_the_same_paste_sent_again_with_save_without_testing_is_saved_untested(
    client, tenant_admin, submitted, refusing_token_endpoint
):
    client.force_login(tenant_admin)
    paste = client_secret_json(refusing_token_endpoint, client_id="sb-kept", secret=SECRET)
    client.post(edit_url(submitted), {"credentials": paste}, headers=HTMX)

    response = client.post(edit_url(submitted), {"credentials": paste, "skip_test": "on"}, headers=HTMX)

    assert "You've updated the API Portal access credentials successfully." in html.unescape(response.content.decode())
    assert SECRET not in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.client_id == "sb-kept"
    assert submitted.health == ConnectionRequest.Health.UNTESTED


def test_a_bad_paste_without_htmx_shows_an_empty_box_and_asks_to_paste_again(client, tenant_admin, submitted):
    client.force_login(tenant_admin)

    response = client.post(edit_url(submitted), {"credentials": MALFORMED})

    page = response.content.decode()
    elements = Elements(page)
    assert response.status_code == 200
    assert "<html" in page
    assert "The credentials are not valid JSON" in elements.text["edit_credentials-errors"]
    assert "Paste the credentials again" in elements.text["edit_credentials-help"]
    assert elements.by_id["edit_credentials"]["aria-invalid"] == "true"
    assert elements.by_id["edit_credentials"]["aria-describedby"] == "edit_credentials-errors edit_credentials-help"
    assert elements.text["edit_credentials"] == ""
    assert SECRET not in page


def test_the_dialog_opens_with_its_error_regions_empty_and_hidden(client, tenant_admin, submitted):
    client.force_login(tenant_admin)

    elements = Elements(client.get(edit_url(submitted), headers=HTMX).content.decode())

    for region in ("edit_credentials-form-errors", "edit_credentials-errors", "edit_skip_test-choice"):
        assert "hidden" in elements.by_id[region]
        assert elements.text[region].strip() == ""
    assert "aria-invalid" not in elements.by_id["edit_credentials"]
    assert "Paste the credentials again" not in elements.text["edit_credentials-help"]


def test_the_edit_credentials_page_is_a_plain_form_with_a_cancel_link(client, tenant_admin, submitted):
    """The page behind the dialog (no JavaScript, or opened in a tab of its own) has no dialog to swap
    into or to close: it posts and cancels as a page, and says to paste again after an error."""
    client.force_login(tenant_admin)

    elements = Elements(client.get(edit_url(submitted)).content.decode())

    form = next(attributes for tag, attributes in elements.tags if tag == "form" and "edit" in attributes["action"])
    assert "hx-post" not in form
    buttons = [a for tag, a in elements.tags if tag == "a" and a.get("class") == "button"]
    assert [a["href"] for a in buttons] == ["/manage/connectivity/"]  # Cancel
    assert "data-close-dialog" not in buttons[0]


# --- Re-establish Connection (S2) -----------------------------------------------------------------
@pytest.fixture
def approved(submitted, hub_admin) -> ConnectionRequest:
    from approvals.services import connection_request_decide

    return connection_request_decide(connection_request_id=submitted.pk, approver=hub_admin, verdict="approve")


def test_a_malformed_paste_on_the_reestablish_page_answers_only_the_errors_without_the_paste(
    client, hub_admin, approved
):
    client.force_login(hub_admin)
    before = approved.tenant_credentials()

    response = client.post(reestablish_url(approved), {"credentials": MALFORMED}, headers={"HX-Request": "true"})

    elements = assert_only_the_error_regions(response, prefix="id_")
    assert "The credentials are not valid JSON" in elements.text["id_credentials-errors"]
    approved.refresh_from_db()
    assert approved.tenant_credentials() == before
    assert not AuditEvent.objects.filter(action="connection_request.reestablish").exists()


def test_a_failed_connection_test_on_the_reestablish_page_offers_to_save_without_testing(
    client, hub_admin, approved, refusing_token_endpoint
):
    client.force_login(hub_admin)
    before = approved.tenant_credentials()

    response = client.post(
        reestablish_url(approved),
        {"credentials": client_secret_json(refusing_token_endpoint, secret=SECRET), "generated_on": "2026-01-05"},
        headers={"HX-Request": "true"},
    )

    elements = assert_only_the_error_regions(response, prefix="id_")
    assert "The connection test failed" in elements.text["id_credentials-errors"]
    assert "Save without testing the connection" in elements.text["id_skip_test-choice"]
    assert elements.by_id["id_skip_test"]["name"] == "skip_test"
    approved.refresh_from_db()
    assert approved.tenant_credentials() == before


def test_a_future_generation_date_on_the_reestablish_page_is_answered_beside_its_field(
    client, hub_admin, approved, token_endpoint
):
    client.force_login(hub_admin)

    response = client.post(
        reestablish_url(approved),
        {"credentials": client_secret_json(token_endpoint, secret=SECRET), "generated_on": "2999-01-01"},
        headers={"HX-Request": "true"},
    )

    elements = assert_only_the_error_regions(response, prefix="id_")
    assert "cannot be in the future" in elements.text["id_generated_on-errors"]
    assert elements.by_id["id_generated_on-errors"]["data-errors-for"] == "id_generated_on"


def test_reestablishing_with_htmx_goes_to_approved_requests(client, hub_admin, approved, token_endpoint):
    client.force_login(hub_admin)

    response = client.post(
        reestablish_url(approved),
        {"credentials": client_secret_json(token_endpoint, client_id="sb-fresh", secret=SECRET)},
        headers={"HX-Request": "true"},
    )

    assert response["HX-Redirect"] == f"/admin-center/connections/approved/#request-{approved.pk}"
    approved.refresh_from_db()
    assert approved.client_id == "sb-fresh"
    page = client.get("/admin-center/connections/approved/").content.decode()
    assert "You've updated the SAP Integration Suite API Management tenant access credentials" in html.unescape(page)


def test_a_bad_paste_on_the_reestablish_page_without_htmx_asks_to_paste_again(client, hub_admin, approved):
    client.force_login(hub_admin)

    response = client.post(reestablish_url(approved), {"credentials": MALFORMED})

    page = response.content.decode()
    elements = Elements(page)
    assert "<html" in page
    assert "Paste the credentials again" in elements.text["id_credentials-help"]
    assert elements.text["id_credentials"] == ""
    assert SECRET not in page
    assert "HX-Request" in response["Vary"]


# --- New connection request -----------------------------------------------------------------------
def test_a_malformed_paste_in_a_new_request_answers_only_the_errors_without_the_paste(client, tenant_admin, tenant):
    client.force_login(tenant_admin)

    response = client.post(SUBMIT, {"tenant": tenant.pk, "credentials": MALFORMED}, headers={"HX-Request": "true"})

    elements = assert_only_the_error_regions(response, prefix="id_")
    assert "The credentials are not valid JSON" in elements.text["id_credentials-errors"]
    assert "<select" not in response.content.decode()  # the chosen API portal stays as chosen
    assert not ConnectionRequest.objects.exists()


def test_a_failed_connection_test_in_a_new_request_offers_to_save_without_testing(
    client, tenant_admin, tenant, failing_token_endpoint
):
    client.force_login(tenant_admin)

    response = client.post(
        SUBMIT,
        {"tenant": tenant.pk, "credentials": client_secret_json(failing_token_endpoint, secret=SECRET)},
        headers={"HX-Request": "true"},
    )

    elements = assert_only_the_error_regions(response, prefix="id_")
    assert "The connection test failed" in elements.text["id_credentials-errors"]
    assert "Save without testing the connection" in elements.text["id_skip_test-choice"]
    assert not ConnectionRequest.objects.exists()


def test_another_organizations_tenant_in_a_new_request_is_answered_beside_the_api_portal(
    client, tenant_admin, tenant, other_organization, token_endpoint
):
    foreign = TenantFactory(
        organization=other_organization, alias="globex", url="https://globex.example.com", registered_by=tenant_admin
    )
    client.force_login(tenant_admin)

    response = client.post(
        SUBMIT,
        {"tenant": foreign.pk, "credentials": client_secret_json(token_endpoint, secret=SECRET)},
        headers={"HX-Request": "true"},
    )

    elements = assert_only_the_error_regions(response, prefix="id_")
    region = elements.by_id["id_tenant-errors"]
    assert (region.get("hx-swap-oob"), region.get("role"), region["data-errors-for"]) == ("true", "alert", "id_tenant")
    assert "Select a valid choice" in elements.text["id_tenant-errors"]
    assert not ConnectionRequest.objects.exists()


def test_an_open_request_for_the_tenant_is_answered_above_the_fields(client, tenant_admin, submitted, token_endpoint):
    client.force_login(tenant_admin)

    response = client.post(
        SUBMIT,
        {"tenant": submitted.tenant.pk, "credentials": client_secret_json(token_endpoint, secret=SECRET)},
        headers={"HX-Request": "true"},
    )

    elements = assert_only_the_error_regions(response, prefix="id_")
    region = elements.by_id["id_credentials-form-errors"]
    assert (region.get("role"), "hidden" in region) == ("alert", False)
    assert "already has a submitted or approved connection request" in elements.text["id_credentials-form-errors"]
    assert ConnectionRequest.objects.count() == 1


def test_submitting_a_new_request_with_htmx_goes_back_to_the_list(client, tenant_admin, tenant, token_endpoint):
    client.force_login(tenant_admin)

    response = client.post(
        SUBMIT,
        {"tenant": tenant.pk, "credentials": client_secret_json(token_endpoint, secret=SECRET)},
        headers={"HX-Request": "true"},
    )

    assert response["HX-Redirect"] == "/manage/connectivity/"
    assert ConnectionRequest.objects.get().tenant == tenant
    assert "Your connection request for acme-dev is submitted." in client.get("/manage/connectivity/").content.decode()


def test_a_bad_paste_in_a_new_request_without_htmx_asks_to_paste_again(client, tenant_admin, tenant):
    client.force_login(tenant_admin)
    paste = json.dumps({"url": "https://acme.example.com", "clientSecret": SECRET})

    response = client.post(SUBMIT, {"tenant": tenant.pk, "credentials": paste})

    page = response.content.decode()
    elements = Elements(page)
    assert "<html" in page
    assert 'The "tokenUrl" field is missing.' in elements.text["id_credentials-errors"]
    assert "Paste the credentials again" in elements.text["id_credentials-help"]
    assert elements.text["id_credentials"] == ""
    assert SECRET not in page
    assert "HX-Request" in response["Vary"]
