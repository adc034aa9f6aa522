"""Admin Center > APIs: creating an API and editing its consumption settings."""

import pytest
from django.contrib.auth.models import Group

from credentials.keys.models import Api, ApiKey, KeyDeployment
from portal.models import AuditEvent
from portal.roles import Role
from tests.credentials.keys.helpers import APIS, NEW_API, edit_url, make_keys, page_text, valid_form
from tests.factories import UserFactory


# --- create ---------------------------------------------------------------------------------------
def test_creating_an_api_saves_its_settings_and_audits_them(client, hub_admin, organization, approver, target):
    client.force_login(hub_admin)
    group = Group.objects.get(name=Role.APPROVER)
    response = client.post(
        NEW_API,
        valid_form(
            organization,
            renewal_requires_approval="on",
            approvers=[approver.pk],
            approver_group=group.pk,
            approval_mode="all",
            runtime_target=target.pk,
        ),
    )
    api = Api.objects.get(slug="orders")
    assert response.status_code == 302
    assert response["Location"] == f"{APIS}#api-{api.pk}"
    assert api.name == "Orders API"
    assert api.provider == organization
    assert api.key_lifetime_days == 180
    assert api.renewal_requires_approval is True
    assert api.approval_mode == Api.ApprovalMode.ALL
    assert list(api.approvers.all()) == [approver]
    assert api.approver_group == group
    assert api.runtime_target == target
    event = AuditEvent.objects.get(action="api.create")
    assert event.actor == hub_admin
    assert event.target_id == str(api.pk)
    assert "key lifetime 180 days" in event.summary
    assert "renewal approval required" in event.summary
    assert "approvers approver" in event.summary
    assert "runtime target mediator-eu" in event.summary
    page = page_text(client.get(APIS))
    assert "The API Orders API is created." in page


def test_the_slug_is_derived_from_the_name_when_left_empty(client, hub_admin, organization):
    client.force_login(hub_admin)
    client.post(NEW_API, valid_form(organization, name="Fleet Tracking v2", slug=""))
    assert Api.objects.filter(slug="fleet-tracking-v2").exists()


def test_unlimited_keys_ignore_the_number_of_days(client, hub_admin, organization):
    client.force_login(hub_admin)
    client.post(NEW_API, valid_form(organization, key_lifetime_days="0", unlimited="on"))
    api = Api.objects.get(slug="orders")
    assert api.key_lifetime_days is None
    assert "key lifetime Unlimited" in AuditEvent.objects.get(action="api.create").summary


def test_an_approver_group_alone_is_enough_for_approval(client, hub_admin, organization):
    client.force_login(hub_admin)
    group = Group.objects.get(name=Role.APPROVER)
    client.post(NEW_API, valid_form(organization, renewal_requires_approval="on", approver_group=group.pk))
    api = Api.objects.get(slug="orders")
    assert api.renewal_requires_approval and api.approver_group == group and not api.approvers.exists()


INVALID_INPUTS = [
    pytest.param({"name": ""}, "name", "This field is required.", id="name-missing"),
    pytest.param({"provider": None}, "provider", "This field is required.", id="provider-missing"),
    pytest.param({"slug": "not a slug!"}, "slug", "Enter a valid “slug”", id="slug-invalid"),
    pytest.param({"key_lifetime_days": ""}, "key_lifetime_days", "Enter the key lifetime in days", id="lifetime-empty"),
    pytest.param({"key_lifetime_days": "0"}, "key_lifetime_days", "between 1 and 3650 days", id="lifetime-zero"),
    pytest.param({"key_lifetime_days": "3651"}, "key_lifetime_days", "between 1 and 3650 days", id="lifetime-too-long"),
    pytest.param({"key_lifetime_days": "-5"}, "key_lifetime_days", "Enter a whole number of days.", id="lifetime-neg"),
    pytest.param(
        {"key_lifetime_days": "30.5"}, "key_lifetime_days", "Enter a whole number of days.", id="lifetime-frac"
    ),
    pytest.param(
        {"renewal_requires_approval": "on"},
        "approvers",
        "Renewal needs approval: choose at least one approver or an approver group.",
        id="approval-without-approvers",
    ),
    pytest.param({"approval_mode": "most"}, "approval_mode", "Select a valid choice.", id="mode-unknown"),
    pytest.param({"approval_mode": None}, "approval_mode", "This field is required.", id="mode-missing"),
    pytest.param({"runtime_target": "999999"}, "runtime_target", "Select a valid choice.", id="target-unknown"),
    pytest.param({"approver_group": "999999"}, "approver_group", "Select a valid choice.", id="group-unknown"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID_INPUTS)
def test_creating_with_invalid_input_shows_the_error_beside_the_field_and_saves_nothing(
    client, hub_admin, organization, overrides, field, message
):
    client.force_login(hub_admin)
    response = client.post(NEW_API, valid_form(organization, **overrides))
    assert response.status_code == 200
    page = page_text(response)
    assert message in page
    assert f'id="id_{field}_error"' in page
    assert "Nothing was saved" in page
    assert not Api.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="api.").exists()


