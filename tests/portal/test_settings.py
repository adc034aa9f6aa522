"""Settings read from the environment: production passes `check --deploy`, SQLite is set up for
several processes, and DATABASE_URL / CELERY_BROKER_URL switch to PostgreSQL and Redis.

Each case imports the settings in a fresh process, since they are read once at startup."""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def production_env(**overrides: str) -> dict[str, str]:
    """The variables a production deployment sets, and nothing from this test run's environment."""
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return {
        **{name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTICO_READ_DOTENV": "false",
        "DEBUG": "false",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "PORTICO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTICO_HASH_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "portal.example.com",
        **overrides,
    }


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def test_check_deploy_finds_no_issues_with_production_settings():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())

    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr


SQLITE_PROBE = """
import json, sqlite3
import django
django.setup()
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
    cursor.execute("PRAGMA busy_timeout")
    busy_timeout = cursor.fetchone()[0]
    cursor.execute("PRAGMA foreign_keys")
    foreign_keys = cursor.fetchone()[0]
with transaction.atomic():
    # An IMMEDIATE transaction holds the write lock from its start, before any statement.
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        second_writer = "got the write lock"
    except sqlite3.OperationalError as error:
        second_writer = str(error)
    other.close()
print(json.dumps({"journal_mode": journal_mode, "busy_timeout": busy_timeout,
                  "foreign_keys": foreign_keys, "second_writer": second_writer}))
"""


def test_sqlite_uses_wal_a_busy_timeout_and_immediate_transactions(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'portico.sqlite3'}")

    probe = json.loads(run_python(["-c", SQLITE_PROBE], env).stdout)

    assert probe == {
        "journal_mode": "wal",
        "busy_timeout": 30_000,
        "foreign_keys": 1,
        "second_writer": "database is locked",
    }


SETTINGS_PROBE = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({key: db.get(key) for key in ("ENGINE", "NAME", "USER", "HOST", "PORT")}
                 | {"broker": settings.CELERY_BROKER_URL}))
"""


@pytest.mark.parametrize("settings_module", ["portal.settings", "portal.settings_test"])
def test_database_and_broker_urls_switch_to_postgresql_and_redis(settings_module):
    env = production_env(
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL="postgres://u:p@h:5432/n",
        CELERY_BROKER_URL="redis://h:6379/0",
    )

    probe = json.loads(run_python(["-c", SETTINGS_PROBE], env).stdout)

    assert probe == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "n",
        "USER": "u",
        "HOST": "h",
        "PORT": 5432,
        "broker": "redis://h:6379/0",
    }


def test_without_urls_the_settings_use_sqlite_and_the_filesystem_broker():
    probe = json.loads(run_python(["-c", SETTINGS_PROBE], production_env()).stdout)

    assert probe["ENGINE"] == "django.db.backends.sqlite3"
    assert probe["NAME"] == str(BASE_DIR / "var" / "db.sqlite3")
    assert probe["broker"] == "filesystem://"
