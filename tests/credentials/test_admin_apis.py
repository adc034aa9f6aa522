"""Admin Center > APIs: consumption settings, and the keys of one API with Change expiry."""

import html
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.models import Api, ApiKey, KeyDeployment, RuntimeTarget
from portal.models import AuditEvent
from portal.roles import Role
from tests.factories import UserFactory

APIS = "/admin-center/apis/"
NEW_API = "/admin-center/apis/new/"
HTMX = {"HX-Request": "true"}


def edit_url(api: Api) -> str:
    return f"/admin-center/apis/{api.pk}/edit/"


def keys_url(api: Api) -> str:
    return f"/admin-center/apis/{api.pk}/keys/"


def expiry_url(key: ApiKey) -> str:
    return f"/admin-center/apis/{key.api_id}/keys/{key.pk}/expiry/"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def target(db):
    return RuntimeTarget.objects.create(
        name="mediator-eu",
        base_url="https://gw.example.com",
        signing_secret="not-used-here",
        verify_token_prefix="prt_gw_TEST0001",
        verify_token_digest="0" * 64,
    )


@pytest.fixture
def api(organization):
    return Api.objects.create(name="Payments", slug="payments", provider=organization, key_lifetime_days=90)


def make_keys(api: Api, count: int, *, start: int = 0, days: int = 60) -> list[ApiKey]:
    """`count` active keys of `api`, each held by a consumer of its own (one open key per consumer)."""
    now = timezone.now()
    keys = []
    for i in range(start, start + count):
        consumer = UserFactory(username=f"holder-{i:03d}", roles=(Role.CONSUMER,))
        keys.append(
            ApiKey(
                consumer=consumer,
                api=api,
                prefix=f"prt_key_{i:08d}",
                status=ApiKey.Status.ACTIVE,
                expires_at=now + timedelta(days=days, hours=1),
            )
        )
    return ApiKey.objects.bulk_create(keys)


@pytest.fixture
def key(api, consumer):
    return ApiKey.objects.create(
        consumer=consumer,
        api=api,
        prefix="prt_key_AbCd1234",
        status=ApiKey.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=40, hours=1),
    )