def test_an_inactive_user_cannot_be_named_approver(client, hub_admin, organization):
    gone = UserFactory(username="gone", is_active=False, roles=(Role.APPROVER,))
    client.force_login(hub_admin)
    response = client.post(NEW_API, valid_form(organization, renewal_requires_approval="on", approvers=[gone.pk]))
    assert response.status_code == 200
    assert 'id="id_approvers_error"' in response.content.decode()
    assert not Api.objects.exists()


def test_a_taken_slug_is_refused(client, hub_admin, organization, api):
    client.force_login(hub_admin)
    response = client.post(NEW_API, valid_form(organization, slug="payments"))
    assert response.status_code == 200
    assert "Another API already uses the slug “payments”." in page_text(response)
    assert Api.objects.count() == 1


def test_the_form_lists_approvers_and_hub_admins_apart_from_other_users(client, hub_admin, approver, consumer):
    client.force_login(hub_admin)
    page = page_text(client.get(NEW_API))
    recommended, _, others = page.partition("Other active users")
    assert f"{approver.get_full_name()} (approver) · Approver" in recommended
    assert f"{hub_admin.get_full_name()} (hub-admin) · Hub admin" in recommended
    assert "(consumer)" in others and "(consumer)" not in recommended
    assert "cannot open the Approvals inbox" in others


# --- edit -----------------------------------------------------------------------------------------
def test_editing_records_what_changed_before_and_after(client, hub_admin, organization, api, approver, target):
    client.force_login(hub_admin)
    response = client.post(
        edit_url(api),
        valid_form(
            organization,
            name="Payments",
            slug="payments",
            description="",
            unlimited="on",
            renewal_requires_approval="on",
            approvers=[approver.pk],
            runtime_target=target.pk,
        ),
    )
    assert response.status_code == 302
    api.refresh_from_db()
    assert api.key_lifetime_days is None
    assert api.renewal_requires_approval is True
    assert list(api.approvers.all()) == [approver]
    assert api.runtime_target == target
    event = AuditEvent.objects.get(action="api.update")
    assert event.actor == hub_admin
    for change in (
        "key lifetime 90 days → Unlimited",
        "renewal approval not required → required",
        "approvers none → approver",
        "runtime target none → mediator-eu",
    ):
        assert change in event.summary
    assert "slug" not in event.summary  # unchanged facts are not listed


def test_the_edit_form_shows_the_current_settings(client, hub_admin, api, approver):
    api.approvers.add(approver)
    client.force_login(hub_admin)
    page = page_text(client.get(edit_url(api)))
    assert 'value="Payments"' in page
    assert 'name="key_lifetime_days" value="90"' in page
    assert f'value="{approver.pk}"' in page and "checked" in page


def test_saving_unchanged_settings_records_nothing(client, hub_admin, organization, api):
    client.force_login(hub_admin)
    before = api.updated_at
    response = client.post(
        edit_url(api),
        valid_form(organization, name="Payments", slug="payments", description="", key_lifetime_days="90"),
    )
    assert response.status_code == 302
    api.refresh_from_db()
    assert api.updated_at == before
    assert not AuditEvent.objects.filter(action="api.update").exists()


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID_INPUTS)
def test_editing_with_invalid_input_changes_nothing(client, hub_admin, organization, api, overrides, field, message):
    client.force_login(hub_admin)
    before = {f.attname: getattr(api, f.attname) for f in Api._meta.concrete_fields}
    response = client.post(edit_url(api), valid_form(organization, **overrides))
    assert response.status_code == 200
    assert message in page_text(response)
    api.refresh_from_db()
    assert {f.attname: getattr(api, f.attname) for f in Api._meta.concrete_fields} == before
    assert not AuditEvent.objects.filter(action="api.update").exists()


def test_editing_to_another_apis_slug_is_refused(client, hub_admin, organization, api):
    other = Api.objects.create(name="Weather", slug="weather", provider=organization)
    client.force_login(hub_admin)
    response = client.post(edit_url(other), valid_form(organization, name="Weather", slug="payments"))
    assert "Another API already uses the slug “payments”." in page_text(response)
    other.refresh_from_db()
    assert other.slug == "weather"


def test_a_new_runtime_target_gets_every_usable_key_deployed(
    client, hub_admin, organization, api, target, django_capture_on_commit_callbacks
):
    usable = make_keys(api, 2)
    revoked = make_keys(api, 1, start=10)[0]
    revoked.status = ApiKey.Status.REVOKED
    revoked.save()
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(
            edit_url(api),
            valid_form(
                organization, name="Payments", slug="payments", key_lifetime_days="90", runtime_target=target.pk
            ),
        )
    deployments = KeyDeployment.objects.filter(target=target, reason="changed")
    assert sorted(d.api_key_id for d in deployments) == sorted(k.pk for k in usable)
    assert all(d.payload["api"] == "payments" for d in deployments)
    assert len(callbacks) == 2  # one delivery task per deployment, after commit
    assert set(ApiKey.objects.filter(pk__in=[k.pk for k in usable]).values_list("deployment_state", flat=True)) == {
        ApiKey.Deployment.PENDING
    }
    assert "2 keys queued for deployment" in AuditEvent.objects.get(action="api.update").summary


def test_edit_of_an_unknown_api_is_404(client, hub_admin):
    client.force_login(hub_admin)
    assert client.get("/admin-center/apis/999999/edit/").status_code == 404
