"""Settings of bench/oauth_token.py's gunicorn: Portico's own, plus django-oauth-toolkit (the
comparison, installed for the benchmark only: bench/requirements.txt) and two bare views.

Separate from bench/settings.py (the gateway benchmark's) so the two benchmarks never step on
each other. Portico does not use django-oauth-toolkit.
"""

from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "oauth2_provider"]
ROOT_URLCONF = "bench.oauth_urls"
# django-oauth-toolkit as a team would set it up for the client credentials grant: its defaults
# (client secrets hashed with Django's password hasher, a stored token row per token), the scopes
# and token lifetime of Portico's clients. PASSWORD_HASHERS is Portico's (Django's default, PBKDF2).
OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Read", "write": "Write"},
    "DEFAULT_SCOPES": ["read", "write"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 7200,
}
