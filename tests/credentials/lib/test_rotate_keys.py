from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from credentials.lib.crypto import DecryptionError
from credentials.management.commands import rotate_encryption_keys
from tests.testapp.models import SecretNote


@pytest.fixture
def old_key():
    return Fernet.generate_key().decode()


@pytest.fixture
def new_key():
    return Fernet.generate_key().decode()


@pytest.fixture
def notes_under_old_key(db, settings, old_key):
    """Five notes (and one without secrets) written while only the old key was configured."""
    settings.PORTICO_ENCRYPTION_KEYS = [old_key]
    notes = [SecretNote.objects.create(title=f"note {n}", body=f"s3cr3t-{n}", data={"n": n}) for n in range(5)]
    SecretNote.objects.create(title="no secret")
    return notes


def raw_tokens() -> dict[int, tuple[str | None, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, body, data FROM testapp_secretnote ORDER BY id")
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def plaintexts() -> dict[str, tuple[str | None, object]]:
    return {note.title: (note.body, note.data) for note in SecretNote.objects.all()}


EXPECTED = {**{f"note {n}": (f"s3cr3t-{n}", {"n": n}) for n in range(5)}, "no secret": (None, None)}


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


def test_rows_written_under_the_old_key_still_read_once_a_new_key_comes_first(
    notes_under_old_key, settings, new_key, old_key
):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]

    assert plaintexts() == EXPECTED


def test_rows_written_under_the_old_key_do_not_read_without_it(notes_under_old_key, settings, new_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key]

    with pytest.raises(DecryptionError):
        plaintexts()


def test_rotation_rewrites_every_row_under_the_newest_key(notes_under_old_key, settings, new_key, old_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]

    output = rotate()

    newest = Fernet(new_key.encode())
    for body, data in raw_tokens().values():
        for token in (body, data):
            if token is not None:
                newest.decrypt(token.encode())  # raises InvalidToken if still under the old key
    assert "testapp.SecretNote.body: rotated 5" in output
    assert "testapp.SecretNote.data: rotated 5" in output
    assert "10 secret(s) rotated to the newest key." in output


def test_after_rotation_the_old_key_can_be_dropped(notes_under_old_key, settings, new_key, old_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    rotate()

    settings.PORTICO_ENCRYPTION_KEYS = [new_key]

    assert plaintexts() == EXPECTED


def test_rotation_works_through_more_rows_than_one_batch(notes_under_old_key, settings, new_key, old_key, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]

    output = rotate()

    settings.PORTICO_ENCRYPTION_KEYS = [new_key]
    assert plaintexts() == EXPECTED
    assert "10 secret(s) rotated" in output


def test_a_dry_run_changes_nothing(notes_under_old_key, settings, new_key, old_key):
    before = raw_tokens()
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]

    output = rotate("--dry-run")

    assert raw_tokens() == before
    assert "testapp.SecretNote.body: would rotate 5" in output
    assert "10 secret(s) would be rotated to the newest key." in output
    settings.PORTICO_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(DecryptionError):
        plaintexts()


def test_a_second_rotation_leaves_every_row_as_it_is(notes_under_old_key, settings, new_key, old_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    rotate()
    after_first = raw_tokens()

    output = rotate()

    assert raw_tokens() == after_first
    assert "0 secret(s) rotated to the newest key." in output


def test_rotation_leaves_rows_already_under_the_newest_key_alone(notes_under_old_key, settings, new_key, old_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    fresh = SecretNote.objects.create(title="fresh", body="fresh-s3cr3t", data={"fresh": True})
    fresh_tokens = raw_tokens()[fresh.pk]

    rotate()

    assert raw_tokens()[fresh.pk] == fresh_tokens
    settings.PORTICO_ENCRYPTION_KEYS = [new_key]
    assert plaintexts()["fresh"] == ("fresh-s3cr3t", {"fresh": True})


def test_rotation_keeps_empty_secrets_empty(notes_under_old_key, settings, new_key, old_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]

    rotate()

    empty = SecretNote.objects.get(title="no secret")
    assert raw_tokens()[empty.pk] == (None, None)


def test_rotation_with_nothing_to_do_says_so(db):
    assert "0 secret(s) rotated to the newest key." in rotate()


def test_rotation_refuses_a_wrong_key_configuration_with_a_clear_message(notes_under_old_key, settings, old_key):
    before = raw_tokens()
    settings.PORTICO_ENCRYPTION_KEYS = ["not-a-fernet-key", old_key]

    with pytest.raises(ImproperlyConfigured, match="PORTICO_ENCRYPTION_KEYS: key 1 is not a valid Fernet key"):
        rotate()

    assert raw_tokens() == before