def valid_form(organization, **overrides) -> dict[str, object]:
    data = {
        "name": "Orders API",
        "slug": "orders",
        "description": "Create and track orders.",
        "provider": organization.pk,
        "key_lifetime_days": "180",
        "approval_mode": "any",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- the list -------------------------------------------------------------------------------------
def test_api_list_shows_each_apis_consumption_settings(client, hub_admin, api, target, approver):
    api.runtime_target = target
    api.renewal_requires_approval = True
    api.approval_mode = Api.ApprovalMode.ALL
    api.save()
    api.approvers.add(approver)
    Api.objects.create(name="Weather", slug="weather", provider=api.provider, key_lifetime_days=None)
    make_keys(api, 2)
    ApiKey.objects.filter(api=api).update(status=ApiKey.Status.REVOKED)
    make_keys(api, 3, start=10)
    client.force_login(hub_admin)
    page = page_text(client.get(APIS))
    for text in ("Payments", "payments", "90 days", "All approvers", approver.get_full_name(), "mediator-eu"):
        assert text in page
    assert "Unlimited" in page  # Weather
    assert "3 active keys" in page  # revoked keys do not count
    assert "0 active keys" in page


def test_expired_keys_do_not_count_as_active(client, hub_admin, api):
    make_keys(api, 2)
    make_keys(api, 1, start=5, days=-3)
    client.force_login(hub_admin)
    assert "2 active keys" in page_text(client.get(APIS))


def test_api_list_costs_the_same_queries_at_5_and_50_apis(client, hub_admin, organization, approver, target):
    client.force_login(hub_admin)

    def add_apis(start: int, count: int) -> None:
        for i in range(start, start + count):
            api = Api.objects.create(
                name=f"API {i:03d}", slug=f"api-{i:03d}", provider=organization, runtime_target=target
            )
            api.approvers.add(approver)
            make_keys(api, 1, start=i)

    add_apis(0, 5)
    with CaptureQueriesContext(connection) as at_5:
        assert client.get(APIS).status_code == 200
    add_apis(5, 45)
    with CaptureQueriesContext(connection) as at_50:
        assert client.get(APIS).status_code == 200
    assert len(at_50) == len(at_5)


def test_htmx_pagination_of_the_api_list_returns_only_the_results(client, hub_admin, api):
    client.force_login(hub_admin)
    response = client.get(APIS, headers=HTMX)
    assert "<html" not in response.content.decode()
    assert 'id="api-results"' in response.content.decode()
    assert "HX-Request" in response["Vary"]


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


# --- the keys of one API --------------------------------------------------------------------------
def test_the_keys_page_shows_each_key_with_status_expiry_use_and_deployment(client, hub_admin, api, key, outsider):
    soon = make_keys(api, 1, start=1, days=12)[0]
    unlimited = ApiKey.objects.create(consumer=outsider, api=api, prefix="prt_key_UNLIMITD", expires_at=None)
    unlimited.last_used_at = timezone.now()
    unlimited.deployment_state = ApiKey.Deployment.DEPLOYED
    unlimited.save()
    client.force_login(hub_admin)
    page = page_text(client.get(keys_url(api)))
    assert key.consumer.get_full_name() in page and "prt_key_AbCd1234" in page
    assert "Active" in page
    assert "40 days left" in page
    assert 'badge--warn">12 days left' in page  # fewer than 30 days: highlighted
    assert soon.prefix in page
    assert "Unlimited" in page and "Deployed" in page
    assert "Never" in page  # last used
    assert "Change expiry" in page
    assert "No runtime target" in page


def test_the_keys_page_shows_the_computed_status(client, hub_admin, api, key):
    key.expires_at = timezone.now() - timedelta(hours=1)  # still stored active: the sweep has not run
    key.save()
    client.force_login(hub_admin)
    assert 'badge--bad">Expired' in page_text(client.get(keys_url(api)))


def test_the_keys_page_costs_the_same_queries_at_5_and_50_keys(client, hub_admin, api, target):
    api.runtime_target = target
    api.save()
    client.force_login(hub_admin)
    make_keys(api, 5)
    with CaptureQueriesContext(connection) as at_5:
        assert client.get(keys_url(api)).status_code == 200
    make_keys(api, 45, start=5)
    with CaptureQueriesContext(connection) as at_50:
        assert client.get(keys_url(api)).status_code == 200
    assert len(at_50) == len(at_5)


def test_the_keys_page_is_paginated_and_searchable(client, hub_admin, api):
    make_keys(api, 30)
    client.force_login(hub_admin)
    page = page_text(client.get(keys_url(api)))
    assert "Page 1 of 2" in page and "30 keys" in page
    response = client.get(keys_url(api) + "?q=holder-007", headers=HTMX)
    fragment = page_text(response)
    assert "<html" not in fragment
    assert "holder-007" in fragment and "holder-008" not in fragment
    assert "HX-Request" in response["Vary"]


def test_a_key_of_another_api_is_404_under_this_api(client, hub_admin, api, key, organization):
    other = Api.objects.create(name="Weather", slug="weather", provider=organization)
    client.force_login(hub_admin)
    assert client.get(f"/admin-center/apis/{other.pk}/keys/{key.pk}/expiry/").status_code == 404
    assert client.post(f"/admin-center/apis/{other.pk}/keys/{key.pk}/expiry/", {}).status_code == 404


# --- Change expiry --------------------------------------------------------------------------------
def expiry_data(key: ApiKey, *, when: str = "", unlimited: bool = False) -> dict[str, str]:
    data = {f"key-{key.pk}-expires_at": when}
    if unlimited:
        data[f"key-{key.pk}-unlimited"] = "on"
    return data


def in_days(days: int) -> str:
    return f"{timezone.now() + timedelta(days=days):%Y-%m-%dT%H:%M}"


def test_change_expiry_with_htmx_answers_with_the_updated_row_and_emails_the_consumer(
    client, hub_admin, key, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    new_expiry = in_days(200)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=new_expiry), headers=HTMX)
    assert response.status_code == 200
    fragment = page_text(response)
    assert "<html" not in fragment
    assert fragment.lstrip().startswith(f'<tbody id="key-{key.pk}"')
    assert "editor-row" not in fragment  # saved: the editor closes
    assert "199 days left" in fragment or "200 days left" in fragment
    assert 'hx-swap-oob="true"' in fragment and "The consumer is told by email." in fragment
    assert response["HX-Trigger"] == "apiKeyExpiryChanged"
    assert "HX-Request" in response["Vary"]
    key.refresh_from_db()
    assert f"{key.expires_at:%Y-%m-%dT%H:%M}" == new_expiry
    event = AuditEvent.objects.get(action="api_key.set_expiry")
    assert event.actor == hub_admin and key.prefix in event.summary
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [key.consumer.email]
    assert key.prefix in mail.body
    assert f"{key.expires_at:%Y-%m-%d %H:%M}" in mail.body


