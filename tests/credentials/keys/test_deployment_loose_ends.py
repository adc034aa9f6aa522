"""No key state is lost between Portico and a gateway: a refused deployment can be retried by an
operator, and a runtime target that no longer serves an API is told to drop its keys."""

from io import StringIO

import pytest
from django.core.management import call_command

from credentials.keys import admin_services
from credentials.keys.models import ApiKey, KeyDeployment
from credentials.keys.services import api_key_issue
from portal.models import AuditEvent
from tests.credentials.keys.test_deployment import verified_body
from tests.factories import ApiFactory, RuntimeTargetFactory


@pytest.fixture
def old_target(db, httpserver):
    return RuntimeTargetFactory(name="Old gateway", base_url=httpserver.url_for("/old/"))


@pytest.fixture
def new_target(db, httpserver):
    return RuntimeTargetFactory(name="New gateway", base_url=httpserver.url_for("/new/"))


def posts(httpserver, path: str) -> list[dict]:
    return [verified_body(request) for request, _ in httpserver.log if request.path == path]


def test_moving_an_api_to_another_target_tells_the_old_one_to_drop_its_keys(
    httpserver, old_target, new_target, consumer, hub_admin, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/old/access-keys", method="POST").respond_with_json({"applied": True})
    httpserver.expect_request("/new/access-keys", method="POST").respond_with_json({"applied": True})
    api = ApiFactory(name="Weather", slug="weather", key_lifetime_days=90, runtime_target=old_target)
    with django_capture_on_commit_callbacks(execute=True):
        key, _secret = api_key_issue(api=api, consumer=consumer)
    settings = admin_services.ApiSettings.of(api)

    with django_capture_on_commit_callbacks(execute=True):
        admin_services.api_update(
            api_id=api.pk,
            settings=admin_services.ApiSettings(**{**settings.__dict__, "runtime_target": new_target}),
            updated_by=hub_admin,
        )

    old = posts(httpserver, "/old/access-keys")
    new = posts(httpserver, "/new/access-keys")
    assert [body["status"] for body in old] == ["active", "removed"]
    assert old[-1]["key_id"] == key.prefix and old[-1]["secrets"] == []
    assert [body["status"] for body in new] == ["active"]
    key.refresh_from_db()
    assert key.deployment_state == ApiKey.Deployment.DEPLOYED
    removal = KeyDeployment.objects.get(api_key=key, target=old_target, reason="moved")
    assert removal.state == KeyDeployment.State.DEPLOYED


def test_a_pending_removal_from_the_old_target_is_not_superseded_by_the_new_targets_deployment(
    httpserver, old_target, new_target, consumer, hub_admin, django_capture_on_commit_callbacks
):
    httpserver.expect_request("/old/access-keys", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_request("/new/access-keys", method="POST").respond_with_json({"applied": True})
    api = ApiFactory(key_lifetime_days=90, runtime_target=old_target)
    key, _secret = api_key_issue(api=api, consumer=consumer)
    settings = admin_services.ApiSettings.of(api)
    admin_services.api_update(
        api_id=api.pk,
        settings=admin_services.ApiSettings(**{**settings.__dict__, "runtime_target": new_target}),
        updated_by=hub_admin,
    )

    assert KeyDeployment.objects.filter(api_key=key, target=old_target, state=KeyDeployment.State.PENDING).count() == 1


def test_an_operator_retries_a_refused_deployment_and_it_is_audited(
    client, httpserver, new_target, consumer, hub_admin, django_capture_on_commit_callbacks
):
    httpserver.expect_ordered_request("/new/access-keys", method="POST").respond_with_json(
        {"error": "unknown_api"}, status=422
    )
    api = ApiFactory(key_lifetime_days=90, runtime_target=new_target)
    with django_capture_on_commit_callbacks(execute=True):
        key, _secret = api_key_issue(api=api, consumer=consumer)
    key.refresh_from_db()
    assert key.deployment_state == ApiKey.Deployment.FAILED
    client.force_login(hub_admin)
    page = client.get("/admin-center/targets/").content.decode()
    assert "1 refused" in page and "Retry failed deployments" in page

    httpserver.expect_ordered_request("/new/access-keys", method="POST").respond_with_json({"applied": True})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin-center/targets/{new_target.pk}/retry-failed/")

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.deployment_state == ApiKey.Deployment.DEPLOYED
    event = AuditEvent.objects.get(action="runtime_target.retry_failed")
    assert event.actor == hub_admin and "1 failed deployment" in event.summary


def test_only_hub_admins_retry_deployments(client, consumer, new_target):
    client.force_login(consumer)
    assert client.post(f"/admin-center/targets/{new_target.pk}/retry-failed/").status_code == 403


def test_the_command_retries_failed_deployments_too(
    httpserver, new_target, consumer, django_capture_on_commit_callbacks
):
    httpserver.expect_ordered_request("/new/access-keys", method="POST").respond_with_json(
        {"error": "unknown_api"}, status=422
    )
    api = ApiFactory(key_lifetime_days=90, runtime_target=new_target)
    with django_capture_on_commit_callbacks(execute=True):
        key, _secret = api_key_issue(api=api, consumer=consumer)
    httpserver.expect_ordered_request("/new/access-keys", method="POST").respond_with_json({"applied": True})

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("retry_deployments", "--failed", stdout=out)

    key.refresh_from_db()
    assert key.deployment_state == ApiKey.Deployment.DEPLOYED
    assert "1 failed" in out.getvalue()


@pytest.mark.parametrize("value", ["²", "1e3", "-5", "9999999", " 30 "])
def test_a_retry_after_header_that_is_not_plain_seconds_is_ignored_or_read_as_seconds(value):
    from datetime import timedelta

    from credentials.keys.deployment import _retry_after

    expected = timedelta(seconds=30) if value.strip() == "30" else None
    assert _retry_after(value) == expected
