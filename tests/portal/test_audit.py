from datetime import UTC, datetime

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from credentials.lib import crypto
from portal import encryption
from portal.audit import AuditContextMiddleware, SecretInAuditSummary, record
from portal.models import AuditEvent, AuditLogIsAppendOnly

PEM_PRIVATE_KEYS = [
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYr\n-----END EC PRIVATE KEY-----",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
]


class Boom(Exception):
    pass


def record_in_transaction(**kwargs: object) -> AuditEvent:
    with transaction.atomic():
        return record(**kwargs)


def run_through_middleware(request: HttpRequest, **record_kwargs: object) -> AuditEvent:
    """Send `request` through AuditContextMiddleware to a view that records one event."""
    written = []

    def view(request: HttpRequest) -> HttpResponse:
        with transaction.atomic():
            written.append(record(action="test.view", **record_kwargs))
        return HttpResponse("ok")

    response = AuditContextMiddleware(view)(request)
    assert response.status_code == 200
    return AuditEvent.objects.get(pk=written[0].pk)


# --- What an event says ---------------------------------------------------------------------------
def test_record_writes_who_what_on_which_object_when_and_from_where(hub_admin, organization):
    with time_machine.travel(datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC), tick=False):
        written = record_in_transaction(
            action="organization.renamed",
            target=organization,
            summary="Renamed to Acme Corporation",
            actor=hub_admin,
            ip_address="203.0.113.9",
        )

    event = AuditEvent.objects.get(pk=written.pk)
    assert event.actor == hub_admin
    assert event.actor_username == "hub-admin"
    assert event.action == "organization.renamed"
    assert event.target_type == "portal.Organization"
    assert event.target_id == str(organization.pk)
    assert event.target_repr == "Acme Corporation"
    assert event.created_at == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert event.ip_address == "203.0.113.9"
    assert event.summary == "Renamed to Acme Corporation"
    assert event.organization == organization


def test_record_files_the_event_under_the_organization_of_its_target(hub_admin, outsider, other_organization):
    event = record_in_transaction(action="user.deactivated", target=outsider, actor=hub_admin)

    assert event.organization == other_organization


def test_record_without_a_request_or_actor_is_written_as_the_system(db):
    event = record_in_transaction(action="keys.expired", summary="3 keys expired")

    event.refresh_from_db()
    assert event.actor is None
    assert event.actor_username == ""
    assert event.ip_address is None


def test_record_keeps_the_summary_short(db):
    event = record_in_transaction(action="note", summary="x" * 2000)

    event.refresh_from_db()
    assert len(event.summary) == 500


# --- Transactions ---------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_record_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record(action="organization.created", summary="outside")

    assert not AuditEvent.objects.exists()


def test_record_is_rolled_back_with_the_change_it_describes(organization, hub_admin):
    with pytest.raises(Boom), transaction.atomic():
        organization.name = "Renamed"
        organization.save()
        record(action="organization.renamed", target=organization, actor=hub_admin)
        raise Boom

    organization.refresh_from_db()
    assert organization.name == "Acme Corporation"
    assert not AuditEvent.objects.exists()


def test_record_is_kept_when_its_transaction_commits(organization, hub_admin):
    with transaction.atomic():
        organization.name = "Renamed"
        organization.save()
        record(action="organization.renamed", target=organization, actor=hub_admin)

    assert list(AuditEvent.objects.values_list("action", "target_repr")) == [("organization.renamed", "Renamed")]


# --- No secrets in the summary --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["key", "cs"])
def test_record_refuses_a_summary_containing_a_portico_secret(db, kind):
    secret = crypto.generate_secret(kind)

    with pytest.raises(SecretInAuditSummary):
        record_in_transaction(action="apikey.created", summary=f"New key {secret.value} for consumer")

    assert not AuditEvent.objects.exists()


def test_record_refuses_a_summary_containing_a_leaked_part_of_a_portico_secret(db):
    secret = crypto.generate_secret("key")

    with pytest.raises(SecretInAuditSummary):
        record_in_transaction(action="apikey.created", summary=f"key={secret.value[:-10]}")

    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("pem", PEM_PRIVATE_KEYS, ids=lambda pem: pem.split("\n")[0])
def test_record_refuses_a_summary_containing_a_pem_private_key(db, pem):
    with pytest.raises(SecretInAuditSummary):
        record_in_transaction(action="connection.submitted", summary=f"credentials: {pem}")

    assert not AuditEvent.objects.exists()


def test_record_refuses_a_summary_containing_an_encrypted_secret(db):
    token = encryption.encrypt("client-secret")

    with pytest.raises(SecretInAuditSummary):
        record_in_transaction(action="connection.submitted", summary=f"stored {token}")

    assert not AuditEvent.objects.exists()