def test_change_expiry_without_htmx_redirects_to_the_keys_page(
    client, hub_admin, key, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=in_days(10)))
    assert response.status_code == 302
    assert response["Location"] == f"{keys_url(key.api)}#key-{key.pk}"
    key.refresh_from_db()
    assert key.days_left() in (9, 10)
    assert len(mailoutbox) == 1
    page = page_text(client.get(response["Location"]))
    assert f"Key {key.prefix} of {key.consumer.get_full_name()} now expires on" in page


def test_making_a_key_unlimited_tells_the_consumer_it_never_expires(
    client, hub_admin, key, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=in_days(5), unlimited=True), headers=HTMX)
    assert "Unlimited" in page_text(response)
    key.refresh_from_db()
    assert key.expires_at is None
    assert "from " in AuditEvent.objects.get(action="api_key.set_expiry").summary
    assert "to unlimited" in AuditEvent.objects.get(action="api_key.set_expiry").summary
    assert "never expires" in mailoutbox[0].body


def test_an_expired_key_given_a_future_expiry_is_active_again(client, hub_admin, key):
    key.status = ApiKey.Status.EXPIRED
    key.expires_at = timezone.now() - timedelta(days=2)
    key.save()
    client.force_login(hub_admin)
    client.post(expiry_url(key), expiry_data(key, when=in_days(30)), headers=HTMX)
    key.refresh_from_db()
    assert key.status == ApiKey.Status.ACTIVE


def test_changing_the_expiry_deploys_the_key_to_the_runtime_target(
    client, hub_admin, key, target, django_capture_on_commit_callbacks
):
    key.api.runtime_target = target
    key.api.save()
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks():
        client.post(expiry_url(key), expiry_data(key, when=in_days(30)), headers=HTMX)
    deployment = KeyDeployment.objects.get(api_key=key)
    assert deployment.reason == "changed" and deployment.target == target
    assert deployment.payload["expires_at"] is not None


INVALID_EXPIRIES = [
    pytest.param("", "Choose the new expiry date and time, or tick Unlimited.", id="empty"),
    pytest.param("yesterday", "Enter a date and time", id="not-a-date"),
    pytest.param("2001-01-01T10:00", "The new expiry must be in the future.", id="past"),
    pytest.param("2999-01-01T10:00", "at most 10 years ahead", id="too-far"),
]


