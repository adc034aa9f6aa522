"""Properties of the secret format (credentials/lib/crypto.py, ``prt_<kind>_<lookup>_<secret><checksum>``),
checked with Hypothesis against the public functions' documented behaviour only: generate_secret,
secret_prefix, MalformedSecret, hash_secret and verify_secret.

- every generated secret parses back to its prefix and kind;
- any single-character change, deletion or truncation fails (a change to a letter or digit fails
  its checksum: CRC32 catches every one-character error, and six base62 digits hold all of it);
- secret_prefix raises nothing but MalformedSecret, whatever it is given;
- a generated secret verifies against its digest, a changed one does not.
"""

import string

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from credentials.lib import crypto
from credentials.lib.crypto import MalformedSecret, generate_secret, secret_prefix

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
KINDS = st.from_regex(r"\A[a-z]{2,6}\Z")
PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def refused(value: object, kind: str) -> str:
    """The message of the MalformedSecret that secret_prefix raises (and fail if it returns)."""
    try:
        secret_prefix(value, kind)  # values of any type, on purpose
    except MalformedSecret as exc:
        return str(exc)
    raise AssertionError(f"{value!r} was accepted as a {kind} secret")


@PROPERTY
@given(kind=KINDS)
def test_every_generated_secret_parses_back_to_its_prefix_and_kind(kind):
    secret = generate_secret(kind)

    assert secret_prefix(secret.value, kind) == secret.prefix
    assert secret.prefix.startswith(f"prt_{kind}_") and secret.value.startswith(secret.prefix + "_")


@PROPERTY
@given(kind=KINDS, other=KINDS)
def test_a_generated_secret_is_not_a_secret_of_another_kind(kind, other):
    assume(kind != other)

    refused(generate_secret(kind).value, other)


@PROPERTY
@given(kind=KINDS, data=st.data())
def test_any_single_character_change_fails(kind, data):
    value = generate_secret(kind).value
    position = data.draw(st.integers(0, len(value) - 1), label="position")
    # Any code point, lone surrogates included.
    replacement = data.draw(st.characters(exclude_categories=()).filter(lambda char: char != value[position]))

    refused(value[:position] + replacement + value[position + 1 :], kind)


@PROPERTY
@given(kind=KINDS, data=st.data())
def test_a_changed_letter_or_digit_after_the_kind_fails_its_checksum(kind, data):
    value = generate_secret(kind).value
    start = len(f"prt_{kind}_")
    position = data.draw(st.integers(start, len(value) - 1).filter(lambda at: value[at] != "_"), label="position")
    replacement = data.draw(st.sampled_from(BASE62).filter(lambda char: char != value[position]))

    assert "checksum" in refused(value[:position] + replacement + value[position + 1 :], kind)


@PROPERTY
@given(kind=KINDS, data=st.data())
def test_any_truncation_or_deleted_character_fails(kind, data):
    value = generate_secret(kind).value
    cut = data.draw(st.integers(0, len(value) - 1), label="cut")

    refused(value[:cut], kind)
    refused(value[:cut] + value[cut + 1 :], kind)


@PROPERTY
@given(
    kind=KINDS,
    value=st.one_of(
        st.text(),
        st.text(alphabet=BASE62 + "_ \n\x00\ud800", min_size=40, max_size=70).map(lambda tail: "prt_" + tail),
        st.from_regex(r"\Aprt_[a-z]{2,6}_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}\Z"),
        st.binary(),
        st.none(),
        st.integers(),
        st.lists(st.text(), max_size=3),
    ),
)
@example(kind="key", value="prt_key_" + "A" * 8 + "_" + "B" * 38 + "\n")
@example(kind="key", value="prt_key_\ud800")
def test_random_input_raises_only_malformed_secret(kind, value):
    try:
        prefix = secret_prefix(value, kind)
    except MalformedSecret:
        return
    # Only a value that really is one: the 38 base62 characters of a matching checksum.
    assert isinstance(value, str) and prefix == value.strip()[: len(prefix)]


@PROPERTY
@given(kind=KINDS, data=st.data())
def test_a_generated_secret_verifies_against_its_digest_and_a_changed_one_does_not(kind, data):
    secret = generate_secret(kind)
    position = data.draw(st.integers(0, len(secret.value) - 1), label="position")
    changed = secret.value[:position] + ("A" if secret.value[position] != "A" else "B") + secret.value[position + 1 :]

    # The purpose named: a changed "prt_<kind>_" no longer says which key it was hashed under.
    assert crypto.verify_secret(secret.value, secret.digest, purpose=kind)
    assert not crypto.verify_secret(changed, secret.digest, purpose=kind)