def test_record_accepts_the_public_prefix_of_a_secret(db):
    secret = crypto.generate_secret("key")

    event = record_in_transaction(action="apikey.created", summary=f"Created key {secret.prefix}")

    event.refresh_from_db()
    assert event.summary == f"Created key {secret.prefix}"


# --- Actor and address from the request -----------------------------------------------------------
def test_the_middleware_gives_record_the_signed_in_user_and_address(rf: RequestFactory, consumer):
    request = rf.get("/", REMOTE_ADDR="198.51.100.23")
    request.user = consumer

    event = run_through_middleware(request)

    assert event.actor == consumer
    assert event.actor_username == "consumer"
    assert event.ip_address == "198.51.100.23"
    assert event.organization == consumer.organization


def test_the_middleware_records_an_anonymous_request_without_an_actor(rf: RequestFactory, db):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/", REMOTE_ADDR="2001:db8::1")
    request.user = AnonymousUser()

    event = run_through_middleware(request)

    assert event.actor is None
    assert event.actor_username == ""
    assert event.ip_address == "2001:db8::1"


def test_an_actor_named_by_the_caller_wins_over_the_request(rf: RequestFactory, consumer, hub_admin):
    request = rf.get("/", REMOTE_ADDR="198.51.100.23")
    request.user = consumer

    event = run_through_middleware(request, actor=hub_admin)

    assert event.actor == hub_admin
    assert event.ip_address == "198.51.100.23"


def test_x_forwarded_for_is_ignored_unless_a_trusted_proxy_sets_it(rf: RequestFactory, consumer):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50")
    request.user = consumer

    event = run_through_middleware(request)

    assert event.ip_address == "10.0.0.2"


@override_settings(PORTICO_TRUSTED_PROXY_COUNT=2)
def test_behind_trusted_proxies_the_client_address_comes_from_x_forwarded_for(rf: RequestFactory, consumer):
    # Two proxies: the first appended the client's address, the second (10.0.0.2) the first's.
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50, 10.0.0.1")
    request.user = consumer

    event = run_through_middleware(request)

    assert event.ip_address == "203.0.113.50"


def test_an_address_that_is_not_an_ip_is_recorded_as_unknown(rf: RequestFactory, consumer):
    request = rf.get("/", REMOTE_ADDR="not-an-address")
    request.user = consumer

    event = run_through_middleware(request)

    assert event.ip_address is None


def test_the_request_context_ends_with_the_request(rf: RequestFactory, consumer):
    request = rf.get("/", REMOTE_ADDR="198.51.100.23")
    request.user = consumer
    run_through_middleware(request)

    later = record_in_transaction(action="sweep.ran")

    assert later.actor is None
    assert later.ip_address is None


def test_the_middleware_is_installed_after_authentication(settings):
    middleware = settings.MIDDLEWARE

    assert "portal.audit.AuditContextMiddleware" in middleware
    assert middleware.index("portal.audit.AuditContextMiddleware") > middleware.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )


# --- Append-only ----------------------------------------------------------------------------------
def test_audit_event_cannot_be_changed_once_written(event):
    event.summary = "Renamed to Globex"

    with pytest.raises(AuditLogIsAppendOnly):
        event.save()

    event.refresh_from_db()
    assert event.summary == "Renamed to Acme"


def test_audit_event_cannot_be_overwritten_by_a_new_object_with_its_id(event):
    forged = AuditEvent(pk=event.pk, action="forged", summary="nothing happened")

    with pytest.raises((AuditLogIsAppendOnly, DatabaseError)), transaction.atomic():
        forged.save()

    event.refresh_from_db()
    assert (event.action, event.summary) == ("organization.renamed", "Renamed to Acme")


def test_audit_event_cannot_be_deleted(event):
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda events: events.all().delete(), id="all-delete"),
        pytest.param(lambda events: events.filter(action="organization.renamed").delete(), id="filter-delete"),
        pytest.param(lambda events: events.update(summary="changed"), id="update"),
        pytest.param(lambda events: events.filter(summary__contains="Acme").update(summary="x"), id="filter-update"),
    ],
)
def test_audit_events_cannot_be_changed_or_deleted_in_bulk(event, change):
    with pytest.raises(AuditLogIsAppendOnly):
        change(AuditEvent.objects)

    event.refresh_from_db()
    assert event.summary == "Renamed to Acme"


def test_audit_events_cannot_be_changed_with_bulk_update(event):
    event.summary = "changed"

    # bulk_update runs in an atomic block without a savepoint: give it one so the test goes on.
    with pytest.raises(AuditLogIsAppendOnly), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["summary"])

    event.refresh_from_db()
    assert event.summary == "Renamed to Acme"


def test_the_database_refuses_a_raw_update_of_an_audit_event(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE portal_auditevent SET summary = %s WHERE id = %s", ["tampered", event.pk])

    event.refresh_from_db()
    assert event.summary == "Renamed to Acme"


def test_the_audit_event_description_names_the_actor_and_action(event):
    assert str(event).endswith("hub-admin organization.renamed")
