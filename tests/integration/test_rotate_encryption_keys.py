"""`manage.py rotate_encryption_keys` on PostgreSQL, where a batch is written by one UPDATE ... FROM
unnest(...) with binary parameters: every encrypted column of every model, batch boundaries, the
compare-and-set against a row saved meanwhile, and the portal saving secrets while it runs."""

import random
import threading
import time
from io import StringIO

from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from credentials.connections.models import ConnectionRequest
from credentials.keys.models import RuntimeTarget
from credentials.management.commands import rotate_encryption_keys
from tests.factories import ConnectionRequestFactory, RuntimeTargetFactory
from tests.testapp.models import SecretNote

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def rotate() -> str:
    out = StringIO()
    with override_settings(PORTICO_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


def tokens(table: str, column: str) -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
        return dict(cursor.fetchall())


def opens_under_the_new_key_alone(token: str) -> bool:
    try:
        Fernet(NEW_KEY.encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def note_under(key: str, n: int) -> SecretNote:
    with override_settings(PORTICO_ENCRYPTION_KEYS=[key]):
        return SecretNote.objects.create(title=f"note {n}", body=f"s3cr3t-{n}", data={"n": n})


def test_rotation_on_postgresql_moves_every_encrypted_column_of_every_model_to_the_newest_key(db, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 3)
    with override_settings(PORTICO_ENCRYPTION_KEYS=[OLD_KEY]):
        targets = RuntimeTargetFactory.create_batch(4)
        requests = ConnectionRequestFactory.create_batch(4)
    notes = [note_under(NEW_KEY if n % 4 == 0 else OLD_KEY, n) for n in range(10)]
    fresh = tokens("testapp_secretnote", "body")

    with CaptureQueriesContext(connection) as queries:
        output = rotate()

    columns = [
        ("credentials_runtimetarget", "signing_secret"),
        ("credentials_connectionrequest", "credentials"),
        ("testapp_secretnote", "body"),
        ("testapp_secretnote", "data"),
    ]
    for table, column in columns:
        assert all(opens_under_the_new_key_alone(token) for token in tokens(table, column).values()), column
    for note in notes[::4]:  # already under the newest key: untouched
        assert tokens("testapp_secretnote", "body")[note.pk] == fresh[note.pk]
    with override_settings(PORTICO_ENCRYPTION_KEYS=[NEW_KEY]):
        assert [t.signing_secret for t in RuntimeTarget.objects.order_by("pk")] == [t.signing_secret for t in targets]
        assert [r.credentials for r in ConnectionRequest.objects.order_by("pk")] == [r.credentials for r in requests]
        assert [(n.body, n.data) for n in SecretNote.objects.order_by("pk")] == [
            (f"s3cr3t-{n}", {"n": n}) for n in range(10)
        ]
    assert "credentials.RuntimeTarget.signing_secret: rotated 4" in output
    assert "credentials.ConnectionRequest.credentials: rotated 4" in output
    assert "testapp.SecretNote.body: rotated 7" in output
    assert "22 secret(s) rotated to the newest key." in output
    # One UPDATE per batch that holds rows under an older key: 2 + 2 + 4 + 4 batches of 3 rows.
    assert sum(query["sql"].startswith("UPDATE") for query in queries.captured_queries) == 12


def test_on_postgresql_a_row_saved_between_read_and_write_is_left_alone(db, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    notes = [note_under(OLD_KEY, n) for n in range(5)]
    write = rotate_encryption_keys.Column.write

    def the_portal_saves_a_secret_first(column, changes):
        if column.label == "testapp.SecretNote.body" and notes[3].pk in [pk for pk, _, _ in changes]:
            with override_settings(PORTICO_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
                SecretNote.objects.filter(pk=notes[3].pk).update(body="saved meanwhile")
        return write(column, changes)

    monkeypatch.setattr(rotate_encryption_keys.Column, "write", the_portal_saves_a_secret_first)

    output = rotate()

    with override_settings(PORTICO_ENCRYPTION_KEYS=[NEW_KEY]):
        assert [n.body for n in SecretNote.objects.order_by("pk")] == [
            "s3cr3t-0",
            "s3cr3t-1",
            "s3cr3t-2",
            "saved meanwhile",
            "s3cr3t-4",
        ]
    assert "testapp.SecretNote.body: rotated 4" in output
    assert "testapp.SecretNote.body: 1 changed meanwhile and left alone" in output


def test_rotation_while_the_portal_saves_secrets_loses_none_of_them(transactional_db, monkeypatch):
    """The portal (another connection) keeps saving new secrets into rows while the command
    rotates them in small batches: every saved secret survives, and every row ends under the
    newest key."""
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 5)
    changes = rotate_encryption_keys.Column.changes

    def slowly(column, rows, reencrypted, unreadable):  # a wider window between a batch's read and its write
        time.sleep(0.02)
        return changes(column, rows, reencrypted, unreadable)

    monkeypatch.setattr(rotate_encryption_keys.Column, "changes", slowly)
    notes = [note_under(OLD_KEY, n) for n in range(200)]
    saved: dict[int, str] = {}
    done = threading.Event()

    def portal() -> None:
        rng = random.Random(12)
        try:
            with override_settings(PORTICO_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
                n = 0
                while not done.is_set():
                    note = rng.choice(notes)
                    n += 1
                    SecretNote.objects.filter(pk=note.pk).update(body=f"saved-{n}")
                    saved[note.pk] = f"saved-{n}"
        finally:
            connection.close()

    writer = threading.Thread(target=portal)
    writer.start()
    try:
        output = rotate()
    finally:
        done.set()
        writer.join(timeout=30)

    assert saved, "the portal saved nothing while the command ran"
    with override_settings(PORTICO_ENCRYPTION_KEYS=[NEW_KEY]):
        bodies = dict(SecretNote.objects.values_list("pk", "body"))
    for n, note in enumerate(notes):
        assert bodies[note.pk] == saved.get(note.pk, f"s3cr3t-{n}")
    assert "testapp.SecretNote.body: " in output and " changed meanwhile and left alone" in output
    assert "testapp.SecretNote.data: rotated 200" in output
    assert "secret(s) rotated to the newest key." in output
