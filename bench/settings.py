"""Settings of the benchmark's gunicorn: Portico's own, plus the comparison library and two views.

djangorestframework and djangorestframework-api-key are installed for the benchmark only
(bench/requirements.txt); Portico does not use them.
"""

from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS

# Portico's own REST API may already list rest_framework.
INSTALLED_APPS = [
    *INSTALLED_APPS,
    *(app for app in ("rest_framework", "rest_framework_api_key") if app not in INSTALLED_APPS),
]
ROOT_URLCONF = "bench.urls"
# The library reads the key from a header, as Portico's endpoint does (not Authorization: Api-Key).
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"
REST_FRAMEWORK = {"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]}
