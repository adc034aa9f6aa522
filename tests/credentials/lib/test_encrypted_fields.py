from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from credentials.keys.models import RuntimeTarget
from portal import encryption
from portal.encryption import DecryptionError
from portal.fields import EncryptedJSONField, EncryptedTextField, encrypted_fields
from tests.factories import RuntimeTargetFactory
from tests.testapp.models import SecretNote

PLAINTEXT = "s3cr3t-VALUE-123="
CREDENTIALS = {"clientId": "sb-apiaccess!b1", "clientSecret": "json-s3cr3t", "nested": {"scopes": ["a", "b"]}}


def raw_columns(note: SecretNote) -> tuple[str | None, str | None]:
    """What the database holds for the note's encrypted columns, read past the field."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT body, data FROM testapp_secretnote WHERE id = %s", [note.pk])
        return cursor.fetchone()


def write_raw(note: SecretNote, column: str, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE testapp_secretnote SET {column} = %s WHERE id = %s", [value, note.pk])  # noqa: S608


@pytest.fixture
def note(db):
    return SecretNote.objects.create(title="tenant acme-dev", body=PLAINTEXT, data=CREDENTIALS)


def test_an_encrypted_field_gives_back_what_was_saved(note):
    stored = SecretNote.objects.get(pk=note.pk)

    assert stored.body == PLAINTEXT
    assert stored.data == CREDENTIALS


def test_an_encrypted_field_gives_back_unicode_and_long_values(db):
    note = SecretNote.objects.create(title="t", body="ünïcødé 🔑\n" * 500, data={"ключ": "值", "n": [1, 2.5, None]})

    note.refresh_from_db()
    assert note.body == "ünïcødé 🔑\n" * 500
    assert note.data == {"ключ": "值", "n": [1, 2.5, None]}


def test_the_database_column_never_holds_the_plaintext(note):
    body, data = raw_columns(note)

    assert PLAINTEXT not in body
    assert "json-s3cr3t" not in data
    assert "clientId" not in data
    # It is a real ciphertext of the value, not something else.
    assert encryption.decrypt(body) == PLAINTEXT


def test_an_update_through_the_queryset_is_encrypted_too(note):
    SecretNote.objects.filter(pk=note.pk).update(body="another-s3cr3t", data={"clientSecret": "other"})

    body, data = raw_columns(note)
    assert "another-s3cr3t" not in body
    assert "other" not in data
    note.refresh_from_db()
    assert (note.body, note.data) == ("another-s3cr3t", {"clientSecret": "other"})


def test_a_changed_value_is_stored_encrypted_after_save(note):
    note.body = "rotated-s3cr3t"
    note.save()

    body, _ = raw_columns(note)
    assert "rotated-s3cr3t" not in body
    note.refresh_from_db()
    assert note.body == "rotated-s3cr3t"


def test_saving_the_same_value_twice_stores_different_ciphertexts(note):
    before = raw_columns(note)

    note.save()

    after = raw_columns(note)
    assert after[0] != before[0]
    assert after[1] != before[1]


def test_an_empty_encrypted_field_is_stored_as_null(db):
    note = SecretNote.objects.create(title="no secret yet")

    assert raw_columns(note) == (None, None)
    note.refresh_from_db()
    assert (note.body, note.data) == (None, None)


def test_an_empty_string_is_encrypted_not_stored_as_null(db):
    note = SecretNote.objects.create(title="empty", body="")

    body, _ = raw_columns(note)
    assert body is not None
    note.refresh_from_db()
    assert note.body == ""


def test_isnull_lookups_work_on_encrypted_fields(note):
    empty = SecretNote.objects.create(title="no secret yet")

    assert list(SecretNote.objects.filter(body__isnull=True)) == [empty]
    assert list(SecretNote.objects.filter(data__isnull=False)) == [note]


@pytest.mark.parametrize("field", ["body", "data"])
def test_reading_a_tampered_ciphertext_raises_instead_of_returning_it(note, field):
    token = raw_columns(note)[0 if field == "body" else 1]
    tampered = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    write_raw(note, field, tampered)

    with pytest.raises(DecryptionError):
        SecretNote.objects.get(pk=note.pk)
    with pytest.raises(DecryptionError):
        list(SecretNote.objects.values_list(field, flat=True))


@pytest.mark.parametrize("field", ["body", "data"])
def test_reading_a_ciphertext_under_an_unknown_key_raises(note, field):
    foreign = Fernet(Fernet.generate_key()).encrypt(b'"s3cr3t"').decode()
    write_raw(note, field, foreign)

    with pytest.raises(DecryptionError):
        note.refresh_from_db()


def test_reading_plaintext_written_past_the_field_raises(note):
    write_raw(note, "body", PLAINTEXT)

    with pytest.raises(DecryptionError):
        SecretNote.objects.get(pk=note.pk)


def test_the_other_columns_of_a_row_with_a_bad_ciphertext_can_still_be_read(note):
    write_raw(note, "body", "garbage")

    assert SecretNote.objects.filter(pk=note.pk).values_list("title", flat=True).get() == "tenant acme-dev"


@pytest.mark.parametrize("field", ["body", "data"])
@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        ("exact", PLAINTEXT),
        ("iexact", PLAINTEXT),
        ("contains", "s3cr3t"),
        ("icontains", "s3cr3t"),
        ("startswith", "s3"),
        ("endswith", "="),
        ("in", [PLAINTEXT]),
        ("gt", "a"),
        ("regex", ".*"),
    ],
)
def test_lookups_other_than_isnull_are_refused(note, field, lookup, value):
    with pytest.raises(FieldError, match="does not support"):
        SecretNote.objects.filter(**{f"{field}__{lookup}": value})


@pytest.mark.parametrize("field", ["body", "data"])
def test_a_plain_equality_filter_is_refused(note, field):
    with pytest.raises(FieldError):
        SecretNote.objects.filter(**{field: PLAINTEXT})


@pytest.mark.parametrize("transform", ["body__lower__exact", "data__clientSecret", "body__length"])
def test_transforms_on_encrypted_fields_are_refused(note, transform):
    with pytest.raises(FieldError):
        SecretNote.objects.filter(**{transform: "x"})


@pytest.mark.parametrize("field_class", [EncryptedTextField, EncryptedJSONField])
@pytest.mark.parametrize("option", ["unique", "db_index", "primary_key"])
def test_an_encrypted_field_refuses_uniqueness_and_indexes(field_class, option):
    with pytest.raises(ImproperlyConfigured, match=f"does not support {option}=True"):
        field_class(**{option: True})


@pytest.mark.parametrize("field_class", [EncryptedTextField, EncryptedJSONField])
def test_an_encrypted_field_without_those_options_is_accepted(field_class):
    field = field_class(null=True, unique=False, db_index=False)

    assert not field.unique
    assert not field.db_index


def test_key_rotation_finds_every_encrypted_field_of_the_installed_models():
    found = {(model._meta.label, field.name) for model, field in encrypted_fields()}

    assert {("testapp.SecretNote", "body"), ("testapp.SecretNote", "data")} <= found
    assert not any(label == "testapp.SecretNote" and name == "title" for label, name in found)


def test_dumpdata_writes_the_ciphertext_and_loaddata_reads_it_back(db):
    target = RuntimeTargetFactory(signing_secret="a-signing-secret-that-must-not-be-dumped")
    out = StringIO()
    call_command("dumpdata", "credentials.runtimetarget", stdout=out)
    assert "a-signing-secret-that-must-not-be-dumped" not in out.getvalue()

    pk = target.pk
    target.delete()
    for restored in serializers.deserialize("json", out.getvalue()):
        restored.save()

    assert RuntimeTarget.objects.get(pk=pk).signing_secret == "a-signing-secret-that-must-not-be-dumped"
