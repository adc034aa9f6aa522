import pytest

from portal.models import AuditEvent
from tests.factories import UserFactory

CHANGELIST = "/django-admin/portal/auditevent/"


@pytest.fixture
def superuser(organization):
    return UserFactory(username="root", organization=organization, is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


def unchanged(event: AuditEvent) -> bool:
    stored = AuditEvent.objects.get(pk=event.pk)
    return (stored.action, stored.summary, stored.actor_username) == (
        "organization.renamed",
        "Renamed to Acme",
        "hub-admin",
    )


def test_the_django_admin_lists_audit_events_to_a_superuser(superuser_client, event):
    response = superuser_client.get(CHANGELIST)

    assert response.status_code == 200
    assert b"organization.renamed" in response.content
    assert b"hub-admin" in response.content


def test_the_django_admin_shows_an_audit_event_read_only(superuser_client, event):
    response = superuser_client.get(f"{CHANGELIST}{event.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Renamed to Acme" in html
    assert 'name="_save"' not in html
    assert 'name="summary"' not in html
    assert "/delete/" not in html


def test_the_django_admin_refuses_to_change_an_audit_event(superuser_client, event):
    response = superuser_client.post(
        f"{CHANGELIST}{event.pk}/change/",
        {"action": "forged", "summary": "nothing happened", "actor_username": "someone", "_save": "Save"},
    )

    assert response.status_code == 403
    assert unchanged(event)


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_django_admin_refuses_to_delete_an_audit_event(superuser_client, event, method):
    response = getattr(superuser_client, method)(f"{CHANGELIST}{event.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert unchanged(event)


def test_the_django_admin_offers_no_bulk_delete_of_audit_events(superuser_client, event):
    listing = superuser_client.get(CHANGELIST)
    response = superuser_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )

    assert b"delete_selected" not in listing.content
    assert response.status_code in (200, 302)
    assert unchanged(event)


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_django_admin_refuses_to_add_an_audit_event(superuser_client, event, method):
    response = getattr(superuser_client, method)(f"{CHANGELIST}add/", {"action": "forged", "summary": "invented"})

    assert response.status_code == 403
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["organization.renamed"]


def test_the_django_admin_offers_no_add_button_for_audit_events(superuser_client, event):
    response = superuser_client.get(CHANGELIST)

    assert f"{CHANGELIST}add/".encode() not in response.content


def test_the_django_admin_is_closed_to_a_hub_admin_who_is_not_staff(client, hub_admin, event):
    client.force_login(hub_admin)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/django-admin/login/")
