"""Test settings: fixed keys, fast hashing, eager Celery, no `.env` read.

DATABASE_URL and CELERY_BROKER_URL from the real environment still apply, which is how
`make test` runs the integration tests on PostgreSQL and Redis.
"""

import os

os.environ["PORTICO_READ_DOTENV"] = "false"
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
# Two Fernet keys, newest first, so tests exercise decryption with an older key.
os.environ.setdefault(
    "PORTICO_ENCRYPTION_KEYS",
    "LT9ZRd7Mo1ip_WG8n8BgwfXJ4JmLMvdbk5v1mlRrQC0=,Yv1LSeZVgA4BW-TQtvXbyzSnsv8gwgL7d-VNrQdrcOg=",
)
os.environ.setdefault("PORTICO_HASH_KEY", "test-hash-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")

from portal.settings import *  # noqa: E402,F403
from portal.settings import DATABASES, INSTALLED_APPS, STATIC_ROOT  # noqa: E402

# A test-only app with encrypted fields (tests/testapp); it has no migrations, so it is synced.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# In pytest's own process pytest-django uses locmem whatever this says. A worker the integration
# tests start may be given EMAIL_URL (a real SMTP server on loopback), which then wins.
if not os.environ.get("EMAIL_URL"):
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "true").lower() == "true"
CELERY_TASK_EAGER_PROPAGATES = True
ALLOWED_HOSTS = ["*"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["NAME"] = os.environ.get("TEST_SQLITE_NAME", ":memory:")
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_SQLITE_NAME") or None}
# Static files come from the finders, no collectstatic needed to run the tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Tests run real token endpoints on loopback.
PORTICO_OUTBOUND_ALLOW_PRIVATE = True
PORTICO_ALLOW_HTTP_LOOPBACK = True
PORTICO_OUTBOUND_TIMEOUT = 3.0
# django-axes logs every successful log-on at INFO ("Deleted 0 failed login attempts"): noise in test logs.
AXES_VERBOSE = False
