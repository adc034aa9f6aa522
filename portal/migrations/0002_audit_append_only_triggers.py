"""Database triggers under the audit log's Python guards: whatever code path tries (raw SQL, a
bulk update), PostgreSQL refuses UPDATE and DELETE of a row and SQLite refuses UPDATE.

Left open on purpose: TRUNCATE on PostgreSQL and DELETE on SQLite, which is how Django's `flush`
(and so the test runner) empties tables; an operator with owner rights can do those anyway."""

from django.db import migrations

SQLITE_CREATE = [
    "CREATE TRIGGER portal_auditevent_no_update BEFORE UPDATE ON portal_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS portal_auditevent_no_update;",
]
POSTGRES_CREATE = [
    """CREATE OR REPLACE FUNCTION portal_auditevent_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql;""",
    "CREATE TRIGGER portal_auditevent_append_only BEFORE UPDATE OR DELETE ON portal_auditevent "
    "FOR EACH ROW EXECUTE FUNCTION portal_auditevent_append_only();",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS portal_auditevent_append_only ON portal_auditevent;",
    "DROP FUNCTION IF EXISTS portal_auditevent_append_only();",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        )
    ]
