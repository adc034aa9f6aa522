import hashlib
import hmac
import re

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from credentials.lib import crypto
from credentials.lib.crypto import MalformedSecret, generate_secret, secret_prefix, verify_secret
from portal import encryption
from portal.encryption import DecryptionError

SECRET_SHAPE = re.compile(r"^prt_key_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}$")


def new_key() -> str:
    return Fernet.generate_key().decode()


def change_one_char(value: str, position: int) -> str:
    """The value with the character at `position` replaced by another letter or digit."""
    position %= len(value)
    replacement = "A" if value[position] != "A" else "B"
    return value[:position] + replacement + value[position + 1 :]


# --- Secrets Portico uses: encryption -------------------------------------------------------------
@pytest.mark.parametrize(
    "plaintext", ["s3cr3t-VALUE-123=", "", "naïve ünïcødé 🔑", "x" * 10_000], ids=["ascii", "empty", "unicode", "long"]
)
def test_encrypt_then_decrypt_gives_back_the_plaintext(plaintext):
    assert encryption.decrypt(encryption.encrypt(plaintext)) == plaintext


def test_the_ciphertext_does_not_contain_the_plaintext():
    ciphertext = encryption.encrypt("s3cr3t-VALUE-123=")

    assert "s3cr3t" not in ciphertext
    assert ciphertext != "s3cr3t-VALUE-123="


def test_encrypting_the_same_plaintext_twice_gives_different_ciphertexts():
    assert encryption.encrypt("s3cr3t") != encryption.encrypt("s3cr3t")


def test_encrypt_uses_the_newest_key(settings):
    newest, older = new_key(), new_key()
    settings.PORTICO_ENCRYPTION_KEYS = [newest, older]

    ciphertext = encryption.encrypt("s3cr3t")

    assert Fernet(newest.encode()).decrypt(ciphertext.encode()) == b"s3cr3t"
    assert encryption.encrypted_with_newest_key(ciphertext)


def test_decrypt_reads_a_ciphertext_made_under_an_older_key(settings):
    newest, older = new_key(), new_key()
    ciphertext = Fernet(older.encode()).encrypt(b"s3cr3t").decode()
    settings.PORTICO_ENCRYPTION_KEYS = [newest, older]

    assert encryption.decrypt(ciphertext) == "s3cr3t"
    assert not encryption.encrypted_with_newest_key(ciphertext)


def test_decrypt_refuses_a_ciphertext_made_under_an_unknown_key():
    ciphertext = Fernet(new_key().encode()).encrypt(b"s3cr3t").decode()

    with pytest.raises(DecryptionError):
        encryption.decrypt(ciphertext)


def test_decrypt_refuses_a_tampered_ciphertext():
    ciphertext = encryption.encrypt("s3cr3t")
    tampered = change_one_char(ciphertext, len(ciphertext) // 2)

    with pytest.raises(DecryptionError):
        encryption.decrypt(tampered)


@pytest.mark.parametrize("stored", ["s3cr3t", "", "not base64 at all!"])
def test_decrypt_refuses_text_that_is_not_a_ciphertext(stored):
    with pytest.raises(DecryptionError):
        encryption.decrypt(stored)


def test_the_decryption_error_does_not_repeat_the_ciphertext():
    ciphertext = Fernet(new_key().encode()).encrypt(b"s3cr3t").decode()

    with pytest.raises(DecryptionError) as error:
        encryption.decrypt(ciphertext)

    assert ciphertext not in str(error.value)


def test_rotate_re_encrypts_under_the_newest_key(settings):
    newest, older = new_key(), new_key()
    ciphertext = Fernet(older.encode()).encrypt(b"s3cr3t").decode()
    settings.PORTICO_ENCRYPTION_KEYS = [newest, older]

    rotated = encryption.rotate(ciphertext)

    assert Fernet(newest.encode()).decrypt(rotated.encode()) == b"s3cr3t"


def test_rotate_refuses_a_ciphertext_no_key_opens():
    with pytest.raises(DecryptionError):
        encryption.rotate(Fernet(new_key().encode()).encrypt(b"s3cr3t").decode())


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "PORTICO_ENCRYPTION_KEYS must name at least one Fernet key"),
        (["not-a-fernet-key"], "PORTICO_ENCRYPTION_KEYS: key 1 is not a valid Fernet key"),
        ([new_key(), "not-a-fernet-key"], "PORTICO_ENCRYPTION_KEYS: key 2 is not a valid Fernet key"),
        ([new_key()[:-4]], "PORTICO_ENCRYPTION_KEYS: key 1 is not a valid Fernet key"),
        (new_key(), "PORTICO_ENCRYPTION_KEYS must be a list of Fernet keys"),
    ],
    ids=["empty", "garbage", "second-key-garbage", "truncated", "a-string-not-a-list"],
)
@pytest.mark.parametrize("use", [encryption.encrypt, encryption.decrypt, encryption.encrypted_with_newest_key])
def test_a_wrong_key_configuration_is_refused_with_a_clear_message(keys, message, use):
    with override_settings(PORTICO_ENCRYPTION_KEYS=keys), pytest.raises(ImproperlyConfigured) as error:
        use("gAAAAABnot-a-real-token")

    assert message in str(error.value)
    configured = [keys] if isinstance(keys, str) else keys
    assert not any(key in str(error.value) for key in configured)  # a configuration error prints no key


