"""Portico settings, read from the environment with django-environ.

Every variable is documented in `.env.example`. A local `.env` (written by `make run`) is read
when present; variables already in the environment win over it.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("PORTICO_READ_DOTENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env")

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# No default: production must set its own; `make run` writes a fresh one into .env.
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_NAME = env.str("SITE_NAME", default="Portico")
# Used in emails, where there is no request to build absolute links from.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "csp",
    "django_htmx",
    "rest_framework",
    "rest_framework_json_api",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "template_partials.apps.SimpleAppConfig",
    # The second factor of hub admins and approvers (portal/second_factor/): its own TOTP model with
    # an encrypted key, and django-otp's static tokens (stored hashed) as recovery codes.
    "django_otp",
    "django_otp.plugins.otp_static",
    "portal",
    "portal.sso",
    "portal.second_factor",
    "credentials",
    "approvals",
]

MIDDLEWARE = [
    # First on purpose: gateways call /gateway/verify on every API request, and it needs none of
    # what follows (sessions, messages, auth, CSRF: it authenticates by a bearer token). The
    # middleware answers that one path itself; see credentials/gateway/views.py.
    "credentials.gateway.views.GatewayVerifyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.audit.AuditContextMiddleware",
    # Last, as django-axes asks: it turns a throttled log-on into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
                "approvals.context_processors.waiting_approvals",
            ],
            # Compiled templates are cached per process (Django's default, which listing the
            # loaders turns off): without it every render parses its files again, a third of the
            # reminder sweep's time (bench/reminder_sweep.py). The runserver autoreloader clears
            # the cache when a template changes. The partials loader wraps the cached one, as
            # django-template-partials' own setup does.
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database -----------------------------------------------------------------------------------
# An empty variable means the default, as in .env.example.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the Celery worker and beat share one file: WAL lets readers run beside a
    # writer, the busy timeout waits for a lock instead of failing, and IMMEDIATE transactions take
    # the write lock up front so two writers never deadlock upgrading a read lock
    # ("database is locked").
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # psycopg prepares a query sent with server-side binding the second time it runs on a
    # connection. Only the hot reads of credentials/lib/hot_reads.py are sent that way (Django's own
    # queries bind on the client and are never prepared); off for PgBouncer before 1.21 in
    # transaction mode, which cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        1 if env.bool("PORTICO_DB_PREPARED_STATEMENTS", default=True) else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# --- Single sign-on (OpenID Connect, portal/sso/, mozilla-django-oidc) ---------------------------
# The company's OpenID Provider: its endpoints and keys come from <issuer>/.well-known/openid-configuration.
# The provider registers the redirect URI SITE_URL/oidc/callback/ (and SITE_URL/accounts/login/
# after log-out). Checked at start-up (portal.checks, portico.E003-E006).
PORTICO_OIDC_ISSUER = env.str("PORTICO_OIDC_ISSUER", default="")
PORTICO_OIDC_CLIENT_ID = env.str("PORTICO_OIDC_CLIENT_ID", default="")
PORTICO_OIDC_CLIENT_SECRET = env.str("PORTICO_OIDC_CLIENT_SECRET", default="")
# Which provider groups (the `groups` claim) give which Portico role: group=Role,group=Role.
PORTICO_OIDC_GROUP_ROLES = env.str("PORTICO_OIDC_GROUP_ROLES", default="")
# The claim that names the user's organization (its slug in Portico).
PORTICO_OIDC_ORGANIZATION_CLAIM = env.str("PORTICO_OIDC_ORGANIZATION_CLAIM", default="organization")
PORTICO_OIDC_SCOPES = env.str("PORTICO_OIDC_SCOPES", default="openid email profile groups")
# Passwords kept by Portico (the demo users, the Django admin); false: single sign-on only.
PORTICO_LOCAL_LOGIN = env.bool("PORTICO_LOCAL_LOGIN", default=True)
# What mozilla-django-oidc reads (portal/sso/ finds the endpoints itself, by discovery).
OIDC_RP_CLIENT_ID = PORTICO_OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = PORTICO_OIDC_CLIENT_SECRET
OIDC_RP_SCOPES = PORTICO_OIDC_SCOPES
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_TIMEOUT = 10
# The provider's certificate is checked against the system's CAs, or PORTICO_OUTBOUND_CA_BUNDLE's.
OIDC_VERIFY_SSL = env.str("PORTICO_OUTBOUND_CA_BUNDLE", default="") or True

# --- Second factor (portal/second_factor/, django-otp) ---------------------------------------------
# Deciding an approval or a connection request and rolling a runtime target's credentials ask
# again for a code of the authenticator app (or a recovery code) when the session's last check is
# older than this. With PORTICO_REQUIRE_SECOND_FACTOR, hub admins and approvers without one are
# sent to enrol (User Preferences) before those actions.
PORTICO_STEP_UP_MINUTES = env.int("PORTICO_STEP_UP_MINUTES", default=15)
PORTICO_REQUIRE_SECOND_FACTOR = env.bool("PORTICO_REQUIRE_SECOND_FACTOR", default=False)
# Wrong codes are counted on django-otp's throttling fields and Portico locks attempts after 5 in
# 15 minutes (portal/second_factor/services.py); django-otp's own 1-2-4-8 s back-off is off (the
# authenticator app's model, portal/second_factor/models.py, turns it off for itself).
OTP_STATIC_THROTTLE_FACTOR = 0

# django-axes first: it refuses a throttled log-on before any password is checked. ModelBackend
# checks Portico's passwords (only with PORTICO_LOCAL_LOGIN); the single sign-on backend also
# answers permission checks (it is a ModelBackend that checks no password).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if PORTICO_LOCAL_LOGIN else []),
    *(["portal.sso.backend.PorticoOIDCBackend"] if PORTICO_OIDC_ISSUER else []),
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Log-on throttle (django-axes) ---------------------------------------------------------------
# After PORTICO_LOGIN_FAILURE_LIMIT wrong passwords for one user name from one address, that user
# name is refused from that address (even with the right password) for PORTICO_LOGIN_COOLOFF_MINUTES,
# on /accounts/login/ and /django-admin/login/. Per user *and* address: guessing from elsewhere
# never locks the owner out. The same for user names that do not exist, so the answers tell
# nobody which accounts there are. Attempts are rows in the database (Django admin > Axes, where
# deleting one lifts its lockout; or `manage.py axes_reset_username <name>`, `axes_reset_ip`,
# `axes_reset`). The address is Portico's own (portal.audit.client_ip, PORTICO_TRUSTED_PROXY_COUNT).
AXES_FAILURE_LIMIT = env.int("PORTICO_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTICO_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "portal.audit.client_ip"
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"
# The wait starts at the failure that locked the user out; attempts during it do not prolong it
# (they are refused before any password is checked), so the page can say how long is left.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A successful log-on clears that user's failures at that address.
AXES_RESET_ON_SUCCESS = True

# --- Secrets ------------------------------------------------------------------------------------
# Fernet keys for the secrets Portico must use (tenant credentials), newest first. Older keys
# still decrypt; `manage.py rotate_encryption_keys` re-encrypts everything under the first one.
PORTICO_ENCRYPTION_KEYS = env.list("PORTICO_ENCRYPTION_KEYS")
# The pepper of the keyed hash (HMAC-SHA256) for the secrets Portico only verifies (API keys,
# client secrets). Separate from SECRET_KEY so rotating sessions never invalidates keys.
PORTICO_HASH_KEY = env.str("PORTICO_HASH_KEY")

# --- Gateway verification (/gateway/verify) -------------------------------------------------------
# How old a cached gateway token or key lookup may be, per process. At most 1 second: a revoked key
# stops passing within this time on every worker (a larger value is capped at 1).
PORTICO_GATEWAY_CACHE_SECONDS = 1.0
# Last use of keys is buffered per process and written by one UPDATE at most this often (and at exit).
PORTICO_GATEWAY_LAST_USED_FLUSH_SECONDS = 5.0

# --- Cache ----------------------------------------------------------------------------------------
# The token endpoint counts failed requests here (per client address and per client ID at one
# address), and the login throttle (django-axes) keeps its counts in the database. The
# default local-memory cache counts per process: with several processes (gunicorn workers, hosts)
# set CACHE_URL=redis://... so they share one count.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- OAuth token endpoint (POST /oauth/token) ------------------------------------------------------
# Failed token requests are counted per window, per client address and per client ID at one
# address (never per client ID alone: its ID is no secret, and anyone could lock its owner out).
# A request gets 429 with Retry-After until the window ends when its address has failed
# PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT times (guessing stays bounded per address, whatever client IDs
# it tries), or its client ID has failed PORTICO_OAUTH_FAILURE_LIMIT times from this address.
PORTICO_OAUTH_FAILURE_LIMIT = env.int("PORTICO_OAUTH_FAILURE_LIMIT", default=10)
PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT = env.int("PORTICO_OAUTH_ADDRESS_FAILURE_LIMIT", default=30)
PORTICO_OAUTH_FAILURE_WINDOW = env.int("PORTICO_OAUTH_FAILURE_WINDOW", default=60)  # seconds

# --- Outbound requests (credential tests against a tenant's token URL) ----------------------------
PORTICO_OUTBOUND_TIMEOUT = env.float("PORTICO_OUTBOUND_TIMEOUT", default=5.0)
# Refuse loopback, private and link-local addresses unless this is on (tests and labs only).
PORTICO_OUTBOUND_ALLOW_PRIVATE = env.bool("PORTICO_OUTBOUND_ALLOW_PRIVATE", default=False)
# Accept http:// (not only https://) for loopback hosts in pasted credentials (tests only).
PORTICO_ALLOW_HTTP_LOOPBACK = env.bool("PORTICO_ALLOW_HTTP_LOOPBACK", default=False)
# A CA bundle to verify token endpoints with, instead of the system's (e.g. a private CA).
PORTICO_OUTBOUND_CA_BUNDLE = env.str("PORTICO_OUTBOUND_CA_BUNDLE", default="") or None

# --- REST API (/api/..., credentials/integration/jsonapi/) --------------------------------------------------------
# The API views name their own authentication, parsers and renderers; these are the defaults the
# libraries read. Field names and types stay as the models spell them (api_credentials, expires_in).
REST_FRAMEWORK: dict[str, str | list[str] | None] = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "credentials.integration.jsonapi.base.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
}
JSON_API_FORMAT_FIELD_NAMES = False
JSON_API_FORMAT_TYPES = False
JSON_API_PLURALIZE_TYPES = False
SPECTACULAR_SETTINGS = {
    "TITLE": "Portico provisioning API",
    "DESCRIPTION": "JSON:API 1.1 resources of Portico, compatible with Commerce Layer's provisioning API clients.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "credentials.integration.jsonapi.schema.postprocess_jsonapi",
    ],
    # /api/docs serves Swagger UI from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No deep links: Swagger UI puts each one, a link, inside the button that opens its operation
    # (nested interactive controls, which screen readers and keyboards cannot reach apart).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
}

# --- Internationalization -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Email --------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Portico <portico@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The first retry of an email the SMTP server refused comes this many seconds later, each next one
# twice as late (at most an hour). Tests lower it to see several attempts in seconds.
PORTICO_EMAIL_RETRY_BASE_SECONDS = env.float("PORTICO_EMAIL_RETRY_BASE_SECONDS", default=30.0)
# The first wait before a refused or failed key deployment is sent again (then doubling, up to 1 h).
PORTICO_DEPLOY_RETRY_BASE_SECONDS = env.float("PORTICO_DEPLOY_RETRY_BASE_SECONDS", default=30.0)

# --- Celery -------------------------------------------------------------------------------------
# Default: kombu's filesystem transport, so `make run` needs no broker server.
# CELERY_BROKER_URL=redis://... switches to Redis with no code change.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_FILESYSTEM_DIR = Path(env.str("CELERY_FILESYSTEM_DIR", default="") or BASE_DIR / "var" / "celery")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")
# Reminder thresholds in days before expiry (one email at each), and an optional team address that
# gets every connection-credential reminder, so they never depend on one person.
PORTICO_REMINDER_DAYS = env.list("PORTICO_REMINDER_DAYS", cast=int, default=[30, 7, 1])
PORTICO_REMINDER_TEAM_EMAIL = env.str("PORTICO_REMINDER_TEAM_EMAIL", default="")
# One entry a job; one beat process runs them.
CELERY_BEAT_SCHEDULE: dict = {
    # Hourly at :05: renewal reminders for keys and connection credentials at each threshold.
    "send-expiry-reminders": {
        "task": "credentials.expiry.tasks.send_expiry_reminders",
        "schedule": crontab(minute=5),
    },
    # Every 10 minutes: active keys past their expiry become expired and are withdrawn.
    "expire-keys": {
        "task": "credentials.keys.tasks.expire_keys",
        "schedule": crontab(minute="*/10"),
    },
    # Hourly at :35: a token fetch with each approved connection's credentials.
    "check-connections": {
        "task": "credentials.connections.tasks.check_connections",
        "schedule": crontab(minute=35),
    },
    # Every minute: deliver outbox emails whose retry is due (SMTP was down, or a retry was lost).
    "deliver-due-emails": {
        "task": "portal.tasks.deliver_due_emails",
        "schedule": crontab(minute="*"),
    },
    # Every minute: send the key deployments whose retry is due (also those whose countdown
    # retry the broker lost, or whose worker died mid-send).
    "retry-pending-deployments": {
        "task": "credentials.keys.tasks.retry_pending_deployments",
        "schedule": crontab(minute="*"),
    },
    # Every 5 minutes (:00, :05, ...): GET each runtime target's health URL, mark it up or down.
    "check-runtime-targets": {
        "task": "credentials.keys.tasks.check_runtime_targets",
        "schedule": crontab(minute="*/5"),
    },
    # Hourly at :17: delete expired OAuth access tokens (they are refused anyway).
    "purge-expired-access-tokens": {
        "task": "credentials.integration.tasks.purge_expired_access_tokens",
        "schedule": crontab(minute=17),
    },
}
# Tests and labs only, unset in production: run some of the entries above every N seconds instead,
# e.g. PORTICO_BEAT_INTERVALS=send-expiry-reminders=2,deliver-due-emails=1 (the integration test
# of reminder delivery runs a real beat this way).
for _item in env.list("PORTICO_BEAT_INTERVALS", default=[]):
    _name, _, _seconds = _item.partition("=")
    if _name.strip() not in CELERY_BEAT_SCHEDULE or not _seconds:
        raise ImproperlyConfigured(f"PORTICO_BEAT_INTERVALS: {_item!r} is not <beat entry>=<seconds>")
    CELERY_BEAT_SCHEDULE[_name.strip()]["schedule"] = timedelta(seconds=float(_seconds))

# --- Security (production defaults; `manage.py check --deploy` passes with DEBUG off) ------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies of ours stand in front of Portico, each appending to X-Forwarded-For: the
# client's address is the entry that many hops from the right (portal.audit.client_ip). 0: ignore
# the header and use the peer's address. The audit log, the token endpoint's limiter and the login
# throttle use it. PORTICO_TRUST_X_FORWARDED_FOR=true (the previous release's switch, which took
# the leftmost entry, one the client writes) is read as one proxy; `check --deploy` warns about it.
PORTICO_TRUST_X_FORWARDED_FOR = env.bool("PORTICO_TRUST_X_FORWARDED_FOR", default=False)
PORTICO_TRUSTED_PROXY_COUNT = env.int("PORTICO_TRUSTED_PROXY_COUNT", default=1 if PORTICO_TRUST_X_FORWARDED_FOR else 0)
if PORTICO_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("PORTICO_TRUSTED_PROXY_COUNT is the number of proxies in front of Portico: 0 or more.")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp) on every page: scripts and styles only from Portico's own
# files (static/, htmx from django-htmx), no inline script, event handler attribute, style element
# or attribute, and no eval: base.html tells htmx to inject no indicator styles and evaluate
# nothing (its htmx-config meta). The one inline script and style Portico serves, Swagger UI's set-up
# on /api/docs (templates/drf_spectacular/swagger_ui.html), carry the response's nonce; a page
# that uses no nonce gets none in its header. data: images are Swagger UI's icons.
_issuer = urlsplit(PORTICO_OIDC_ISSUER)
_issuer_origin = f"{_issuer.scheme}://{_issuer.netloc}" if _issuer.scheme and _issuer.netloc else ""
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        # The log-out form's answer redirects to the provider's end_session_endpoint (browsers
        # hold redirects after a form to form-action): the issuer's origin, when single sign-on is on.
        "form-action": [SELF, *([_issuer_origin] if _issuer_origin else [])],
        "frame-ancestors": [NONE],
    }
}

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # oauthlib logs issued tokens at DEBUG: never let LOG_LEVEL=DEBUG put them in the logs.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "oauthlib": {"level": "INFO"}},
}
