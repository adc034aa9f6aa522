"""The audit log is append-only on PostgreSQL, whatever code path tries to change it."""

import pytest
from django.db import DatabaseError, connection, transaction

from portal import audit
from portal.models import AuditEvent, AuditLogIsAppendOnly


@pytest.fixture
def event(db) -> AuditEvent:
    with transaction.atomic():
        return audit.record(action="credential.created", summary="Client ID abc123 created")


def test_postgresql_refuses_a_raw_sql_update_of_an_audit_event(event):
    # The inner atomic block is a savepoint: the failed statement rolls back to it, not the test.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE portal_auditevent SET summary = %s WHERE id = %s", ["rewritten", event.pk])

    event.refresh_from_db()
    assert event.summary == "Client ID abc123 created"


def test_postgresql_refuses_a_raw_sql_delete_of_an_audit_event(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM portal_auditevent WHERE id = %s", [event.pk])

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_queryset_update_of_audit_events_raises_append_only(event):
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")

    event.refresh_from_db()
    assert event.summary == "Client ID abc123 created"


def test_a_queryset_delete_of_audit_events_raises_append_only(event):
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()
