"""One hashing key per kind of secret, derived from PORTICO_HASH_KEY with HKDF-SHA256, and the digests
stored before it (HMAC under the raw PORTICO_HASH_KEY) still verifying wherever they are checked."""

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError

from credentials.gateway import services as gateway
from credentials.integration import services as integration_services
from credentials.integration.models import ApiCredential
from credentials.keys import services as key_services
from credentials.keys.models import Api, KeySecret, RuntimeTarget
from credentials.lib import crypto
from tests.credentials.gateway.helpers import make_gateway
from tests.factories import make_api_credential

TYPED_SECRET = "Typed.secret~with-all_the-SYMBOLS-0123456789"


def derived_digest(value: str, kind: str) -> str:
    """The digest as the spec says it: HMAC-SHA256 under HKDF-SHA256(PORTICO_HASH_KEY, info=portico:hash:<kind>)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"portico:hash:{kind}".encode()).derive(
        settings.PORTICO_HASH_KEY.encode()
    )
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def legacy_digest(value: str) -> str:
    """What the previous release stored: HMAC-SHA256 under the raw PORTICO_HASH_KEY."""
    return hmac.new(settings.PORTICO_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def ask_token(client, client_id: str, secret: str):
    return client.post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(client_id, secret),
    )


# --- new digests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["key", "cs", "gw", "at"])
def test_a_new_secret_is_hashed_with_the_key_derived_for_its_kind(kind):
    secret = crypto.generate_secret(kind)

    assert secret.digest == derived_digest(secret.value, kind)
    assert secret.digest != legacy_digest(secret.value)
    assert crypto.verify_secret(secret.value, secret.digest)


def test_a_digest_made_for_one_kind_never_verifies_as_another():
    value = crypto.generate_secret("key").value
    as_client_secret = crypto.hash_secret(value, purpose="cs")

    assert as_client_secret != crypto.hash_secret(value)
    assert not crypto.verify_secret(value, as_client_secret)  # read as what it is: an API key
    assert crypto.verify_secret(value, as_client_secret, purpose="cs")


def test_an_api_key_typed_as_a_client_secret_is_not_stored_as_the_keys_digest(organization, consumer):
    api = Api.objects.create(name="Weather", slug="weather", provider=organization)
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)

    credential, _ = make_api_credential(organization, name="Typed", client_secret=secret.value)

    assert credential.secret_digest != KeySecret.objects.get(api_key=key).digest
    assert credential.secret_digest == derived_digest(secret.value, "cs")


def test_a_secret_without_a_kind_needs_a_purpose():
    with pytest.raises(ValueError, match="purpose"):
        crypto.hash_secret(TYPED_SECRET)


def test_a_typed_client_secret_is_hashed_for_client_secrets(organization):
    credential, _ = make_api_credential(organization, name="Typed", client_secret=TYPED_SECRET)

    assert credential.secret_digest == derived_digest(TYPED_SECRET, "cs")


# --- digests stored by the previous release keep verifying ----------------------------------------
def test_a_legacy_digest_still_verifies_and_a_wrong_secret_still_fails():
    value = crypto.generate_secret("key").value

    assert crypto.verify_secret(value, legacy_digest(value))
    assert not crypto.verify_secret(crypto.generate_secret("key").value, legacy_digest(value))


def test_a_legacy_generated_client_secret_still_gets_a_token(client, organization):
    credential, secret = make_api_credential(organization, name="Old client")
    ApiCredential.objects.filter(pk=credential.pk).update(secret_digest=legacy_digest(secret))

    response = ask_token(client, credential.client_id, secret)

    assert response.status_code == 200
    credential.refresh_from_db()
    assert credential.secret_digest == legacy_digest(secret)  # left as stored: re-hashing needs the secret


def test_a_legacy_typed_client_secret_still_gets_a_token(client, organization):
    credential, _ = make_api_credential(organization, name="Old typed", client_secret=TYPED_SECRET)
    ApiCredential.objects.filter(pk=credential.pk).update(secret_digest=legacy_digest(TYPED_SECRET))

    assert ask_token(client, credential.client_id, TYPED_SECRET).status_code == 200
    assert ask_token(client, credential.client_id, TYPED_SECRET + "x").status_code == 401


def test_a_legacy_typed_secret_is_still_refused_as_a_reused_one(organization):
    first, _ = make_api_credential(organization, name="Old typed", client_secret=TYPED_SECRET)
    ApiCredential.objects.filter(pk=first.pk).update(secret_digest=legacy_digest(TYPED_SECRET))

    with pytest.raises(ValidationError) as refused:
        integration_services.api_credential_create(organization=organization, name="Again", client_secret=TYPED_SECRET)

    assert "Another credential of your account uses this secret" in str(refused.value)
    assert ApiCredential.objects.filter(organization=organization).count() == 1


@pytest.fixture
def gateway_state():
    gateway.reset_state()
    yield
    gateway.reset_state()


def test_a_legacy_api_key_and_gateway_token_still_pass_gateway_verify(client, organization, consumer, gateway_state):
    mediator = make_gateway("mediator")
    RuntimeTarget.objects.filter(pk=mediator.target.pk).update(verify_token_digest=legacy_digest(mediator.token))
    api = Api.objects.create(name="Weather", slug="weather", provider=organization, runtime_target=mediator.target)
    key, secret = key_services.api_key_issue(api=api, consumer=consumer)
    KeySecret.objects.filter(api_key=key).update(digest=legacy_digest(secret.value))

    def ask(value: str):
        return client.post(
            "/gateway/verify",
            {"key": value, "api": "weather"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {mediator.token}"},
        )

    assert ask(secret.value).status_code == 200
    assert ask(crypto.generate_secret("key").value).status_code == 403
