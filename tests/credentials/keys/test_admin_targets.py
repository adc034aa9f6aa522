"""Admin Center > Runtime targets: health, create and edit, and credentials shown once."""

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.keys.models import Api, KeyDeployment, RuntimeTarget
from credentials.lib import crypto
from portal.models import AuditEvent
from portal.roles import Role
from tests.credentials.keys.helpers import page_text
from tests.factories import ApiKeyFactory, UserFactory

TARGETS = "/admin-center/targets/"
NEW_TARGET = "/admin-center/targets/new/"
SECRET_INPUT = re.compile(r'id="(signing-secret|verify-token)" value="([^"]+)"')


def edit_url(target: RuntimeTarget) -> str:
    return f"/admin-center/targets/{target.pk}/edit/"


def regenerate_url(target: RuntimeTarget) -> str:
    return f"/admin-center/targets/{target.pk}/regenerate/"


def credentials_url(target: RuntimeTarget) -> str:
    return f"/admin-center/targets/{target.pk}/credentials/"


def shown_secrets(response) -> dict[str, str]:
    return dict(SECRET_INPUT.findall(response.content.decode()))


def make_target(name: str, **fields: object) -> RuntimeTarget:
    return RuntimeTarget.objects.create(
        name=name,
        base_url=f"https://{name}.example.com",
        signing_secret="stored-encrypted",
        verify_token_prefix=f"prt_gw_{name[:8]:0<8}",
        verify_token_digest="0" * 64,
        **fields,
    )


@pytest.fixture
def target(db):
    return make_target("mediator")


def raw_target_row(target: RuntimeTarget) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT signing_secret, verify_token_prefix, verify_token_digest "
            "FROM credentials_runtimetarget WHERE id = %s",
            [target.pk],
        )
        return cursor.fetchone()


def assert_nowhere_in_clear(secrets: dict[str, str], target: RuntimeTarget, caplog) -> None:
    """Neither value is in the target's row, the audit log, a session or a log record."""
    values = [secrets["signing-secret"], secrets["verify-token"]]
    stored_secret, _prefix, digest = raw_target_row(target)
    places = [stored_secret, digest]
    places += [f"{event.summary} {event.target_repr}" for event in AuditEvent.objects.all()]
    for session in Session.objects.all():
        places += [session.session_data, str(session.get_decoded())]
    places += [record.getMessage() for record in caplog.records]
    for value in values:
        assert not any(value in place for place in places)


def assert_stored_as_designed(secrets: dict[str, str], target: RuntimeTarget) -> None:
    """The signing secret decrypts from its encrypted column; the verify token is only a keyed hash."""
    _stored, prefix, digest = raw_target_row(target)
    assert target.signing_secret == secrets["signing-secret"]
    assert secrets["verify-token"].startswith(prefix + "_")
    assert digest == crypto.hash_secret(secrets["verify-token"])


# --- the list -------------------------------------------------------------------------------------
def test_the_list_shows_each_targets_health_with_when_and_why(client, hub_admin):
    checked = timezone.now() - timedelta(minutes=3)
    make_target("alpha", health=RuntimeTarget.Health.UP, health_checked_at=checked, health_message="HTTP 200")
    make_target(
        "bravo",
        health=RuntimeTarget.Health.DOWN,
        health_checked_at=checked,
        health_message="Connection refused",
        health_url="https://bravo.example.com/health",
    )
    make_target("charlie")
    client.force_login(hub_admin)
    page = page_text(client.get(TARGETS))
    assert 'badge--ok">Up' in page and 'badge--bad">Down' in page and ">Unknown<" in page
    assert "checked <time" in page and "ago" in page
    assert f'title="{timezone.localtime(checked):%Y-%m-%d %H:%M}"' in page
    assert "Connection refused" in page and "HTTP 200" in page
    assert "no health URL" in page
    assert page.index("alpha") < page.index("bravo") < page.index("charlie")


def test_the_list_counts_apis_and_keys_by_their_latest_deployment(client, hub_admin, organization, consumer, target):
    api = Api.objects.create(name="Payments", slug="payments", provider=organization, runtime_target=target)
    Api.objects.create(name="Orders", slug="orders", provider=organization, runtime_target=target)
    states = {
        "prt_key_AAAAAAAA": (KeyDeployment.State.FAILED, KeyDeployment.State.PENDING),  # retried: waiting
        "prt_key_BBBBBBBB": (KeyDeployment.State.PENDING,),
        "prt_key_CCCCCCCC": (KeyDeployment.State.DEPLOYED, KeyDeployment.State.FAILED),  # refused
    }
    for prefix, deployments in states.items():
        key = ApiKeyFactory(consumer=UserFactory(), api=api, prefix=prefix, expires_at=None)
        for state in deployments:
            KeyDeployment.objects.create(api_key=key, target=target, reason="issued", payload={}, state=state)
    client.force_login(hub_admin)
    row = page_text(client.get(TARGETS)).split(f'<tr id="target-{target.pk}">')[1].split("</tr>")[0]
    assert '<td data-label="APIs">2</td>' in row
    assert "0 live" in row and "2 waiting" in row and "1 refused" in row