def test_the_keys_may_carry_spaces_from_the_environment(settings):
    key = new_key()
    settings.PORTICO_ENCRYPTION_KEYS = [f" {key} "]

    assert Fernet(key.encode()).decrypt(encryption.encrypt("s3cr3t").encode()) == b"s3cr3t"


# --- Secrets Portico verifies: generated keys and keyed hashes ------------------------------------
def test_a_generated_secret_has_the_recognisable_prefix_of_its_kind():
    secret = generate_secret("key")

    assert SECRET_SHAPE.match(secret.value)
    assert secret.value.startswith(f"{secret.prefix}_")
    assert re.fullmatch(r"prt_key_[0-9A-Za-z]{8}", secret.prefix)


def test_a_client_secret_carries_its_own_kind():
    secret = generate_secret("cs")

    assert secret.value.startswith("prt_cs_")
    assert secret_prefix(secret.value, "cs") == secret.prefix


def test_generated_secrets_are_all_different():
    secrets = [generate_secret("key") for _ in range(50)]

    assert len({s.value for s in secrets}) == 50
    assert len({s.prefix for s in secrets}) == 50


def test_the_stored_digest_is_an_hmac_of_the_secret_under_the_key_derived_for_its_kind(settings):
    secret = generate_secret("key")

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portico:hash:key").derive(
        settings.PORTICO_HASH_KEY.encode()
    )
    expected = hmac.new(key, secret.value.encode(), hashlib.sha256).hexdigest()
    assert secret.digest == expected
    assert secret.value not in secret.digest
    assert secret.digest != hashlib.sha256(secret.value.encode()).hexdigest()  # keyed, not a bare hash


def test_the_digest_depends_on_the_hash_key(settings):
    secret = generate_secret("key")

    settings.PORTICO_HASH_KEY = "another-pepper-0123456789abcdefghijklmnopqrstuvwxyz"

    assert crypto.hash_secret(secret.value) != secret.digest
    assert not verify_secret(secret.value, secret.digest)


def test_verify_secret_accepts_the_secret_it_was_made_from():
    secret = generate_secret("key")

    assert verify_secret(secret.value, secret.digest) is True


def test_verify_secret_refuses_another_secret():
    secret, other = generate_secret("key"), generate_secret("key")

    assert verify_secret(other.value, secret.digest) is False


@pytest.mark.parametrize("position", [0, 9, 20, -1])
def test_verify_secret_refuses_a_secret_with_one_character_changed(position):
    secret = generate_secret("key")

    assert verify_secret(change_one_char(secret.value, position), secret.digest) is False


def test_secret_prefix_returns_the_public_prefix_of_a_well_formed_secret():
    secret = generate_secret("key")

    assert secret_prefix(secret.value, "key") == secret.prefix


def test_secret_prefix_ignores_whitespace_around_a_pasted_secret():
    secret = generate_secret("key")

    assert secret_prefix(f"  {secret.value}\n", "key") == secret.prefix


@pytest.mark.parametrize("cut", [1, 6, 20])
def test_secret_prefix_refuses_a_truncated_secret(cut):
    secret = generate_secret("key")

    with pytest.raises(MalformedSecret, match="format"):
        secret_prefix(secret.value[:-cut], "key")


def test_secret_prefix_refuses_a_secret_with_an_extra_character():
    secret = generate_secret("key")

    with pytest.raises(MalformedSecret):
        secret_prefix(secret.value + "A", "key")


# Positions in the lookup, the random part and the checksum: the shape still holds, the checksum
# (CRC32) catches every single-character change.
@pytest.mark.parametrize("position", [8, 15, 17, 30, 48, -6, -1])
def test_secret_prefix_refuses_a_mistyped_secret_by_its_checksum(position):
    secret = generate_secret("key")

    with pytest.raises(MalformedSecret, match="checksum"):
        secret_prefix(change_one_char(secret.value, position), "key")


def test_secret_prefix_refuses_a_secret_of_another_kind():
    secret = generate_secret("cs")

    with pytest.raises(MalformedSecret):
        secret_prefix(secret.value, "key")


def test_secret_prefix_refuses_a_secret_whose_kind_was_rewritten():
    secret = generate_secret("cs")

    with pytest.raises(MalformedSecret, match="checksum"):
        secret_prefix(secret.value.replace("prt_cs_", "prt_ke_", 1), "ke")


@pytest.mark.parametrize("value", ["", "   ", None, "prt_key_", "Bearer abc", 12345])
def test_secret_prefix_refuses_an_empty_or_foreign_value(value):
    with pytest.raises(MalformedSecret):
        secret_prefix(value, "key")


@pytest.mark.parametrize("kind", ["", "k", "KEY", "toolong", "a_b", "k3y"])
def test_generate_secret_refuses_a_kind_that_is_not_two_to_six_letters(kind):
    with pytest.raises(ValueError, match="2 to 6 lower-case letters"):
        generate_secret(kind)


def test_the_repr_of_a_generated_secret_does_not_show_the_value():
    secret = generate_secret("key")

    assert secret.value not in repr(secret)
    assert secret.value not in str(secret)
    assert secret.value not in f"{secret!r} {secret}"
    assert secret.digest not in repr(secret)
    assert secret.prefix in repr(secret)
