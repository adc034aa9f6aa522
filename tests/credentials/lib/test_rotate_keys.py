import re
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from credentials.management.commands import rotate_encryption_keys
from portal import encryption
from portal.encryption import DecryptionError
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


# --- Batches, the compare-and-set, and the re-encryption of one token -----------------------------
def note_under(key: str, title: str) -> SecretNote:
    """A note whose two secrets are encrypted under `key` only, as if that key had been the newest."""
    with override_settings(PORTICO_ENCRYPTION_KEYS=[key]):
        return SecretNote.objects.create(title=title, body=f"{title}-s3cr3t", data={"title": title})


def statements(queries: CaptureQueriesContext, verb: str) -> int:
    """How many statements of the verb went to the notes' table (an executemany counts once: Django
    logs it as "<n> times: <sql>")."""
    sqls = [re.sub(r"^\d+ times: ", "", query["sql"]) for query in queries.captured_queries]
    return sum(1 for sql in sqls if sql.startswith(verb) and "testapp_secretnote" in sql)


def test_rotation_across_batches_rewrites_only_the_rows_under_older_keys(db, settings, old_key, new_key, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 3)
    # Old and new rows interleaved, so that every batch holds both and a batch boundary falls between them.
    notes = [note_under(new_key if n % 3 == 1 else old_key, f"note {n}") for n in range(11)]
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    before = raw_tokens()

    output = rotate()

    after = raw_tokens()
    for n, note in enumerate(notes):
        if n % 3 == 1:
            assert after[note.pk] == before[note.pk], note.title  # already under the newest key: untouched
        else:
            assert after[note.pk][0] != before[note.pk][0] and after[note.pk][1] != before[note.pk][1], note.title
    assert "testapp.SecretNote.body: rotated 7" in output
    assert "testapp.SecretNote.data: rotated 7" in output
    assert "14 secret(s) rotated to the newest key." in output
    settings.PORTICO_ENCRYPTION_KEYS = [new_key]
    assert plaintexts() == {f"note {n}": (f"note {n}-s3cr3t", {"title": f"note {n}"}) for n in range(11)}


def test_rotation_reads_and_writes_a_batch_with_one_statement_each(db, settings, old_key, new_key, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 4)
    for n in range(10):
        note_under(old_key, f"note {n}")
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]

    with CaptureQueriesContext(connection) as queries:
        rotate()

    # Per column: batches of 4, 4 and 2 rows, then an empty read that ends it; one write per batch.
    assert statements(queries, "SELECT") == 2 * 4
    assert statements(queries, "UPDATE") == 2 * 3


def test_a_row_changed_between_read_and_write_is_left_alone(db, settings, old_key, new_key, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    notes = [note_under(old_key, f"note {n}") for n in range(5)]
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    write = rotate_encryption_keys.Column.write

    def the_portal_saves_a_secret_first(column, changes):
        if column.label == "testapp.SecretNote.body" and notes[2].pk in [pk for pk, _, _ in changes]:
            SecretNote.objects.filter(pk=notes[2].pk).update(body="saved meanwhile")
        return write(column, changes)

    monkeypatch.setattr(rotate_encryption_keys.Column, "write", the_portal_saves_a_secret_first)

    output = rotate()

    settings.PORTICO_ENCRYPTION_KEYS = [new_key]
    saved = SecretNote.objects.get(pk=notes[2].pk)
    assert saved.body == "saved meanwhile"
    assert plaintexts()["note 3"] == ("note 3-s3cr3t", {"title": "note 3"})  # its batch neighbour is rotated
    assert "testapp.SecretNote.body: rotated 4" in output
    assert "testapp.SecretNote.body: 1 changed meanwhile and left alone (run the command again" in output
    assert "9 secret(s) rotated to the newest key." in output


def test_a_dry_run_across_batches_counts_the_rows_under_older_keys_and_changes_nothing(
    db, settings, old_key, new_key, monkeypatch
):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    for n in range(7):
        note_under(new_key if n in (0, 5) else old_key, f"note {n}")
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    before = raw_tokens()

    with CaptureQueriesContext(connection) as queries:
        output = rotate("--dry-run")

    assert raw_tokens() == before
    assert statements(queries, "UPDATE") == 0
    assert "testapp.SecretNote.body: would rotate 5" in output
    assert "10 secret(s) would be rotated to the newest key." in output


def test_a_row_no_configured_key_opens_stops_the_rotation_with_a_clear_error(
    db, settings, old_key, new_key, monkeypatch
):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    notes = [note_under(old_key, f"note {n}") for n in range(6)]
    lost_key = Fernet.generate_key().decode()
    unreadable = Fernet(lost_key.encode()).encrypt(b"lost-s3cr3t").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_secretnote SET body = %s WHERE id = %s", [unreadable, notes[3].pk])
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    before = raw_tokens()

    with pytest.raises(CommandError) as error:
        rotate()

    message = str(error.value)
    assert f"testapp.SecretNote.body of row {notes[3].pk} cannot be decrypted" in message
    assert unreadable not in message and "s3cr3t" not in message
    after = raw_tokens()
    # The first batch (notes 0 and 1) is rotated; the bad row's batch (2 and 3) and the rest are not.
    assert [after[note.pk][0] == before[note.pk][0] for note in notes] == [False, False, True, True, True, True]


def test_the_output_shows_no_secret_and_no_ciphertext(notes_under_old_key, settings, new_key, old_key):
    settings.PORTICO_ENCRYPTION_KEYS = [new_key, old_key]
    before = raw_tokens()

    output = rotate() + rotate("--dry-run")

    assert "s3cr3t" not in output
    tokens = [token for row in [*before.values(), *raw_tokens().values()] for token in row if token]
    assert not any(token in output or token[:20] in output for token in tokens)


def test_reencrypt_moves_a_token_of_any_older_key_to_the_newest(settings):
    newest, middle, oldest = (Fernet.generate_key().decode() for _ in range(3))
    settings.PORTICO_ENCRYPTION_KEYS = [newest, middle, oldest]
    reencrypt = encryption.reencryptor()

    for key in (middle, oldest):
        token = Fernet(key.encode()).encrypt(b"s3cr3t").decode()
        assert Fernet(newest.encode()).decrypt(reencrypt(token).encode()) == b"s3cr3t"


def test_reencrypt_leaves_a_token_under_the_newest_key_alone_even_if_that_key_is_listed_again(settings):
    newest, older = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTICO_ENCRYPTION_KEYS = [newest, older, f" {newest} "]
    reencrypt = encryption.reencryptor()

    assert reencrypt(Fernet(newest.encode()).encrypt(b"s3cr3t").decode()) is None


@pytest.mark.parametrize("stored", ["lost", "", "not base64 at all!", "gAAAAABtampered"], ids=str)
def test_reencrypt_refuses_a_token_no_configured_key_opens(settings, stored):
    settings.PORTICO_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    if stored == "lost":
        stored = Fernet(Fernet.generate_key()).encrypt(b"s3cr3t").decode()

    with pytest.raises(DecryptionError) as error:
        encryption.reencryptor()(stored)

    assert stored not in str(error.value) or not stored


def test_reencryptor_refuses_a_wrong_key_configuration_before_any_token(settings):
    settings.PORTICO_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-fernet-key"]

    with pytest.raises(ImproperlyConfigured, match="PORTICO_ENCRYPTION_KEYS: key 2 is not a valid Fernet key"):
        encryption.reencryptor()
