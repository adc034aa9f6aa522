"""Settings of bench/list_pages.py: Portico's own, with a Django admin site beside them (bench/list_urls.py).

Separate from the other benchmarks' settings so that none steps on another. Static files are
named as they are (no collectstatic manifest to build for an in-process run); the pages and the
admin changelist both link theirs that way.
"""

from portal.settings import *  # noqa: F403
from portal.settings import STORAGES

ROOT_URLCONF = "bench.list_urls"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
