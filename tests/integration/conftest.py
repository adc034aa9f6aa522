"""Integration tests run on the real services that `make test` starts: PostgreSQL and Redis.

Every test under tests/integration/ is marked `integration`, and fails (never skips) when the
settings point at SQLite or another broker: a green run must mean the real services were tested.
"""

from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

INTEGRATION_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, so mark only the ones under tests/integration/.
    # tryfirst: the marks must be there before `-m` selects.
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _require_postgresql_and_redis() -> None:
    problems = []
    if connection.vendor != "postgresql":
        problems.append(f"the database is {connection.vendor}, not PostgreSQL (set DATABASE_URL=postgres://...)")
    broker_url = settings.CELERY_BROKER_URL
    if not broker_url.startswith("redis://"):
        problems.append(f"the Celery broker is {broker_url.split('://')[0]}://, not Redis (set CELERY_BROKER_URL)")
    else:
        try:
            redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=2).ping()
        except redis.RedisError as error:
            problems.append(f"Redis at CELERY_BROKER_URL does not answer: {error}")
    if problems:
        pytest.fail(
            "Integration tests need PostgreSQL and Redis: "
            + "; ".join(problems)
            + ". Run `make test`, which starts both.",
            pytrace=False,
        )