@pytest.mark.parametrize(("when", "message"), INVALID_EXPIRIES)
def test_an_invalid_expiry_with_htmx_reopens_the_row_with_the_error_and_changes_nothing(
    client, hub_admin, key, mailoutbox, when, message, django_capture_on_commit_callbacks
):
    before = key.expires_at
    client.force_login(hub_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(expiry_url(key), expiry_data(key, when=when), headers=HTMX)
    assert response.status_code == 200
    fragment = page_text(response)
    assert "<html" not in fragment
    assert message in fragment
    assert 'class="editor-row"' in fragment  # the editor stays open beside the error
    key.refresh_from_db()
    assert key.expires_at == before
    assert not AuditEvent.objects.filter(action="api_key.set_expiry").exists()
    assert mailoutbox == []


@pytest.mark.parametrize(("when", "message"), INVALID_EXPIRIES)
def test_an_invalid_expiry_without_htmx_shows_the_form_page_with_the_error(client, hub_admin, key, when, message):
    before = key.expires_at
    client.force_login(hub_admin)
    response = client.post(expiry_url(key), expiry_data(key, when=when))
    assert response.status_code == 200
    page = page_text(response)
    assert "<html" in page and "Change expiry" in page
    assert message in page
    key.refresh_from_db()
    assert key.expires_at == before


def test_a_revoked_keys_expiry_cannot_be_changed(client, hub_admin, key):
    key.status = ApiKey.Status.REVOKED
    key.save()
    client.force_login(hub_admin)
    assert "Change expiry" not in page_text(client.get(keys_url(key.api))).split("</thead>")[1]
    response = client.post(expiry_url(key), expiry_data(key, when=in_days(30)))
    assert response.status_code == 200
    assert "This key is revoked." in page_text(response)
    key.refresh_from_db()
    assert key.expires_at is not None and key.status == ApiKey.Status.REVOKED
    assert not AuditEvent.objects.filter(action="api_key.set_expiry").exists()


def test_the_change_expiry_page_works_without_javascript(client, hub_admin, key):
    client.force_login(hub_admin)
    page = page_text(client.get(expiry_url(key)))
    assert "<html" in page
    assert f'action="{expiry_url(key)}"' in page
    assert f'name="key-{key.pk}-expires_at"' in page
    assert "Unlimited (never expires)" in page


# --- who may ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["consumer", "org_admin", "tenant_admin", "approver", "outsider"])
def test_only_hub_admins_manage_apis_and_keys(client, request, role, organization, api, key):
    client.force_login(request.getfixturevalue(role))
    for method, url, data in [
        ("get", APIS, None),
        ("get", NEW_API, None),
        ("post", NEW_API, valid_form(organization, slug="sneaky")),
        ("get", edit_url(api), None),
        ("post", edit_url(api), valid_form(organization, name="Hijacked", slug="payments")),
        ("get", keys_url(api), None),
        ("get", expiry_url(key), None),
        ("post", expiry_url(key), expiry_data(key, unlimited=True)),
    ]:
        response = getattr(client, method)(url, data) if data else getattr(client, method)(url)
        assert response.status_code == 403, (method, url)
    api.refresh_from_db()
    key.refresh_from_db()
    assert api.name == "Payments" and not Api.objects.filter(slug="sneaky").exists()
    assert key.expires_at is not None
    assert not AuditEvent.objects.exists()


def test_anonymous_visitors_are_sent_to_log_on(client, api):
    response = client.get(APIS)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", APIS),
        ("put", NEW_API),
        ("delete", "/admin-center/apis/1/edit/"),
        ("post", "/admin-center/apis/1/keys/"),
    ],
)
def test_wrong_methods_are_405(client, hub_admin, method, url):
    client.force_login(hub_admin)
    assert getattr(client, method)(url).status_code == 405


def test_the_admin_center_links_to_apis_and_runtime_targets(client, hub_admin):
    client.force_login(hub_admin)
    page = page_text(client.get("/admin-center/"))
    assert 'href="/admin-center/apis/"' in page and 'href="/admin-center/targets/"' in page
    assert "Runtime targets" in page
