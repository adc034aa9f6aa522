"""Signed access tokens and their revocation: a changed secret, a deleted credential or a demoted
role stops a token within a second on every process (each keeps a credential's facts at most
CACHE_SECONDS: credential_facts), and at once in the process that made the change. "Another
process" is played here by changing the database without this process forgetting what it read.
The same on PostgreSQL with two gunicorn processes: tests/integration/test_token_revocation.py."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.integration import access_tokens, credential_facts, oauth
from credentials.integration import services as integration_services
from credentials.integration.models import AccessToken, ApiCredential
from credentials.lib import crypto
from tests.credentials.integration.test_oauth_token import ask_token, basic, issue, me
from tests.factories import make_api_credential

JSONAPI = "application/vnd.api+json"


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


@pytest.fixture
def elsewhere(monkeypatch):
    """The changes of this test happen in another process: this one does not forget what it read."""
    monkeypatch.setattr(credential_facts, "forget_now_and_on_commit", lambda client_id: None)


def a_second_later(frozen) -> None:
    frozen.shift(timedelta(seconds=credential_facts.CACHE_SECONDS))


def patch_name(client, credential: ApiCredential, value: str, name: str):
    body = (
        f'{{"data": {{"type": "api_credentials", "id": "{credential.public_id}", "attributes": {{"name": "{name}"}}}}}}'
    )
    return client.patch(
        f"/api/api_credentials/{credential.public_id}",
        body,
        content_type=JSONAPI,
        HTTP_AUTHORIZATION=f"Bearer {value}",
        HTTP_ACCEPT=JSONAPI,
    )


# --- within a second, on a process that read the facts before the change ---------------------------
def test_a_changed_secret_stops_a_token_served_from_the_cache_within_a_second(
    client, credential, org_admin, frozen, elsewhere
):
    value = issue(client, credential)["access_token"]
    assert me(client, value).status_code == 200

    integration_services.api_credential_set_secret(credential_id=credential[0].pk, changed_by=org_admin)
    # Within the cache time this process may still answer from what it read before the change.
    assert me(client, value).status_code == 200
    a_second_later(frozen)

    assert me(client, value).status_code == 401
    assert ask_token(client, auth=basic(credential[0].client_id, credential[1])).status_code == 401


def test_a_deleted_credentials_token_served_from_the_cache_stops_within_a_second(
    client, credential, org_admin, frozen, elsewhere
):
    value = issue(client, credential)["access_token"]
    assert me(client, value).status_code == 200

    integration_services.api_credential_delete(credential_id=credential[0].pk, deleted_by=org_admin)
    assert me(client, value).status_code == 200
    a_second_later(frozen)

    assert me(client, value).status_code == 401


def test_a_demoted_roles_token_served_from_the_cache_stops_writing_within_a_second(
    client, credential, organization, org_admin, frozen, elsewhere
):
    value = issue(client, credential)["access_token"]
    assert patch_name(client, credential[0], value, "Before").status_code == 200

    read_only = integration_services.role_ensure_defaults(organization=organization)[1]
    integration_services.api_credential_update(credential_id=credential[0].pk, updated_by=org_admin, role=read_only)
    assert patch_name(client, credential[0], value, "Cached").status_code == 200
    a_second_later(frozen)

    refused = patch_name(client, credential[0], value, "After")
    assert refused.status_code == 403
    credential[0].refresh_from_db()
    assert credential[0].name == "Cached"
    # Reading is what the read-only role still allows.
    assert me(client, value).status_code == 200


def test_a_cache_time_of_zero_checks_the_database_on_every_request(client, credential, monkeypatch, elsewhere):
    monkeypatch.setattr(credential_facts, "CACHE_SECONDS", 0.0)
    value = issue(client, credential)["access_token"]

    ApiCredential.objects.filter(pk=credential[0].pk).update(secret_version=2)

    assert me(client, value).status_code == 401


def test_facts_read_on_a_clock_that_then_went_back_are_read_again(client, credential, frozen, elsewhere):
    value = issue(client, credential)["access_token"]
    ApiCredential.objects.filter(pk=credential[0].pk).update(secret_version=2)

    frozen.shift(timedelta(seconds=-5))  # the clock jumped back: the entry looks stale, not fresher

    assert me(client, value).status_code == 401


# --- at once, on the process that made the change ------------------------------------------------
def test_the_process_that_changes_a_credential_forgets_its_facts_at_once(client, credential, organization, org_admin):
    value = issue(client, credential)["access_token"]
    assert me(client, value).status_code == 200
    read_only = integration_services.role_ensure_defaults(organization=organization)[1]

    integration_services.api_credential_update(credential_id=credential[0].pk, updated_by=org_admin, role=read_only)

    assert patch_name(client, credential[0], value, "Refused").status_code == 403


def test_facts_another_thread_read_before_the_commit_are_forgotten_at_the_commit(
    credential, django_capture_on_commit_callbacks
):
    client_id = credential[0].client_id
    stale = credential_facts.facts_for(client_id)

    with django_capture_on_commit_callbacks(execute=True):
        credential_facts.forget_now_and_on_commit(client_id)
        # Another thread of this process reads the facts before the change commits.
        assert credential_facts.facts_for(client_id) == stale
        ApiCredential.objects.filter(pk=credential[0].pk).update(secret_version=5)

    assert credential_facts.facts_for(client_id).secret_version == 5


# --- costs --------------------------------------------------------------------------------------------
def test_a_token_and_its_reads_cost_no_query_once_the_facts_are_read(
    client, credential, django_assert_num_queries, frozen
):
    value = issue(client, credential)["access_token"]  # reads the facts, notes the last use

    with django_assert_num_queries(0):
        assert me(client, value).status_code == 200
        assert ask_token(client, auth=basic(credential[0].client_id, credential[1])).status_code == 200
        assert ask_token(client, auth=basic(credential[0].client_id, "wrong")).status_code == 401


def test_issuing_writes_no_token_row_and_reads_the_facts_once(client, credential, django_assert_num_queries):
    with django_assert_num_queries(2):  # the facts; the credential's last use
        issue(client, credential)

    assert not AccessToken.objects.exists()


def test_an_unknown_client_id_is_asked_every_time(client, db, django_assert_num_queries):
    # Only credentials that exist are kept: one made a moment ago on another process works at once.
    with django_assert_num_queries(2):
        ask_token(client, auth=basic("no-such-client", "x"))
        ask_token(client, auth=basic("no-such-client", "x"))


def test_the_last_use_is_written_at_most_once_a_minute(client, credential, frozen, django_assert_num_queries):
    value = issue(client, credential)["access_token"]
    credential[0].refresh_from_db()
    first_use = credential[0].last_used_at
    frozen.shift(timedelta(seconds=59))

    with django_assert_num_queries(1):  # the facts, a second old: re-read; the last use is recent
        assert me(client, value).status_code == 200
    frozen.shift(timedelta(seconds=2))
    with django_assert_num_queries(2):  # the facts again, and the last use: over a minute old
        assert me(client, value).status_code == 200

    credential[0].refresh_from_db()
    assert credential[0].last_used_at == first_use + timedelta(seconds=61)


# --- what a token is -----------------------------------------------------------------------------------
def tampered(value: str, position: int, character: str) -> str:
    return value[:position] + character + value[position + 1 :]


def test_an_altered_token_is_refused(client, credential):
    value = issue(client, credential, scope="read")["access_token"]
    claims = access_tokens.read(value)
    assert claims is not None
    body, _, signature = value.rpartition("_")
    head, version, expires, code = body.rsplit("_", 3)
    forged = [
        f"{head}_{version}_{int(expires) + 86400}_{code}_{signature}",  # a longer life
        f"{head}_{version}_{expires}_rw_{signature}",  # more scopes
        f"{head}_{int(version) + 1}_{expires}_{code}_{signature}",  # another secret version
        tampered(value, len(claims.prefix) + 3, "x" if value[len(claims.prefix) + 3] != "x" else "y"),  # client ID
        tampered(value, len(value) - 1, "0" if value[-1] != "0" else "1"),  # the signature
        value[:-1],
        value + "0",
        body,
    ]

    for other in forged:
        assert access_tokens.read(other) is None, other
        assert me(client, other).status_code == 401


@pytest.mark.parametrize("tail", ["é", "\u00e9" * 64, "☃"])
def test_a_value_with_characters_outside_ascii_is_refused_not_an_error(client, credential, tail):
    value = issue(client, credential)["access_token"]
    altered = value.rpartition("_")[0] + "_" + tail

    assert access_tokens.read(altered) is None
    assert me(client, altered.encode().decode("latin-1")).status_code == 401


def test_a_token_signed_under_another_hash_key_is_refused(client, credential, settings):
    value = issue(client, credential)["access_token"]

    settings.PORTICO_HASH_KEY = "another-hash-key-0123456789abcdefghijklmnopqrstuvwxyz"

    assert me(client, value).status_code == 401


def test_a_signed_token_of_a_client_that_does_not_exist_is_refused(client, db):
    value, _claims = access_tokens.issue(
        client_id="no-such-client", secret_version=1, scopes=["read"], expires_at=int(timezone.now().timestamp()) + 60
    )

    assert me(client, value).status_code == 401


@pytest.mark.parametrize(
    "body",
    ["prt_at_AAAAAAAA_client_x_99_r", "prt_at_AAAAAAAA_client_1_99_admin", "prt_at_AAAAAAAAclient_1_99_r", "prt_at_"],
)
def test_a_well_signed_value_of_another_shape_is_refused(body):
    # Only Portico can sign; this makes sure what it signs is read strictly all the same.
    assert access_tokens.read(f"{body}_{access_tokens._signature(body)}") is None


def test_an_overlong_value_is_refused_before_any_hashing(monkeypatch):
    monkeypatch.setattr(access_tokens, "_signature", lambda body: pytest.fail("hashed an overlong value"))

    assert access_tokens.read("prt_at_" + "A" * access_tokens.MAX_LENGTH) is None


def test_a_token_carries_only_known_scopes():
    with pytest.raises(access_tokens.UnknownScope):
        access_tokens.issue(client_id="c", secret_version=1, scopes=["admin"], expires_at=0)
    with pytest.raises(access_tokens.UnknownScope):
        access_tokens.issue(client_id="c", secret_version=1, scopes=[], expires_at=0)


def test_issuing_logs_no_token_even_at_debug(client, credential, caplog):
    caplog.set_level(logging.DEBUG)

    value = issue(client, credential)["access_token"]
    me(client, value)

    assert value not in caplog.text
    assert value.rpartition("_")[2] not in caplog.text  # nor its signature


# --- tokens of the previous release, stored as prefix and keyed hash ------------------------------------
def stored_token(credential: ApiCredential, *, expires_in: int = 600) -> str:
    secret = crypto.generate_secret("at")
    AccessToken.objects.create(
        credential=credential,
        prefix=secret.prefix,
        digest=secret.digest,
        scopes="read",
        secret_version=credential.secret_version,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    return secret.value


def test_a_stored_token_of_the_previous_release_still_works_until_it_expires(client, credential, frozen):
    value = stored_token(credential[0])

    answer = me(client, value)
    assert answer.status_code == 200 and answer.json()["scope"] == "read"
    frozen.shift(timedelta(seconds=600))

    assert me(client, value).status_code == 401


def test_a_stored_token_with_a_digest_of_the_release_before_still_works(client, credential):
    value = stored_token(credential[0])
    # Stored before the hash keys were derived per kind: HMAC under the raw PORTICO_HASH_KEY.
    AccessToken.objects.filter(credential=credential[0]).update(digest=crypto.legacy_hash_secret(value))

    assert me(client, value).status_code == 200


def test_a_stored_token_stops_with_its_credentials_secret(client, credential, org_admin):
    value = stored_token(credential[0])
    assert me(client, value).status_code == 200

    integration_services.api_credential_set_secret(credential_id=credential[0].pk, changed_by=org_admin)

    assert me(client, value).status_code == 401


def test_a_stored_token_of_another_secret_version_or_digest_is_refused(client, organization):
    first, _ = make_api_credential(organization, name="First")
    second, _ = make_api_credential(organization, name="Second")
    old_version = stored_token(first)
    AccessToken.objects.filter(credential=first).update(secret_version=0)
    wrong_digest = stored_token(second)
    AccessToken.objects.filter(credential=second).update(digest=crypto.hash_secret("something else", purpose="at"))

    assert me(client, old_version).status_code == 401
    assert me(client, wrong_digest).status_code == 401


def test_bearer_auth_allows_what_the_token_was_given_and_the_role_still_grants(rf, client, credential):
    value = issue(client, credential, scope="read")["access_token"]

    bearer = oauth.BearerAuth(*oauth.authenticate_bearer(rf.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {value}")))

    assert bearer.allows("read") and not bearer.allows("write")
    assert bearer.organization_id == credential[0].organization_id


# --- the cache itself ------------------------------------------------------------------------------------
def test_a_setting_may_shorten_the_cache_time_never_lengthen_it(settings):
    import importlib

    try:
        settings.PORTICO_OAUTH_CACHE_SECONDS = 30
        assert importlib.reload(credential_facts).CACHE_SECONDS == 1.0
        settings.PORTICO_OAUTH_CACHE_SECONDS = 0.25
        assert importlib.reload(credential_facts).CACHE_SECONDS == 0.25
    finally:
        del settings.PORTICO_OAUTH_CACHE_SECONDS
        importlib.reload(credential_facts)


def test_a_full_cache_drops_its_stale_entries(organization, frozen, monkeypatch):
    monkeypatch.setattr(credential_facts, "MAX_CACHED", 2)
    old, new, newest = (make_api_credential(organization, name=name)[0].client_id for name in ("Old", "New", "Newest"))
    credential_facts.facts_for(old)
    a_second_later(frozen)
    credential_facts.facts_for(new)

    credential_facts.facts_for(newest)  # the cache is full: the stale entry goes

    assert set(credential_facts._cache._entries) == {new, newest}
