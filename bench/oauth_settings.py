"""Settings of bench/oauth_token.py's gunicorn: Portico's own, with one bare view beside them.

Separate from bench/settings.py (the gateway benchmark's) so the two benchmarks never step on
each other.
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.oauth_urls"