def test_the_list_costs_the_same_queries_at_5_and_50_targets(client, hub_admin):
    client.force_login(hub_admin)
    for i in range(5):
        make_target(f"gw-{i:03d}")
    with CaptureQueriesContext(connection) as at_5:
        assert client.get(TARGETS).status_code == 200
    for i in range(5, 50):
        make_target(f"gw-{i:03d}")
    with CaptureQueriesContext(connection) as at_50:
        assert client.get(TARGETS).status_code == 200
    assert len(at_50) == len(at_5)


def test_htmx_refresh_returns_only_the_table(client, hub_admin, target):
    client.force_login(hub_admin)
    response = client.get(TARGETS, headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert "<html" not in fragment and 'id="target-results"' in fragment
    assert "HX-Request" in response["Vary"]


# --- create and the credentials shown once --------------------------------------------------------
def test_creating_a_target_shows_its_new_credentials_once(client, hub_admin, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(hub_admin)
    response = client.post(
        NEW_TARGET,
        {"name": "mediator-eu", "base_url": "https://gw.example.com/", "health_url": "https://gw.example.com/health"},
    )
    target = RuntimeTarget.objects.get(name="mediator-eu")
    assert response.status_code == 302 and response["Location"] == credentials_url(target)
    assert target.base_url == "https://gw.example.com"  # no trailing slash: <base URL>/access-keys
    assert target.health == RuntimeTarget.Health.UNKNOWN

    first = client.get(credentials_url(target))
    assert first.status_code == 200
    assert "no-store" in first["Cache-Control"]
    secrets = shown_secrets(first)
    assert set(secrets) == {"signing-secret", "verify-token"}
    assert len(secrets["signing-secret"]) >= 40
    assert crypto.secret_prefix(secrets["verify-token"], "gw") == target.verify_token_prefix
    assert "the only time" in page_text(first)

    second = client.get(credentials_url(target))
    assert second.status_code == 200
    assert shown_secrets(second) == {}
    assert secrets["signing-secret"] not in second.content.decode()
    assert "no longer available" in page_text(second)

    target.refresh_from_db()
    assert_stored_as_designed(secrets, target)
    assert_nowhere_in_clear(secrets, target, caplog)
    event = AuditEvent.objects.get(action="runtime_target.create")
    assert event.actor == hub_admin and target.verify_token_prefix in event.summary


def test_the_credentials_page_of_a_target_without_new_credentials_shows_none(client, hub_admin, target):
    client.force_login(hub_admin)
    response = client.get(credentials_url(target))
    assert shown_secrets(response) == {}
    assert "no-store" in response["Cache-Control"]


INVALID_TARGETS = [
    pytest.param({"name": ""}, "name", "This field is required.", id="name-missing"),
    pytest.param({"base_url": ""}, "base_url", "This field is required.", id="url-missing"),
    pytest.param({"base_url": "not a url"}, "base_url", "Enter a valid https:// URL", id="url-invalid"),
    pytest.param({"base_url": "http://gw.example.com"}, "base_url", "must start with https://", id="url-http"),
    pytest.param({"base_url": "https://u:p@gw.example.com"}, "base_url", "user name or password", id="url-userinfo"),
    pytest.param({"health_url": "ftp://gw.example.com/h"}, "health_url", "must start with https://", id="health-ftp"),
    pytest.param({"health_url": "http://gw.example.com/h"}, "health_url", "must start with https://", id="health-http"),
    pytest.param({"name": "taken"}, "name", "Another runtime target is called “taken”.", id="name-taken"),
]


def target_form(**overrides: str) -> dict[str, str]:
    return {"name": "mediator-eu", "base_url": "https://gw.example.com", "health_url": "", **overrides}


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID_TARGETS)
def test_creating_with_invalid_input_saves_nothing(client, hub_admin, overrides, field, message):
    make_target("taken")
    client.force_login(hub_admin)
    response = client.post(NEW_TARGET, target_form(**overrides))
    assert response.status_code == 200
    page = page_text(response)
    assert message in page and f'id="id_{field}_error"' in page
    assert RuntimeTarget.objects.count() == 1
    assert not AuditEvent.objects.exists()
    assert shown_secrets(response) == {}


def test_plain_http_to_loopback_is_refused_unless_allowed(client, hub_admin, settings):
    client.force_login(hub_admin)
    settings.PORTICO_ALLOW_HTTP_LOOPBACK = False
    response = client.post(NEW_TARGET, target_form(base_url="http://127.0.0.1:9000"))
    assert "must start with https://" in page_text(response)
    settings.PORTICO_ALLOW_HTTP_LOOPBACK = True
    assert client.post(NEW_TARGET, target_form(base_url="http://127.0.0.1:9000")).status_code == 302


# --- edit -----------------------------------------------------------------------------------------
def test_editing_a_target_records_what_changed_and_forgets_its_old_health(client, hub_admin, target):
    target.health = RuntimeTarget.Health.UP
    target.health_checked_at = timezone.now()
    target.save()
    digest_before = target.verify_token_digest
    client.force_login(hub_admin)
    response = client.post(
        edit_url(target),
        {"name": "mediator", "base_url": "https://gw2.example.com", "health_url": "https://gw2.example.com/up"},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.base_url == "https://gw2.example.com"
    assert target.health == RuntimeTarget.Health.UNKNOWN and target.health_checked_at is None
    assert target.verify_token_digest == digest_before  # editing does not touch the credentials
    event = AuditEvent.objects.get(action="runtime_target.update")
    assert "base URL https://mediator.example.com → https://gw2.example.com" in event.summary
    assert "health URL none → https://gw2.example.com/up" in event.summary
    assert "name" not in event.summary.split(":", 1)[1]


def test_renaming_keeps_the_health(client, hub_admin, target):
    target.health = RuntimeTarget.Health.UP
    target.save()
    client.force_login(hub_admin)
    client.post(edit_url(target), {"name": "mediator-2", "base_url": target.base_url, "health_url": ""})
    target.refresh_from_db()
    assert target.name == "mediator-2" and target.health == RuntimeTarget.Health.UP


def test_saving_an_unchanged_target_records_nothing(client, hub_admin, target):
    client.force_login(hub_admin)
    client.post(edit_url(target), {"name": target.name, "base_url": target.base_url, "health_url": ""})
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(("overrides", "field", "message"), INVALID_TARGETS)
def test_editing_with_invalid_input_changes_nothing(client, hub_admin, target, overrides, field, message):
    make_target("taken")
    before = raw_target_row(target), target.name, target.base_url, target.health_url
    client.force_login(hub_admin)
    response = client.post(edit_url(target), target_form(**overrides))
    assert response.status_code == 200
    assert message in page_text(response)
    target.refresh_from_db()
    assert (raw_target_row(target), target.name, target.base_url, target.health_url) == before
    assert not AuditEvent.objects.exists()


def test_the_edit_page_shows_the_token_prefix_but_no_secret(client, hub_admin, target):
    client.force_login(hub_admin)
    page = page_text(client.get(edit_url(target)))
    assert target.verify_token_prefix in page
    assert "stored-encrypted" not in page
    assert "Regenerate credentials" in page


# --- regenerate -----------------------------------------------------------------------------------
def test_regenerating_replaces_both_credentials_and_shows_them_once(client, hub_admin, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(hub_admin)
    client.post(NEW_TARGET, target_form())
    target = RuntimeTarget.objects.get()
    old = shown_secrets(client.get(credentials_url(target)))

    response = client.post(regenerate_url(target))
    assert response.status_code == 302 and response["Location"] == credentials_url(target)
    new = shown_secrets(client.get(credentials_url(target)))
    assert new["signing-secret"] != old["signing-secret"]
    assert new["verify-token"] != old["verify-token"]
    target.refresh_from_db()
    assert target.signing_secret == new["signing-secret"]
    assert crypto.verify_secret(new["verify-token"], target.verify_token_digest)
    assert not crypto.verify_secret(old["verify-token"], target.verify_token_digest)
    assert shown_secrets(client.get(credentials_url(target))) == {}
    event = AuditEvent.objects.get(action="runtime_target.regenerate_credentials")
    assert event.actor == hub_admin
    assert crypto.secret_prefix(old["verify-token"], "gw") in event.summary
    assert target.verify_token_prefix in event.summary
    assert_stored_as_designed(new, target)
    assert_nowhere_in_clear(new, target, caplog)
    assert_nowhere_in_clear(old, target, caplog)


def test_regenerating_needs_a_post(client, hub_admin, target):
    client.force_login(hub_admin)
    assert client.get(regenerate_url(target)).status_code == 405
    target.refresh_from_db()
    assert target.verify_token_digest == "0" * 64


# --- who may ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["consumer", "org_admin", "tenant_admin", "approver", "outsider"])
def test_only_hub_admins_manage_runtime_targets(client, request, role, target):
    client.force_login(request.getfixturevalue(role))
    for method, url, data in [
        ("get", TARGETS, None),
        ("get", NEW_TARGET, None),
        ("post", NEW_TARGET, target_form(name="sneaky")),
        ("get", edit_url(target), None),
        ("post", edit_url(target), target_form(name="hijacked")),
        ("post", regenerate_url(target), {}),
        ("get", credentials_url(target), None),
    ]:
        response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
        assert response.status_code == 403, (method, url)
    target.refresh_from_db()
    assert target.name == "mediator" and target.verify_token_digest == "0" * 64
    assert RuntimeTarget.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_another_hub_admin_does_not_see_credentials_generated_in_my_session(client, hub_admin, organization):
    other_admin = UserFactory(username="hub-admin-2", organization=organization, roles=(Role.HUB_ADMIN,))
    client.force_login(hub_admin)
    client.post(NEW_TARGET, target_form())
    target = RuntimeTarget.objects.get()
    client.force_login(other_admin)  # a new session
    assert shown_secrets(client.get(credentials_url(target))) == {}
