"""`manage.py check --deploy` refuses weak keys: a short, repetitive or well-known PORTICO_HASH_KEY,
PORTICO_ENCRYPTION_KEYS that are not Fernet keys; and warns about the previous release's
PORTICO_TRUST_X_FORWARDED_FOR."""

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core import checks

from tests.portal.test_settings import BASE_DIR, production_env

GOOD_HASH_KEY = "Zq8Jm2vX4kP9sT1wR6yB3nD7fH0cL5gA_uE-iO"
TEST_HASH_KEY = "test-hash-key-0123456789abcdefghijklmnopqrstuvwxyz"  # portal/settings_test.py's


def deploy_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "manage.py", "check", "--deploy", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def deploy_ids() -> set[str]:
    return {message.id for message in checks.run_checks(include_deployment_checks=True) if message.id}


def portico_ids() -> set[str]:
    return {check_id for check_id in deploy_ids() if check_id.startswith("portico.")}


# --- PORTICO_HASH_KEY -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "weak",
    [
        "short-key-0123456789",  # under 32 characters
        "a" * 64,  # one character
        "abababababababababababababababababababab",  # two
        TEST_HASH_KEY,  # well known: it is in this repository
        "change-me-change-me-change-me-change-me",
    ],
)
def test_a_weak_hash_key_is_refused_when_debug_is_off(settings, weak):
    settings.DEBUG = False
    settings.PORTICO_HASH_KEY = weak

    assert "portico.E001" in portico_ids()


def test_a_hash_key_that_is_the_secret_key_is_refused(settings):
    settings.DEBUG = False
    settings.PORTICO_HASH_KEY = settings.SECRET_KEY = GOOD_HASH_KEY + "x"

    assert "portico.E001" in portico_ids()


def test_a_strong_hash_key_passes(settings):
    settings.DEBUG = False
    settings.PORTICO_HASH_KEY = GOOD_HASH_KEY
    settings.PORTICO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    assert portico_ids() == set()


def test_with_debug_on_weak_keys_are_a_developers_business(settings):
    settings.DEBUG = True
    settings.PORTICO_HASH_KEY = "dev"
    settings.PORTICO_ENCRYPTION_KEYS = ["dev"]

    assert not {"portico.E001", "portico.E002"} & portico_ids()


# --- PORTICO_ENCRYPTION_KEYS ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "keys",
    [
        [],
        ["not-a-fernet-key"],
        [Fernet.generate_key().decode(), "A" * 43],  # the second is no key (44 characters, base64)
        ["LT9ZRd7Mo1ip_WG8n8BgwfXJ4JmLMvdbk5v1mlRrQC0="],  # portal/settings_test.py's: well known
    ],
)
def test_encryption_keys_that_are_not_fernet_keys_are_refused(settings, keys):
    settings.DEBUG = False
    settings.PORTICO_HASH_KEY = GOOD_HASH_KEY
    settings.PORTICO_ENCRYPTION_KEYS = keys

    assert "portico.E002" in portico_ids()


# --- manage.py check --deploy, as an operator runs it ---------------------------------------------
def test_check_deploy_fails_with_a_weak_hash_key():
    result = deploy_check(production_env(PORTICO_HASH_KEY="x" * 40))

    assert result.returncode != 0
    assert "portico.E001" in result.stderr


def test_check_deploy_fails_with_a_short_hash_key():
    result = deploy_check(production_env(PORTICO_HASH_KEY="Sh0rt-but-random-9x"))

    assert result.returncode != 0
    assert "portico.E001" in result.stderr and "PORTICO_HASH_KEY" in result.stderr


def test_check_deploy_fails_with_a_bad_encryption_key():
    result = deploy_check(production_env(PORTICO_ENCRYPTION_KEYS="not-a-fernet-key"))

    assert result.returncode != 0
    assert "portico.E002" in result.stderr


def test_check_deploy_passes_with_good_settings():
    result = deploy_check(production_env(), "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_previous_releases_x_forwarded_for_switch_means_one_proxy_and_is_warned_about():
    env = production_env(PORTICO_TRUST_X_FORWARDED_FOR="true")
    probe = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", "from django.conf import settings; print(settings.PORTICO_TRUSTED_PROXY_COUNT)"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    result = deploy_check(env, "--fail-level", "WARNING")

    assert probe.stdout.strip() == "1"
    assert result.returncode != 0
    assert "portico.W001" in result.stderr and "PORTICO_TRUSTED_PROXY_COUNT" in result.stderr
